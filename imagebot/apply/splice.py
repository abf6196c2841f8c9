"""Find the exact characters of each changed scalar and compute its replacement.

A change is spliced only when its scalar can be rewritten in place: a single-line plain or
quoted token whose value is still the one discover saw, with no anchor (an alias elsewhere
would change too) and no explicit tag. Anything else is refused with the reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ruamel.yaml.nodes import Node, ScalarNode

from imagebot.apply.token import render_token
from imagebot.discover.yamltree import scalars, style
from imagebot.errors import EditError
from imagebot.model import Change


@dataclass(frozen=True)
class Splice:
    """Replace text[start:end] (character offsets) with `token`; `node` is the scalar edited."""

    start: int
    end: int
    token: str
    change: Change
    node: ScalarNode


class Locator:
    """Value scalars of a parsed file, by (document, line, column) - 1-based like Location."""

    def __init__(self, docs: list[Node]):
        self._at: dict[tuple[int, int], tuple[int, ScalarNode]] = {}
        for s in scalars(docs):
            self._at[(s.line, s.column)] = (s.document, s.node)

    def find(self, change: Change) -> tuple[int, ScalarNode] | None:
        loc = change.occurrence.location
        return self._at.get((loc.line, loc.column))


def prepare(text: str, locator: Locator, change: Change) -> Splice:
    """The splice for one change, or EditError saying why it cannot be made."""
    occ = change.occurrence
    found = locator.find(change)
    if found is None:
        raise EditError(f"no YAML value starts at {occ.location} (the file changed since it was read?)")
    document, node = found
    if document != occ.document:
        raise EditError(f"the value at {occ.location} is in document {document}, not {occ.document}")
    if node.anchor:
        raise EditError(f"the value has an anchor (&{node.anchor}): its aliases would change too")
    if style(node) in ("|", ">"):
        raise EditError("the value is a block scalar (| or >); rewrite it as a one-line value to let imagebot edit it")
    if str(node.value) != change.old:
        raise EditError(f"found {node.value!r} where {change.old!r} was expected (the file changed since it was read?)")
    start, end = int(node.start_mark.index), int(node.end_mark.index)
    raw = text[start:end]
    if "\n" in raw or "\r" in raw:
        raise EditError("the value spans several lines; rewrite it on one line to let imagebot edit it")
    quote = style(node)
    if quote is None and raw != change.old:
        raise EditError(f"the value is written as {raw!r} (an explicit tag?), not as a plain value")
    if quote in ("'", '"') and not (raw.startswith(quote) and raw.endswith(quote)):
        raise EditError(f"the value is written as {raw!r} (an explicit tag?), not as a quoted value")
    return Splice(start, end, render_token(change.new, quote), change, node)


def conflicts(splices: Sequence[Splice]) -> dict[int, str]:
    """Indexes of splices that touch the same value as an earlier one, with the reason."""
    out: dict[int, str] = {}
    seen: dict[int, Splice] = {}
    for i, s in enumerate(splices):
        first = seen.get(s.start)
        if first is not None:
            out[i] = f"another change already rewrites this value (to {first.change.new!r})"
        else:
            seen[s.start] = s
    return out


def splice(text: str, splices: Sequence[Splice]) -> str:
    """Apply non-overlapping splices in one pass; offsets all refer to the original text."""
    parts: list[str] = []
    pos = 0
    for s in sorted(splices, key=lambda s: s.start):
        parts += [text[pos : s.start], s.token]
        pos = s.end
    parts.append(text[pos:])
    return "".join(parts)
