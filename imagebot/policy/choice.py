"""The answer of a policy: the chosen tag, why, and what happened to every other tag."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import overload


@dataclass(frozen=True)
class Rejected:
    """A tag the policy did not take, and why (one line, shown by ``--explain`` and ``--json``)."""

    tag: str
    reason: str


class Rejections(Sequence[Rejected]):
    """The rejected tags in the registry's order, each with its reason.

    A decision needs only how many tags were rejected and for what; the one-line reason of
    each is written when someone first reads it (``policy test --explain`` / ``--json``). A
    registry of 100,000 tags would otherwise cost 100,000 strings per decision that nobody reads.
    Compares equal to a tuple of the same :class:`Rejected` values.
    """

    __slots__ = ("_count", "_items", "_write")

    def __init__(self, count: int, write: Callable[[], Sequence[Rejected]]):
        self._count = count
        self._write: Callable[[], Sequence[Rejected]] | None = write
        self._items: tuple[Rejected, ...] | None = None

    def _all(self) -> tuple[Rejected, ...]:
        items = self._items
        if items is None:
            assert self._write is not None
            items = self._items = tuple(self._write())
            self._write = None  # drop the policy's working state once written
        return items

    def __len__(self) -> int:
        return self._count

    @overload
    def __getitem__(self, index: int) -> Rejected: ...
    @overload
    def __getitem__(self, index: slice) -> tuple[Rejected, ...]: ...
    def __getitem__(self, index: int | slice) -> Rejected | tuple[Rejected, ...]:
        return self._all()[index]

    def __iter__(self) -> Iterator[Rejected]:
        return iter(self._all())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Rejections | tuple | list):
            return self._all() == tuple(other)
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self._all())

    def __repr__(self) -> str:
        return repr(self._all())


@dataclass(frozen=True)
class Choice:
    """A policy's decision.

    `chosen` is None when nothing qualifies and there is no current tag to keep; with a current
    tag it never sorts below it (when nothing newer qualifies, it *is* the current tag).
    `held` is True when the policy could not order the current tag against the candidates
    (``master``, ``rocm7`` under a semver policy): `chosen` is then the current tag, the reason
    says why, and nothing is changed — not even a pin refreshed (that is the ``digest`` policy).
    """

    chosen: str | None
    reason: str  # one human line: why this tag / why none
    candidates: tuple[str, ...] = ()  # tags that qualified, best first
    rejected: Sequence[Rejected] = ()  # a tuple, or Rejections written on first read
    held: bool = False
    #: A tag-filter or exclude pattern ran out of its time budget on some tag (or on the current
    #: one): the decision is this run's best, not final - it is not kept for the next run
    #: (imagebot.decisions), which may have the time to decide it properly.
    timed_out: bool = False
