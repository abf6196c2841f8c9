"""The documentation stays true to the tree: every relative Markdown link in README.md and docs/
points to a file that exists (and, with `#anchor`, to a heading of it), and every command and
option in the README's command table is one `imagebot` has."""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest

from imagebot.cli import main

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]

# [text](target) and [text](target "title"), not images' remote URLs; code spans are removed first.
LINK = re.compile(r"\[[^\]\n]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
FENCE = re.compile(r"^(```|~~~).*?^\1", re.S | re.M)
CODE_SPAN = re.compile(r"`[^`\n]*`")


def _prose(text: str) -> str:
    return CODE_SPAN.sub("", FENCE.sub("", text))


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"`|\*\*|\[([^\]]*)\]\([^)]*\)", r"\1", heading.strip()).lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def _anchors(page: Path) -> set[str]:
    seen: dict[str, int] = {}
    out = set()
    for line in FENCE.sub("", page.read_text(encoding="utf-8")).splitlines():
        m = re.match(r"#{1,6}\s+(.*?)\s*#*\s*$", line)
        if not m:
            continue
        slug = _slug(m.group(1))
        n = seen.get(slug, 0)
        seen[slug] = n + 1
        out.add(slug if n == 0 else f"{slug}-{n}")
    return out


def _relative_links(page: Path) -> list[str]:
    return [t for t in LINK.findall(_prose(page.read_text(encoding="utf-8")))
            if not re.match(r"^[a-z][a-z0-9+.-]*:", t, re.I)]  # http:, https:, mailto: are not checked here


def test_the_pages_are_found_and_have_links() -> None:
    assert len(PAGES) > 10
    assert "docs/policies.md" in _relative_links(ROOT / "README.md")


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves(page: Path) -> None:
    broken = []
    for target in _relative_links(page):
        path, _, anchor = target.partition("#")
        dest = (page.parent / path).resolve() if path else page
        if not dest.exists():
            broken.append(f"{target}: no such file")
        elif anchor and dest.suffix == ".md" and anchor not in _anchors(dest):
            broken.append(f"{target}: no heading with anchor #{anchor} in {dest.relative_to(ROOT)}")
    assert not broken, f"{page.relative_to(ROOT)}: " + "; ".join(broken)


def test_a_broken_link_and_anchor_are_seen(tmp_path: Path) -> None:
    page = tmp_path / "p.md"
    page.write_text("# A `b` title, yes\n\n[x](missing.md) [y](#a-b-title-yes) [z](#nope) `[c](code.md)`\n")
    assert _relative_links(page) == ["missing.md", "#a-b-title-yes", "#nope"]
    assert _anchors(page) == {"a-b-title-yes"}


def _readme_command_rows() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("\n## Commands\n", 1)[1].split("\n#", 1)[0]
    return [m.group(1) for m in re.finditer(r"^\| `(imagebot [^`]*)` \|", section, re.M)]


def _command(words: list[str]) -> tuple[click.Command, list[str]]:
    """The (sub)command the words name, and the words after it."""
    cmd: click.Command = main
    rest = list(words)
    while rest and isinstance(cmd, click.Group) and rest[0] in cmd.commands:
        cmd = cmd.commands[rest.pop(0)]
    return cmd, rest


def test_every_command_in_the_readme_table_exists_with_its_options() -> None:
    rows = _readme_command_rows()
    assert len(rows) >= 10
    problems = []
    for row in rows:
        words = row.split()[1:]
        cmd, _ = _command([w for w in words if not w.startswith(("-", "[", "<")) and w.islower() and w.isalpha()])
        if cmd is main and not words[0].startswith("-"):
            problems.append(f"{row}: no command {words[0]!r}")
            continue
        known = {opt for p in cmd.params for opt in (*p.opts, *p.secondary_opts)}
        if cmd is main:
            known |= {"--version", "--help", "-h"}
        for opt in re.findall(r"(?<![\w-])(--?[a-z][\w-]*)", row):
            if opt not in known:
                problems.append(f"{row}: {' '.join(words[:2])} has no option {opt}")
    assert not problems, "\n".join(problems)


