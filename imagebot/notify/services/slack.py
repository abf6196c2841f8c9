"""Slack incoming webhooks with Block Kit.

Payload: ``{"text": fallback, "blocks": [...]}`` — https://api.slack.com/messaging/webhooks and
https://api.slack.com/reference/block-kit/blocks (at most 50 blocks a message; a section's text
at most 3,000 characters; a header's plain text at most 150).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from imagebot.notify.notices import Notice
from imagebot.notify.services.text import clip, is_url, lines

MAX_BLOCKS = 50
MAX_SECTION = 3000
MAX_HEADER = 150
_ICON = {"info": ":large_blue_circle:", "warning": ":warning:", "error": ":red_circle:"}


def _escape(s: str) -> str:
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _blocks(n: Notice) -> list[dict[str, Any]]:
    body = "\n".join(_escape(line) for line in lines(n))
    out: list[dict[str, Any]] = [{
        "type": "section",
        "text": {"type": "mrkdwn", "text": clip(f"{_ICON[n.severity.value]} *{_escape(n.title)}*\n{body}".rstrip(), MAX_SECTION)},
    }]
    links = [(label, url) for label, url in n.links if is_url(url)]
    if links:
        out.append({"type": "context", "elements": [
            {"type": "mrkdwn", "text": clip(" · ".join(f"<{url}|{_escape(label)}>" for label, url in links), MAX_SECTION)},
        ]})
    return out


def render(notices: Sequence[Notice]) -> list[dict[str, Any]]:
    bodies: list[dict[str, Any]] = []
    blocks: list[dict[str, Any]] = []
    titles: list[str] = []
    for n in notices:
        nb = _blocks(n)
        if len(blocks) + len(nb) + 1 > MAX_BLOCKS:
            bodies.append(_message(blocks, titles))
            blocks, titles = [], []
        blocks += nb
        titles.append(n.title)
    if blocks:
        bodies.append(_message(blocks, titles))
    return bodies


def _message(blocks: list[dict[str, Any]], titles: list[str]) -> dict[str, Any]:
    head = titles[0] if len(titles) == 1 else f"imagebot: {len(titles)} notices"
    return {"text": clip(head, MAX_SECTION),
            "blocks": [{"type": "header", "text": {"type": "plain_text", "text": clip(head, MAX_HEADER)}}, *blocks]}
