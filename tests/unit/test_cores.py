"""Parsing on two cores (a cold scan, a cold render): the same findings in the same order, whatever the worker does."""

from __future__ import annotations

import logging
import os
import shutil
import time
from pathlib import Path

import pytest

from imagebot import discover
from imagebot import cores as parallel
from tests.conftest import shared_path
from tests.support import parse_workers


def jobs(n: int, special: str | None = None) -> list[tuple[str, bytes]]:
    """`n` jobs; `special` in the last chunk, which the worker is always given first."""
    out = [(f"f{i:04d}.yaml", b"x" * i) for i in range(n)]
    if special:
        out[-3] = (special, b"special")
    return out


def slow(rel: str, data: bytes) -> tuple[str, int, str, int]:
    """This process's parse, slow enough that the worker (started in ~0.3 s) gets to its chunks."""
    time.sleep(0.004)
    return parse_workers.echo(rel, data, "t")


def here(rel: str, data: bytes) -> tuple[str, int, str, int]:
    return parse_workers.echo(rel, data, "t")


def test_every_job_once_in_order_and_the_worker_takes_a_share():
    work = jobs(1000)
    got = list(parallel.parse_files(work, slow, parse_workers.echo, ("t",), workers=1))
    assert [(rel, size) for rel, size, _, _ in got] == [(rel, len(data)) for rel, data in work]
    pids = {pid for *_, pid in got}
    assert os.getpid() in pids and len(pids) == 2  # this process and the worker both parsed


def test_few_jobs_or_one_cpu_stay_in_this_process(monkeypatch):
    got = list(parallel.parse_files(jobs(parallel.MIN_FILES - 1), here, parse_workers.echo, ("t",)))
    assert {pid for *_, pid in got} == {os.getpid()}
    monkeypatch.setattr(parallel, "_cpus", lambda: 1)
    got = list(parallel.parse_files(jobs(parallel.MIN_FILES * 2), here, parse_workers.echo, ("t",)))
    assert {pid for *_, pid in got} == {os.getpid()}


def test_a_worker_that_dies_costs_only_time(caplog):
    work = jobs(600, "die.yaml")
    with caplog.at_level(logging.WARNING, logger="imagebot.cores"):
        got = list(parallel.parse_files(work, slow, parse_workers.dies_on, ("t",), workers=1))
    assert [(rel, size) for rel, size, _, _ in got] == [(rel, len(data)) for rel, data in work]
    assert next(pid for rel, *_, pid in got if rel == "die.yaml") == os.getpid()
    assert "the parsing worker failed" in caplog.text


def test_a_worker_that_does_not_answer_is_not_waited_for_and_is_stopped():
    work = jobs(600, "hang.yaml")
    start = time.monotonic()
    got = list(parallel.parse_files(work, slow, parse_workers.hangs_on, ("t",), workers=1))
    assert [(rel, size) for rel, size, _, _ in got] == [(rel, len(data)) for rel, data in work]
    assert next(pid for rel, *_, pid in got if rel == "hang.yaml") == os.getpid()
    assert time.monotonic() - start < parse_workers.HANG / 2  # its chunk was parsed here, not waited for
    # and the worker was stopped: this test process does not wait for it at exit (see HANG)


def test_a_scan_of_real_repositories_finds_the_same_on_two_cores(tmp_path: Path, monkeypatch):
    files = shared_path("realworld", "files")
    tree = tmp_path / "repo"
    shutil.copytree(files, tree)
    for i in range(4):  # enough files for several chunks
        shutil.copytree(files, tree / f"copy{i}")
    one = discover.scan(tree, everything=True)
    monkeypatch.setattr(parallel, "MIN_FILES", 1)
    monkeypatch.setattr(parallel, "_cpus", lambda: 2)
    calls: list[int] = []
    real_pool = parallel._pool
    monkeypatch.setattr(parallel, "_pool", lambda *a: calls.append(1) or real_pool(*a))
    two = discover.scan(tree, everything=True)
    assert calls == [1]  # the worker did take part
    assert two == one and len(one.unmanaged) > 300


def test_what_the_worker_logs_or_warns_reaches_this_process_log(caplog):
    logging.captureWarnings(True)
    try:
        with caplog.at_level(logging.WARNING):
            got = list(parallel.parse_files(jobs(600, "warn.yaml"), slow, parse_workers.warns_on, ("t",), workers=1))
    finally:
        logging.captureWarnings(False)
    assert next(pid for rel, *_, pid in got if rel == "warn.yaml") != os.getpid()  # the worker parsed it
    messages = [(r.name, r.getMessage()) for r in caplog.records]
    assert ("imagebot.discover.test", "odd file warn.yaml") in messages
    assert any(name == "py.warnings" and "found duplicate anchor in warn.yaml" in m for name, m in messages)
    assert "not at the parent's level" not in caplog.text


