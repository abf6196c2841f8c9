"""`imagebot inventory`: every image and chart reference found, managed or not, and why.

The onboarding screen (Renovate's dependency dashboard): each reference with its file:line,
kind, image, current value, and the policy that governs it with where that comes from
(annotation, marker, config policy, rule), or "unmanaged"; counts per kind. Exit 0.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import click

from imagebot.cli.common import config_option, handle_errors, pick_lanes, repository_option


@click.command("inventory")
@config_option
@click.option("--path", "tree", type=click.Path(file_okay=False, exists=True),
              help="Read this local work tree instead of cloning repository.url (works without a config file).")
@click.option("--json", "as_json_", is_flag=True, help="Print one JSON document instead of text.")
@click.option("--unmanaged", "only_unmanaged", is_flag=True, help="List only the references nothing governs.")
@repository_option
@handle_errors
def inventory(config_path: str | None, tree: str | None, as_json_: bool, only_unmanaged: bool,
              repository: str | None) -> None:
    """List every reference in the repository: what governs it, or that nothing does."""
    from imagebot.discover import inventory as inv

    found = scan_repository(config_path, tree, repository)
    items = inv.entries(found)
    shown = [e for e in items if e.policy is None] if only_unmanaged else items
    if as_json_:
        doc = {
            "references": [e.as_json() for e in shown],
            "counts": inv.counts(items),
            "problems": [str(p) for p in found.problems],
        }
        click.echo(json.dumps(doc, indent=2))
        return
    click.echo(render_text(shown, inv.counts(items), shutil.get_terminal_size((100, 24)).columns), nl=False)


def scan_repository(config_path: str | None, tree: str | None, repository: str | None = None):  # -> Discovery
    """Every reference of the repository (the config's rules applied when there is a config)."""
    from imagebot import discover
    from imagebot.config.load import load, resolve_path
    from imagebot.errors import ConfigError, UsageError

    if config_path or resolve_path(None).exists():
        cfg = load(config_path)
    elif tree:
        cfg = None
    else:
        raise ConfigError("no config file: use -c FILE, or --path DIR to read a local work tree without one")
    if cfg is None:
        return discover.scan(Path(tree), everything=True)
    lanes = pick_lanes(cfg, repository)
    if len(lanes) > 1:
        raise UsageError("inventory lists one repository: name it with --repository")
    from imagebot.lanes import workspace_for

    top, cfg = cfg, lanes[0].config
    root = Path(tree) if tree else workspace_for(top, lanes[0]).checkout()
    return discover.scan(root, paths=cfg.repository.paths, exclude=cfg.repository.exclude, policies=cfg.policies,
                         rules=cfg.rules, everything=True)


def _cut(text: str, width: int, left: bool = False) -> str:
    if len(text) <= width:
        return text
    if width <= 1:
        return text[:width]
    return "…" + text[-(width - 1):] if left else text[: width - 1] + "…"


def _short(value: str) -> str:
    """A digest shortened to 12 hex digits: tag@sha256:0123456789ab…"""
    head, at, digest = value.partition("sha256:")
    return f"{head}{at}{digest[:12]}…" if at and len(digest) > 12 else value


def render_text(items: list, counts: dict, width: int) -> str:
    width = max(60, width)
    by_image: dict[str, list] = {}
    for e in items:
        by_image.setdefault(e.image, []).append(e)
    lines: list[str] = []
    for image in sorted(by_image):
        lines.append(_cut(image, width))
        for e in by_image[image]:
            governs = f"{e.policy} ({e.source})" if e.policy is not None else "unmanaged"
            left = f"  {_cut(_short(e.current) or '-', 26):<26} {_cut(governs, 20):<20} {e.kind:<9} "
            lines.append(left + _cut(f"{e.file}:{e.line}", width - len(left), left=True))
    kinds = ", ".join(f"{k} {n}" for k, n in counts["by_kind"].items())
    sources = ", ".join(f"{k} {n}" for k, n in counts["by_source"].items() if k != "unmanaged")
    lines.append("")
    lines.append(f"{counts['references']} reference(s): {counts['managed']} managed"
                 + (f" ({sources})" if sources else "") + f", {counts['unmanaged']} unmanaged.")
    lines.append(f"By kind: {kinds or 'none'}.")
    return "\n".join(lines) + "\n"
