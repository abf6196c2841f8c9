"""The kind of a reference, as config rules' ``match.kind`` match it and the inventory counts it
(:func:`reference_kind`): for an image, how it is written (``Occurrence.form``): ``container`` (a
workload's container image), ``image`` (a full reference in any other field), ``image-map`` (a
Helm values map of split fields), ``kustomize`` (a kustomization ``images:`` entry); otherwise
what it names (``Occurrence.kind``): ``chart``, ``artifact``. See
:data:`imagebot.model.REFERENCE_KINDS`.

For references a marker governs, the form is read from where the field is (:func:`classify`):
a marker can sit on any field.
"""

from __future__ import annotations

import re
from dataclasses import replace

from imagebot.discover.kustomize import is_kustomization
from imagebot.discover.parsed import ParsedFile
from imagebot.discover.workloads import CONTAINER_LISTS, POD_TEMPLATE
from imagebot.discover.yamltree import mapping_get, scalar_text
from imagebot.model import FieldKind, Occurrence

_CONTAINER_IMAGE = re.compile(rf"(?P<spec>.*)\.(?:{'|'.join(CONTAINER_LISTS)})\[(?P<i>\d+)\]\.image")
_ENTRY = re.compile(r"images\[\d+\]\.\w+")


def workload_of(pf: ParsedFile, document: int) -> tuple[str, str, str] | None:
    """(kind, name, namespace) of the workload that document `document` is, or None."""
    doc = pf.docs[document] if document < len(pf.docs) else None
    kind = scalar_text(mapping_get(doc, "kind"))
    if kind not in POD_TEMPLATE:
        return None
    meta = mapping_get(doc, "metadata")
    return kind, scalar_text(mapping_get(meta, "name")) or "?", scalar_text(mapping_get(meta, "namespace")) or ""  # type: ignore[return-value]


def reference_kind(occ: Occurrence) -> str:
    """The kind config rules match and the inventory counts."""
    if occ.kind and occ.kind != "image":
        return occ.kind
    return occ.form or "image"


def classify(pf: ParsedFile, occ: Occurrence) -> Occurrence:
    """`occ` with its form (and, for a container, its workload, namespace and container) set."""
    if occ.form or occ.kind not in ("", "image"):
        return occ
    if is_kustomization(pf.path) and _ENTRY.fullmatch(occ.path):
        return replace(occ, form="kustomize")
    if occ.field is not FieldKind.IMAGE:
        return replace(occ, form="image-map")
    m = _CONTAINER_IMAGE.fullmatch(occ.path)
    workload = workload_of(pf, occ.document) if m else None
    if m and workload:
        kind, name, namespace = workload
        container = _container_name(pf, occ.document, occ.path)
        return replace(occ, form="container", workload=f"{kind}/{name}", namespace=namespace, container=container)
    return replace(occ, form="image")


def _container_name(pf: ParsedFile, document: int, path: str) -> str:
    node = pf.docs[document]
    parts = re.findall(r"[^.\[\]]+|\[\d+\]", path)[:-1]  # up to the container item
    for part in parts:
        if part.startswith("["):
            seq = getattr(node, "value", None)
            i = int(part[1:-1])
            node = seq[i] if isinstance(seq, list) and i < len(seq) else None
        else:
            node = mapping_get(node, part)
    return scalar_text(mapping_get(node, "name")) or ""
