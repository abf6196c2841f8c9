"""notify: tell the team what changed and what is stuck, where the team already looks.

cycle result / drift report -> notices (derive) -> per-target filter -> service payloads
(services/) -> one queue and worker per target (dispatch), never in the cycle's way.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from imagebot.config.schema import Config
from imagebot.notify.derive import DriftFinding, Tracker, public_url
from imagebot.notify.dispatch import Dispatcher, Outcome
from imagebot.notify.notifier import Notifier
from imagebot.notify.targets import build

log = logging.getLogger(__name__)

__all__ = ["DriftFinding", "Notifier", "from_config"]


def from_config(cfg: Config, *, state_file: Path | None = None, on_outcome: Outcome | None = None,
                enabled: Callable[[], bool] = lambda: True) -> Notifier | None:
    """A Notifier for the configured targets, or None when none is configured.

    A target whose URL or secret cannot be read is left out with an error line; the others work.
    """
    if not cfg.notifications:
        return None
    targets, errors = build(cfg.notifications)
    for e in errors:
        log.error("notifications: %s; this target is left out", e)
    lane_urls = {r.lane_name: public_url(r.url) for r in cfg.repositories}
    return Notifier(targets, Tracker(state_file), public_url(cfg.repository.url) if cfg.repository else "",
                    dispatcher=Dispatcher(targets, on_outcome), enabled=enabled, lane_urls=lane_urls)
