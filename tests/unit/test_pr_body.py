"""The pull-request body: golden files (Markdown and its HTML rendering, as a forge shows it)
for 1 and 60 changes, update types, links from the source label, deduplicated places,
truncation at the forge's limit, templates. Regenerate the golden files with
IMAGEBOT_UPDATE_GOLDEN=1 and read the diff."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from markdown_it import MarkdownIt

from imagebot.deliver.forge.base import BODY_LIMITS
from imagebot.deliver.messages import pull_request_body, pull_request_title
from imagebot.deliver.pr_body import source_links, update_type, validate_body_template
from imagebot.errors import ConfigError
from tests.support.deliver_plans import change

GOLDEN = Path(__file__).parent / "pr_bodies"
SOURCE = "org.opencontainers.image.source"
REGISTRY = "registry.internal.example.com:5000/platform-team"
HEAD = "<!doctype html>\n<meta charset=utf-8>\n<title>imagebot pull request body</title>\n"


def html(body: str) -> str:
    """What the forge shows: CommonMark + GFM tables, inline HTML kept (<details>, <br>)."""
    return HEAD + MarkdownIt("commonmark", {"html": True}).enable("table").render(body)


def check_golden(name: str, body: str) -> None:
    for suffix, text in ((".md", body), (".html", html(body))):
        path = GOLDEN / f"{name}{suffix}"
        if os.environ.get("IMAGEBOT_UPDATE_GOLDEN"):
            path.write_text(text)
        assert path.read_text() == text, f"{path} differs (IMAGEBOT_UPDATE_GOLDEN=1 regenerates it)"


def sixty() -> tuple[list, dict]:
    """60 changes as a `grouping: all` pull request sees them: 48 images with long registry
    names, all update types, 12 updates made in two files (one row each), source labels on
    GitHub, GitLab, Codeberg and an unknown host."""
    changes, labels = [], {}
    kinds = [("1.4.2", "2.0.0"), ("1.4.2", "1.5.0"), ("1.4.2", "1.4.3"), ("3.1.0", "3.2.0-rc.1"), ("v0.9", "v0.10")]
    for i in range(48):
        image = f"{REGISTRY}/service-{i:02d}"
        old, new = kinds[i % len(kinds)]
        if i % 12 == 11:
            new = f"{old}@sha256:{i:02d}" + "c" * 62  # a rebuilt tag: digest only
        changes.append(change(f"apps/service-{i:02d}/deployment.yaml", image, old, new))
        if i < 12:
            changes.append(change(f"clusters/prod/service-{i:02d}.yaml", image, old, new))
        source = ["https://github.com/acme/service-{i}", "https://gitlab.com/acme/sub/service-{i}", "https://codeberg.org/acme/service-{i}",
                  "https://git.acme.example/service-{i}"][i % 4].format(i=i)
        labels[image] = {SOURCE: source}
    return changes, labels


def test_one_change_golden():
    c = change("apps/web/deployment.yaml", "ghcr.io/acme/web", "1.4.2", "1.5.0")
    labels = {"ghcr.io/acme/web:1.5.0": {SOURCE: "https://github.com/acme/web"}}
    body = pull_request_body([c], marker="group=ghcr.io/acme/web", labels=labels, branch="imagebot/ghcr.io-acme-web", base="main")
    check_golden("one-change", body)
    assert "| [`ghcr.io/acme/web`](https://github.com/acme/web) | minor | `1.4.2` → `1.5.0`" in body
    assert "[compare](https://github.com/acme/web/compare/1.4.2...1.5.0)" in body
    assert body.count("ghcr.io/acme/web:") == 0  # the full reference is never repeated as image:tag


def test_sixty_changes_golden_fits_and_deduplicates():
    changes, labels = sixty()
    body = pull_request_body(changes, marker="group=all", labels=labels, branch="imagebot/all", base="main")
    check_golden("sixty-changes", body)
    rows = [line for line in body.splitlines() if line.startswith("| [`") or line.startswith("| `")]
    assert len(changes) == 60 and len(rows) == 48  # 12 updates made in two files are one row each
    assert "`apps/service-00/deployment.yaml:10`<br>`clusters/prod/service-00.yaml:10`" in body
    assert len(body) <= BODY_LIMITS["github"] and "cut to fit" not in body
    # i % 5 picks the kind (v0.9 -> v0.10 is minor); i = 11, 23, 35, 47 are digest-only rebuilds
    assert body.splitlines()[0] == "imagebot proposes **48 updates** of 48 images into `main` (9 major, 18 minor, 9 patch, 8 prerelease, 4 digest)."
    # the HTML a reviewer sees: one table, a collapsed "why"
    page = html(body)
    assert page.count("<table>") == 1 and page.count("<tr>") == 49 and "<details>" in page


def test_a_body_past_the_limit_is_cut_with_a_note():
    changes, labels = sixty()
    many = changes * 1
    many += [change(f"apps/x{i}.yaml", f"{REGISTRY}/extra-{i:03d}", "1.0.0", "1.0.1") for i in range(400)]
    body = pull_request_body(many, marker="group=all", labels=labels, branch="imagebot/all", base="main")
    assert len(body) <= BODY_LIMITS["github"]
    assert "This body was cut to fit GitHub's limit of 65,536 characters" in body and "more updates are not listed" in body
    assert "<details>" not in body and body.endswith("<!-- imagebot:group=all -->\n")  # the marker survives the cut
    gitlab = pull_request_body(many, marker="group=all", labels=labels, forge="gitlab", limit=BODY_LIMITS["gitlab"])
    assert "cut to fit" not in gitlab and "<details>" in gitlab and "**Closing this merge request**" in gitlab


@pytest.mark.parametrize(
    "old, new, kind",
    [
        ("a:1.4.2", "a:2.0.0", "major"),
        ("a:1.4.2", "a:1.5.0", "minor"),
        ("a:1.4.2", "a:1.4.3", "patch"),
        ("a:1.4", "a:1.4.0.1", "patch"),
        ("a:v0.9", "a:v0.10", "minor"),
        ("a:3.12", "a:3.13.0rc2", "prerelease"),
        ("a:1.0.0", "a:1.1.0-beta.1", "prerelease"),
        ("a:1.0", "a:1.0@sha256:" + "a" * 64, "digest"),
        ("a:1.0@sha256:" + "a" * 64, "a:1.0@sha256:" + "b" * 64, "digest"),
        ("a:latest", "a:stable", "tag"),
        ("a:1.0-alpine", "a:1.0-bookworm", "tag"),
        ("a:1.0-alpine", "a:1.0.1-alpine", "patch"),
        ("a:2.1", "a:2.2-beta", "prerelease"),
    ],
)
def test_update_type(old: str, new: str, kind: str):
    assert update_type(old, new) == kind


@pytest.mark.parametrize(
    "source, links",
    [
        ("https://github.com/o/r", ("https://github.com/o/r/releases/tag/2.0", "https://github.com/o/r/compare/1.0...2.0")),
        ("https://github.com/o/r/tree/main/cmd", ("https://github.com/o/r/releases/tag/2.0", "https://github.com/o/r/compare/1.0...2.0")),
        ("https://gitlab.com/g/s/p.git", ("https://gitlab.com/g/s/p/-/releases/2.0", "https://gitlab.com/g/s/p/-/compare/1.0...2.0")),
        ("https://codeberg.org/o/r", ("https://codeberg.org/o/r/releases/tag/2.0", "https://codeberg.org/o/r/compare/1.0...2.0")),
        ("https://git.example.com/o/r", None),
        ("https://github.com/o", None),
        (None, None),
    ],
)
def test_source_links(source, links):
    assert source_links(source, "1.0", "2.0") == links


def test_title_and_body_templates():
    c = change("apps/web.yaml", "ghcr.io/org/web", "1.0.0", "2.0.0")
    assert pull_request_title("{update_type}: {summary} ({count})", [c], prefix="chore(deps): ") == "major: chore(deps): Update ghcr.io/org/web to 2.0.0 (1)"
    body = pull_request_body([c], marker="m", template="Bump!\n\n{table}\n\n{closing}", branch="b", base="main")
    assert body.startswith("Bump!\n\n| Image |") and body.endswith("<!-- imagebot:m -->\n")
    with pytest.raises(ConfigError, match=r"body_template: unknown variable \{tabel\}"):
        validate_body_template("{tabel}")
