"""The new text of a discovered scalar, given the tag (and digest) its image should move to.

This lives with the formats because each field kind is written differently:

- IMAGE: the tag/digest part is replaced and the name is kept exactly as written
  (``nginx:1.2`` -> ``nginx:1.3``). When the field names another image than the policy's -
  a Flux-style named marker whose policy points elsewhere (``image: image:v1 #
  {"$imagepolicy": "ns:p"}`` with p on ``index.repo.fake/updated``) - the policy's image is
  written, as Flux does: the marker says the policy owns the field.
- NAME: the policy's image, in its familiar form; unchanged when it already names it.
- TAG: the tag. DIGEST: the digest.
"""

from __future__ import annotations

from imagebot.errors import ReferenceError_
from imagebot.model import FieldKind, Occurrence
from imagebot.reference import parse, parse_name, with_tag


def new_value(occ: Occurrence, tag: str | None, digest: str | None) -> str:
    """The scalar's new text. `digest` is written only when given (the caller decides pinning).

    Raises ReferenceError_ when the result would not be a valid reference.
    """
    if occ.field is FieldKind.TAG:
        if not tag:
            raise ReferenceError_(f"{occ.location}: a tag field needs a tag")
        return tag
    if occ.field is FieldKind.DIGEST:
        return digest or occ.value
    familiar = parse_name(occ.image).familiar_name
    if occ.field is FieldKind.NAME:
        try:
            if parse_name(occ.value).name == occ.image:
                return occ.value
        except ReferenceError_:
            pass
        return familiar
    if parse(occ.value).name == occ.image:
        return with_tag(occ.value, tag, digest)
    return with_tag(familiar, tag, digest)
