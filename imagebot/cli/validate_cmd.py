"""`imagebot validate`: check the config, every annotation, marker and policy; name file:line."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from imagebot.cli.common import config_option, handle_errors, load_config, pick_lanes, repository_option
from imagebot.errors import EXIT_OK, EXIT_PARTIAL, ImagebotError, PolicyError, UsageError

if TYPE_CHECKING:
    from imagebot.config.schema import Config


@click.command("validate")
@config_option
@click.option("--path", "tree", type=click.Path(file_okay=False, exists=True),
              help="Check this local work tree instead of cloning repository.url (e.g. in a pre-merge CI job).")
@repository_option
@handle_errors
def validate(config_path: str | None, tree: str | None, repository: str | None) -> None:
    """Validate the config and every image policy in every repository. Exit 0 when all is well."""
    cfg = load_config(config_path)
    lanes = pick_lanes(cfg, repository)
    if tree and len(lanes) > 1:
        raise UsageError("--path checks one repository's work tree: name it with --repository")
    from imagebot.lanes import workspace_for

    worst = EXIT_OK
    # A top-level rule is the default of every repository: unused only when no repository uses it.
    shared = len(cfg.rules) if len(lanes) > 1 else 0
    unused_everywhere = set(range(shared))
    for lane in lanes:
        if len(lanes) > 1:
            click.echo(f"repository {lane.name} ({lane.repository.url}):")
        try:
            root = Path(tree) if tree else workspace_for(cfg, lane).checkout()
        except ImagebotError as e:  # one unreachable repository does not hide the others' problems
            click.echo(f"imagebot: repository {lane.name}: {e}", err=True)
            worst = max(worst, e.exit_code)
            unused_everywhere.clear()  # unknown: that repository may use them
            continue
        code, unused = _validate_tree(lane.config, root, config_path, len(lane.config.rules) - shared)
        worst = max(worst, code)
        unused_everywhere &= {i - (len(lane.config.rules) - shared) for i in unused}
    for i in sorted(unused_everywhere):
        click.echo(f"{config_location(config_path, cfg.rules[i].line)}: config rule {i + 1} matches no reference in any "
                   "repository", err=True)
        worst = max(worst, EXIT_PARTIAL)
    sys.exit(worst)


def config_location(config_path: str | None, line: int | None) -> str:
    from imagebot.config.load import resolve_path

    return f"{resolve_path(config_path)}:{line}" if line else str(resolve_path(config_path))


def _validate_tree(cfg: Config, root: Path, config_path: str | None, own_rules: int) -> tuple[int, set[int]]:
    """Check one repository; returns its exit code and the indices of its rules no reference matched.
    Only the first `own_rules` of `cfg.rules` (the repository's own) are reported here."""
    from imagebot import discover
    from imagebot.model import Problem
    from imagebot.policy import compile_spec

    assert cfg.repository is not None
    found = discover.scan(root, paths=cfg.repository.paths, exclude=cfg.repository.exclude, policies=cfg.policies,
                          rules=cfg.rules, parse_all=True, compat_with=cfg.compat)
    unused = unused_rule_indices(cfg, found)
    problems = list(found.problems) + unused_rules(cfg, [i for i in unused if i < own_rules], config_path)
    verdicts: dict[object, str | None] = {}
    for occ in found.occurrences:
        if occ.policy not in verdicts:
            try:
                compile_spec(occ.policy)
                verdicts[occ.policy] = None
            except PolicyError as e:
                verdicts[occ.policy] = str(e)  # compile_spec's errors already name occ.policy.source
        if verdicts[occ.policy]:
            problems.append(Problem("policy", verdicts[occ.policy], occ.location, occ.subject))
    for p in sorted(problems, key=lambda p: (p.location.file, p.location.line) if p.location else ("", 0)):
        click.echo(f"{p}", err=True)
    unmanaged = f", {len(found.unmanaged)} without one (imagebot inventory lists them)" if found.unmanaged else ""
    click.echo(
        f"{len(found.occurrences)} image reference(s) with a policy in {found.files_scanned} file(s){unmanaged}; "
        f"{len(problems)} problem(s)."
    )
    from imagebot.discover.compat import governed

    for name, n in governed(o.policy for o in found.occurrences).items():
        click.echo(f"  {n} governed through {name} (policy read from that tool's configuration)")
    return (EXIT_PARTIAL if problems else EXIT_OK), unused


def unused_rule_indices(cfg: Config, found) -> set[int]:  # found: Discovery
    """The config rules whose match fits no reference of the repository: a typo, or stale."""
    from imagebot.discover.rules import matches

    refs = found.occurrences + found.unmanaged
    return {i for i, rule in enumerate(cfg.rules) if not any(matches(rule, ref) for ref in refs)}


def unused_rules(cfg: Config, indices: list[int], config_path: str | None) -> list:
    from imagebot.config.load import resolve_path
    from imagebot.discover.rules import describe
    from imagebot.model import Location, Problem

    name = str(resolve_path(config_path))
    return [Problem("config", f"{describe(cfg.rules, i)} matches no reference in the repository",
                    Location(name, cfg.rules[i].line or 0)) for i in sorted(indices)]
