"""`imagebot run`: one cycle (`--once`, for CI) or the in-cluster agent."""

from __future__ import annotations

import json
import logging
import sys

import click

from imagebot.cli.common import config_option, handle_errors, load_config, pick_lanes, repository_option, with_log_options

#: `run --once` waits at most this long at exit for notifications still being sent (retries included).
NOTIFY_FLUSH_SECONDS = 30.0


@click.command("run")
@config_option
@click.option("--once", is_flag=True, help="Run one cycle and exit (CI, CronJob). Without it: the agent.")
@click.option("--json", "as_json_", is_flag=True, help="With --once: print the cycle's report as JSON.")
@click.option("--listen", default=None, metavar="HOST:PORT",
              help="Agent: where health, metrics and webhooks listen. Default: agent.listen (0.0.0.0:8080).")
@repository_option
@with_log_options
@handle_errors
def run(config_path: str | None, once: bool, as_json_: bool, listen: str | None, repository: str | None, log_level: str,
        log_format: str | None) -> None:
    """Update images: commit to the delivery branch or open / update pull requests."""
    # Imported here: each command loads only what it needs (start-up time).
    from imagebot import pipeline
    from imagebot.report import log as logsetup
    from imagebot.report.summary import as_json, dumps, text
    if once:
        from imagebot import collector

        collector.off_for_good()  # one cycle (or round), then exit: start-up's hold on collection stays
    cfg = load_config(config_path)
    lanes = pick_lanes(cfg, repository)
    if once:
        logsetup.setup(log_level, log_format)
        from imagebot import notify

        # A CronJob's runs share the cache dir: problems are announced when they start and end, not every run.
        notifier = notify.from_config(cfg, state_file=pipeline.cache_dir(cfg) / "notify" / "state.json")
        try:
            if len(lanes) > 1:
                _run_round(cfg, lanes, notifier, as_json_)
            from imagebot.lanes import workspace_for

            lane = lanes[0]
            result = pipeline.run_cycle(lane.config, reporters=[notifier] if notifier else [], source=lane.source,
                                        workspace=workspace_for(cfg, lane), lane=lane.name)
        finally:
            if notifier is not None and not notifier.flush(NOTIFY_FLUSH_SECONDS):
                logging.getLogger("imagebot.notify").warning(
                    "notifications: not all sent within %ss; the rest are dropped", NOTIFY_FLUSH_SECONDS)
            if notifier is not None:
                notifier.close()
        if as_json_:
            click.echo(dumps(as_json(result)))
        else:
            click.echo(text(result, diff=True), nl=False)
        sys.exit(result.exit_code)

    from imagebot.agent import serve  # the agent pulls in the HTTP server and Kubernetes support

    logsetup.setup("info" if log_level == "warning" else log_level, log_format)
    sys.exit(serve(cfg, listen=listen, log_format=log_format, lanes=lanes))


def _run_round(cfg: object, lanes: tuple, notifier: object, as_json_: bool) -> None:
    """Every repository of a `repositories:` config in one registry round (lanes in parallel)."""
    from imagebot.fleet import Fleet
    from imagebot.fleet.report import round_json, round_text

    r = Fleet(cfg, lanes).run_round(reporters=[notifier] if notifier else [])  # type: ignore[arg-type]
    if as_json_:
        click.echo(json.dumps(round_json(r), indent=2))
    else:
        click.echo(round_text(r, diff=True), nl=False)
    sys.exit(r.exit_code)
