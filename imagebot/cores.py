"""Parsing many files on two cores: a cold scan (a new clone, an empty cache) parses every
manifest, and a cold render parses every edited file twice (to locate, to prove); parsing is CPU
in one Python thread, so a second core would otherwise idle.

:func:`parse_files` yields ``parse(key, payload)`` of each job in the jobs' order (the payload:
a file's bytes, or whatever a pure function of the job needs, picklable). Given enough files and a
second CPU, one worker process (``spawn``: a fresh interpreter, never a fork of this
multi-threaded one) parses chunks from the back of the list while this process parses from the
front, yielding as it goes (so the tag listings of the first images found start at once); the
worker's findings come back pickled (frozen values: occurrences, problems). Whatever goes wrong
with the worker - it cannot start, it dies, it has not answered by the time this process
reaches its chunks - those chunks are parsed here: the outcome is the same as a parse in one
process, at worst a little slower.
"""

from __future__ import annotations

import logging
import logging.handlers
import multiprocessing
import os
import pickle
import sys
import threading
import time
import types
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

__all__ = ["ENV", "MIN_FILES", "parse_files", "release"]

ENV = "IMAGEBOT_PARSE_WORKERS"
#: The cgroup v2 CPU quota ("max 100000", or "200000 100000" for two CPUs).
CPU_MAX = Path("/sys/fs/cgroup/cpu.max")

#: Fewer files than this are parsed here: starting the worker (a fresh interpreter importing
#: discover, ~0.3 s of the other core) would cost more than it saves.
MIN_FILES = 400
#: Files per chunk: big enough that pickling stays a small share, small enough to balance.
CHUNK = 48

Job = tuple[str, Any]  # (a file's path, what to parse: its bytes, ...)


class _Records(list):  # type: ignore[type-arg]
    """The worker's log records (and warnings), sent back with each chunk: QueueHandler's queue."""

    put_nowait = list.append


_records = _Records()


def parse_files(jobs: Sequence[Job], parse: Callable[[str, Any], Any], worker_parse: Callable[..., Any],
                settings: tuple[Any, ...], *, workers: int | None = None) -> Iterator[Any]:
    """``parse(key, payload)`` of every job, in order. ``worker_parse(key, payload, *settings)`` must be
    the same function of the same arguments, importable by name (the worker gets `settings` once,
    pickled). `workers`: how many worker processes help (default: one, when there are two CPUs or
    more and at least :data:`MIN_FILES` jobs)."""
    if workers is None:
        workers = _workers_from_env()
    if workers is None:
        workers = 1 if len(jobs) >= MIN_FILES and _cpus() >= 2 else 0
    chunks = [jobs[i:i + CHUNK] for i in range(0, len(jobs), CHUNK)]
    pool = _acquire(workers) if workers > 0 and len(chunks) > 1 else None
    if pool is None:
        for rel, data in jobs:
            yield parse(rel, data)
        return
    log.debug("parsing %d file(s) with %d worker process(es)", len(jobs), workers)
    try:
        task = pickle.dumps((worker_parse, settings), pickle.HIGHEST_PROTOCOL)
        yield from _shared(chunks, parse, pool, workers, task)
    finally:
        _return()


def _acquire(workers: int) -> ProcessPoolExecutor | None:
    """The pool, counted as in use until `_return` (a `release` meanwhile waits for it)."""
    global _active
    while (pool := _pool(workers)) is not None:
        with _pools_lock:
            if _pools.get(workers) is pool:
                _active += 1
                return pool
        # released between the two locks: start another
    return None


def _return() -> None:
    global _active
    with _pools_lock:
        _active -= 1
        idle = _active == 0 and _release_when_idle
    if idle:
        release()


