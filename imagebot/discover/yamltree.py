"""Read YAML as a tree of *positioned* nodes, never as plain data.

Discover and apply both need to know exactly where each scalar sits in the original text
(document, line, column, character span) and how it is written (plain, quoted, block,
anchored). ruamel.yaml's composer gives that: each node carries start/end marks whose
``index`` is a character offset into the text we passed in. Both stages use these helpers so
that a location found by discover is the one apply looks for.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from ruamel.yaml.resolver import Resolver
from ruamel.yaml.tag import Tag

BOM = "\ufeff"
STR_TAG = "tag:yaml.org,2002:str"

__all__ = [
    "BOM",
    "MAX_DEPTH",
    "MAX_FILE_BYTES",
    "check_limits",
    "check_size",
    "STR_TAG",
    "InputRefused",
    "YAMLError",
    "Scalar",
    "c_events",
    "compose",
    "decode",
    "error_line",
    "error_text",
    "problem_text",
    "line_comment",
    "mapping_get",
    "scalar_text",
    "scalar_tag",
    "scalars",
    "style",
]


def decode(data: bytes) -> tuple[str, str]:
    """Split raw file bytes into (bom, text). Raises UnicodeDecodeError for non-UTF-8 input.

    Bytes are decoded as they are: no newline translation, so CRLF stays CRLF and the
    character offsets ruamel reports map back to exactly these characters.
    """
    text = data.decode("utf-8")
    if text.startswith(BOM):
        return BOM, text[1:]
    return "", text


try:  # libyaml through ruamel.yaml.clib: the same nodes and marks, about 20x faster
    from ruamel.yaml.cyaml import CSafeLoader
except ImportError:  # pragma: no cover - a platform without the C extension
    CSafeLoader = None


def _implicit_table() -> dict[str, tuple[tuple[Tag, Callable], ...]]:
    """ruamel's YAML 1.2 implicit resolvers by first character, as (shared Tag, compiled match)."""
    tags: dict[str, Tag] = {}
    return {first: tuple((tags.setdefault(tag, Tag(suffix=tag)), regexp.match) for tag, regexp in pairs)
            for first, pairs in Resolver.yaml_implicit_resolvers.items()}


_IMPLICIT = _implicit_table()


def scalar_tag(value: str, implicit: tuple[bool, bool]) -> Tag:
    """The tag the C composer gives a scalar without an explicit tag (YAML 1.2 resolution):
    `implicit` is the scalar event's (plain, quoted) pair."""
    if implicit[0]:
        for tag, match in _IMPLICIT.get(value[0] if value else "", ()):
            if match(value):
                return tag
    return Resolver.DEFAULT_SCALAR_TAG


if CSafeLoader is not None:
    from ruamel.yaml.cyaml import CParser

    class _FastLoader(CSafeLoader):  # type: ignore[misc,valid-type]
        """CSafeLoader whose resolver gives the same tags with less Python per scalar.

        libyaml's composer calls `resolve` for every node and `descend_resolver` /
        `ascend_resolver` around it (300k calls for 2,000 manifests). ruamel's versions look
        up the resolvers for the scalar's first character, copy the list, call each regex through
        a lazy wrapper and build a new Tag per match. This one does the same lookups in the same
        order on a table built once from the very same resolvers (``Resolver``, YAML 1.2; there
        are no path resolvers, so the descend/ascend bookkeeping is empty), and hands out one Tag
        object per tag name. `tests/unit/test_yamltree.py` compares its tags with ruamel's.
        """

        def __init__(self, stream: str) -> None:  # the parser alone: no constructor state is used
            CParser.__init__(self, stream)

        def resolve(self, kind: Any, value: Any, implicit: Any) -> Tag:
            if kind is ScalarNode:
                return scalar_tag(value, implicit)
            return Resolver.DEFAULT_SEQUENCE_TAG if kind is SequenceNode else Resolver.DEFAULT_MAPPING_TAG

        def descend_resolver(self, current_node: Any, current_index: Any) -> None:
            pass

        def ascend_resolver(self) -> None:
            pass

    _CLoader: Any = _FastLoader
else:  # pragma: no cover
    _CLoader = None

# What precedes a node's content at its start mark: an optional tag, then the anchor.
_ANCHOR = re.compile(r"(?:![^\s]*[ \t]+)?&(?P<name>[^\s,\[\]{}]+)")


#: Bounded input: a file larger than this is refused unparsed (composing YAML costs ~20 times
#: its size in memory: a 50 MB file would take a gigabyte).
MAX_FILE_BYTES = 8 * 1024 * 1024
#: Bounded input: collections nested deeper than this are refused before composing. Both
#: composers recurse once (C) or twice (Python) per level: 1,200 levels end a Python process's
#: stack, 60,000 the C stack (a segfault). Real manifests stay under 30; CRD schemas under 64.
MAX_DEPTH = 100


