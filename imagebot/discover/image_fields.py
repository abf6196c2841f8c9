"""Format: full image references (``name[:tag][@digest]``) in fields outside workloads, found by
their key, no marker needed: ``image`` anywhere (custom resources such as EnvoyProxy, Rook's
``cephVersion.image``, KServe's ``InferenceService``; Helm values ``image: repo:tag``), and keys
ending in ``Image``, ``_image`` or ``-image`` (``node_image: kindest/node:v1.36.1`` in a CI file)
when the value carries a tag or a digest.

Only looked for when every reference is wanted (config rules, `imagebot inventory`); such a
reference is changed only when a rule governs it. Values that are not image references (a
template, a boolean, an empty string) are left out silently.
"""

from __future__ import annotations

from dataclasses import replace

from imagebot.discover.image_maps import image_key
from imagebot.discover.occurrences import bare_tag, full_reference
from imagebot.discover.parsed import Candidate, Found, ParsedFile
from imagebot.discover.yamltree import STR_TAG, scalars
from imagebot.model import UNMANAGED, Occurrence, PolicySpec, Problem

KIND = "image"


def find(pf: ParsedFile, claimed: set[tuple[int, int]]) -> Found:
    found = Found()
    if not pf.everything:
        return found
    for scalar in scalars(pf.docs):
        if not image_key(scalar.key) or scalar.node.tag != STR_TAG or (scalar.line, scalar.column) in claimed:
            continue
        if bare_tag(scalar.value):
            continue
        ref = full_reference(pf, scalar, UNMANAGED, f"{pf.path} {scalar.path}")
        if isinstance(ref, Problem) or (scalar.key != "image" and ref.tag is None and ref.digest is None):
            continue
        ref = replace(ref, form=KIND)

        def build(spec: PolicySpec, ref: Occurrence = ref) -> list[Occurrence | Problem]:
            return [replace(ref, policy=spec)]

        found.candidates.append(Candidate(ref, build, updatable=ref.tag is not None or ref.digest is not None,
                                          positions=frozenset({(scalar.line, scalar.column)})))
    return found
