"""One round over the lanes: one registry round, lanes in parallel up to a bound, each with a deadline.

The round starts the registry client's round (`new_cycle`) once, so an image repository used
by ten lanes is listed once; each lane then runs the ordinary pipeline cycle on its own
effective config, workspace and discover cache, in its own thread. The round waits for a lane
at most `fleet.lane_deadline`: a lane whose Git remote hangs is reported as timed out and left
to finish (or fail) in the background, and it is not started again while that run lasts. So
one slow or failing lane never delays or fails another.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from imagebot import pipeline
from imagebot.config.schema import Config, parse_duration
from imagebot.deadline import Deadline
from imagebot.deliver import GitWorkspace
from imagebot.discover.cache import DiscoverCache
from imagebot.errors import EXIT_FAILED, EXIT_OK, ImagebotError
from imagebot.fleet.index import ImageIndex
from imagebot.lanes import Lane, workspace_for
from imagebot.model import CycleResult
from imagebot.report import Reporter

log = logging.getLogger("imagebot.fleet")


@dataclass(frozen=True)
class LaneOutcome:
    """How one lane's part of a round ended."""

    lane: str
    result: CycleResult | None = None
    #: Why the lane produced no result: its cycle raised, it ran past its deadline, its previous
    #: run has not ended, or another replica holds it. Empty when `result` is set.
    error: str = ""
    state: str = "ok"  # ok | failed | timed-out | busy | not-holder
    temporary: bool = False
    exit_code: int = EXIT_OK
    duration: float = 0.0

    @property
    def ran(self) -> bool:
        return self.state != "not-holder"


@dataclass(frozen=True)
class RoundResult:
    outcomes: tuple[LaneOutcome, ...]
    started: float  # time.time()
    duration: float
    images: frozenset[str] | None = None
    #: registry requests of the whole round, by "registry kind status" (shared by its lanes).
    registry_requests: tuple[tuple[str, int], ...] = ()

    @property
    def results(self) -> tuple[CycleResult, ...]:
        return tuple(o.result for o in self.outcomes if o.result is not None)

    @property
    def exit_code(self) -> int:
        return max((o.exit_code for o in self.outcomes), default=EXIT_OK)

    def outcome(self, lane: str) -> LaneOutcome:
        return next(o for o in self.outcomes if o.lane == lane)


@dataclass
class LaneState:
    """What the runner keeps about one lane across rounds."""

    lane: Lane
    discover_cache: DiscoverCache = field(default_factory=DiscoverCache)
    workspace: GitWorkspace | None = None
    thread: threading.Thread | None = None
    failing_since: float | None = None
    last: LaneOutcome | None = None
    last_result: CycleResult | None = None


