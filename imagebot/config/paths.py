"""Where imagebot keeps its clones and caches on disk (`cache_dir`).

Here rather than in the pipeline, so that the commands that only read a repository's clone
(validate, inventory, drift) find it without loading the pipeline, the registry client and requests.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from imagebot.config.schema import Config


def cache_dir(cfg: Config) -> Path:
    if cfg.cache_dir:
        return Path(cfg.cache_dir).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "imagebot"
