"""Config loading: valid files load, bad ones fail with exit code 2 naming every bad field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from imagebot.cli import main
from imagebot.config import load_text
from imagebot.config.load import load
from imagebot.config.jsonschema import render
from imagebot.errors import EXIT_USAGE, ConfigError

ROOT = Path(__file__).resolve().parents[2]

GOOD = """\
repository:
  url: https://github.com/org/gitops.git
  branch: main
  paths: [apps/]
delivery:
  mode: commit
  branch: staging
registries:
  - host: 127.0.0.1:5000
    insecure: true
"""


def test_contract_keys_load() -> None:
    cfg = load_text(GOOD)
    assert cfg.repository.url == "https://github.com/org/gitops.git"
    assert cfg.repository.paths == ("apps/",)
    assert cfg.delivery.mode == "commit"
    assert cfg.delivery_branch == "staging"
    assert cfg.registry("127.0.0.1:5000").insecure is True


def test_json_is_accepted(tmp_path: Path) -> None:
    p = tmp_path / "imagebot.json"
    p.write_text(json.dumps({"repository": {"url": "/srv/git/gitops.git"}}))
    cfg = load(p)
    assert cfg.repository.branch == "main"
    assert cfg.delivery_branch == "main"  # defaults to repository.branch


def test_three_bad_fields_are_all_named_with_lines() -> None:
    bad = """\
repository:
  url: https://github.com/org/gitops.git
  brnach: main
delivery:
  mode: email
registries:
  - host: 127.0.0.1:5000
    insecure: maybe
"""
    with pytest.raises(ConfigError) as e:
        load_text(bad, "bad.yaml")
    text = str(e.value)
    assert "3 invalid field(s)" in text
    assert "repository.brnach: unknown field (line 3)" in text
    assert "delivery.mode:" in text and "(line 5)" in text
    assert "registries[0].insecure:" in text and "(line 8)" in text
    assert e.value.exit_code == EXIT_USAGE


def test_unparseable_config_names_the_line() -> None:
    with pytest.raises(ConfigError, match=r"c.yaml:\d+:\d+: not valid YAML"):
        load_text("repository:\n  url: [unclosed\n", "c.yaml")


def test_missing_file_and_env_var(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match="imagebot.yaml: config file not found"):
        load()
    (tmp_path / "other.yaml").write_text("repository: {url: /x}\n")
    monkeypatch.setenv("IMAGEBOT_CONFIG", str(tmp_path / "other.yaml"))
    assert load().repository.url == "/x"


def test_bad_interval_and_duplicate_registry() -> None:
    with pytest.raises(ConfigError) as e:
        load_text("repository: {url: /x}\ninterval: soon\nregistries: [{host: a.io}, {host: a.io}]\n")
    assert "interval" in str(e.value)


def test_bad_named_policy_is_an_error_at_load() -> None:
    with pytest.raises(ConfigError, match=r"policies\.api"):
        load_text('repository: {url: /x}\npolicies:\n  api: {image: ghcr.io/o/api, policy: "semver:^^1"}\n')


def test_cli_exit_code_2_lists_every_field(tmp_path: Path) -> None:
    p = tmp_path / "c.yaml"
    p.write_text("repository: {url: /x, brnach: main}\ndelivery: {mode: email}\nregistries: [{insecure: true}]\n")
    res = CliRunner().invoke(main, ["validate", "-c", str(p)])
    assert res.exit_code == 2, res.output
    for field in ("repository.brnach", "delivery.mode", "registries[0].host"):
        assert field in res.output


def test_example_config_is_valid() -> None:
    cfg = load(ROOT / "config" / "example.yaml")
    assert cfg.delivery.branch == "staging"
    assert "api" in cfg.policies


def test_published_json_schema_is_current() -> None:
    published = (ROOT / "config" / "imagebot.schema.json").read_text()
    assert published == render(), "config/imagebot.schema.json is stale: run `make schema`"


def test_example_validates_against_published_schema() -> None:
    import jsonschema
    from ruamel.yaml import YAML

    schema = json.loads((ROOT / "config" / "imagebot.schema.json").read_text())
    data = YAML(typ="safe").load((ROOT / "config" / "example.yaml").read_text())
    jsonschema.Draft202012Validator(schema).validate(data)


def test_repositories_example_is_valid_and_matches_the_published_schema() -> None:
    import jsonschema
    from ruamel.yaml import YAML

    from imagebot.lanes import lanes_of

    path = ROOT / "config" / "example-repositories.yaml"
    lanes = lanes_of(load(path))
    assert [x.name for x in lanes] == ["apps", "platform", "edge-sites"]
    assert [x.target for x in lanes] == ["commit to staging", "pull requests against main", "commit to main"]
    schema = json.loads((ROOT / "config" / "imagebot.schema.json").read_text())
    jsonschema.Draft202012Validator(schema).validate(YAML(typ="safe").load(path.read_text()))
