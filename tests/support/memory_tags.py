"""An in-memory tag source for resolve (the TagSource protocol): tags per image, a made-up
digest per (image, tag), every platform present. For pure tests of the value layer."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass


def made_up_digest(image: str, tag: str) -> str:
    """The digest this source reports for `image:tag` (distinct per image and tag)."""
    return "sha256:" + hashlib.sha256(f"{image}:{tag}".encode()).hexdigest()


@dataclass(frozen=True)
class Listing:
    tags: tuple[str, ...]
    stale_age: float | None = None


@dataclass(frozen=True)
class InMemoryTags:
    tag_lists: Mapping[str, Sequence[str]]

    def tags(self, image: str) -> Listing:
        return Listing(tuple(self.tag_lists[image]))

    def digest(self, image: str, tag: str) -> str:
        assert tag in self.tag_lists[image], f"digest of a tag the registry does not have: {image}:{tag}"
        return made_up_digest(image, tag)

    def missing_platforms(self, image: str, tag: str) -> tuple[str, ...]:
        return ()
