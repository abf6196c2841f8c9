"""The `imagebot` command line. Each command lives in its own module; they are registered here."""

from __future__ import annotations

import click

from imagebot import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, "--version", prog_name="imagebot")
def main() -> None:
    """imagebot: keep the images in a GitOps repository up to date, editing Git byte-exactly."""


# --- command registration (one line per command module) ---------------------------------
# --- end of command registration ----------------------------------------------------------
