"""End to end through the CLI: a real docker-registry, a real bare Git remote, real files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.cli import imagebot, write_config
from tests.support.gitrepo import diff, log, make_remote, rev, show

TAGS = ["1.0.0", "1.2.3", "1.10.0", "2.0.0", "2.0.0-rc.1", "latest"]

DEPLOYMENT = """\
# Front end of the shop. Owned by team web.
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  annotations:
    imagebot.io/policy: "semver:^1.0"    # any 1.x
spec:
  template:
    spec:
      initContainers:
        - name: migrate
          image: 'HOST/team/migrate:0.1.0'   # no per-container policy -> the workload policy applies
      containers:
        - name: app
          image: "HOST/team/app:1.0.0"   # quoted: stays quoted
          args: ["--port",   "8080"]     # odd spacing stays
        - name: sidecar
          image: HOST/team/sidecar:5.0.0
"""


@pytest.fixture
def world(tmp_path: Path, registry):
    registry.push_tags("team/app", TAGS)
    registry.push_tags("team/migrate", ["0.1.0"])
    registry.push_tags("team/sidecar", ["5.0.0"])
    text = DEPLOYMENT.replace("HOST", registry.host)
    remote = make_remote(tmp_path, {"apps/web/deployment.yaml": text, "README.md": "# gitops\n"})
    write_config(tmp_path / "imagebot.yaml", remote=remote, registry_host=registry.host)
    return tmp_path, remote, text, registry


def test_run_once_commits_exactly_the_one_value(world) -> None:
    cwd, remote, original, registry = world
    main_before = rev(remote, "main")

    res = imagebot("run", "--once", cwd=cwd)
    assert res.code == 0, res.err + res.out

    # exactly one new commit on staging, on top of main; main untouched
    assert rev(remote, "main") == main_before
    assert log(remote, "staging")[1:] == log(remote, "main")
    assert len(log(remote, "staging")) == len(log(remote, "main")) + 1
    from tests.support.gitrepo import git

    message = git(remote, "log", "-1", "--format=%B", "staging")
    assert "team/app" in message.splitlines()[0] and "1.10.0" in message.splitlines()[0]
    assert f"{registry.host}/team/app:1.0.0 -> {registry.host}/team/app:1.10.0" in message  # old -> new

    after = show(remote, "staging", "apps/web/deployment.yaml").decode()
    expected = original.replace("team/app:1.0.0", "team/app:1.10.0")
    assert expected.count("team/app:1.10.0") == 1
    assert after == expected  # byte for byte: comments, spacing, quotes, other containers

    d = diff(remote, "main", "staging")
    changed = [line for line in d.splitlines() if line.startswith(("+", "-")) and not line.startswith(("+++", "---"))]
    assert len(changed) == 2, d

    # a second run changes nothing and makes no commit
    staging = rev(remote, "staging")
    res2 = imagebot("run", "--once", cwd=cwd)
    assert res2.code == 0, res2.err + res2.out
    assert rev(remote, "staging") == staging
    assert "Nothing to change" in res2.out


def test_plan_is_a_dry_run_with_reasons_and_diff(world) -> None:
    cwd, remote, original, registry = world
    before = {ref: rev(remote, ref) for ref in ("main",)}

    res = imagebot("plan", cwd=cwd)
    assert res.code == 0, res.err + res.out
    assert "1.0.0 -> 1.10.0" in res.out
    assert "apps/web/deployment.yaml:16" in res.out  # file:line of the value
    assert f'-          image: "{registry.host}/team/app:1.0.0"' in res.out
    assert f'+          image: "{registry.host}/team/app:1.10.0"' in res.out
    assert {ref: rev(remote, ref) for ref in ("main",)} == before
    assert "staging" not in (remote / "refs" / "heads").iterdir().__str__()

    js = imagebot("plan", "--json", cwd=cwd)
    doc = json.loads(js.out)  # one JSON document
    assert [(c["old"], c["new"]) for c in doc["changes"]] == [
        (f"{registry.host}/team/app:1.0.0", f"{registry.host}/team/app:1.10.0")
    ]
    assert doc["changes"][0]["line"] == 16
    assert doc["diff"].count("\n+ ") + doc["diff"].count("\n+  ") >= 1


def test_bad_yaml_file_does_not_stop_the_good_ones(world) -> None:
    cwd, remote, original, registry = world
    from tests.support.gitrepo import clone, commit_all

    work = clone(remote, cwd / "human")
    (work / "apps" / "broken.yaml").write_text(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: x\n  annotations: {imagebot.io/policy: major}\n"
        f"spec:\n  containers:\n    - name: x\n      image: {registry.host}/team/app:1.0.0\n     bad: [indent\n"
    )
    commit_all(work, "a broken file")
    from tests.support.gitrepo import git

    git(work, "push", "-q", "origin", "main")

    res = imagebot("run", "--once", cwd=cwd)
    assert res.code == 1, res.err + res.out  # partial: something needs a human
    assert "apps/broken.yaml:10" in res.out, res.out
    after = show(remote, "staging", "apps/web/deployment.yaml").decode()
    assert "team/app:1.10.0" in after


def test_unknown_policy_names_workload_and_container(world) -> None:
    cwd, remote, original, registry = world
    from tests.support.gitrepo import clone, commit_all, git

    work = clone(remote, cwd / "human")
    (work / "apps" / "api.yaml").write_text(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: api\n  annotations:\n"
        "    imagebot.io/policy.server: \"newest-please\"\nspec:\n  template:\n    spec:\n      containers:\n"
        f"        - name: server\n          image: {registry.host}/team/app:1.0.0\n"
    )
    commit_all(work, "api")
    git(work, "push", "-q", "origin", "main")

    res = imagebot("run", "--once", cwd=cwd)
    assert res.code == 1, res.err + res.out
    problem_lines = [line for line in res.out.splitlines() if "newest-please" in line]
    assert problem_lines, res.out
    assert "apps/api.yaml" in problem_lines[0] and "api" in problem_lines[0] and "server" in problem_lines[0]
    # the good workload still updated
    assert "team/app:1.10.0" in show(remote, "staging", "apps/web/deployment.yaml").decode()

    val = imagebot("validate", cwd=cwd)
    assert val.code == 1
    assert "apps/api.yaml:" in val.err and "newest-please" in val.err


def test_config_with_three_bad_fields_exits_2(tmp_path: Path) -> None:
    (tmp_path / "imagebot.yaml").write_text(
        "repository: {url: /nowhere, brnach: main}\ndelivery: {mode: fax}\nregistries: [{host: a.io, insecure: 3}]\n"
    )
    res = imagebot("run", "--once", cwd=tmp_path)
    assert res.code == 2
    for field in ("repository.brnach", "delivery.mode", "registries[0].insecure"):
        assert field in res.err


def test_version() -> None:
    from imagebot import __version__

    res = imagebot("--version", cwd=Path.cwd())
    assert res.code == 0 and __version__ in res.out
