"""report: turn a CycleResult into what people and machines read (text, JSON, diff, logs, metrics).

Counts derive from the stage values, never from counters kept on the side.
"""

from __future__ import annotations

from typing import Protocol

from imagebot.model import CycleResult


class Reporter(Protocol):
    """Anything told about each finished cycle: metrics, Kubernetes Events, logs."""

    def cycle_finished(self, result: CycleResult) -> None: ...
