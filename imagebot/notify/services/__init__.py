"""One module per service: turn a batch of notices into the request bodies that service takes.

Each service is a function `render(notices) -> list of JSON bodies` (a service with a per-message
limit gets several bodies), registered in :data:`RENDERERS`. They do no I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from imagebot.notify.notices import Notice
from imagebot.notify.services import alertmanager, discord, googlechat, slack, teams, webhook

Renderer = Callable[[Sequence[Notice]], list[Any]]

RENDERERS: dict[str, Renderer] = {
    "slack": slack.render,
    "teams": teams.render,
    "discord": discord.render,
    "googlechat": googlechat.render,
    "webhook": webhook.render,
    "alertmanager": alertmanager.render,
}
