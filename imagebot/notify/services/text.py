"""Plain-text pieces every service uses: an update line, the places, the links."""

from __future__ import annotations

from imagebot.notify.notices import Notice, Update

MAX_PLACES = 3


def update_line(u: Update) -> str:
    places = ", ".join(u.files[:MAX_PLACES]) + (f" (+{len(u.files) - MAX_PLACES})" if len(u.files) > MAX_PLACES else "")
    return f"{u.image}: {u.old} → {u.new} ({places})"


def lines(n: Notice) -> list[str]:
    """The detail lines of a notice, without its title."""
    out = [update_line(u) for u in n.updates]
    if n.text and n.text not in out:
        out.append(n.text)
    if n.location and n.location not in n.text:
        out.append(f"at {n.location}")
    if n.repository:
        out.append(f"repository {n.repository}")
    return out


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: max(0, limit - 1)] + "…"


def is_url(s: str) -> bool:
    return s.startswith(("https://", "http://"))
