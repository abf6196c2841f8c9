"""`imagebot notify test`: send a sample notice to every configured target."""

from __future__ import annotations

import sys

import click

from imagebot.cli.common import config_option, handle_errors, load_config
from imagebot.errors import EXIT_PARTIAL, EXIT_USAGE


@click.group("notify")
def notify() -> None:
    """Notifications (Slack, Teams, Discord, Google Chat, Alertmanager, webhooks)."""


@notify.command("test")
@config_option
@handle_errors
def test(config_path: str | None) -> None:
    """Send one sample message to each target in `notifications:`; exit 1 if any failed."""
    from imagebot.notify.derive import Tracker, public_url
    from imagebot.notify.dispatch import Dispatcher
    from imagebot.notify.notifier import Notifier
    from imagebot.notify.targets import build

    cfg = load_config(config_path)
    if not cfg.notifications:
        click.echo("No notifications configured (add `notifications:` to the config).", err=True)
        sys.exit(EXIT_USAGE)
    targets, errors = build(cfg.notifications)
    for e in errors:
        click.echo(f"FAILED  {e}")
    notifier = Notifier(targets, Tracker(), public_url(cfg.repository.url if cfg.repository else cfg.repositories[0].url), dispatcher=Dispatcher([]))
    failed = len(errors)
    for name, ok, why in notifier.test():
        click.echo(f"{'sent    ' if ok else 'FAILED  '}{name}" + (f": {why}" if why else ""))
        failed += not ok
    sys.exit(EXIT_PARTIAL if failed else 0)
