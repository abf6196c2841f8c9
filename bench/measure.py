"""Run a command and measure it: wall time, CPU time (user + system) and peak RSS.

CPU and peak RSS come from `os.wait4`, i.e. the kernel's accounting of the child and of every
descendant it waited for (git processes spawned by imagebot count too). Peak RSS is the largest
single process of that tree, not a sum; `tree_rss_mb` is the sum over the tree (imagebot and its
parsing worker, git) sampled every 20 ms from /proc: the memory the tree held at once, as far as
the samples saw (a peak shorter than a sample can be missed).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Sample:
    wall: float  # seconds
    cpu: float  # seconds, user + system
    rss_mb: float  # peak resident set size of the largest process, MiB
    returncode: int
    stdout: bytes = b""
    stderr_tail: str = ""
    tree_rss_mb: float = 0.0  # the largest sampled sum over the process tree, MiB (0: not sampled)


class CommandFailed(RuntimeError):
    pass


def speed_probe(repeats: int = 5) -> float:
    """Milliseconds this machine takes for a fixed piece of pure-Python work (the best of
    `repeats`): the same figure on a faster or a slower moment of a shared VM. Recorded with each
    phase, so that results taken minutes apart can be read against the machine's speed (this VM's
    varied by more than half within minutes: one warm `plan` 0.95 s, the same one 1.6 s)."""
    best = float("inf")
    for _ in range(repeats):
        t0 = time.process_time()
        d: dict[str, int] = {}
        for i in range(60_000):
            key = f"k{i % 997}"
            d[key] = d.get(key, 0) + i * i % 7
        sorted(d.items())
        best = min(best, time.process_time() - t0)
    return round(best * 1000, 1)


def run(
    argv: Sequence[str],
    *,
    cwd: Path | str | None = None,
    env: Mapping[str, str] | None = None,
    stdout_path: Path | None = None,
    ok_codes: tuple[int, ...] = (0,),
    timeout: float = 1800.0,
) -> Sample:
    """Runs `argv` to completion; raises CommandFailed (with the end of its stderr) on an
    unexpected exit code or a timeout. Output goes to `stdout_path` when given (large logs,
    `Sample.stdout` stays empty), else it is returned in `Sample.stdout`."""
    with tempfile.TemporaryDirectory(prefix="bench-measure-") as tmp:
        out_path = Path(stdout_path) if stdout_path else Path(tmp) / "stdout"
        err_path = Path(tmp) / "stderr"
        with open(out_path, "wb") as out, open(err_path, "wb") as err:
            t0 = time.monotonic()
            proc = subprocess.Popen(list(argv), cwd=cwd, env=dict(env) if env is not None else None,
                                    stdout=out, stderr=err, stdin=subprocess.DEVNULL)
            timer = threading.Timer(timeout, proc.kill)
            timer.start()
            tree = _TreeRss(proc.pid)
            tree.start()
            try:
                _pid, status, usage = os.wait4(proc.pid, 0)
            finally:
                timer.cancel()
                tree.stop()
            wall = time.monotonic() - t0
            proc.returncode = code = os.waitstatus_to_exitcode(status)  # Popen must not wait again
        if wall >= timeout:
            raise CommandFailed(f"{argv[0]} timed out after {timeout:.0f} s")
        if code not in ok_codes:
            tail = err_path.read_bytes()[-3000:].decode(errors="replace")
            raise CommandFailed(f"{' '.join(map(str, argv[:5]))} ... exited {code}:\n{tail}")
        return Sample(
            wall=wall,
            cpu=usage.ru_utime + usage.ru_stime,
            rss_mb=usage.ru_maxrss / 1024,
            # the samples only: the kernel's figure for a child can include its parent's pages at the
            # fork (a test run under pytest: ~400 MB for a 50 MB child)
            tree_rss_mb=tree.peak_kb / 1024 if tree.peak_kb else usage.ru_maxrss / 1024,
            returncode=code,
            stdout=b"" if stdout_path else out_path.read_bytes(),
            stderr_tail=err_path.read_bytes()[-3000:].decode(errors="replace"),
        )


class _TreeRss(threading.Thread):
    """Samples the summed VmRSS of a process and its descendants (Linux /proc) until stopped."""

    def __init__(self, pid: int, interval: float = 0.02):
        super().__init__(daemon=True)
        self.pid, self.interval, self.peak_kb = pid, interval, 0
        self._done = threading.Event()

    def run(self) -> None:
        while not self._done.wait(self.interval):
            self.peak_kb = max(self.peak_kb, sum(_rss_kb(p) for p in _tree(self.pid)))

    def stop(self) -> None:
        self._done.set()
        self.join(timeout=5)


def _tree(root: int) -> list[int]:
    """`root` and its descendants, from each process's parent in /proc/<pid>/stat."""
    children: dict[int, list[int]] = {}
    try:
        pids = [int(d) for d in os.listdir("/proc") if d.isdigit()]
    except OSError:
        return []
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat", "rb") as f:
                ppid = int(f.read().rsplit(b")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(pid)
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo += children.get(pid, [])
    return out


def _rss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status", "rb") as f:
            for line in f:
                if line.startswith(b"VmRSS:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def median(values: Iterable[float]) -> float:
    return statistics.median(list(values))


def summarize(samples: Sequence[Sample]) -> dict[str, float | int | list[float]]:
    """Medians (the figure that counts) plus the raw walls, for the JSON results."""
    return {
        "runs": len(samples),
        "wall_s": round(median(s.wall for s in samples), 4),
        "cpu_s": round(median(s.cpu for s in samples), 4),
        "rss_mb": round(median(s.rss_mb for s in samples), 1),
        "tree_rss_mb": round(median(s.tree_rss_mb for s in samples), 1),
        "walls": [round(s.wall, 4) for s in samples],
    }
