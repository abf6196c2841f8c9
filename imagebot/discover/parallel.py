"""Parsing many files on two cores: a cold scan (a new clone, an empty cache) parses every
manifest, and parsing is CPU in one Python thread, so a second core would otherwise idle.

:func:`parse_files` parses the files in order and yields each file's findings in that order.
Given enough files and a second CPU, one worker process (``spawn``: a fresh interpreter, never
a fork of this multi-threaded one) parses chunks from the front while this process parses
chunks too; each chunk is parsed exactly once. The worker's findings come back
pickled (frozen values: occurrences, problems). Whatever goes wrong with the worker - it cannot
start, it dies, it does not answer in time - its chunks are parsed here instead: the outcome is
the same as a parse in one process, only slower.
"""

from __future__ import annotations

import logging
import logging.handlers
import multiprocessing
import os
import pickle
import sys
import types
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

__all__ = ["ENV", "MIN_FILES", "parse_files"]

ENV = "IMAGEBOT_PARSE_WORKERS"
#: The cgroup v2 CPU quota ("max 100000", or "200000 100000" for two CPUs).
CPU_MAX = Path("/sys/fs/cgroup/cpu.max")

#: Fewer files than this are parsed here: starting the worker (a fresh interpreter importing
#: discover, ~0.3 s of the other core) would cost more than it saves.
MIN_FILES = 400
#: Files per chunk: big enough that pickling stays a small share, small enough to balance.
CHUNK = 48
#: The longest wait for one chunk from the worker before it is parsed here instead (a chunk
#: takes tens of milliseconds; every file in it is bounded in size and depth).
CHUNK_TIMEOUT = 60.0

Job = tuple[str, bytes]  # (path in the repository, bytes)


class _Records(list):  # type: ignore[type-arg]
    """The worker's log records (and warnings), sent back with each chunk: QueueHandler's queue."""

    put_nowait = list.append


_records = _Records()


def parse_files(jobs: Sequence[Job], parse: Callable[[str, bytes], Any], worker_parse: Callable[..., Any],
                settings: tuple[Any, ...], *, workers: int | None = None) -> Iterator[Any]:
    """``parse(rel, data)`` of every job, in order. ``worker_parse(rel, data, *settings)`` must be
    the same function of the same arguments, importable by name (the worker gets `settings` once,
    pickled). `workers`: how many worker processes help (default: one, when there are two CPUs or
    more and at least :data:`MIN_FILES` jobs)."""
    if workers is None:
        workers = _workers_from_env()
    if workers is None:
        workers = 1 if len(jobs) >= MIN_FILES and _cpus() >= 2 else 0
    chunks = [jobs[i:i + CHUNK] for i in range(0, len(jobs), CHUNK)]
    pool = _pool(workers) if workers > 0 and len(chunks) > 1 else None
    if pool is not None:
        log.debug("discover: parsing %d file(s) with %d worker process(es)", len(jobs), workers)
    if pool is None:
        for rel, data in jobs:
            yield parse(rel, data)
        return
    try:
        task = pickle.dumps((worker_parse, settings), pickle.HIGHEST_PROTOCOL)
        yield from _shared(chunks, parse, pool, workers, task)
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def _shared(chunks: list[list[Job]], parse: Callable[[str, bytes], Any], pool: ProcessPoolExecutor,
            workers: int, task: bytes) -> Iterator[Any]:
    """Chunks are taken from the front, in order, by the worker (kept `workers` + 1 chunks ahead)
    and by this process, which parses the next free chunk whenever the one it must yield next is
    still with the worker. Results are yielded in the jobs' order."""
    taken: dict[int, Future[tuple[list[Any], list[logging.LogRecord]]] | list[Any]] = {}
    free = 0  # every chunk before it is taken
    broken = False

    def here(i: int) -> list[Any]:
        return [parse(rel, data) for rel, data in chunks[i]]

    def top_up() -> None:
        nonlocal free, broken
        while not broken and free < len(chunks) and sum(isinstance(t, Future) for t in taken.values()) < workers + 1:
            try:
                with _main_hidden():
                    taken[free] = pool.submit(_parse_chunk, task, chunks[free])
            except Exception as e:  # the pool broke or shut down: parse here from now on
                broken = _gave_up(e)
                return
            free += 1

    for index in range(len(chunks)):
        top_up()
        got = taken.pop(index, None)
        if got is None:  # nobody took it (the pool broke): parse it here
            got, free = here(index), max(free, index + 1)
        elif isinstance(got, Future) and broken:  # the worker failed before: do not wait for it
            got.cancel()
            got = here(index)
        elif isinstance(got, Future):
            while not got.done() and free < len(chunks):  # useful work while the worker parses
                taken[free], free = here(free), free + 1
                top_up()
            try:
                got, records = got.result(timeout=CHUNK_TIMEOUT)
            except Exception as e:  # it died, or hangs: this chunk (and what it still holds) is parsed here
                broken = broken or _gave_up(e)
                got = here(index)
            else:
                for record in records:  # what the worker logged or warned, through this process's handlers
                    logging.getLogger(record.name).handle(record)
        yield from got


