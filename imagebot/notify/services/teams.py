"""Microsoft Teams (Workflows "post to a channel when a webhook request is received", and the
older incoming webhooks) with an Adaptive Card.

Payload: ``{"type": "message", "attachments": [{"contentType":
"application/vnd.microsoft.card.adaptive", "content": {AdaptiveCard 1.4}}]}`` —
https://learn.microsoft.com/en-us/microsoftteams/platform/webhooks-and-connectors/how-to/connectors-using
and https://adaptivecards.io/explorer/ (a card of at most ~28 KB; we keep it well under).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from imagebot.notify.notices import Notice
from imagebot.notify.services.text import clip, is_url, lines

MAX_NOTICES = 20  # per card: keeps a card readable and far below the size limit
_COLOR = {"info": "Default", "warning": "Warning", "error": "Attention"}


def _items(n: Notice) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = [
        {"type": "TextBlock", "text": clip(n.title, 400), "weight": "Bolder", "wrap": True, "color": _COLOR[n.severity.value]},
    ]
    detail = "\n\n".join(lines(n))
    if detail:
        items.append({"type": "TextBlock", "text": clip(detail, 4000), "wrap": True, "isSubtle": True, "spacing": "None"})
    return items


def _card(notices: Sequence[Notice]) -> dict[str, Any]:
    body: list[dict[str, Any]] = []
    actions: list[dict[str, Any]] = []
    for n in notices:
        body.append({"type": "Container", "items": _items(n), "separator": bool(body)})
        actions += [{"type": "Action.OpenUrl", "title": label, "url": url} for label, url in n.links if is_url(url)]
    content: dict[str, Any] = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": body,
    }
    if actions:
        content["actions"] = actions[:5]  # Teams shows at most a few; the rest are in the text
    return {"type": "message", "attachments": [
        {"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None, "content": content},
    ]}


def render(notices: Sequence[Notice]) -> list[dict[str, Any]]:
    return [_card(notices[i:i + MAX_NOTICES]) for i in range(0, len(notices), MAX_NOTICES)]
