"""`imagebot status`: ask a running agent what it knows (its GET /status)."""

from __future__ import annotations

import json
import os
import sys

import click

from imagebot.cli.common import handle_errors
from imagebot.errors import EXIT_FAILED, EXIT_OK, EXIT_PARTIAL

DEFAULT_URL = "http://127.0.0.1:8080"


@click.command("status")
@click.option("--url", default=lambda: os.environ.get("IMAGEBOT_URL", DEFAULT_URL), show_default=f"$IMAGEBOT_URL or {DEFAULT_URL}",
              help="The agent's HTTP address (e.g. after `kubectl -n imagebot port-forward deploy/imagebot 8080`).")
@click.option("--json", "as_json_", is_flag=True, help="Print the agent's status document as it is.")
@click.option("--all", "show_all", is_flag=True, help="List up-to-date references too.")
@handle_errors
def status(url: str, as_json_: bool, show_all: bool) -> None:
    """Every managed reference with its current value, the newest its policy allows, and why it is
    held; the last cycle, open pull requests and problems.

    Exit 0: every reference up to date or on its way; 1: some are held or refused, or problems; 3: no answer.
    """
    import requests

    from imagebot.report.status import HELD, REFUSED, UP_TO_DATE, render_text

    try:
        r = requests.get(url.rstrip("/") + "/status", timeout=10)
        r.raise_for_status()
        doc = r.json()
    except (requests.RequestException, ValueError) as e:
        click.echo(f"imagebot status: no status from {url}: {e}", err=True)
        sys.exit(EXIT_FAILED)
    if as_json_:
        click.echo(json.dumps(doc, indent=2))
    else:
        shown = doc if show_all else {**doc, "references": [x for x in doc.get("references", []) if x["state"] != UP_TO_DATE]}
        click.echo(render_text(shown), nl=False)
    stuck = any(x["state"] in (HELD, REFUSED) for x in doc.get("references", []))
    sys.exit(EXIT_PARTIAL if stuck or doc.get("problems") else EXIT_OK)