def _gave_up(e: BaseException) -> bool:
    log.warning("discover: the parsing worker failed (%s: %s); parsing the rest in this process",
                type(e).__name__, str(e)[:200])
    return True


def _pool(workers: int) -> ProcessPoolExecutor | None:
    try:
        # spawn: a fresh interpreter, never a fork of this multi-threaded process; its own child,
        # so its CPU is this process's children's (what `time` and the benchmark count)
        context = multiprocessing.get_context("spawn")
        return ProcessPoolExecutor(workers, mp_context=context, initializer=_start,
                                   initargs=(logging.getLogger().getEffectiveLevel(),))
    except Exception as e:  # no processes here (a sandbox, no /dev/shm): parse in this one
        log.info("discover: parsing in one process (%s: %s)", type(e).__name__, e)
        return None


@contextmanager
def _main_hidden() -> Iterator[None]:
    """While a worker is started: multiprocessing's spawn has the new interpreter import this
    program's ``__main__`` (to find functions defined there), which runs again a program without
    a ``__name__`` guard. Nothing the worker runs lives in ``__main__``: it is hidden instead."""
    main = sys.modules.get("__main__")
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        if main is not None:
            sys.modules["__main__"] = main


def _start(level: int) -> None:
    """In the worker: keep what is logged or warned (at the parent's level) to send back with
    each chunk, instead of writing it to the stderr it shares with the parent."""
    root = logging.getLogger()
    root.handlers[:] = [logging.handlers.QueueHandler(_records)]  # type: ignore[arg-type]
    root.setLevel(level)
    logging.captureWarnings(True)


_task: tuple[bytes, Callable[[str, bytes], Any]] | None = None  # the worker's (task, parse function)


def _parse_chunk(task: bytes, chunk: list[Job]) -> tuple[list[Any], list[logging.LogRecord]]:
    """In the worker: `task` is the pickled (parse function, settings), the same for every chunk
    of a scan (decoded once); the process object itself stays small (see `_main_hidden`)."""
    global _task
    if _task is None or _task[0] != task:
        worker_parse, settings = pickle.loads(task)
        _task = (task, lambda rel, data: worker_parse(rel, data, *settings))
    parse = _task[1]
    found = [parse(rel, data) for rel, data in chunk]
    records = list(_records)
    _records.clear()
    return found, records


def _workers_from_env() -> int | None:
    """$IMAGEBOT_PARSE_WORKERS: 0 parses in this process only, N >= 1 always uses N workers."""
    value = os.environ.get(ENV, "").strip()
    if not value:
        return None
    try:
        return max(0, min(int(value), 8))
    except ValueError:
        log.warning("ignoring %s=%r: not a number", ENV, value)
        return None


def _cpus() -> int:
    """CPUs this process may use: its affinity, within its cgroup's CPU quota (a container's
    limit, which the affinity does not show)."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    try:
        quota, period = CPU_MAX.read_text().split()[:2]
        if quota != "max":
            cpus = min(cpus, max(1, int(quota) // int(period)))
    except (OSError, ValueError):
        pass
    return cpus
