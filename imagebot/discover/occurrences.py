"""Build Occurrences from located scalars: parse the reference, refuse templated values."""

from __future__ import annotations

import re

from imagebot.discover.configured import ConfiguredPolicy
from imagebot.discover.markers import InlineMarker
from imagebot.discover.parsed import ParsedFile
from imagebot.discover.yamltree import Scalar
from imagebot.errors import ReferenceError_
from imagebot.model import FieldKind, Occurrence, PolicySpec, Problem
from imagebot.policy.tags import KEYWORDS, is_commit_hash
from imagebot.reference import TagValue, parse, parse_name


#: A value with no registry, path, tag or digest that starts like a version: `1.0.0`, `v2.3`.
#: As a reference it would be the Docker Hub image `library/1.0.0`, which nobody means (nor
#: `library/latest` or `library/a1b2c3d`: moving names and commit hashes are tags too).
_BARE_TAG = re.compile(r"v?\d[^/:@]*$")


def bare_tag(value: str) -> bool:
    """A value that reads as a tag alone, not as an image reference."""
    return bool(_BARE_TAG.match(value)) or value in KEYWORDS or is_commit_hash(value)


def templated(value: str) -> bool:
    """A Helm/Go template expression: not a value imagebot can read or write."""
    return "{{" in value


def template_problem(pf: ParsedFile, scalar: Scalar, subject: str) -> Problem:
    return Problem(
        "template",
        f"skipped: {scalar.path or 'the value'} is a template expression ({scalar.value!r}), not an image reference",
        pf.location(scalar.node),
        subject,
    )


def full_reference(
    pf: ParsedFile, scalar: Scalar, policy: PolicySpec, subject: str, image: str | None = None
) -> Occurrence | Problem:
    """An IMAGE occurrence for a scalar holding ``name[:tag][@digest]``.

    `image` overrides the name to look up (a named policy's image); by default it is the
    normalised name written in the value.
    """
    if templated(scalar.value):
        return template_problem(pf, scalar, subject)
    try:
        ref = parse(scalar.value)
    except ReferenceError_ as exc:
        return Problem("reference", str(exc), pf.location(scalar.node), subject)
    return Occurrence(
        location=pf.location(scalar.node),
        document=scalar.document,
        field=FieldKind.IMAGE,
        value=scalar.value,
        image=image or ref.name,
        tag=ref.tag,
        digest=ref.digest,
        policy=policy,
        subject=subject,
        path=scalar.path,
    )


def split_field(
    pf: ParsedFile,
    scalar: Scalar,
    kind: FieldKind,
    policy: PolicySpec,
    subject: str,
    image: str,
    tag: str | None,
    digest: str | None,
    group: str,
) -> Occurrence | Problem:
    """A NAME / TAG / DIGEST occurrence; `tag` and `digest` come from the sibling fields.

    A tag field may carry its own pin (``tag: 4.0.19.3001@sha256:…``, as app-template values
    do): `tag` is then the tag alone, for the policy, and the pin is the current digest."""
    if templated(scalar.value):
        return template_problem(pf, scalar, subject)
    if tag is not None:
        current = TagValue.read(tag)
        tag, digest = current.tag, digest or current.digest
    return Occurrence(
        location=pf.location(scalar.node),
        document=scalar.document,
        field=kind,
        value=scalar.value,
        image=image,
        tag=tag,
        digest=digest,
        policy=policy,
        subject=subject,
        group=group,
        path=scalar.path,
    )


def no_digest_field(policy: PolicySpec, add: str, tag: str | None = None) -> str | None:
    """Why split fields without a digest field cannot carry `policy`, or None when they can.

    A tag field that already carries a pin (`tag`: ``1.6.0@sha256:…``) holds the digest itself.
    A plain tag field cannot, and imagebot never adds a field or a pin unasked: writing only
    the tag would silently drop the pin the policy asks for."""
    if tag is not None and TagValue.read(tag).pinned:
        return None
    if policy.pin_digest:
        what = f"policy {policy.policy!r} with pin-digest"
    elif policy.policy.strip().lower() == "digest":
        what = "policy 'digest'"
    else:
        return None
    return f"{what} writes a digest, but there is no digest field to write it to (add {add}, or pin the tag as written: tag@sha256:…)"


def inline_spec(marker: InlineMarker, source: str) -> PolicySpec:
    """An inline marker (`# imagebot: POLICY; option=value`) as the PolicySpec later stages read."""
    options = {k.replace("-", "_"): v for k, v in marker.options.items()}
    return PolicySpec(policy=marker.policy, source=source, origin="marker", **options)  # type: ignore[arg-type]


def named_spec(named: ConfiguredPolicy, source: str) -> PolicySpec:
    """A config policy as the PolicySpec every stage after discover reads."""
    return named.spec(source)


def policy_image(name: str, named: ConfiguredPolicy) -> str:
    """The normalised image of a config policy. Raises ReferenceError_ naming the policy."""
    try:
        return parse_name(named.image).name
    except ReferenceError_ as exc:
        raise ReferenceError_(f"config policy {name!r}: image {named.image!r}: {exc}") from None
