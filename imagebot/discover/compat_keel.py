"""Compatibility format: Keel's policy annotations (and labels) on workloads, read as they are.

Opt-in with ``compat: [keel]``. Keel (keel-hq/keel, internal/policy) reads ``keel.sh/policy``
from a workload's labels or annotations and applies it to every container:

==================  =============================================================
keel.sh/policy      imagebot policy
==================  =============================================================
all                 ``major`` with prerelease allowed
major/minor/patch   ``major`` / ``minor`` / ``patch`` (never a downgrade)
force               ``digest``: the current tag stays, its digest is pinned
glob:PATTERN        ``newest-build`` among tags matching PATTERN (``*`` only)
regexp:PATTERN      ``newest-build`` among tags matching PATTERN
never               not updated
==================  =============================================================

``keel.sh/match-tag`` only narrows ``force`` to the current tag, which ``digest`` always does;
``keel.sh/trigger``, ``keel.sh/pollSchedule``, ``keel.sh/approvals`` have no per-workload
equivalent (imagebot polls on one interval, takes registry webhooks, and reviews through pull
requests) and are ignored. See docs/migration/keel.md.
"""

from __future__ import annotations

from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from imagebot.discover import compat
from imagebot.discover.occurrences import full_reference
from imagebot.discover.parsed import Found, ParsedFile
from imagebot.discover.workloads import CONTAINER_LISTS, POD_TEMPLATE
from imagebot.discover.yamltree import Scalar, mapping_get, scalar_text
from imagebot.model import Location, PolicySpec, Problem

POLICY = "keel.sh/policy"
_LEGACY = "keel.observer/policy"
_LABEL = {"initContainers": "initContainer", "containers": "container", "ephemeralContainers": "ephemeralContainer"}


def translate(value: str, where: str) -> PolicySpec | str | None:
    """Keel's policy string -> the imagebot PolicySpec; None for ``never``; a str is an error."""
    text = value.strip()
    src = compat.source(compat.KEEL, where)
    if text in ("major", "minor", "patch"):
        return PolicySpec(text, source=src, origin=compat.KEEL_ORIGIN)
    if text == "all":
        return PolicySpec("major", prerelease=True, source=src, origin=compat.KEEL_ORIGIN)
    if text == "force":
        return PolicySpec("digest", source=src, origin=compat.KEEL_ORIGIN)
    if text == "never" or text == "":
        return None
    kind, colon, pattern = text.partition(":")
    if colon and kind in ("glob", "regexp"):
        if not pattern or ":" in pattern and kind == "glob":
            return f"{POLICY}: {text!r}: Keel reads a glob policy as glob:PATTERN, with one ':'"
        regex = compat.glob_regex(pattern, classes=False) if kind == "glob" else pattern
        return PolicySpec("newest-build", tag_filter=regex, source=src, origin=compat.KEEL_ORIGIN)
    return f"{POLICY}: unknown Keel policy {text!r} (Keel knows all, major, minor, patch, force, glob:, regexp:, never)"


def _dig(node: Node | None, keys: tuple[str, ...]) -> Node | None:
    for k in keys:
        node = mapping_get(node, k)
    return node


def _policy_node(doc: Node) -> tuple[str, ScalarNode] | None:
    """(key, value node) of the Keel policy: labels first, then annotations (as Keel reads them)."""
    for where in ("labels", "annotations"):
        block = _dig(doc, ("metadata", where))
        for key in (POLICY, _LEGACY):
            v = mapping_get(block, key)
            if isinstance(v, ScalarNode):
                return key, v
    return None


def find(pf: ParsedFile, claimed: set[tuple[int, int]]) -> Found:
    found = Found()
    if compat.KEEL not in pf.compat or "keel." not in pf.text:
        return found
    for index, doc in enumerate(pf.docs):
        kind = scalar_text(mapping_get(doc, "kind"))
        if kind not in POD_TEMPLATE:
            continue
        hit = _policy_node(doc)
        if hit is None:
            continue
        key, node = hit
        name = scalar_text(_dig(doc, ("metadata", "name"))) or "?"
        subject = f"{kind}/{name}"
        line = int(node.start_mark.line) + 1
        spec = translate(str(node.value), f"{pf.path}:{line} {key}")
        if isinstance(spec, str):
            found.problems.append(Problem("annotation", spec, Location(pf.path, line), subject))
            continue
        if spec is None:
            continue
        _containers(pf, index, doc, kind, subject, spec, claimed, found)
    return found


def _containers(pf: ParsedFile, index: int, doc: Node, kind: str, subject: str, spec: PolicySpec,
                claimed: set[tuple[int, int]], found: Found) -> None:
    template_path = POD_TEMPLATE[kind]
    pod_spec = mapping_get(_dig(doc, template_path) if template_path else doc, "spec")
    spec_path = ".".join((*template_path, "spec"))
    for list_key in CONTAINER_LISTS:
        seq = mapping_get(pod_spec, list_key)
        if not isinstance(seq, SequenceNode):
            continue
        for i, item in enumerate(seq.value):
            image = mapping_get(item, "image")
            if not isinstance(image, ScalarNode) or not isinstance(item, MappingNode):
                continue
            if (int(image.start_mark.line) + 1, int(image.start_mark.column) + 1) in claimed:
                continue  # an imagebot marker or annotation on it says more
            cname = scalar_text(mapping_get(item, "name")) or str(i)
            scalar = Scalar(image, index, f"{spec_path}.{list_key}[{i}].image", item, "image")
            result = full_reference(pf, scalar, spec, f"{subject} {_LABEL[list_key]} {cname}")
            if isinstance(result, Problem):
                found.problems.append(result)
            else:
                found.occurrences.append(result)
                found.claimed.add((scalar.line, scalar.column))
