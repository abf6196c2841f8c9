"""The agent's worker: full cycles on the interval (with jitter), targeted cycles on pushes.

One worker thread runs everything that touches Git, one thing at a time: full cycles, the
debounced webhook-targeted cycles, and the periodic drift check. Stopping (SIGTERM) closes the
write gate at once, so a cycle in flight finishes its reads and returns before any push; the
worker then exits.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Collection, Iterable, Sequence
from typing import Any, Protocol

from imagebot.agent.debounce import Debouncer
from imagebot.config.schema import Config, parse_duration
from imagebot.discover.cache import DiscoverCache
from imagebot.errors import ImagebotError
from imagebot.model import CycleResult
from imagebot.report import Reporter
from imagebot.report.metrics import Metrics

log = logging.getLogger("imagebot.agent")


class CycleFn(Protocol):
    def __call__(
        self,
        cfg: Config,
        *,
        images: Collection[str] | None = ...,
        can_write: Callable[[], bool] = ...,
        registry: Any = ...,
        reporters: Sequence[Reporter] = ...,
        discover_cache: DiscoverCache | None = ...,
        cancelled: Callable[[], bool] = ...,
    ) -> CycleResult: ...


class Agent:
    """Schedules cycles. `run()` is the worker loop; the HTTP server calls `push()` and `ready()`."""

    def __init__(
        self,
        cfg: Config,
        *,
        run_cycle: CycleFn,
        metrics: Metrics,
        reporters: Sequence[Reporter] = (),
        is_leader: Callable[[], bool] = lambda: True,
        registry: Any = None,
        drift_check: Callable[[], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        rand: Callable[[], float] = random.random,
    ):
        self.cfg = cfg
        self.interval = cfg.interval_seconds
        self._run_cycle = run_cycle
        self.metrics = metrics
        self.reporters = tuple(reporters)
        self._is_leader = is_leader
        self.registry = registry
        self._drift_check = drift_check
        drift_every = cfg.agent.drift_interval
        self._drift_interval = parse_duration(drift_every) if drift_every and drift_check is not None else None
        self._clock = clock
        self._rand = rand
        hooks = cfg.agent.webhooks
        self.debouncer = Debouncer(parse_duration(hooks.debounce), parse_duration(hooks.max_delay), clock,
                                   leading=hooks.leading)
        self._wake = threading.Condition()
        self._stop = threading.Event()
        self._full_requested = False
        self._drift_requested = False
        self._dirty = False
        #: Cycles finished (including failed ones); tests and the benchmark wait on `cycle_done`.
        self.cycles = 0
        #: Cycles not run because another replica leads.
        self.skipped = 0
        self.cycle_done = threading.Condition()
        self.last_result: CycleResult | None = None
        self._failing_since: float | None = None
        #: Per-file discover results across this agent's cycles: a warm cycle re-reads only changed files.
        self.discover_cache = DiscoverCache()
        #: The watchdog's view: when the worker's current step (a cycle, a drift check) began
        #: (None: waiting), and whether its loop is running at all.
        self._busy_since: float | None = None
        self._worker_ended = False
        #: A step running longer than this is stuck: every git command and registry request has
        #: a deadline, and the cycle itself one (`cycle_timeout`), so only a bug gets here.
        self.stuck_after = cfg.agent.stuck_after * cfg.cycle_timeout_seconds

    # -- called from other threads ------------------------------------------------------------
    def push(self, images: Iterable[str]) -> None:
        """Images pushed to a registry: a targeted cycle for them, at once or after the debounce."""
        self.debouncer.add(images)
        self._notify()

    def request_full_cycle(self) -> None:
        self._full_requested = True
        self._notify()

    def leadership_changed(self, leading: bool) -> None:
        """A new leader catches up at once: a full cycle and a drift check, not after an interval."""
        if leading:
            self._drift_requested = True
            self.request_full_cycle()

    def stop(self) -> None:
        """Close the write gate and end the loop after the current step."""
        self._stop.set()
        self._notify()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def can_write(self) -> bool:
        """The gate the pipeline asks before every push or API write."""
        return not self._stop.is_set() and self._is_leader()

    def ready(self) -> tuple[bool, str]:
        """Config loaded (it is, or we would not run) and cycles not failing for `unready_after` intervals."""
        since = self._failing_since
        limit = self.cfg.agent.unready_after * self.interval
        if since is not None and self._clock() - since > limit:
            return False, f"cycles have failed for {self._clock() - since:.0f}s (more than {limit:.0f}s)"
        return True, "ready"

    def alive(self) -> tuple[bool, str]:
        """Liveness: the worker runs and its current step has not outlived `stuck_after`
        (a failing cycle is alive: readiness reports that). A stuck leader also stops renewing
        its Lease (see LeaseElector's `healthy`), so the standby takes over."""
        if self._worker_ended and not self._stop.is_set():
            return False, "the worker has ended"
        since = self._busy_since
        if since is not None and self._clock() - since > self.stuck_after:
            return False, (f"stuck: the current step has run for {self._clock() - since:.0f}s "
                           f"(more than {self.stuck_after:.0f}s)")
        return True, "ok"

    def _notify(self) -> None:
        with self._wake:
            self._dirty = True
            self._wake.notify_all()

    # -- the worker -----------------------------------------------------------------------------
    def next_interval(self) -> float:
        """The interval stretched or shrunk by up to `jitter`, so replicas and restarts spread out."""
        jitter = self.cfg.agent.jitter
        return self.interval * (1 + jitter * (2 * self._rand() - 1))

    def run(self) -> None:
        try:
            self._loop()
        finally:
            self._worker_ended = True

    def _loop(self) -> None:
        next_full = self._clock()
        next_drift = self._clock() if self._drift_interval else float("inf")
        while not self._stop.is_set():
            with self._wake:
                self._dirty = False  # anything notified from now on cuts the wait below short
            now = self._clock()
            if now >= next_full or self._full_requested:
                self._full_requested = False
                self.debouncer.take_all()  # a full cycle covers every pending push
                self._cycle(None)
                next_full = self._clock() + self.next_interval()
                continue
            batch = self.debouncer.take_due()
            if batch:
                self._cycle(batch)
                continue
            if self._drift_interval and (now >= next_drift or self._drift_requested):
                self._drift_requested = False
                self._drift()
                next_drift = self._clock() + self._drift_interval
                continue
            deadline = min(next_full, next_drift, self.debouncer.deadline() or float("inf"))
            with self._wake:
                if not self._dirty and not self._stop.is_set():
                    self._wake.wait(max(0.0, min(deadline - self._clock(), 60.0)))
        log.info("agent stopped")

    def _cycle(self, images: frozenset[str] | None) -> None:
        trigger = "interval" if images is None else "webhook"
        if not self._is_leader():
            log.info("not the leader: skipping the %s cycle", trigger,
                     extra={"fields": {"event": "cycle-skipped", "trigger": trigger, "reason": "not-leader"}})
            with self.cycle_done:
                self.skipped += 1
                self.cycle_done.notify_all()
            return
        started = self._busy_since = self._clock()
        try:
            result = self._run_cycle(
                self.cfg, images=images, can_write=self.can_write, registry=self.registry, reporters=self.reporters,
                discover_cache=self.discover_cache, cancelled=self._stop.is_set,
            )
        except ImagebotError as e:
            self._failed(trigger, started, str(e))
        except Exception as e:  # a bug must not kill the agent; the next cycle may do better
            log.exception("cycle crashed")
            self._failed(trigger, started, repr(e))
        else:
            self.last_result = result
            self._failing_since = None
            c = result.plan.changes
            d = result.delivery
            landed = d.landed if d else ()  # the delivery outcome says what landed, not the plan
            log.info(
                "%s cycle: %d change(s) landed of %d planned, %d problem(s) in %.2fs", trigger, len(landed), len(c),
                len(result.problems), result.duration,
                extra={"fields": {
                    "event": "cycle", "trigger": trigger, "images": sorted(images) if images else None,
                    "changes": [f"{x.change.old_ref} -> {x.change.new_ref}" for x in landed], "planned": len(c),
                    "problems": [str(p) for p in result.problems],
                    "commit": d.commit if d else "", "pull_requests": list(d.pull_requests) if d else [],
                    "duration": round(result.duration, 3),
                }},
            )
        finally:
            self._busy_since = None
            with self.cycle_done:
                self.cycles += 1
                self.cycle_done.notify_all()

    def _failed(self, trigger: str, started: float, why: str) -> None:
        log.error("%s cycle failed: %s", trigger, why, extra={"fields": {"event": "cycle-failed", "trigger": trigger}})
        self.metrics.cycle_failed(trigger, self._clock() - started)
        if self._failing_since is None:
            self._failing_since = started

    def _drift(self) -> None:
        assert self._drift_check is not None  # _drift_interval is None without it
        self._busy_since = self._clock()
        try:
            self._drift_check()
        except Exception:
            log.exception("drift check failed")
        finally:
            self._busy_since = None

    def wait_cycles(self, n: int, timeout: float, *, skipped: int = 0) -> bool:
        """Block until at least `n` cycles have finished and `skipped` were skipped (tests, benchmark)."""
        with self.cycle_done:
            return self.cycle_done.wait_for(lambda: self.cycles >= n and self.skipped >= skipped, timeout)