class InputRefused(YAMLError):
    """A file refused before parsing, by a limit (size, nesting depth); `line` is 1-based or None.
    Retrying cannot help: the file has to change."""

    def __init__(self, reason: str, line: int | None = None):
        super().__init__(reason)
        self.reason = reason
        self.line = line

    def __str__(self) -> str:
        return self.reason


def check_size(size: int, max_bytes: int = MAX_FILE_BYTES) -> None:
    """Raise :class:`InputRefused` for a file of `size` bytes over the limit."""
    if size > max_bytes:
        raise InputRefused(f"refused: the file is {size:,} bytes, over the limit of {max_bytes:,} bytes")


def check_limits(text: str, *, max_bytes: int = MAX_FILE_BYTES, max_depth: int = MAX_DEPTH) -> None:
    """Raise :class:`InputRefused` when `text` is over the size limit or nested deeper than
    `max_depth`, without composing it (no recursion at all: a parser's event stream is flat).

    A cheap upper bound on the depth is computed first from the text; only a text whose bound is
    over the limit (many flow brackets, or very long indentation) has its events counted.
    """
    check_size(len(text.encode("utf-8", "surrogatepass")) if len(text) * 4 > max_bytes else len(text), max_bytes)
    if _depth_bound(text) <= max_depth:
        return
    depth, line = _event_depth(text, max_depth)
    if depth > max_depth:
        raise InputRefused(f"refused: collections nested deeper than {max_depth} levels", line)


# Block indentation and the indicators that open a block collection on the same line.
_BLOCK_PREFIX = re.compile(r"^[ \t?:-]+", re.MULTILINE)


def _depth_bound(text: str) -> int:
    """An upper bound on the nesting depth of any YAML `text`: a nested block collection starts
    further right than its parent (but for a sequence under a mapping key, at the same column),
    so block nesting is at most twice the widest leading run of indentation and block
    indicators plus one; every flow level needs its own ``[`` or ``{``."""
    widest = max(map(len, _BLOCK_PREFIX.findall(text)), default=0)
    return 2 * (widest + 1) + text.count("[") + text.count("{")


def _event_depth(text: str, limit: int) -> tuple[int, int | None]:
    """The deepest nesting in `text`'s event stream (stopping once over `limit`) and the 1-based
    line where it went over. A YAML error ends the count: composing the same text stops there too."""
    from ruamel.yaml.events import CollectionEndEvent, CollectionStartEvent

    def count(events: Iterator) -> tuple[int, int | None, bool]:
        """(deepest, line where it went over the limit, whether the stream ended cleanly)"""
        depth = deepest = 0
        try:
            for event in events:
                if isinstance(event, CollectionStartEvent):
                    depth += 1
                    if depth > deepest:
                        deepest = depth
                        if deepest > limit:
                            return deepest, int(event.start_mark.line) + 1, True
                elif isinstance(event, CollectionEndEvent):
                    depth -= 1
        except YAMLError:
            return deepest, None, False
        return deepest, None, True

    if _CLoader is not None:
        loader = _CLoader(text)
        try:
            deepest, line, clean = count(iter(loader.get_event, None))
        finally:
            loader.dispose()
        if clean:
            return deepest, line
        # libyaml refuses some YAML 1.2 the pure composer accepts: the pure parser decides
    deepest, line, _ = count(iter(YAML(typ="safe", pure=True).parse(text)))
    return deepest, line


def c_events(text: str) -> list | None:
    """libyaml's event stream of `text` (flat: no nodes, no tag resolution), or None when the
    C extension is missing, the text is over a limit, or libyaml refuses it: a caller then
    takes the :func:`compose` path, which decides (and says why)."""
    if _CLoader is None:
        return None
    try:
        check_limits(text)
    except InputRefused:
        return None
    loader = _CLoader(text)
    try:
        return list(iter(loader.get_event, None))
    except YAMLError:
        return None
    finally:
        loader.dispose()


def compose(text: str) -> list[Node]:
    """Every document of `text` as a node tree (an empty document is a null scalar).

    Raises ruamel's YAMLError (see :func:`error_line`) when the text is not YAML, and its
    subclass :class:`InputRefused` when the text is over a limit (:func:`check_limits`).
    """
    check_limits(text)
    if _CLoader is not None:
        loader = _CLoader(text)
        try:
            docs = []
            while loader.check_node():
                docs.append(loader.get_node())
            _like_pure(docs, text)
            return docs
        except YAMLError:
            # libyaml speaks YAML 1.1 and refuses a few things YAML 1.2 allows (`{image: app:1}`):
            # the pure composer, the reference, decides.
            pass
        finally:
            loader.dispose()
    return list(YAML(typ="safe", pure=True).compose_all(text))


