"""Run a command and measure it: wall time, CPU time (user + system) and peak RSS.

CPU and peak RSS come from `os.wait4`, i.e. the kernel's accounting of the child and of every
descendant it waited for (git processes spawned by imagebot count too). Peak RSS is the largest
single process of that tree, not a sum.
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
    rss_mb: float  # peak resident set size, MiB
    returncode: int
    stdout: bytes = b""
    stderr_tail: str = ""


class CommandFailed(RuntimeError):
    pass


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
            try:
                _pid, status, usage = os.wait4(proc.pid, 0)
            finally:
                timer.cancel()
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
            returncode=code,
            stdout=b"" if stdout_path else out_path.read_bytes(),
            stderr_tail=err_path.read_bytes()[-3000:].decode(errors="replace"),
        )


def median(values: Iterable[float]) -> float:
    return statistics.median(list(values))


def summarize(samples: Sequence[Sample]) -> dict[str, float | int | list[float]]:
    """Medians (the figure that counts) plus the raw walls, for the JSON results."""
    return {
        "runs": len(samples),
        "wall_s": round(median(s.wall for s in samples), 4),
        "cpu_s": round(median(s.cpu for s in samples), 4),
        "rss_mb": round(median(s.rss_mb for s in samples), 1),
        "walls": [round(s.wall, 4) for s in samples],
    }
