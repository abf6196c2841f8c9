"""`imagebot plan`: a dry run — every decision with its reason, then the exact diff."""

from __future__ import annotations

import json
import sys

import click

from imagebot.cli.common import config_option, handle_errors, load_config, with_log_options
from imagebot.report import log as logsetup


@click.command("plan")
@config_option
@click.option("--json", "as_json_", is_flag=True, help="Print one JSON document instead of text.")
@click.option("--diff/--no-diff", default=True, show_default=True, help="Show the unified diff.")
@with_log_options
@handle_errors
def plan(config_path: str | None, as_json_: bool, diff: bool, log_level: str, log_format: str | None) -> None:
    """Show what `run` would change and why, with the exact diff. Writes nothing."""
    # Imported here: each command loads only what it needs (start-up time).
    from imagebot import pipeline
    from imagebot.report.summary import as_json, text
    logsetup.setup(log_level, log_format)
    cfg = load_config(config_path)
    result = pipeline.run_cycle(cfg, dry_run=True)
    delivery = pipeline.preview(cfg, result) if result.plan.changes else None
    if as_json_:
        doc = as_json(result)
        doc["delivery_preview"] = _preview_json(delivery)
        click.echo(json.dumps(doc, indent=2, sort_keys=False))
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
