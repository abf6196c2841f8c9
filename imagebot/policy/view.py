"""One image's tag list as the policies read it, worked out once per cycle and shared.

Many workloads ask about the same image with different policies and current tags (2,000 files
name 200 images). What depends only on the tag list is the same for all of them: the distinct
tags, the cosign artefacts, each tag's reading under one set of patterns (tag-filter, exclude,
extract), each ranked text's Docker-tag reading grouped by variant and precision. A
:class:`TagView` holds those, derived on first need; a policy given a view instead of a plain
list of tags derives nothing twice, and answers exactly as it would from the list.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

from imagebot.policy.filters import COSIGN_SUFFIXES
from imagebot.policy.tags import DockerTag

T = TypeVar("T")
_MISSING = object()


class TagView:
    """An image's tags as listed (iterating gives them, duplicates and all), with the registry's
    order of the distinct ones (`listed`), the cosign artefacts (`cosign`) and the rest (`plain`).

    `derived(key, make)` (or `known` and `keep`) holds what a policy works out from the list
    alone, once per key (a policy uses the key of its patterns, so policies that share patterns
    share the work). What is kept must never be changed by its users: tuples and frozen values.
    """

    __slots__ = ("_derived", "cosign", "listed", "plain", "tags")

    def __init__(self, tags: Iterable[str]):
        self.tags: tuple[str, ...] = tuple(tags)
        self.listed: tuple[str, ...] = tuple(dict.fromkeys(self.tags))  # a tag listed twice is one tag
        self.cosign: tuple[str, ...] = tuple(t for t in self.listed if t.endswith(COSIGN_SUFFIXES))
        self.plain: tuple[str, ...] = (
            tuple(t for t in self.listed if not t.endswith(COSIGN_SUFFIXES)) if self.cosign else self.listed
        )
        self._derived: dict[object, object] = {}

    @classmethod
    def of(cls, tags: Iterable[str]) -> TagView:
        """`tags` itself when it is a view, else a new view of them."""
        return tags if isinstance(tags, TagView) else cls(tags)

    def __iter__(self) -> Iterator[str]:
        return iter(self.tags)

    def __len__(self) -> int:
        return len(self.tags)

    def __repr__(self) -> str:
        return f"TagView({len(self.listed)} tags)"

    def derived(self, key: object, make: Callable[[], T]) -> T:
        """What `make()` derives from this list, made once per `key`."""
        found = self._derived.get(key, _MISSING)
        if found is _MISSING:
            found = self.keep(key, make())
        return found  # type: ignore[return-value]

    def known(self, key: object) -> object | None:
        """What was kept under `key`, or None."""
        return self._derived.get(key)

    def keep(self, key: object, value: T) -> T:
        """Keep `value` under `key` (the first one kept wins, and is returned)."""
        return self._derived.setdefault(key, value)  # type: ignore[return-value]


class Group:
    """The tags of one variant and precision, as (position, tag, reading), in the registry's order."""

    __slots__ = ("entries", "keys")

    def __init__(self, entries: list[tuple[int, str, DockerTag]]):
        self.entries: tuple[tuple[int, str, DockerTag], ...] = tuple(entries)
        self.keys: tuple[tuple, ...] = tuple(e[2].key for e in entries)

    def __len__(self) -> int:
        return len(self.entries)

    def not_older(self, key: tuple) -> list[tuple[int, str, DockerTag]]:
        """The tags whose version is not below `key`, in the registry's order."""
        return [entry for entry, k in zip(self.entries, self.keys, strict=True) if k >= key]


_NO_GROUP = Group([])


class DockerIndex:
    """The Docker-tag readings of a list of ranked texts, for decisions against a current tag.

    `parsed`: (position, tag, reading) of every tag whose text is a version, in the registry's
    order; `not_versions`: the other tags; `groups`: by (variant, precision); `variants`: how
    many readings have each variant.
    """

    __slots__ = ("groups", "not_versions", "parsed", "variants")

    def __init__(self, kept: Iterable[str], values: Iterable[str]):
        parse = DockerTag.parse
        parsed: list[tuple[int, str, DockerTag]] = []
        not_versions: list[str] = []
        by_shape: dict[tuple[str, int], list[tuple[int, str, DockerTag]]] = {}
        variants: dict[str, int] = {}
        for position, (tag, value) in enumerate(zip(kept, values, strict=True)):
            d = parse(value)
            if d is None:
                not_versions.append(tag)
                continue
            entry = (position, tag, d)
            parsed.append(entry)
            by_shape.setdefault((d.variant, len(d.numbers)), []).append(entry)
            variants[d.variant] = variants.get(d.variant, 0) + 1
        self.parsed = tuple(parsed)
        self.not_versions = tuple(not_versions)
        self.groups = {shape: Group(entries) for shape, entries in by_shape.items()}
        self.variants = variants

    def group(self, variant: str, precision: int) -> Group:
        return self.groups.get((variant, precision), _NO_GROUP)
