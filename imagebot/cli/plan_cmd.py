"""`imagebot plan`: a dry run — every decision with its reason, then the exact diff."""

from __future__ import annotations

import json
import sys

import click

from imagebot.cli.common import config_option, handle_errors, load_config, pick_lanes, repository_option, with_log_options


@click.command("plan")
@config_option
@click.option("--json", "as_json_", is_flag=True, help="Print one JSON document instead of text.")
@click.option("--diff/--no-diff", default=True, show_default=True, help="Show the unified diff.")
@repository_option
@with_log_options
@handle_errors
def plan(config_path: str | None, as_json_: bool, diff: bool, repository: str | None, log_level: str,
         log_format: str | None) -> None:
    """Show what `run` would change and why, with the exact diff. Writes nothing."""
    # Imported here: each command loads only what it needs (start-up time).
    from imagebot import collector, pipeline
    from imagebot.lanes import workspace_for
    from imagebot.report import log as logsetup
    from imagebot.report.summary import as_json, dumps, text
    collector.off_for_good()  # one cycle (or round), then exit: start-up's hold on collection stays
    logsetup.setup(log_level, log_format)
    cfg = load_config(config_path)
    lanes = pick_lanes(cfg, repository)
    if len(lanes) > 1:
        _plan_round(cfg, lanes, as_json_, diff)
    lane = lanes[0]
    ws = workspace_for(cfg, lane)
    result = pipeline.run_cycle(lane.config, dry_run=True, workspace=ws, source=lane.source, lane=lane.name)
    delivery = pipeline.preview(lane.config, result, ws) if result.plan.changes else None
    if as_json_:
        doc = as_json(result)
        doc["delivery_preview"] = _preview_json(delivery)
        click.echo(dumps(doc))
    else:
        click.echo(text(result, diff=diff), nl=False)
        if delivery is not None:
            click.echo("\n" + _preview_text(delivery), nl=False)
    sys.exit(result.exit_code)


def _preview_json(preview: object) -> object:
    if preview is None:
        return None
    import dataclasses

    return dataclasses.asdict(preview) if dataclasses.is_dataclass(preview) else str(preview)


def _preview_text(preview: object) -> str:
    return str(preview).rstrip("\n") + "\n"


def _plan_round(cfg: object, lanes: tuple, as_json_: bool, diff: bool) -> None:
    """Every repository of a `repositories:` config in one registry round; one report each."""
    from imagebot.fleet import Fleet
    from imagebot.fleet.report import round_json, round_text

    r = Fleet(cfg, lanes).run_round(dry_run=True)  # type: ignore[arg-type]
    if as_json_:
        click.echo(json.dumps(round_json(r), indent=2, sort_keys=False))
    else:
        click.echo(round_text(r, diff=diff), nl=False)
    sys.exit(r.exit_code)