def _shared(chunks: list[list[Job]], parse: Callable[[str, Any], Any], pool: ProcessPoolExecutor,
            workers: int, task: bytes) -> Iterator[Any]:
    """This process parses chunks from the front and yields each at once (its images' tag
    listings can start); the worker takes chunks from the back, kept `workers` + 1 ahead. Where
    they meet, a chunk the worker has not finished within about the time this process takes for
    one is parsed here as well (a worker still starting costs nothing; its answer is dropped)."""
    taken: dict[int, Future[tuple[list[Any], list[logging.LogRecord]]]] = {}
    back = len(chunks)  # chunks from here on are the worker's
    broken = False
    late: list[Future[Any]] = []  # chunks parsed here because the worker had not answered
    spent, parsed_here = 0.0, 0

    def here(i: int) -> list[Any]:
        nonlocal spent, parsed_here
        start = time.monotonic()
        out = [parse(rel, data) for rel, data in chunks[i]]
        spent, parsed_here = spent + time.monotonic() - start, parsed_here + 1
        return out

    for index in range(len(chunks)):
        while not broken and back - 1 > index and sum(not f.done() for f in taken.values()) < workers + 1:
            try:
                with _main_hidden():
                    taken[back - 1] = pool.submit(_parse_chunk, task, chunks[back - 1])
            except Exception as e:  # the pool broke or shut down: parse here from now on
                broken = _gave_up(e, pool)
                break
            back -= 1
        future = taken.pop(index, None)
        if future is None or broken:
            yield from here(index)
            continue
        try:
            found, records = future.result(timeout=max(0.05, 2 * spent / max(1, parsed_here)))
        except Exception as e:  # concurrent.futures' TimeoutError is the built-in one
            if future.done():  # the worker died: what it still holds is parsed here
                broken = _gave_up(e, pool)
            else:  # not there yet (still starting, or stuck): parse it here rather than wait
                late.append(future)
            yield from here(index)
            continue
        for record in records:  # what the worker logged or warned, through this process's handlers
            logging.getLogger(record.name).handle(record)
        yield from found
    log.debug("parsed %d chunk(s): %d here, %d by the worker, %d here because the worker had not answered",
              len(chunks), parsed_here, len(chunks) - parsed_here, len(late))
    if any(not f.done() for f in late):  # a worker busy with a chunk nobody needs: stop it
        _drop(pool)
        _terminate(pool)


def _terminate(pool: ProcessPoolExecutor) -> None:
    """Stop the worker processes now (ProcessPoolExecutor.terminate_workers, Python 3.14)."""
    stop = getattr(pool, "terminate_workers", None)
    if stop is not None:
        stop()
        return
    for process in list((getattr(pool, "_processes", None) or {}).values()):
        process.terminate()


def _gave_up(e: BaseException, pool: ProcessPoolExecutor) -> bool:
    log.warning("the parsing worker failed (%s: %s); parsing the rest in this process",
                type(e).__name__, str(e)[:200])
    _drop(pool)
    return True


_pools: dict[int, ProcessPoolExecutor] = {}  # by number of workers: kept until `release`
_pools_lock = threading.Lock()
_active = 0  # parses using a pool now
_release_when_idle = False


def release() -> None:
    """Stop the worker processes once no parse uses them (at the end of a cycle: a scan and a
    render share the worker; an agent does not keep an idle process of ~50 MB between cycles)."""
    global _release_when_idle
    with _pools_lock:
        if _active:
            _release_when_idle = True
            return
        _release_when_idle = False
        pools = list(_pools.values())
        _pools.clear()
    for pool in pools:
        pool.shutdown(wait=False, cancel_futures=True)


def _pool(workers: int) -> ProcessPoolExecutor | None:
    """The pool of `workers` processes, started on first use (a cycle's scan and render share
    it) and stopped by :func:`release`."""
    with _pools_lock:
        pool = _pools.get(workers)
        if pool is not None:
            return pool
        try:
            # spawn: a fresh interpreter, never a fork of this multi-threaded process; its own
            # child, so its CPU is this process's children's (what `time` and the benchmark count)
            context = multiprocessing.get_context("spawn")
            pool = _pools[workers] = ProcessPoolExecutor(workers, mp_context=context, initializer=_start,
                                                         initargs=(logging.getLogger().getEffectiveLevel(),))
            return pool
        except Exception as e:  # no processes here (a sandbox, no /dev/shm): parse in this one
            log.info("parsing in one process (%s: %s)", type(e).__name__, e)
            return None


def _drop(pool: ProcessPoolExecutor) -> None:
    """A pool that failed or is stopped: the next parse starts another."""
    with _pools_lock:
        for key, kept in list(_pools.items()):
            if kept is pool:
                del _pools[key]
    pool.shutdown(wait=False, cancel_futures=True)


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


_task: tuple[bytes, Callable[[str, Any], Any]] | None = None  # the worker's (task, parse function)


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
