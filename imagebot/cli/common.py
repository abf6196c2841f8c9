"""What every command shares: the config option, logging options, and error -> exit code."""

from __future__ import annotations

import functools
import gc
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from imagebot import collector
from imagebot.errors import EXIT_FAILED, ImagebotError

if TYPE_CHECKING:  # the schema (pydantic) is built when a command loads a config, not at start-up
    from imagebot.config.schema import Config

config_option = click.option(
    "-c",
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    envvar="IMAGEBOT_CONFIG",
    default=None,
    help="Config file (YAML or JSON). Default: ./imagebot.yaml, or $IMAGEBOT_CONFIG.",
)

log_options = [
    click.option("--log-level", type=click.Choice(["debug", "info", "warning", "error"]), default="warning",
                 show_default=True, help="Log verbosity (logs go to stderr)."),
    click.option("--log-format", type=click.Choice(["json", "text"]), default=None,
                 help="Log format. Default: text on a terminal, JSON otherwise."),
]


def with_log_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    for opt in reversed(log_options):
        fn = opt(fn)
    return fn


repository_option = click.option(
    "--repository", "repository", default=None, metavar="NAME",
    help="Only this repository (a `repositories:` item's name). Default: every repository in the config.")


def pick_lanes(cfg: Config, name: str | None) -> tuple[Any, ...]:
    """The config's lanes (imagebot.lanes.Lane), or the one named by --repository."""
    from imagebot.errors import UsageError
    from imagebot.lanes import lanes_of

    try:
        return lanes_of(cfg, name)
    except KeyError as e:
        raise UsageError(f"--repository: {e.args[0]}") from None


def load_config(path: str | None) -> Config:
    from imagebot.config.load import load

    cfg = load(path)
    _start_up_done()
    return cfg


_frozen = False


def _start_up_done() -> None:
    """What the process holds once its command is imported and its config loaded (modules, classes,
    pydantic's validators: ~45,000 objects for `plan`) lives until it exits: move it out of the
    garbage collector's reach (gc.freeze), so that each full collection of the run walks only what the
    run creates (issue #21: a full collection over start-up's objects is 40-60 ms). Once per process:
    the few cycles a config load leaves (~100 objects) stay until exit instead of being collected."""
    global _frozen
    if not _frozen:
        _frozen = True
        gc.freeze()
    collector.resume()  # held off during start-up (see imagebot.cli.main)


def optional_registry_settings(path: str | None) -> tuple:
    """Registry settings from the config when one is named (-c, $IMAGEBOT_CONFIG) or ./imagebot.yaml
    exists; otherwise none (defaults and the docker credential sources apply)."""
    from imagebot.config.load import load, resolve_path

    if path or resolve_path(None).exists():
        return load(path).registries
    return ()


def fail(message: str, code: int) -> None:
    click.echo(message, err=True)
    sys.exit(code)


def handle_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn ImagebotError into its exit code and a one-paragraph message on stderr (no traceback)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except ImagebotError as e:
            hint = " (temporary: a later run may succeed)" if e.temporary else ""
            fail(f"imagebot: {e}{hint}", e.exit_code)
        except KeyboardInterrupt:  # pragma: no cover - interactive
            fail("imagebot: interrupted", EXIT_FAILED)

    return wrapper
