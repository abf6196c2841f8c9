"""Discord webhooks with embeds.

Payload: ``{"content": str, "embeds": [...]}`` — https://discord.com/developers/docs/resources/webhook#execute-webhook
and https://discord.com/developers/docs/resources/message#embed-object-embed-limits (10 embeds a
message; title 256, description 4,096 characters; 6,000 characters in all embeds of a message).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from imagebot.notify.notices import Notice
from imagebot.notify.services.text import clip, is_url, lines

MAX_EMBEDS = 10
MAX_TITLE = 256
MAX_DESCRIPTION = 4096
MAX_TOTAL = 6000
_COLOR = {"info": 0x2F81F7, "warning": 0xD29922, "error": 0xCF222E}


def _embed(n: Notice) -> dict[str, Any]:
    desc = "\n".join(lines(n))
    urls = [(label, url) for label, url in n.links if is_url(url)]
    if urls:
        desc += "\n" + " · ".join(f"[{label}]({url})" for label, url in urls)
    e: dict[str, Any] = {"title": clip(n.title, MAX_TITLE), "description": clip(desc.strip(), 1500),
                         "color": _COLOR[n.severity.value]}
    if urls:
        e["url"] = urls[0][1]
    if n.at:
        e["timestamp"] = datetime.fromtimestamp(n.at, UTC).isoformat()
    return e


def _size(e: dict[str, Any]) -> int:
    return len(e["title"]) + len(e.get("description", ""))


def render(notices: Sequence[Notice]) -> list[dict[str, Any]]:
    bodies: list[dict[str, Any]] = []
    embeds: list[dict[str, Any]] = []
    total = 0
    for n in notices:
        e = _embed(n)
        if embeds and (len(embeds) == MAX_EMBEDS or total + _size(e) > MAX_TOTAL):
            bodies.append({"content": "", "embeds": embeds})
            embeds, total = [], 0
        embeds.append(e)
        total += _size(e)
    if embeds:
        bodies.append({"content": "", "embeds": embeds})
    return bodies
