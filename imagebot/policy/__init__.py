"""Update policies: which tag an image should move to.

``compile_spec(spec)`` checks a PolicySpec once (raising PolicyError that points at the bad
policy string, regex or template); the result's ``choose(tags, current)`` is pure and returns a
:class:`Choice` with the reason for the chosen tag and for every rejected one.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from imagebot.model import PolicySpec
from imagebot.policy.choice import Choice, Rejected
from imagebot.policy.policies import compile_spec


class Policy(Protocol):
    spec: PolicySpec
    needs_digest: bool  # True for the `digest` policy or when spec.pin_digest

    def choose(self, tags: Iterable[str], current: str | None) -> Choice: ...


__all__ = ["Choice", "Policy", "Rejected", "compile_spec"]
