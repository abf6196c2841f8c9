"""A JSON config is read without the YAML round trip (issue #21: the benchmark's config holds 200
named policies), to the same result; anything wrong still gets the YAML path's messages with lines."""

from __future__ import annotations

import json

import pytest

from imagebot.config import load_text
from imagebot.errors import ConfigError

CONFIG = {
    "repository": {"url": "https://example.org/org/repo.git", "branch": "main"},
    "registries": [{"host": "ghcr.io", "platforms": ["linux/amd64", "linux/arm64"]}],
    "policies": {f"app-{i}": {"image": f"ghcr.io/org/app-{i}", "policy": f"semver:^{i}.0"} for i in range(1, 4)},
}


def test_json_reads_the_same_as_yaml():
    text = json.dumps(CONFIG, indent=1)
    yaml_text = text.replace("{", "{ ")  # a flow mapping that does not start the text with "{": the YAML path
    assert load_text(text) == load_text("\n# yaml\n" + yaml_text)


@pytest.mark.parametrize("bad, words", [
    ({**CONFIG, "policies": {"x": {"image": "ghcr.io/o/x", "policy": "semver:^^1"}}}, "policies.x"),
    ({**CONFIG, "delivery": {"mode": "fax"}}, "delivery.mode"),
])
def test_errors_keep_their_line_numbers(bad, words):
    with pytest.raises(ConfigError) as err:
        load_text(json.dumps(bad, indent=1), "c.json")
    text = str(err.value) + " ".join(getattr(err.value, "problems", []) or [])
    assert words in text and "(line " in text


def test_duplicate_keys_are_left_to_the_yaml_reader():
    text = '{"repository": {"url": "https://a/b.git"}, "repository": {"url": "https://c/d.git"}}'
    with pytest.raises(ConfigError):
        load_text(text, "c.json")
