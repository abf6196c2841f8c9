"""The fast composer (libyaml via ruamel.yaml.clib) gives what the pure composer gives:
the same nodes, tags, marks, styles, values and anchors — so discover and apply may use either."""

from __future__ import annotations

from pathlib import Path

import pytest
from ruamel.yaml import YAML
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from imagebot.discover import yamltree

ROOT = Path(__file__).resolve().parents[2]

SAMPLES = [
    "a: é\nimage: 'ü/x:1'   # ✓\nb: &x 1\nc: *x\n",
    "a: 1\r\nb: \"x\"\r\n",
    "k: {a: 1, b: [x, 'y']}\n---\n- z\n...\n",
    "a: |\n  text\nb: >-\n  x\n",
    "spec:\n  containers: [{name: c, image: 'nginx:1.25'}]\n",
    "v: !!str 1.20\nw: &plain ghcr.io/a/b:1\nx: *plain\ny: &a !!str 2\n",  # (a tag *before* an anchor: marks differ; apply refuses tagged values anyway)
    "flow: {image: app:1.0}\n",  # YAML 1.2 only: libyaml refuses it, the pure composer decides
]


def _shape(node: Node, out: list, seen: set) -> None:
    if id(node) in seen:
        out.append(("alias", node.start_mark.index))
        return
    seen.add(id(node))
    empty_null = isinstance(node, ScalarNode) and node.value == "" and str(node.tag).endswith(":null")
    marks = () if empty_null else (node.start_mark.index, node.start_mark.line, node.start_mark.column,
                                   node.end_mark.index)
    out.append((type(node).__name__, str(node.tag), marks, yamltree.style(node),
                node.value if isinstance(node, ScalarNode) else None, getattr(node, "anchor", None)))
    if isinstance(node, MappingNode):
        for k, v in node.value:
            _shape(k, out, seen)
            _shape(v, out, seen)
    elif isinstance(node, SequenceNode):
        for v in node.value:
            _shape(v, out, seen)


def shapes(docs: list[Node]) -> list:
    out: list = []
    seen: set = set()
    for d in docs:
        _shape(d, out, seen)
    return out


def texts() -> list[tuple[str, str]]:
    found = [(f"sample{i}", t) for i, t in enumerate(SAMPLES)]
    for p in sorted((ROOT / "tests" / "golden").rglob("original*")):
        if p.is_file():
            try:
                found.append((str(p.relative_to(ROOT)), yamltree.decode(p.read_bytes())[1]))
            except UnicodeDecodeError:
                pass
    return found


@pytest.mark.skipif(yamltree._CLoader is None, reason="ruamel.yaml.clib is not installed")
@pytest.mark.parametrize(("name", "text"), texts(), ids=[n for n, _ in texts()])
def test_fast_composer_equals_pure_composer(name: str, text: str) -> None:
    pure = list(YAML(typ="safe", pure=True).compose_all(text))
    assert shapes(yamltree.compose(text)) == shapes(pure)


def test_real_world_corpus_composes_alike() -> None:
    from tests.conftest import shared_path

    root = shared_path("manifests")
    for p in sorted(root.rglob("*.y*ml")):
        text = yamltree.decode(p.read_bytes())[1]
        pure = list(YAML(typ="safe", pure=True).compose_all(text))
        assert shapes(yamltree.compose(text)) == shapes(pure), p


RESOLVER_VALUES = ["", "~", "null", "Null", "NULL", "nul", "true", "True", "TRUE", "tRue", "false", "yes", "no", "on",
                   "1", "-1", "+1", "0x1f", "0o17", "017", "1.20", "1e3", "-.inf", ".NaN", ".5", "1_000", "12:30",
                   "2024-01-01", "2024-01-01T10:00:00Z", "<<", "=", "!", "&", "*", "nginx:1.25", "app", "v1.2.3",
                   "3.0.0-rc1", "0", "00", "-", "+", ".", "..", "é", "1.2.3", "1:2", "0b101"]


@pytest.mark.skipif(yamltree._CLoader is None, reason="ruamel.yaml.clib is not installed")
def test_fast_resolver_gives_ruamels_tags() -> None:
    from ruamel.yaml.cyaml import CSafeLoader
    from ruamel.yaml.resolver import Resolver

    fast, stock = yamltree._CLoader(""), Resolver()
    try:
        for value in RESOLVER_VALUES:
            for implicit in ((True, False), (False, True), (False, False), (True, True)):
                assert str(fast.resolve(ScalarNode, value, implicit)) == str(stock.resolve(ScalarNode, value, implicit)), (value, implicit)
        for kind in (SequenceNode, MappingNode):
            assert str(fast.resolve(kind, None, (True, False))) == str(stock.resolve(kind, None, (True, False)))
    finally:
        fast.dispose()
    # and whole files compose alike with ruamel's own C loader
    for name, text in texts():
        stock_loader = CSafeLoader(text)
        try:
            docs = []
            while stock_loader.check_node():
                docs.append(stock_loader.get_node())
        except Exception:  # noqa: BLE001 - libyaml refuses some YAML 1.2: compared by the pure test above
            continue
        finally:
            stock_loader.dispose()
        yamltree._like_pure(docs, text)
        assert shapes(yamltree.compose(text)) == shapes(docs), name
