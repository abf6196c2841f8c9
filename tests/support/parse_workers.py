"""Parse functions for discover's parsing worker that misbehave on cue (the worker is a spawned
process: it imports these by name)."""

from __future__ import annotations

import os
import time


def echo(rel: str, data: bytes, tag: str) -> tuple[str, int, str, int]:
    """(path, size, tag, the process that parsed it)."""
    return rel, len(data), tag, os.getpid()


def dies_on(rel: str, data: bytes, tag: str) -> tuple[str, int, str, int]:
    if rel == "die.yaml":
        os._exit(3)  # the worker process is gone mid-chunk
    return echo(rel, data, tag)


#: How long "hang.yaml" takes in the worker (bounded: a worker nobody stopped would hold up the
#: test process's exit this long).
HANG = 30.0


def hangs_on(rel: str, data: bytes, tag: str) -> tuple[str, int, str, int]:
    if rel == "hang.yaml":
        time.sleep(HANG)
    return echo(rel, data, tag)


def warns_on(rel: str, data: bytes, tag: str) -> tuple[str, int, str, int]:
    if rel == "warn.yaml":
        import logging
        import warnings
        warnings.warn("found duplicate anchor in warn.yaml", UserWarning, stacklevel=1)
        logging.getLogger("imagebot.discover.test").warning("odd file %s", rel)
        logging.getLogger("imagebot.discover.test").debug("not at the parent's level")
    return echo(rel, data, tag)
