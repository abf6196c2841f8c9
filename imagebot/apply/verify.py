"""Prove an edit: the new text parses, and only the intended values changed.

The old and new node trees are walked side by side. Every mapping, sequence and scalar must
match in kind, tag, length, key, value and style — except the edited scalars, which must now
hold exactly their new value as a string. This catches a splice that would change a type
(``1.20`` -> float), break tokenisation (a ``#`` or ``: `` in a plain value), or shift
anything else.
"""

from __future__ import annotations

from collections.abc import Mapping

from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from imagebot.discover.yamltree import STR_TAG, YAMLError, compose, error_line, error_text, style
from imagebot.errors import EditError


def verify(old_docs: list[Node], new_text: str, expected: Mapping[int, str]) -> None:
    """Raise EditError unless `new_text` equals `old_docs` with `expected` {id(old scalar): new value}."""
    try:
        new_docs = compose(new_text)
    except YAMLError as exc:
        raise EditError(f"the edited text is no longer valid YAML (line {error_line(exc)}: {error_text(exc)})") from None
    if len(new_docs) != len(old_docs):
        raise EditError(f"the edited text has {len(new_docs)} documents instead of {len(old_docs)}")
    seen: set[int] = set()
    for old, new in zip(old_docs, new_docs):
        _same(old, new, expected, seen, "")


def _where(node: Node, path: str) -> str:
    return f"{path or '<document>'} (line {int(node.start_mark.line) + 1})"


def _same(old: Node, new: Node, expected: Mapping[int, str], seen: set[int], path: str) -> None:
    if id(old) in seen:  # an alias: its anchor was compared already
        return
    seen.add(id(old))
    if type(old) is not type(new):
        raise EditError(f"{_where(old, path)} changed its kind after the edit")
    if isinstance(old, ScalarNode):
        want = expected.get(id(old))
        if want is not None:
            if new.value != want or str(new.tag) != STR_TAG:
                raise EditError(f"{_where(old, path)} would read back as {new.value!r} ({new.tag}), not the string {want!r}")
            return
        if (old.value, str(old.tag), style(old)) != (new.value, str(new.tag), style(new)):
            raise EditError(f"{_where(old, path)} would change from {old.value!r} to {new.value!r}")
        return
    if str(old.tag) != str(new.tag) or len(old.value) != len(new.value):
        raise EditError(f"{_where(old, path)} would change its structure")
    if isinstance(old, MappingNode):
        for (ok, ov), (nk, nv) in zip(old.value, new.value):
            _same(ok, nk, expected, seen, path)
            key = str(ok.value) if isinstance(ok, ScalarNode) else "?"
            _same(ov, nv, expected, seen, f"{path}.{key}" if path else key)
    elif isinstance(old, SequenceNode):
        for i, (o, n) in enumerate(zip(old.value, new.value)):
            _same(o, n, expected, seen, f"{path}[{i}]")