def test_every_command_imagebot_has_is_in_the_readme_table() -> None:
    from click.testing import CliRunner

    listed = {row.split()[1] for row in _readme_command_rows() if not row.split()[1].startswith("-")}
    helped = CliRunner().invoke(main, ["--help"]).output.split("Commands:", 1)[1]
    shown = set(re.findall(r"^  ([a-z][\w-]*)", helped, re.M))  # wrapped help lines are indented further
    assert shown == set(main.commands)  # `imagebot --help` lists every command
    assert listed == shown, f"README table only: {listed - shown}; not in the README table: {shown - listed}"


# -- configuration examples in the prose ----------------------------------------------------
YAML_BLOCK = re.compile(r"^( *)```ya?ml\n(.*?)^\1```", re.S | re.M)
CONFIG_KEYS = {"repository", "repositories", "delivery", "registries", "rules", "policies", "compat", "fleet",
               "agent", "notifications"}


def _config_blocks() -> list[tuple[str, str]]:
    """Every YAML block of the pages that is an imagebot.yaml (or a part of one): its top-level
    keys are config keys. (The registry's own `notifications: {endpoints: ...}` is not one.)"""
    from ruamel.yaml import YAML

    from imagebot.config.schema import Config

    out = []
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        for m in YAML_BLOCK.finditer(text):
            indent = len(m.group(1))
            block = "".join(line[indent:] if line[:indent].isspace() else line
                            for line in m.group(2).splitlines(keepends=True))
            try:
                data = YAML(typ="safe").load(block)
            except Exception:  # noqa: BLE001 - a fragment that is not YAML on its own (e.g. `...`)
                continue
            if (not isinstance(data, dict) or not set(data) <= set(Config.model_fields)
                    or not set(data) & CONFIG_KEYS or not isinstance(data.get("notifications", []), list)):
                continue
            where = f"{page.relative_to(ROOT)}:{text[:m.start()].count(chr(10)) + 2}"
            if not {"repository", "repositories"} & set(data):  # a part: the rest as the docs assume it
                block = "repository: {url: https://git.example.com/gitops.git}\n" + block
            out.append((where, block))
    return out


def test_every_config_example_in_the_docs_loads() -> None:
    from imagebot.config.load import load_text

    blocks = _config_blocks()
    assert len(blocks) >= 15 and any(w.startswith("README.md") for w, _ in blocks)
    problems = []
    for where, block in blocks:
        try:
            load_text(block, where)
        except Exception as exc:  # noqa: BLE001 - every failing example is listed
            problems.append(f"{where}: {exc}")
    assert not problems, "\n".join(problems)


def test_the_agent_page_shows_the_agent_defaults() -> None:
    """docs/agent.md's `agent:` block is every agent setting at its default: it changes with the schema."""
    from imagebot.config.load import load_text

    (block,) = [b for w, b in _config_blocks() if w.startswith("docs/agent.md") and "\nagent:" in b]
    shown = load_text(block, "docs/agent.md").agent
    assert shown == load_text("repository: {url: https://git.example.com/gitops.git}\n").agent


def _named_paths(page: Path) -> list[str]:
    """Files of this repository the page names in code spans: `imagebot/….py`, `tests/…`,
    `deploy/…`, `config/…`, `bench/….py`, `docs/…` (not branch names like `imagebot/all`)."""
    out = []
    for path in re.findall(r"`((?:imagebot|tests|bench|deploy|config|demo|docs)/[\w./-]*)`", page.read_text(encoding="utf-8")):
        if path.startswith("bench/work/") or (path.startswith("imagebot/") and not path.endswith((".py", "/"))):
            continue
        out.append(path)
    return out


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_file_a_page_names_exists(page: Path) -> None:
    missing = [p for p in _named_paths(page) if not (ROOT / p).exists()]
    assert not missing, f"{page.relative_to(ROOT)} names files that do not exist: {missing}"
