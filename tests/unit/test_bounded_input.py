"""The YAML limits are checked before composing, and the cheap depth bound really bounds."""

from __future__ import annotations

import io
import random

import pytest
from ruamel.yaml import YAML

from imagebot.discover import scan_file
from imagebot.discover.yamltree import MAX_DEPTH, InputRefused, _depth_bound, _event_depth, compose


def _random_tree(rng: random.Random, depth: int, budget: list[int]):
    """A random nesting of mappings and sequences, at most `depth` deep and ~300 nodes big."""
    budget[0] -= 1
    if depth == 0 or budget[0] <= 0 or rng.random() < 0.1:
        return rng.choice(["x", "a: b", "[1]", "{k: v}", 3, None, "- y"])
    width = 1 if rng.random() < 0.6 else rng.randint(2, 3)
    if rng.random() < 0.5:
        return [_random_tree(rng, depth - 1, budget) for _ in range(width)]
    return {f"k{i}": _random_tree(rng, depth - 1, budget) for i in range(width)}


def _dump(data, flow: bool | None, indent: tuple[int, int, int]) -> str:
    yaml = YAML()
    yaml.default_flow_style = flow
    yaml.indent(mapping=indent[0], sequence=indent[1], offset=indent[2])
    out = io.StringIO()
    yaml.dump(data, out)
    return out.getvalue()


@pytest.mark.parametrize("seed", range(25))
def test_the_cheap_bound_is_never_below_the_real_depth(seed: int) -> None:
    rng = random.Random(seed)
    data = _random_tree(rng, rng.randint(1, 40), [300])
    for flow in (None, False, True):
        for indent in ((2, 2, 0), (2, 4, 2), (4, 4, 2)):
            text = _dump(data, flow, indent)
            real, _ = _event_depth(text, 10_000)
            assert real <= _depth_bound(text), text


@pytest.mark.parametrize("text", [
    "x: " + "[" * 60_000 + "]" * 60_000,  # segfaulted the C composer
    "".join("  " * i + f"k{i}:\n" for i in range(1_200)) + "  " * 1_200 + "v\n",  # RecursionError
    "- " * 5_000 + "x\n",
    "a: " + "{b: " * 3_000 + "c" + "}" * 3_000,
    '{image: "app:1", x: ' + "[" * 5_000 + "]" * 5_000 + "}",  # YAML 1.2 libyaml refuses: the pure parser counts
])
def test_deep_text_is_refused_before_composing(text: str) -> None:
    with pytest.raises(InputRefused, match=f"deeper than {MAX_DEPTH}"):
        compose(text)
    found = scan_file("deep.yaml", ("# imagebot\n" + text).encode())
    (problem,) = found.problems
    assert problem.location.file == "deep.yaml" and "deeper than" in problem.message


def test_depth_at_the_limit_still_composes() -> None:
    ok = "x: " + "[" * (MAX_DEPTH - 1) + "]" * (MAX_DEPTH - 1)
    assert len(compose(ok)) == 1


def test_a_config_nested_too_deeply_is_a_config_error_not_a_crash() -> None:
    from imagebot.config.load import load_text
    from imagebot.errors import ConfigError

    with pytest.raises(ConfigError, match="nested too deeply"):
        load_text("repository: {url: /x}\nx: " + "[" * 5_000 + "]" * 5_000 + "\n")
