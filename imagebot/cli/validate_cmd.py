"""`imagebot validate`: check the config, every annotation, marker and policy; name file:line."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from imagebot.cli.common import config_option, handle_errors, load_config, pick_lanes, repository_option
from imagebot.config.schema import Config
from imagebot.errors import EXIT_OK, EXIT_PARTIAL, ImagebotError, PolicyError, UsageError


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
    # Imported here: each command loads only what it needs (start-up time).
    from imagebot.fleet.round import workspace_for

    worst = EXIT_OK
    for lane in lanes:
        if len(lanes) > 1:
            click.echo(f"repository {lane.name} ({lane.repository.url}):")
        try:
            root = Path(tree) if tree else workspace_for(cfg, lane).checkout()
        except ImagebotError as e:  # one unreachable repository does not hide the others' problems
            click.echo(f"imagebot: repository {lane.name}: {e}", err=True)
            worst = max(worst, e.exit_code)
            continue
        worst = max(worst, _validate_tree(lane.config, root))
    sys.exit(worst)


def _validate_tree(cfg: Config, root: Path) -> int:
    from imagebot import discover
    from imagebot.model import Problem
    from imagebot.policy import compile_spec

    assert cfg.repository is not None
    found = discover.scan(root, paths=cfg.repository.paths, exclude=cfg.repository.exclude, policies=cfg.policies, parse_all=True,
                          compat_with=cfg.compat)
    problems = list(found.problems)
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
    click.echo(
        f"{len(found.occurrences)} image reference(s) with a policy in {found.files_scanned} file(s); "
        f"{len(problems)} problem(s)."
    )
    from imagebot.discover.compat import governed

    for name, n in governed(o.policy for o in found.occurrences).items():
        click.echo(f"  {n} governed through {name} (policy read from that tool's configuration)")
    return EXIT_PARTIAL if problems else EXIT_OK