def _like_pure(docs: list[Node], text: str) -> None:
    """Give C-composed nodes the anchors the pure composer records: libyaml does not hand them
    over, so they are read from the text at each node's start mark (where the ``&`` stands).

    (libyaml also calls a plain scalar's style '' where the pure composer says None; readers of
    `style` treat both as plain, see :func:`style`.)
    """
    if "&" not in text:
        return
    seen: set[int] = set()
    stack: list[Node] = list(docs)
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        start = node.start_mark.index
        if start < len(text) and text[start] in "&!":
            m = _ANCHOR.match(text, start)
            if m:
                node.anchor = m.group("name")
        if isinstance(node, MappingNode):
            for k, v in node.value:
                stack.append(k)
                stack.append(v)
        elif isinstance(node, SequenceNode):
            stack.extend(node.value)


def style(node: Node) -> str | None:
    """A scalar's style: None for plain, else one of ' " | > (the same from either composer)."""
    return getattr(node, "style", None) or None


def error_line(exc: YAMLError) -> int | None:
    """The 1-based line a YAML error points at, when it has one."""
    if isinstance(exc, InputRefused):
        return exc.line
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    return mark.line + 1 if mark is not None else None


def error_text(exc: YAMLError) -> str:
    """A one-line description of a YAML error, without ruamel's multi-line source excerpt."""
    if isinstance(exc, InputRefused):
        return exc.reason
    problem = getattr(exc, "problem", None)
    context = getattr(exc, "context", None)
    parts = [p for p in (context, problem) if p]
    return "; ".join(parts) if parts else str(exc).splitlines()[0]


def problem_text(exc: YAMLError) -> str:
    """What a Problem says about a file that could not be composed: a refusal by a limit as it
    is, anything else as not YAML."""
    return error_text(exc) if isinstance(exc, InputRefused) else f"not valid YAML: {error_text(exc)}"


@dataclass(frozen=True)
class Scalar:
    """A scalar found in a document, with where it sits.

    `parent` is the mapping holding it (None for sequence items and top-level scalars) and `key`
    the mapping key it is the value of. `line`/`column` are 1-based, for the first character of
    the value token (the quote of a quoted scalar, the ``&`` of an anchored one).
    """

    node: ScalarNode
    document: int
    path: str
    parent: MappingNode | None
    key: str | None

    @property
    def line(self) -> int:
        return int(self.node.start_mark.line) + 1

    @property
    def column(self) -> int:
        return int(self.node.start_mark.column) + 1

    @property
    def value(self) -> str:
        return str(self.node.value)


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def scalars(docs: list[Node]) -> Iterator[Scalar]:
    """Every *value* scalar (mapping keys excluded), each node once even when aliased."""
    seen: set[int] = set()

    def walk(node: Node, doc: int, path: str, parent: MappingNode | None, key: str | None) -> Iterator[Scalar]:
        if id(node) in seen:
            return
        seen.add(id(node))
        if isinstance(node, ScalarNode):
            yield Scalar(node, doc, path, parent, key)
        elif isinstance(node, MappingNode):
            for k, v in node.value:
                name = str(k.value) if isinstance(k, ScalarNode) else "?"
                yield from walk(v, doc, _join(path, name), node, name)
        elif isinstance(node, SequenceNode):
            for i, item in enumerate(node.value):
                yield from walk(item, doc, f"{path}[{i}]", None, None)

    for i, doc in enumerate(docs):
        yield from walk(doc, i, "", None, None)


def mapping_get(node: Node | None, key: str) -> Node | None:
    """The value node of `key` in a mapping node, or None (also when `node` is not a mapping)."""
    if not isinstance(node, MappingNode):
        return None
    for k, v in node.value:
        if isinstance(k, ScalarNode) and k.value == key:
            return v
    return None


def scalar_text(node: Node | None) -> str | None:
    """The value of a scalar node, None for anything else."""
    return str(node.value) if isinstance(node, ScalarNode) else None


# After the scalar: optional flow punctuation, then a comment running to the end of the line.
_TRAILING_COMMENT = re.compile(r"[ \t,\]}]*[ \t]#(?P<comment>[^\r\n]*)")


def line_comment(text: str, node: Node) -> str | None:
    """The comment at the end of the line the node ends on (without ``#``), if any.

    ``image: app:1.0 # {"$imagebot": "app"}`` -> ``' {"$imagebot": "app"}'``.
    """
    m = _TRAILING_COMMENT.match(text, int(node.end_mark.index))
    return m.group("comment") if m else None
