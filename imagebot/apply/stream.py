"""The common edit, made and proven on flat event streams instead of node trees.

Most files apply touches are plain manifests: libyaml parses them, they have no anchors or
aliases, and every change splices. For those, composing two node trees and walking them side by
side (:mod:`imagebot.apply.verify`) does more than the proof needs: node trees are built from
the parser's events, one node per event, with a tag that is the event's explicit tag or else
resolved from the event's (value, implicit) pair alone. So two event streams that agree, event
for event, in kind, tag, implicit, value and style compose into trees that agree in everything
`verify` compares (kind, tag, length, key, value, style; the document count) - the proof holds
without building either tree.

`edit` answers only when the answer is certain: libyaml parsed both texts, neither has an
anchor or an alias, every change found its value and spliced, no two touched one value, and the
new stream equals the old one but for the edited scalars, which read back as exactly their new
string. In every other case it returns None and apply takes the composing path, which decides
(refusals and their reasons come from there, so they are the same as ever).
"""

from __future__ import annotations

from collections.abc import Sequence

from ruamel.yaml.events import (
    AliasEvent,
    DocumentStartEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
)

from imagebot.apply.splice import Splice, conflicts, prepare, splice
from imagebot.discover.yamltree import STR_TAG, c_events, scalar_tag
from imagebot.errors import EditError
from imagebot.model import Change

_NODE_EVENTS = (ScalarEvent, MappingStartEvent, SequenceStartEvent, AliasEvent)
_STARTS = (MappingStartEvent, SequenceStartEvent)
_ENDS = (MappingEndEvent, SequenceEndEvent)


class EventLocator:
    """Value scalars of an event stream by (line, column), 1-based like Location; the same
    answers as :class:`imagebot.apply.splice.Locator` gives for the composed tree (mapping keys,
    and anything inside a complex key, are not values; later scalars win a shared position)."""

    def __init__(self, at: dict[tuple[int, int], tuple[int, ScalarEvent]]):
        self._at = at

    @classmethod
    def of(cls, events: list) -> EventLocator | None:
        """The locator of `events`, or None when they hold an anchor or an alias."""
        at: dict[tuple[int, int], tuple[int, ScalarEvent]] = {}
        stack: list[list[bool]] = []  # per open collection: [is a mapping, next node is a key, inside a key]
        document = -1
        for ev in events:
            kind = type(ev)
            if kind is DocumentStartEvent:
                document += 1
                continue
            if kind in _ENDS:
                stack.pop()
                continue
            if kind not in _NODE_EVENTS:  # stream start/end, document end
                continue
            if kind is AliasEvent or ev.anchor is not None:
                return None
            in_key = False
            if stack:
                top = stack[-1]
                in_key = top[2]
                if top[0]:
                    in_key = in_key or top[1]
                    top[1] = not top[1]
            if kind is ScalarEvent:
                if not in_key:
                    at[(ev.start_mark.line + 1, ev.start_mark.column + 1)] = (document, ev)
            else:
                stack.append([kind is MappingStartEvent, True, in_key])
        return cls(at)

    def find(self, change: Change) -> tuple[int, ScalarEvent] | None:
        loc = change.occurrence.location
        return self._at.get((loc.line, loc.column))


def edit(text: str, changes: Sequence[Change]) -> tuple[str, list[Splice]] | None:
    """(new text, splices) when every change applies and the event streams prove it; else None."""
    old = c_events(text)
    if old is None:
        return None
    locator = EventLocator.of(old)
    if locator is None:
        return None
    try:
        ready = [prepare(text, locator, c) for c in changes]  # type: ignore[arg-type]
    except EditError:
        return None
    if conflicts(ready):
        return None
    new_text = splice(text, ready)
    new = c_events(new_text)
    if new is None or not same_stream(old, new, {id(s.node): s.change.new for s in ready}):
        return None
    return new_text, ready


def same_stream(old: list, new: list, expected: dict[int, str]) -> bool:
    """True when `new` composes to what `old` does but for the scalars in `expected`
    {id(old scalar event): new value}, which must read back as exactly that string.
    False says nothing (the composing path decides); neither stream may hold an anchor or alias."""
    if len(old) != len(new):
        return False
    for o, n in zip(old, new):
        kind = type(o)
        if type(n) is not kind:
            return False
        if kind is ScalarEvent:
            if n.anchor is not None:
                return False
            want = expected.get(id(o))
            if want is not None:
                if n.value != want or n.ctag is not None or str(scalar_tag(n.value, n.implicit)) != STR_TAG:
                    return False
            elif (o.value, o.ctag, o.implicit, o.style) != (n.value, n.ctag, n.implicit, n.style):
                return False
        elif kind in _STARTS:
            if n.anchor is not None or (o.ctag, o.implicit) != (n.ctag, n.implicit):
                return False
        elif kind is AliasEvent:
            return False
    return True
