"""Crash injection: make a method die right after it did its work, as a killed process would."""

from __future__ import annotations

import importlib

import pytest


class Crash(BaseException):
    """A process dying mid-cycle (not an Exception: nothing may catch it)."""


def crash_after(monkeypatch: pytest.MonkeyPatch, dotted_class: str, method: str) -> None:
    """`dotted_class.method` runs, then raises Crash (undone when `monkeypatch` is)."""
    module_name, _, cls_name = dotted_class.rpartition(".")
    cls = getattr(importlib.import_module(module_name), cls_name)
    original = getattr(cls, method)

    def crashing(*args, **kwargs):
        original(*args, **kwargs)
        raise Crash(f"{cls_name}.{method}")

    monkeypatch.setattr(cls, method, crashing)
