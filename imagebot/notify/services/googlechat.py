"""Google Chat incoming webhooks: a text message.

Payload: ``{"text": str}`` — https://developers.google.com/workspace/chat/quickstart/webhooks
and https://developers.google.com/workspace/chat/format-messages (``*bold*``, ``<url|label>``
links; at most 4,096 characters of text a message).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from imagebot.notify.notices import Notice
from imagebot.notify.services.text import clip, is_url, lines

MAX_TEXT = 4096


def _part(n: Notice) -> str:
    links = " · ".join(f"<{url}|{label}>" for label, url in n.links if is_url(url))
    return "\n".join([f"*{n.title}*", *lines(n), *([links] if links else [])])


def render(notices: Sequence[Notice]) -> list[dict[str, Any]]:
    bodies: list[dict[str, Any]] = []
    current = ""
    for n in notices:
        part = clip(_part(n), MAX_TEXT)
        if current and len(current) + 2 + len(part) > MAX_TEXT:
            bodies.append({"text": current})
            current = ""
        current = f"{current}\n\n{part}" if current else part
    if current:
        bodies.append({"text": current})
    return bodies