class Fleet:
    """Runs rounds over a config's lanes, keeping each lane's workspace and discover cache."""

    def __init__(
        self,
        cfg: Config,
        lanes: Sequence[Lane],
        *,
        run_cycle: Callable[..., CycleResult] = pipeline.run_cycle,
        registry: Any = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.cfg = cfg
        self.lanes = {lane.name: LaneState(lane) for lane in lanes}
        self._run_cycle = run_cycle
        self.registry = registry
        self._clock = clock
        self.concurrency = cfg.fleet.concurrency
        self.deadline = parse_duration(cfg.fleet.lane_deadline)
        self.index = ImageIndex()
        self._done = threading.Condition()

    @property
    def waves(self) -> int:
        """How many lanes deep a round runs: ceil(lanes / concurrency)."""
        return max(1, math.ceil(len(self.lanes) / self.concurrency))

    # -- the round --------------------------------------------------------------------------
    def run_round(
        self,
        images: Collection[str] | None = None,
        *,
        dry_run: bool = False,
        can_write: Callable[[str], bool] = lambda lane: True,
        holds: Callable[[str], bool] = lambda lane: True,
        reporters: Sequence[Reporter] = (),
        only: Collection[str] | None = None,
        trigger: str | None = None,
        cancelled: Callable[[], bool] = lambda: False,
    ) -> RoundResult:
        """One round over the lanes (`only`: those; `images`: the lanes that use them, targeted).

        `holds(lane)`: whether this replica holds the lane (sharding); a lane it does not hold is
        not run. `can_write(lane)` is each lane's write gate, asked before every push. `cancelled()`
        (shutdown) ends every lane's cycle between steps, as it ends a single cycle.
        """
        started, t0 = time.time(), self._clock()
        wanted = frozenset(images) if images is not None else None
        names = [n for n in self.lanes if only is None or n in only]
        if wanted is not None and len(names) > 1:
            # Only the lanes whose last full discovery found a pushed image (or that have not run yet).
            # One lane alone always gets its targeted cycle, which discovers afresh anyway.
            names = [n for n in names if n in self.index.lanes_for(wanted, names)]
        own_client = self.registry is None
        client = self.registry if self.registry is not None else pipeline.new_registry_client(self.cfg)
        # One registry round for every lane below; no registry request outlives the round (each lane's
        # cycle keeps its own cycle_timeout for everything else).
        client.new_cycle(Deadline(self.cfg.cycle_timeout_seconds * self.waves, cancelled=cancelled))
        before = client.stats.snapshot()
        outcomes: dict[str, LaneOutcome] = {}
        try:
            self._schedule(names, outcomes, client, wanted, dry_run, can_write, holds, reporters, cancelled)
        finally:
            after = client.stats.snapshot()
            if own_client:
                client.close()
        ordered = tuple(outcomes[n] for n in names)
        result = RoundResult(ordered, started, self._clock() - t0, wanted, pipeline._requests_since(before, after))
        self._log(result, trigger or ("interval" if wanted is None else "webhook"))
        return result

    def _schedule(self, names: list[str], outcomes: dict[str, LaneOutcome], client: Any, images: frozenset[str] | None,
                  dry_run: bool, can_write: Callable[[str], bool], holds: Callable[[str], bool],
                  reporters: Sequence[Reporter], cancelled: Callable[[], bool]) -> None:
        pending = deque(names)
        running: dict[str, tuple[float, dict[str, LaneOutcome]]] = {}
        while pending or running:
            while pending and len(running) < self.concurrency:
                name = pending.popleft()
                st = self.lanes[name]
                if not holds(name):
                    outcomes[name] = LaneOutcome(name, state="not-holder", error="another replica holds this lane")
                    continue
                if st.thread is not None and st.thread.is_alive():
                    outcomes[name] = self._finish(st, LaneOutcome(
                        name, state="busy", exit_code=EXIT_FAILED, temporary=True,
                        error="its previous run has not ended (past the lane deadline); skipped this round"))
                    continue
                box: dict[str, LaneOutcome] = {}
                st.thread = threading.Thread(target=self._lane_main, name=f"imagebot-lane-{name}", daemon=True,
                                             args=(st, box, client, images, dry_run, can_write, reporters, cancelled))
                running[name] = (self._clock(), box)
                st.thread.start()
            with self._done:
                soonest = min((t + self.deadline for t, _ in running.values()), default=self._clock())
                self._done.wait_for(lambda: any(box for _, box in running.values()),
                                    timeout=max(0.0, soonest - self._clock()))
            now = self._clock()
            for name, (t, box) in list(running.items()):
                if box:
                    outcomes[name] = self._finish(self.lanes[name], box["outcome"])
                elif now - t >= self.deadline:
                    log.error("lane %s: no result within %.0fs; the round goes on without it", name, self.deadline,
                              extra={"fields": {"event": "lane-timed-out", "repository": name}})
                    outcomes[name] = self._finish(self.lanes[name], LaneOutcome(
                        name, state="timed-out", exit_code=EXIT_FAILED, temporary=True, duration=now - t,
                        error=f"no result within the lane deadline ({self.cfg.fleet.lane_deadline})"))
                else:
                    continue
                del running[name]

    def _lane_main(self, st: LaneState, box: dict[str, LaneOutcome], client: Any, images: frozenset[str] | None,
                   dry_run: bool, can_write: Callable[[str], bool], reporters: Sequence[Reporter],
                   cancelled: Callable[[], bool]) -> None:
        lane, t0 = st.lane, self._clock()
        try:
            if st.workspace is None and lane.keyed:
                st.workspace = workspace_for(self.cfg, lane)
            extra: dict[str, Any] = {"workspace": st.workspace} if st.workspace is not None else {}
            result = self._run_cycle(
                lane.config, images=images, dry_run=dry_run, can_write=lambda: can_write(lane.name), registry=client,
                reporters=reporters, discover_cache=st.discover_cache, source=lane.source, new_round=False,
                lane=lane.name, cancelled=cancelled, **extra)
            self.index.record(lane.name, result)
            st.last_result = result
            outcome = LaneOutcome(lane.name, result, exit_code=result.exit_code, duration=self._clock() - t0)
        except ImagebotError as e:
            outcome = LaneOutcome(lane.name, state="failed", error=str(e), temporary=e.temporary, exit_code=e.exit_code,
                                  duration=self._clock() - t0)
        except Exception as e:  # a bug in one lane must not end the round for the others
            log.exception("lane %s crashed", lane.name)
            outcome = LaneOutcome(lane.name, state="failed", error=repr(e), exit_code=EXIT_FAILED,
                                  duration=self._clock() - t0)
        with self._done:
            box["outcome"] = outcome
            self._done.notify_all()

    def _finish(self, st: LaneState, outcome: LaneOutcome) -> LaneOutcome:
        st.last = outcome
        if outcome.state == "ok":
            st.failing_since = None
        elif st.failing_since is None:
            st.failing_since = self._clock() - outcome.duration
        return outcome

    # -- readiness -----------------------------------------------------------------------------
    def failing(self, limit: float, held: Callable[[str], bool] = lambda lane: True) -> dict[str, float]:
        """Lanes (of those held) whose rounds have failed for longer than `limit` seconds: name -> seconds."""
        now = self._clock()
        return {n: now - st.failing_since for n, st in self.lanes.items()
                if held(n) and st.failing_since is not None and now - st.failing_since > limit}

    def status(self) -> Mapping[str, dict[str, Any]]:
        """Per lane: repository, target, the last outcome (for /status and logs)."""
        out: dict[str, dict[str, Any]] = {}
        for n, st in self.lanes.items():
            last = st.last
            out[n] = {
                "repository": st.lane.repository.url, "branch": st.lane.repository.branch, "target": st.lane.target,
                "source": st.lane.source.kind, "state": last.state if last else "not-run",
                "error": last.error if last else "", "running": bool(st.thread and st.thread.is_alive()),
                "changes": len(st.last_result.plan.changes) if st.last_result else 0,
                "problems": len(st.last_result.problems) if st.last_result else 0,
            }
        return out

    def _log(self, r: RoundResult, trigger: str) -> None:
        states: dict[str, int] = {}
        for o in r.outcomes:
            states[o.state] = states.get(o.state, 0) + 1
        log.info("%s round: %d lane(s) %s in %.2fs", trigger, len(r.outcomes),
                 ", ".join(f"{n} {s}" for s, n in sorted(states.items())), r.duration,
                 extra={"fields": {"event": "round", "trigger": trigger, "lanes": states,
                                   "duration": round(r.duration, 3)}})
