"""`imagebot tags IMAGE`: list an image's tags (like `crane ls`), with imagebot's registry settings.

Useful to check credentials and registry settings before trusting a policy to them: it uses
the same client, docker credential sources and config as a cycle does.
"""

from __future__ import annotations

import json

import click

from imagebot.cli.common import config_option, handle_errors, optional_registry_settings, with_log_options


@click.command("tags")
@click.argument("image")
@config_option
@click.option("--json", "as_json", is_flag=True, help="Print a JSON object: image, tags, stale_age, requests.")
@with_log_options
@handle_errors
def tags(image: str, config_path: str | None, as_json: bool, log_level: str, log_format: str | None) -> None:
    """List the tags of IMAGE (e.g. nginx, ghcr.io/org/app, 127.0.0.1:5000/team/app:1.0), or the
    versions of a chart (oci://ghcr.io/org/charts/app, https://charts.jetstack.io/cert-manager).

    Registry settings (TLS, credentials, rate limits) come from the config when -c is given or
    ./imagebot.yaml exists; otherwise defaults and the docker credential sources apply.
    """
    from imagebot.registry import RegistryClient
    from imagebot.registry.names import listing_name
    from imagebot.report import log as logsetup

    logsetup.setup(log_level, log_format)
    name = listing_name(image)
    with RegistryClient(optional_registry_settings(config_path)) as client:
        listing = client.tags(name)
        if as_json:
            click.echo(json.dumps({"image": listing.image, "tags": list(listing.tags), "stale_age": listing.stale_age,
                                   "requests": client.stats.count()}))
        else:
            for tag in listing.tags:
                click.echo(tag)
