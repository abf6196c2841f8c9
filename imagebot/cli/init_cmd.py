"""`imagebot init`: scan a repository and write a commented starter imagebot.yaml.

The config names the repository, lists the registries seen (as comments: a public registry
needs no entry) and sets a conservative rule set: patch releases for images, minor releases for
charts, one rule per kind of reference found, so that `imagebot validate` accepts it as written
and `imagebot plan` runs. Nothing in the repository is changed.
"""

from __future__ import annotations

import json
import subprocess
from collections import Counter
from pathlib import Path

import click

from imagebot.cli.common import fail, handle_errors
from imagebot.errors import EXIT_FAILED

#: The starter policy per reference kind: the smallest steps first.
STARTER = {"chart": "minor"}
IMAGE_KINDS = ("container", "image", "image-map", "kustomize")


@click.command("init")
@click.option("--path", "tree", type=click.Path(file_okay=False, exists=True), default=".", show_default=True,
              help="The repository's work tree to scan.")
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None,
              help="Where to write the config. Default: imagebot.yaml in the work tree.")
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
@handle_errors
def init(tree: str, output: str | None, force: bool) -> None:
    """Write a starter imagebot.yaml for the repository at --path (commented; edit it, then validate)."""
    from imagebot import discover
    from imagebot.discover.inventory import entries

    root = Path(tree).resolve()
    target = Path(output) if output else root / "imagebot.yaml"
    if target.exists() and not force:
        fail(f"imagebot: {target} exists (use --force to overwrite)", EXIT_FAILED)
    found = discover.scan(root, everything=True)
    items = entries(found)
    target.write_text(starter_config(root, items, found.files_scanned), encoding="utf-8")
    kinds = Counter(e.kind for e in items)
    click.echo(f"wrote {target}: {len(items)} reference(s) in {found.files_scanned} file(s) "
               f"({', '.join(f'{k} {n}' for k, n in sorted(kinds.items())) or 'none'}). "
               "Next: imagebot validate, imagebot inventory, imagebot plan.")


def _git(root: Path, *args: str) -> str | None:
    try:
        out = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def _quote(text: str) -> str:
    """A YAML double-quoted string (JSON's escapes are YAML's)."""
    return json.dumps(text)


def starter_config(root: Path, items: list, files: int) -> str:
    url = _git(root, "remote", "get-url", "origin") or str(root)
    branch = _git(root, "rev-parse", "--abbrev-ref", "HEAD") or "main"
    if branch == "HEAD":
        branch = "main"
    hosts = Counter(e.image.split("/", 1)[0] for e in items)
    kinds = Counter(e.kind for e in items)
    out = [
        f"# imagebot configuration written by `imagebot init`: {len(items)} reference(s) found in {files} file(s).",
        "# Check it with `imagebot validate`, see what it governs with `imagebot inventory`, try it with",
        "# `imagebot plan` (a dry run). Reference: README, \"Start on an existing repository\".",
        "repository:",
        f"  url: {_quote(url)}",
        f"  branch: {_quote(branch)}",
        "",
        "# Registries seen in the repository. A public registry needs no entry; add one for credentials,",
        "# a rate limit or the platforms a new tag must cover:",
    ]
    out += [f"#   {host:<40} {n} reference(s)" for host, n in hosts.most_common()] or ["#   (none)"]
    out += [
        "# registries:",
        f"#   - host: {hosts.most_common(1)[0][0] if hosts else 'ghcr.io'}",
        "#     username_env: REGISTRY_USER",
        "#     password_env: REGISTRY_TOKEN",
        "",
        "# Delivery: commits to repository.branch by default; for review, open pull requests instead:",
        "# delivery:",
        "#   mode: pull-request",
        "",
        "# Rules, in order: the first whose `match` fits a reference governs it; an annotation or a",
        "# marker on the reference wins over every rule. A reference no rule matches is left alone.",
        "# Put more specific rules first, e.g.:",
        "#   - match: {image: \"ghcr.io/home-operations/*\"}",
        "#     policy: \"semver:*\"",
        "#   - match: {image: docker.io/library/postgres}",
        "#     policy: ignore",
        "rules:",
    ]
    image_kinds = [k for k in IMAGE_KINDS if kinds.get(k)]
    rules = []
    if image_kinds:
        rules += [
            f"  # Images ({', '.join(f'{k} {kinds[k]}' for k in image_kinds)}): patch releases only (same major.minor).",
            f"  - match: {{kind: [{', '.join(image_kinds)}]}}",
            "    policy: patch",
        ]
    for kind, policy in STARTER.items():
        if kinds.get(kind):
            rules += [
                f"  # Charts ({kinds[kind]}): minor and patch releases (same major).",
                f"  - match: {{kind: {kind}}}",
                f"    policy: {policy}",
            ]
    out += rules or ["  []  # no reference found"]
    return "\n".join(out) + "\n"
