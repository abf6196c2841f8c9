"""Where the bot may look and what it may contact, end to end through the CLI: a symbolic link
under `repository.paths` leading out of the checkout is reported and not followed; with
`only_listed_registries` an image on another host is skipped without a request; config values
that would spin, hang or break git are refused at load (exit 2) with a clear message.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.support.cli import imagebot
from tests.support.gitrepo import commit_all, git, make_remote, show
from tests.support.manifests import deployment
from tests.support.registry_proxy import RegistryProxy


def _config(cwd: Path, remote: Path, host: str, extra: str = "", paths: str = "[apps]") -> None:
    (cwd / "imagebot.yaml").write_text(
        f"repository:\n  url: {remote}\n  paths: {paths}\nregistries:\n  - host: {host}\n    insecure: true\n"
        f"cache_dir: {cwd / 'cache'}\n{extra}"
    )


def test_a_symlink_out_of_the_checkout_is_reported_and_not_followed(tmp_path: Path, registry) -> None:
    registry.push_tags("team/app", ["1.0.0", "1.1.0"])
    outside = tmp_path / "outside"
    outside.mkdir()
    secret = deployment("secret", f"{registry.host}/team/app:1.0.0")
    (outside / "secret.yaml").write_text(secret)
    remote = make_remote(tmp_path, {"apps/app.yaml": deployment("app", f"{registry.host}/team/app:1.0.0")})
    work = tmp_path / "work"
    git(tmp_path, "clone", "-q", str(remote), str(work))
    os.symlink(outside, work / "linked")
    commit_all(work, "a link out of the repository")
    git(work, "push", "-q", "origin", "main")
    _config(tmp_path, remote, registry.host, paths="[apps, linked]")

    res = imagebot("run", "--once", "--json", cwd=tmp_path)
    assert res.code == 1, res.err + res.out
    doc = json.loads(res.out)
    assert [c["file"] for c in doc["changes"]] == ["apps/app.yaml"]
    (problem,) = doc["problems"]
    assert "'linked' leads outside the repository" in problem["message"]
    assert b"team/app:1.1.0" in show(remote, "main", "apps/app.yaml")
    assert (outside / "secret.yaml").read_text() == secret


def test_only_listed_registries_are_contacted(tmp_path: Path, registry) -> None:
    registry.push_tags("team/app", ["1.0.0", "1.1.0"])
    with RegistryProxy(registry.url) as other:
        files = {
            "apps/app.yaml": deployment("app", f"{registry.host}/team/app:1.0.0"),
            "apps/elsewhere.yaml": deployment("elsewhere", f"{other.host}/team/app:1.0.0"),
        }
        remote = make_remote(tmp_path, files)
        _config(tmp_path, remote, registry.host, "only_listed_registries: true\n")
        res = imagebot("run", "--once", "--json", cwd=tmp_path)
        assert sum(other.counts.values()) == 0  # not one request
    assert res.code == 1, res.err + res.out
    doc = json.loads(res.out)
    assert [c["file"] for c in doc["changes"]] == ["apps/app.yaml"]
    (problem,) = doc["problems"]
    assert problem["file"] == "apps/elsewhere.yaml"
    assert f"registry {other.host} is not listed" in problem["message"]


@pytest.mark.parametrize(("extra", "words"), [
    ("interval: 0s\n", "interval '0s' is out of range"),
    ("cycle_timeout: 1s\n", "cycle_timeout '1s' is out of range"),
    ("delivery: {branch: HEAD}\n", "'HEAD' is not a valid branch name"),
    ("delivery: {branch: -f}\n", "'-f' is not a valid branch name"),
    ("delivery: {branch: 'a..b'}\n", "'a..b' is not a valid branch name"),
    ("delivery: {git_timeout: 0s}\n", "git_timeout '0s' is out of range"),
    ("registries:\n  - host: example.org\n    timeout: 100000\n", "timeout"),
])
def test_config_values_that_would_spin_hang_or_break_git_are_refused(tmp_path: Path, extra: str, words: str) -> None:
    (tmp_path / "imagebot.yaml").write_text(f"repository: {{url: {tmp_path}}}\n{extra}")
    res = imagebot("validate", cwd=tmp_path)
    assert res.code == 2, res.err + res.out
    assert words in res.err + res.out


@pytest.mark.parametrize("where", ["/proc/imagebot-cache", "FILE"])
def test_an_unusable_cache_dir_is_a_clear_message_and_exit_2(tmp_path: Path, where: str) -> None:
    remote = make_remote(tmp_path, {"apps/app.yaml": "kind: ConfigMap\n"})
    if where == "FILE":
        where = str(tmp_path / "a-file")
        Path(where).write_text("not a folder")
    (tmp_path / "imagebot.yaml").write_text(f"repository: {{url: {remote}}}\ncache_dir: {where}\n")
    res = imagebot("run", "--once", cwd=tmp_path)
    assert res.code == 2, res.err + res.out
    assert f"cache_dir '{where}' is not a writable folder" in res.err
    assert "Traceback" not in res.err
