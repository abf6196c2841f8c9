"""`imagebot policy test`: try a policy on a list of tags, offline, with the code a cycle uses.

    imagebot policy test --policy 'semver:^1.2' --current 1.2.3 1.2.4 1.3.0 2.0.0
    crane ls ghcr.io/org/app | imagebot policy test --policy minor --current 1.4.0 --tags-file -
    imagebot policy test --policy 'semver:^1.2' --image ghcr.io/org/app:1.2.3   # tags from the registry

Exit codes: 0 a tag was chosen (printed alone on stdout); 1 no tag qualifies (stderr says why);
2 a bad policy, regular expression or extract template (stderr points at the bad part).
"""

from __future__ import annotations

import json
import sys
from typing import IO, TYPE_CHECKING

import click

from imagebot.cli.common import handle_errors, optional_registry_settings
from imagebot.errors import EXIT_PARTIAL

if TYPE_CHECKING:
    from imagebot.policy import Choice


@click.group("policy")
def policy() -> None:
    """Work with update policies."""


def _printable(tag: str) -> str:
    """Tags come from registries and files: never let one drive the terminal."""
    return tag if tag.isprintable() else repr(tag)


def _read_tags(arguments: tuple[str, ...], tags_file: IO[str] | None, image: str | None, config_path: str | None) -> list[str]:
    """The tags to choose from: the arguments, one per line of a file ('-' = stdin), or a live registry."""
    if sum(bool(x) for x in (arguments, tags_file is not None, image)) > 1:
        raise click.UsageError("give tags as arguments, with --tags-file or with --image: one of them")
    if image:
        return list(_registry_tags(image, config_path))
    if tags_file is None:
        if not arguments:
            raise click.UsageError("no tags: give them as arguments or with --tags-file FILE ('-' reads stdin)")
        return list(arguments)
    lines = (line.strip() for line in tags_file)
    return [line for line in lines if line and not line.startswith("#")]


def _registry_tags(image: str, config_path: str | None) -> tuple[str, ...]:
    """List `image`'s tags with the config's registry settings (when there is a config) and the
    docker credential sources, as a cycle would."""
    from imagebot.registry import RegistryClient
    from imagebot.registry.names import listing_name

    with RegistryClient(optional_registry_settings(config_path)) as client:
        return client.tags(listing_name(image)).tags


def _choose_by_build_time(compiled: object, tags: list[str], current: str | None, image: str,
                          config_path: str | None) -> Choice:
    """Run a policy that needs image build times (newest-build) against the live registry."""
    from imagebot.reference import parse
    from imagebot.registry import RegistryClient

    name = parse(image).name
    with RegistryClient(optional_registry_settings(config_path)) as client:
        return compiled.choose(tags, current, created=lambda tag: client.created(name, tag))  # type: ignore[attr-defined]


def _explain(choice: Choice, tags: list[str], current: str | None, out: IO[str]) -> None:
    verdicts = {r.tag: f"rejected: {r.reason}" for r in choice.rejected}
    for rank, tag in enumerate(choice.candidates, 1):
        verdicts[tag] = "chosen" if tag == choice.chosen else f"candidate #{rank}"
    width = min(max((len(_printable(t)) for t in tags), default=0), 40)
    listed = list(dict.fromkeys(tags))
    if current is not None and current not in verdicts:
        listed.append(current)
        verdicts[current] = "chosen (current tag, not in the list)" if choice.chosen == current else "current tag"
    for tag in listed:
        mark = " (current)" if tag == current and "current" not in verdicts[tag] else ""
        print(f"  {_printable(tag):<{width}}  {verdicts.get(tag, '')}{mark}", file=out)
    print(f"reason: {choice.reason}", file=out)


@policy.command("test")
@click.option("--policy", "policy_text", required=True, metavar="POLICY",
              help="e.g. 'semver:^1.2', minor, 'alphabetical:desc', digest.")
@click.option("--current", metavar="TAG", help="The tag deployed now (enables Docker-tag semantics and never-downgrade); "
              "TAG@sha256:… is the tag with its pin, the policy runs on the tag.")
@click.option("--tag-filter", metavar="RE", help="Keep only tags this regex finds (unanchored, like Flux).")
@click.option("--extract", metavar="TPL", help="Rank by this template over the filter's groups: $1, $name, ${name}.")
@click.option("--exclude", metavar="RE", help="Drop tags this regex finds (cosign .sig/.att/.sbom always are).")
@click.option("--prerelease", is_flag=True, help="Allow prereleases.")
@click.option("--explain", is_flag=True, help="List every tag with why it was kept or rejected (on stderr).")
@click.option("--json", "as_json", is_flag=True,
              help='Print {"chosen", "reason", "candidates", "rejected": [{"tag", "reason"}]} instead.')
@click.option("--tags-file", type=click.File("r", encoding="utf-8", errors="replace"), metavar="FILE",
              help="Read tags from FILE, one per line ('-' = stdin).")
@click.option("--image", metavar="IMAGE",
              help="Take the tags from IMAGE's registry (its tag, if any, is the default --current).")
@click.option("-c", "--config", "config_path", type=click.Path(dir_okay=False), envvar="IMAGEBOT_CONFIG",
              help="With --image: the config whose registry settings to use. Default: ./imagebot.yaml if present.")
@click.argument("tag_args", metavar="TAG...", nargs=-1)
@handle_errors
def test(
    policy_text: str,
    current: str | None,
    tag_filter: str | None,
    extract: str | None,
    exclude: str | None,
    prerelease: bool,
    explain: bool,
    as_json: bool,
    tags_file: IO[str] | None,
    image: str | None,
    config_path: str | None,
    tag_args: tuple[str, ...],
) -> None:
    """Choose among TAG... as the policy would, and print the chosen tag."""
    from imagebot.model import PolicySpec
    from imagebot.policy import compile_spec

    spec = PolicySpec(policy_text, tag_filter=tag_filter, extract=extract, exclude=exclude, prerelease=prerelease,
                      source="command line")
    compiled = compile_spec(spec)  # PolicyError -> exit 2 with the bad part
    if image and current is None:
        from imagebot.reference import parse

        current = parse(image).tag
    if current is not None:
        from imagebot.reference import TagValue

        current = TagValue.read(current).tag
    tags = _read_tags(tag_args, tags_file, image, config_path)
    if getattr(compiled, "needs_created", False) and image:  # newest-build: build times from the registry
        choice = _choose_by_build_time(compiled, tags, current, image, config_path)
    else:
        choice = compiled.choose(tags, current)
    if explain:
        _explain(choice, tags, current, sys.stderr)
    if as_json:
        click.echo(json.dumps({
            "chosen": choice.chosen,
            "held": choice.held,
            "reason": choice.reason,
            "candidates": list(choice.candidates),
            "rejected": [{"tag": r.tag, "reason": r.reason} for r in choice.rejected],
        }, ensure_ascii=False))
    elif choice.chosen is not None:
        click.echo(choice.chosen)
        if choice.held:  # kept because it cannot be ordered: say why, as plan does
            click.echo(f"imagebot: {choice.reason}", err=True)
    if choice.chosen is None:
        if not as_json:
            click.echo(f"imagebot: {choice.reason}", err=True)
        sys.exit(EXIT_PARTIAL)
