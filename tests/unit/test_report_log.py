"""Logs: in JSON mode every stderr line is JSON (warnings, uncaught exceptions in threads and in
the main thread included); text lines carry UTC timestamps; one line per change and per problem,
and progress while a long cycle resolves."""

from __future__ import annotations

import io
import json
import logging
import re
import subprocess
import sys
import textwrap

from imagebot.model import (Change, CycleResult, Delivery, Discovery, FieldKind, Landed, Location, Occurrence, Plan,
                            PolicySpec, Problem, Refusal, Rendered)
from imagebot.report.log import LogReporter, TextFormatter
from imagebot.report.progress import ResolveProgress
from tests.support.cli import ROOT

PROGRAM = textwrap.dedent("""
    import threading, warnings, logging
    from imagebot.report import log
    log.setup("info", "json")
    logging.getLogger("imagebot.x").info("hello", extra={"fields": {"event": "x"}})
    warnings.warn("something is deprecated", DeprecationWarning)
    def boom():
        raise RuntimeError("in a thread")
    t = threading.Thread(target=boom, name="worker-1"); t.start(); t.join()
    raise ValueError("at the top")
""")


def test_json_mode_every_stderr_line_is_json_tracebacks_as_fields() -> None:
    p = subprocess.run([sys.executable, "-W", "always", "-c", PROGRAM], capture_output=True, text=True, timeout=60,
                       cwd=ROOT, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert p.returncode == 1
    lines = p.stderr.splitlines()
    docs = [json.loads(line) for line in lines]  # raises on any non-JSON line
    assert [d["msg"] for d in docs][0] == "hello"
    warning = next(d for d in docs if d["logger"] == "py.warnings")
    assert "something is deprecated" in warning["msg"]
    thread = next(d for d in docs if d.get("event") == "thread-crash")
    assert thread["thread"] == "worker-1" and "RuntimeError: in a thread" in thread["error"]
    crash = next(d for d in docs if d.get("event") == "crash")
    assert crash["level"] == "critical" and "ValueError: at the top" in crash["error"]


def test_text_lines_carry_utc_timestamps() -> None:
    record = logging.LogRecord("imagebot.cycle", logging.INFO, __file__, 1, "updated %s", ("x",), None)
    record.created, record.msecs = 1_800_000_000.25, 250
    assert TextFormatter().format(record) == "2027-01-15T08:00:00.250Z INFO imagebot.cycle: updated x"
    assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z ", TextFormatter().format(record))


def occurrence(line: int, image: str) -> Occurrence:
    return Occurrence(Location("apps.yaml", line, 9), 0, FieldKind.IMAGE, f"{image}:1.0", image, "1.0", None,
                      PolicySpec("semver:^1"), "Deployment/web")


def test_one_line_per_landed_change_and_per_problem_none_for_a_refused_edit() -> None:
    web, db = occurrence(3, "ghcr.io/o/web"), occurrence(9, "ghcr.io/o/db")
    cw = Change(web, "ghcr.io/o/web:1.0", "ghcr.io/o/web:1.1", "ghcr.io/o/web:1.0", "ghcr.io/o/web:1.1", "newer")
    cd = Change(db, "ghcr.io/o/db:1.0", "ghcr.io/o/db:1.2", "ghcr.io/o/db:1.0", "ghcr.io/o/db:1.2", "newer")
    problem = Problem("edit", "not edited: anchor", db.location, "Deployment/web")
    delivery = Delivery("commit", branch="staging", commit="a" * 40, pushed=True,
                        landed=(Landed(cw, "staging", "a" * 40),), refused=(Refusal(cd, "anchor"),))
    result = CycleResult(Discovery((web, db)), (), Plan((cw, cd)), Rendered(()), delivery, (problem,), 0.0, 1.0)
    stream = io.StringIO()
    logger = logging.getLogger("test.cycle.lines")
    logger.handlers[:] = [logging.StreamHandler(stream)]
    logger.setLevel(logging.INFO)
    logger.propagate = False
    LogReporter(logger).cycle_finished(result)
    lines = stream.getvalue().splitlines()
    assert lines == [
        "updated ghcr.io/o/web:1.0 -> ghcr.io/o/web:1.1 at apps.yaml:3:9 (commit aaaaaaaaaaaa on staging)",
        "problem: apps.yaml:9:9: Deployment/web: not edited: anchor",
    ]


def test_progress_is_reported_as_the_cycle_resolves() -> None:
    class Source:
        def tags(self, image: str) -> str:
            return image

        def digest(self, image: str, tag: str) -> str:
            return "sha256:x"

    seen: list[tuple[int, int]] = []
    clock = [0.0]

    class Rec:
        def cycle_started(self, total: int) -> None:
            seen.append((0, total))

        def cycle_progress(self, done: int, total: int) -> None:
            seen.append((done, total))

    stream = io.StringIO()
    logger = logging.getLogger("test.cycle.progress")
    logger.handlers[:] = [logging.StreamHandler(stream)]
    logger.setLevel(logging.INFO)
    logger.propagate = False
    log_reporter = LogReporter(logger, every=15, clock=lambda: clock[0])
    progress = ResolveProgress(Source(), ["a", "b", "c"], [Rec(), log_reporter])
    progress.tags("a")
    clock[0] = 16
    progress.tags("b")
    progress.tags("b")  # the same repository twice counts once
    progress.tags("c")
    assert progress.digest("a", "1") == "sha256:x"  # everything else is the source's own
    assert seen == [(0, 3), (1, 3), (2, 3), (2, 3), (3, 3)]
    assert stream.getvalue().splitlines() == ["resolving 3 image repositories", "progress: 2 of 3 image repositories resolved"]
