"""Configuration: schema and loading.

The names below are loaded on first use (PEP 562), so that importing a light submodule
(`imagebot.config.cron`, `.durations`, `.patterns`) does not build every pydantic model.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from imagebot.config.load import DEFAULT_PATH, load_text
    from imagebot.config.schema import Config, NamedPolicy, RegistrySettings

# Not `load`: it is also the name of the submodule imagebot.config.load, which Python binds on
# the package once anything imports that submodule (`from imagebot.config import load` would then
# give the module). Import the function from its module: `from imagebot.config.load import load`.
__all__ = ["Config", "NamedPolicy", "RegistrySettings", "DEFAULT_PATH", "load_text"]

_HOME = {"Config": "schema", "NamedPolicy": "schema", "RegistrySettings": "schema",
         "DEFAULT_PATH": "load", "load_text": "load"}


def __getattr__(name: str) -> Any:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value
    return value
