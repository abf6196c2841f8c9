"""Python's garbage collector held off while a cycle runs.

A cycle allocates hundreds of thousands of containers that live until it ends (tag listings,
decisions, parsed files, the plan), and leaves almost no reference cycles behind (~120 objects per
cycle, measured at (2,000, 200) and (10,000, 1,000)): what it frees, reference counting frees.
Each automatic collection during the cycle walks the young survivors again for nothing - 0.06 s of
a warm `plan` at (2,000, 200), 0.3 s at (10,000, 1,000), 1.6 s of a cold one there (issue #21).

`paused()` turns automatic collection off for as long as any cycle of the process runs (cycles may
run on several threads: a fleet's lanes) and back on, as it was, when the last one ends; the
collector then takes up the cycle's survivors at the next allocations, between cycles. A process
that runs one cycle and exits (`plan`, `run --once`) turns it off for good instead (`off_for_good`):
collecting at its end would only delay the exit.

An agent whose cycles always overlap (a busy fleet, a storm of webhooks) would never get to a
moment with none running; so a cycle that ends while collection has been held off for more than
`LONGEST_PAUSE` seconds collects once itself, and the reference cycles left meanwhile never pile up.
"""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["off_for_good", "paused", "resume"]

_lock = threading.Lock()
_running = 0  # cycles running now
_resume = False  # whether collection was on when the first of them started
_for_good = False  # off_for_good() was called
_held_since = 0.0  # time.monotonic() when collection was last held off, or last collected

#: Seconds of collection held off by overlapping cycles after which the next cycle to end collects once.
LONGEST_PAUSE = 600.0


@contextmanager
def paused() -> Iterator[None]:
    """No automatic garbage collection while the block runs (nor while another thread's does)."""
    global _running, _resume, _held_since
    with _lock:
        if _running == 0:
            _resume = gc.isenabled()
            _held_since = time.monotonic()
            gc.disable()
        _running += 1
    try:
        yield
    finally:
        collect = False
        with _lock:
            _running -= 1
            if _running == 0 and _resume:
                gc.enable()
            elif _running and _resume and time.monotonic() - _held_since > LONGEST_PAUSE:
                _held_since, collect = time.monotonic(), True
        if collect:  # other cycles still run, and have for long: collect what the pause left, once
            gc.collect()


def off_for_good() -> None:
    """No automatic garbage collection for the rest of this process (it runs one cycle and exits)."""
    global _resume, _for_good
    with _lock:
        _resume, _for_good = False, True
        gc.disable()


def resume() -> None:
    """Automatic collection on again after start-up (the command line holds it off while a command
    imports its modules and loads the config: ~14 collections, 20-36 ms, over objects that live until
    exit), unless the process turned it off for good or a cycle runs (it is then back on after it)."""
    global _resume
    with _lock:
        if _for_good:
            return
        if _running:
            _resume = True
        else:
            gc.enable()
