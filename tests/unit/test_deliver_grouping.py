"""Pull-request groups: keys, branch names and splitting one file's edit between groups."""

from __future__ import annotations

import re
import subprocess

import pytest

from imagebot.deliver.grouping import CannotSplit, branch_name, groups_of, legacy_branch_name, split_edit
from imagebot.model import FileEdit, Rendered
from tests.support.deliver_plans import change

TWO_IMAGES = b"a:\n  image: ghcr.io/org/web:1.0.0\nb:\n  image: ghcr.io/org/api:2.0.0\n"
WEB = change("apps/x.yaml", "ghcr.io/org/web", "1.0.0", "1.1.0", line=2)
API = change("apps/x.yaml", "ghcr.io/org/api", "2.0.0", "2.1.0", line=4)
BOTH = FileEdit("apps/x.yaml", TWO_IMAGES, TWO_IMAGES.replace(b"1.0.0", b"1.1.0").replace(b"2.0.0", b"2.1.0"), (WEB, API))


@pytest.mark.parametrize(
    "key, branch",
    [
        ("ghcr.io/org/app", "imagebot/ghcr.io-org-app"),
        ("docker.io/library/nginx", "imagebot/docker.io-library-nginx"),
        ("all", "imagebot/all"),
        # names that could stand for another key get a hash of the key (issue #14)
        ("apps/web app/values.yaml", "imagebot/apps-web-app-values.yaml-*"),
        ("weird..name.lock", "imagebot/weird.name.lock--*"),
        ("~^:?*[", "imagebot/group-*"),
        ("team-api", "imagebot/team-api-*"),
    ],
)
def test_branch_names_are_valid_and_stable(key: str, branch: str):
    name = branch_name("imagebot/", key)
    if branch.endswith("*"):
        assert name.startswith(branch[:-1]) and re.fullmatch(r"[0-9a-f]{8}", name[len(branch) - 1:]), name
    else:
        assert name == branch
    assert branch_name("imagebot/", key) == name  # stable
    assert subprocess.run(["git", "check-ref-format", "--branch", name], capture_output=True).returncode == 0


def test_distinct_keys_never_share_a_branch():
    keys = ["team/api", "team-api", "team--api", "team/-api", "team_api", "team.api", "team api", "team/api/",
            "ghcr.io/org/my-app", "ghcr.io/org-my/app", "ghcr.io/org/my/app", "apps/a b.yaml", "apps/a-b.yaml",
            "x..y", "x.y", "a.lock", "a.lock-"]
    names = {k: branch_name("imagebot/", k) for k in keys}
    assert len(set(names.values())) == len(keys), names
    assert names["team/api"] == legacy_branch_name("imagebot/", "team/api") == "imagebot/team-api"


def test_split_edit_keeps_only_the_groups_lines():
    web = split_edit(BOTH, {WEB})
    assert web.after == TWO_IMAGES.replace(b"1.0.0", b"1.1.0") and web.changes == (WEB,)
    api = split_edit(BOTH, {API})
    assert api.after == TWO_IMAGES.replace(b"2.0.0", b"2.1.0") and api.changes == (API,)
    assert split_edit(BOTH, {WEB, API}) is BOTH


def test_a_line_shared_by_two_groups_is_spliced_by_apply():
    one_line = b"images: [ghcr.io/org/web:1.0.0, ghcr.io/org/api:2.0.0]\n"
    web = change("f.yaml", "ghcr.io/org/web", "1.0.0", "1.1.0", line=1, column=10)
    api = change("f.yaml", "ghcr.io/org/api", "2.0.0", "2.1.0", line=1, column=33)
    edit = FileEdit("f.yaml", one_line, one_line.replace(b"1.0.0", b"1.1.0").replace(b"2.0.0", b"2.1.0"), (web, api))
    with pytest.raises(CannotSplit, match="f.yaml:1"):
        split_edit(edit, {web})
    groups, problems = groups_of(Rendered((edit,)), "per-image", "imagebot/")
    assert not problems
    assert {g.branch: g.edits[0].after for g in groups} == {
        "imagebot/ghcr.io-org-api": one_line.replace(b"2.0.0", b"2.1.0"),
        "imagebot/ghcr.io-org-web": one_line.replace(b"1.0.0", b"1.1.0"),
    }
    [everything], problems = groups_of(Rendered((edit,)), "all", "imagebot/")
    assert everything.edits == (edit,) and not problems


def test_a_shared_line_apply_cannot_splice_is_reported():
    one_line = b"images: [ghcr.io/org/web:1.0.0, ghcr.io/org/api:2.0.0]\n"
    web = change("f.yaml", "ghcr.io/org/web", "1.0.0", "1.1.0", line=1, column=99)  # wrong column
    api = change("f.yaml", "ghcr.io/org/api", "2.0.0", "2.1.0", line=1, column=33)
    edit = FileEdit("f.yaml", one_line, one_line.replace(b"1.0.0", b"1.1.0").replace(b"2.0.0", b"2.1.0"), (web, api))
    groups, problems = groups_of(Rendered((edit,)), "per-image", "imagebot/")
    assert [g.branch for g in groups] == ["imagebot/ghcr.io-org-api"]
    [problem] = problems
    assert "more than one pull request" in problem.message and problem.location == web.occurrence.location


@pytest.mark.parametrize(
    "grouping, branches",
    [
        ("per-image", ["imagebot/ghcr.io-org-api", "imagebot/ghcr.io-org-web"]),
        ("per-file", ["imagebot/apps-x.yaml"]),
        ("all", ["imagebot/all"]),
    ],
)
def test_groups_of(grouping: str, branches: list[str]):
    groups, problems = groups_of(Rendered((BOTH,)), grouping, "imagebot/")
    assert [g.branch for g in groups] == branches and not problems
    assert sum(len(g.changes) for g in groups) == 2
