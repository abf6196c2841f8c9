"""`imagebot import flux FILES...`: write the imagebot.yaml equivalent of Flux image automation."""

from __future__ import annotations

import sys

import click

from imagebot.cli.common import handle_errors
from imagebot.errors import EXIT_OK, EXIT_PARTIAL


@click.group("import")
def import_() -> None:
    """Import another tool's image-update configuration as imagebot.yaml."""


@import_.command("flux")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None,
              help="Write the configuration to this file instead of stdout.")
@click.option("--repository-url", default=None,
              help="repository.url to write (default: the url of the GitRepository the automation names).")
@handle_errors
def flux(paths: tuple[str, ...], output: str | None, repository_url: str | None) -> None:
    """Read Flux ImageRepository / ImagePolicy / ImageUpdateAutomation objects from FILES (or
    folders) and write the equivalent imagebot.yaml: a named policy `<namespace>:<name>` per
    ImagePolicy (for the $imagepolicy markers already in the manifests), registries, repository
    and delivery. What has no equivalent is listed on stderr and as comments. Exit 0; 1 when
    an ImagePolicy (or a file) could not be imported at all."""
    from imagebot.config.flux_import import import_flux, read_objects, render
    from imagebot.config.load import load_text

    objects, problems = read_objects(paths)
    result = import_flux(objects, repository_url)
    result.notes[:0] = problems
    result.lost += problems
    text = render(result, list(paths))
    if not result.config["repository"]["url"].startswith("REPLACE"):
        load_text(text, "the imported configuration")  # it must load as it is (raises ConfigError)
    if output:
        with open(output, "w", encoding="utf-8") as f:
            f.write(text)
    else:
        click.echo(text, nl=False)
    for note in result.notes:
        click.echo(f"imagebot import: not carried over: {note}", err=True)
    counts = f"{len(result.config.get('policies') or {})} polic(ies), {len(result.config.get('registries') or [])} registr(ies)"
    click.echo(f"imagebot import: {counts} imported from {len(objects)} Flux object(s); {len(result.notes)} note(s).", err=True)
    sys.exit(EXIT_PARTIAL if result.lost else EXIT_OK)
