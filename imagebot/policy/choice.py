"""The answer of a policy: the chosen tag, why, and what happened to every other tag."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Rejected:
    """A tag the policy did not take, and why (one line, shown by ``--explain`` and ``plan``)."""

    tag: str
    reason: str


@dataclass(frozen=True)
class Choice:
    """A policy's decision.

    `chosen` is None when nothing qualifies and there is no current tag to keep; with a current
    tag it never sorts below it (when nothing newer qualifies, it *is* the current tag).
    """

    chosen: str | None
    reason: str  # one human line: why this tag / why none
    candidates: tuple[str, ...] = ()  # tags that qualified, best first
    rejected: tuple[Rejected, ...] = ()
