"""`imagebot validate`: check the config, every annotation, marker and policy; name file:line."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from imagebot.cli.common import config_option, handle_errors, load_config
from imagebot.errors import EXIT_OK, EXIT_PARTIAL, PolicyError


@click.command("validate")
@config_option
@click.option("--path", "tree", type=click.Path(file_okay=False, exists=True),
              help="Check this local work tree instead of cloning repository.url (e.g. in a pre-merge CI job).")
@handle_errors
def validate(config_path: str | None, tree: str | None) -> None:
    """Validate the config and every image policy in the repository. Exit 0 when all is well."""
    cfg = load_config(config_path)
    # Imported here: each command loads only what it needs (start-up time).
    from imagebot import discover, pipeline
    from imagebot.deliver import GitWorkspace
    from imagebot.model import Problem
    from imagebot.policy import compile_spec

    root = Path(tree) if tree else GitWorkspace(cfg, pipeline.cache_dir(cfg) / "repos").checkout()
    found = discover.scan(root, paths=cfg.repository.paths, exclude=cfg.repository.exclude, policies=cfg.policies,
                          rules=cfg.rules, parse_all=True, compat_with=cfg.compat)
    problems = list(found.problems) + unused_rules(cfg, found, config_path)
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
    sys.exit(EXIT_PARTIAL if problems else EXIT_OK)


def unused_rules(cfg, found, config_path: str | None) -> list:
    """A config rule whose match fits no reference of the repository: a typo, or stale."""
    from imagebot.config.load import resolve_path
    from imagebot.discover.rules import describe, matches
    from imagebot.model import Location, Problem

    refs = found.occurrences + found.unmanaged
    name = str(resolve_path(config_path))
    return [
        Problem("config", f"{describe(cfg.rules, i)} matches no reference in the repository", Location(name, rule.line or 0))
        for i, rule in enumerate(cfg.rules)
        if not any(matches(rule, ref) for ref in refs)
    ]
