"""Logging setup: text for people, JSON lines for machines; every handler redacts secrets."""

from __future__ import annotations

import json
import logging
import sys
import time

from imagebot.redact import RedactingFilter, redact


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
        return redact(json.dumps(doc, default=str))


def setup(level: str = "info", fmt: str | None = None, stream=None) -> None:
    """Configure the root logger. fmt: 'json', 'text', or None (JSON unless stderr is a TTY)."""
    stream = stream or sys.stderr
    if fmt is None:
        fmt = "text" if stream.isatty() else "json"
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactingFilter())
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    for h in list(root.handlers):
        root.removeHandler(h)
    root.addHandler(handler)
    root.setLevel(getattr(logging, level.upper(), logging.INFO))
    for noisy in ("urllib3", "git", "github"):
        logging.getLogger(noisy).setLevel(max(root.level, logging.WARNING))
