"""Logging: text lines (with UTC timestamps) for people, JSON lines for machines; every handler
redacts secrets.

In JSON mode every line on stderr is JSON: Python warnings, uncaught exceptions in the main
thread and in other threads go through logging (their tracebacks become an ``error`` field),
never raw to stderr. :class:`LogReporter` writes one line per change that landed, one per
problem, and the progress of a long cycle.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from imagebot.model import CycleResult
from imagebot.redact import RedactingFilter, redact

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        doc = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in getattr(record, "fields", {}).items():
            doc[key] = value
        if record.exc_info:
            doc["error"] = redact(self.formatException(record.exc_info))
        if record.stack_info:
            doc["stack"] = redact(record.stack_info)
        return redact(json.dumps(doc, default=str))


class TextFormatter(logging.Formatter):
    """``2026-11-29T12:00:00.123Z INFO imagebot.agent: message``."""

    converter = time.gmtime

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802 - stdlib name
        return time.strftime("%Y-%m-%dT%H:%M:%S", self.converter(record.created)) + f".{int(record.msecs):03d}Z"


def setup(level: str = "info", fmt: str | None = None, stream=None) -> None:
    """Configure the root logger. fmt: 'json', 'text', or None (JSON unless stderr is a TTY)."""
    stream = stream or sys.stderr
    if fmt is None:
        fmt = "text" if stream.isatty() else "json"
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactingFilter())
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    for h in list(root.handlers):
        root.removeHandler(h)
    root.addHandler(handler)
    root.setLevel(getattr(logging, level.upper(), logging.INFO))
    for noisy in ("urllib3", "git", "github"):
        logging.getLogger(noisy).setLevel(max(root.level, logging.WARNING))
    route_stray_output()


def route_stray_output() -> None:
    """Warnings and uncaught exceptions (any thread) through logging, not raw to stderr."""
    logging.captureWarnings(True)
    crash = logging.getLogger("imagebot.crash")

    def excepthook(kind: type[BaseException], value: BaseException, tb: Any) -> None:
        if issubclass(kind, KeyboardInterrupt):
            sys.__excepthook__(kind, value, tb)
            return
        crash.critical("uncaught exception: %s", value, exc_info=(kind, value, tb),
                       extra={"fields": {"event": "crash"}})

    def thread_excepthook(args: threading.ExceptHookArgs) -> None:
        if args.exc_type is SystemExit:
            return
        name = args.thread.name if args.thread is not None else "?"
        crash.error("uncaught exception in thread %s: %s", name, args.exc_value,
                    exc_info=(args.exc_type, args.exc_value, args.exc_traceback),  # type: ignore[arg-type]
                    extra={"fields": {"event": "thread-crash", "thread": name}})

    sys.excepthook = excepthook
    threading.excepthook = thread_excepthook


class LogReporter:
    """One line per change that landed, per pull request touched, per problem; progress every
    `every` seconds while a cycle resolves."""

    def __init__(self, logger: logging.Logger | None = None, every: float = 15.0,
                 clock: Callable[[], float] = time.monotonic):
        self.log = logger or logging.getLogger("imagebot.cycle")
        self.every = every
        self._clock = clock
        self._next = 0.0

    def cycle_started(self, images_to_resolve: int) -> None:
        self._next = self._clock() + self.every
        self.log.info("resolving %d image repositor%s", images_to_resolve, "y" if images_to_resolve == 1 else "ies",
                      extra={"fields": {"event": "resolve-started", "total": images_to_resolve}})

    def cycle_progress(self, resolved: int, total: int) -> None:
        now = self._clock()
        if now < self._next or resolved >= total:
            return
        self._next = now + self.every
        self.log.info("progress: %d of %d image repositories resolved", resolved, total,
                      extra={"fields": {"event": "progress", "resolved": resolved, "total": total}})

    def cycle_finished(self, result: CycleResult) -> None:
        d = result.delivery
        if d is None:
            return
        for x in d.landed:
            c = x.change
            where = f"pull request {x.pull_request}" if x.pull_request else f"commit {x.commit[:12]} on {x.branch}"
            self.log.info("updated %s -> %s at %s (%s)", c.old_ref, c.new_ref, c.occurrence.location, where,
                          extra={"fields": {"event": "updated", "image": c.occurrence.image, "old": c.old_ref,
                                            "new": c.new_ref, "file": c.file, "line": c.occurrence.location.line,
                                            "branch": x.branch, "commit": x.commit, "pull_request": x.pull_request}})
        for o in d.outcomes:
            if o.written:
                self.log.info("pull request %s %s (%s)", o.url, o.action.value, o.branch,
                              extra={"fields": {"event": "pull-request", "url": o.url, "action": o.action.value,
                                                "branch": o.branch, "commit": o.commit}})
        for p in result.problems:
            self.log.warning("problem: %s", p, extra={"fields": {
                "event": "problem", "kind": p.kind, "message": p.message, "subject": p.subject,
                "file": p.location.file if p.location else None, "line": p.location.line if p.location else None,
                "temporary": p.temporary}})
