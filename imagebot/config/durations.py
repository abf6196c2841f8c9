"""Durations as the configuration writes them: 30s, 5m, 1h30m, 2d, 250ms."""

from __future__ import annotations

import re

_DURATION = re.compile(r"^\s*(?:(\d+(?:\.\d+)?)(d|h|m|s|ms))+\s*$")
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|d|h|m|s)")
_UNIT = {"d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}


def parse_duration(text: str | int | float) -> float:
    """'5m' -> 300.0, '2d' -> 172800.0, '1h30m' -> 5400.0, '250ms' -> 0.25; a bare number means seconds."""
    if isinstance(text, (int, float)):
        return float(text)
    if not _DURATION.match(text):
        raise ValueError(f"not a duration: {text!r} (use e.g. 30s, 5m, 1h30m, 2d)")
    return sum(float(n) * _UNIT[u] for n, u in _PART.findall(text))
