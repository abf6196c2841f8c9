"""The agent wakes when a held promotion's gate opens (a soak ends, a window opens), not only on its interval."""

from __future__ import annotations

import dataclasses
import threading
import time
from typing import Any

from imagebot.agent.loop import Agent
from imagebot.config.schema import Config
from imagebot.model import CycleResult
from imagebot.report.metrics import Metrics
from tests.integration.test_webhook import empty_result, make_config


class Waking:
    """Stands in for run_cycle: the first cycle says a soak ends in 1.2 s; the others say nothing."""

    def __init__(self) -> None:
        self.started: list[float] = []

    def __call__(self, cfg: Config, *, images: Any = None, **kw: Any) -> CycleResult:
        self.started.append(time.monotonic())
        wake = time.time() + 1.2 if len(self.started) == 1 else None
        return dataclasses.replace(empty_result(None), wake_at=wake)


def test_a_soak_ending_wakes_the_agent_before_its_interval() -> None:
    cycles = Waking()
    agent = Agent(make_config(), run_cycle=cycles, metrics=Metrics())  # interval: 1h
    t = threading.Thread(target=agent.run)
    t.start()
    try:
        assert agent.wait_cycles(2, timeout=10)
        assert 1.0 <= cycles.started[1] - cycles.started[0] < 5
        assert not agent.wait_cycles(3, timeout=1.5)  # no wake-up asked: back to the 1h interval
    finally:
        agent.stop()
        t.join(10)
