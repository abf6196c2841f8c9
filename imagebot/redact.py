"""Secret redaction.

Every secret (registry password, token, Git credential, webhook key) is registered here the
moment it is read. Log records, exception texts and reports pass through :func:`redact`.
This is the one piece of process-wide state in imagebot, on purpose: a secret must be
hidden from every log handler, whoever configured it.
"""

from __future__ import annotations

import base64
import logging
import threading

_MASK = "***"
_lock = threading.Lock()
_secrets: set[str] = set()


def register(secret: str | bytes | None) -> None:
    """Hide `secret` (and its base64 form, as used in Basic auth) from all output from now on."""
    if not secret:
        return
    if isinstance(secret, bytes):
        secret = secret.decode("utf-8", "replace")
    if len(secret) < 4:  # too short to redact without mangling ordinary text; still never logged
        return
    with _lock:
        _secrets.add(secret)
        _secrets.add(base64.b64encode(secret.encode()).decode())


def redact(text: str) -> str:
    if not text or not _secrets:
        return text
    with _lock:
        secrets = sorted(_secrets, key=len, reverse=True)
    for s in secrets:
        if s in text:
            text = text.replace(s, _MASK)
    return text


class RedactingFilter(logging.Filter):
    """A logging filter that rewrites each record's message with secrets masked."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            msg = record.getMessage()
        except Exception:  # pragma: no cover - a broken format string; let logging report it
            return True
        clean = redact(msg)
        if clean != msg or record.args:
            record.msg, record.args = clean, None
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        return True