@pytest.mark.parametrize(("cpu_max", "affinity", "expected"), [
    (None, 4, 4),  # no cgroup v2 file
    ("max 100000\n", 4, 4),
    ("100000 100000\n", 4, 1),  # a container limited to one CPU: no worker
    ("150000 100000\n", 4, 1),
    ("200000 100000\n", 4, 2),
    ("800000 100000\n", 2, 2),
    ("garbage\n", 2, 2),
])
def test_cpus_are_the_affinity_within_the_containers_quota(tmp_path, monkeypatch, cpu_max, affinity, expected):
    path = tmp_path / "cpu.max"
    if cpu_max is not None:
        path.write_text(cpu_max)
    monkeypatch.setattr(parallel, "CPU_MAX", path)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(affinity)))
    assert parallel._cpus() == expected


@pytest.mark.parametrize(("value", "pids_in_worker"), [("0", False), ("1", True)])
def test_the_environment_can_turn_the_worker_off_or_on(monkeypatch, value, pids_in_worker):
    monkeypatch.setenv(parallel.ENV, value)
    monkeypatch.setattr(parallel, "_cpus", lambda: 1)  # on: even where it would not be used
    n = parallel.MIN_FILES * 2 if value == "0" else 200
    got = list(parallel.parse_files(jobs(n), slow if pids_in_worker else here, parse_workers.echo, ("t",)))
    assert ({pid for *_, pid in got} != {os.getpid()}) is pids_in_worker


UNGUARDED = """\
import os, sys, time
sys.path[:0] = {paths!r}
with open({marker!r}, "a") as f:
    f.write(f"ran in {{os.getpid()}}\\n")
from imagebot import cores as parallel
from tests.support import parse_workers
big = "x" * 300_000  # settings larger than a pipe's buffer
jobs = [(f"f{{i}}.yaml", b"x") for i in range(300)]
got = list(parallel.parse_files(jobs, lambda rel, data: time.sleep(0.004) or parse_workers.echo(rel, data, big),
                                parse_workers.echo, (big,), workers=1))
print(len(got), len({{pid for *_, pid in got}}))
"""


def test_a_program_without_a_main_guard_is_not_run_again_by_the_worker(tmp_path):
    """multiprocessing's spawn imports the parent's __main__ in the worker: a script without an
    `if __name__ == "__main__"` guard ran again there (and the parent then hung writing 100+ KB
    of settings to a dead worker's pipe)."""
    import subprocess
    import sys
    marker = tmp_path / "runs.txt"
    script = tmp_path / "unguarded.py"
    script.write_text(UNGUARDED.format(paths=[str(Path(__file__).parents[2])], marker=str(marker)))
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["300", "2"]  # every job, parsed by both processes
    assert len(marker.read_text().splitlines()) == 1, marker.read_text()


def test_a_file_that_cannot_be_read_is_reported_in_walk_order(tmp_path: Path, monkeypatch):
    """The parse may happen after every file is read (and on two cores): the problems still come
    file by file, in the order the files were walked."""
    broken = "a: [1\nb: 2 # imagebot: semver:^1\n"
    for name in ("a.yaml", "b.yaml", "c.yaml"):
        (tmp_path / name).write_text(broken)
    real = Path.read_bytes

    def read_bytes(self: Path) -> bytes:
        if self.name == "b.yaml":
            raise PermissionError(13, "Permission denied")
        return real(self)

    monkeypatch.setattr(Path, "read_bytes", read_bytes)
    found = discover.scan(tmp_path)
    assert [(p.location.file, "cannot read" in p.message) for p in found.problems] == [
        ("a.yaml", False), ("b.yaml", True), ("c.yaml", False)]


def test_release_stops_the_worker_once_no_parse_uses_it():
    """A cycle's scan and render share the worker; at the end of the cycle it is stopped (an agent
    keeps no idle process between cycles) - but not under a parse still running."""
    got = parallel.parse_files(jobs(600), slow, parse_workers.echo, ("t",), workers=1)
    first = [next(got) for _ in range(50)]  # a parse in progress holds the pool
    pool = parallel._pools[1]
    parallel.release()
    assert parallel._pools.get(1) is pool  # deferred: still in use
    rest = list(got)
    assert len(first) + len(rest) == 600
    assert 1 not in parallel._pools  # released when that parse ended
    processes = list(pool._processes.values()) if pool._processes else []
    for process in processes:
        process.join(10)
    assert not any(p.is_alive() for p in processes)
    again = list(parallel.parse_files(jobs(600), slow, parse_workers.echo, ("t",), workers=1))
    assert len({pid for *_, pid in again}) == 2  # a new worker for the next cycle
    parallel.release()
    assert parallel._pools == {}
