"""Format: Helm values image maps, found by their shape, no marker needed.

The shapes charts use for an image, wherever they sit (a values file, a HelmRelease's
``spec.values``, an Argo CD Application's ``helm.valuesObject``, app-template's
``controllers.*.containers.*.image``)::

    image: {repository: ghcr.io/org/app, tag: 1.2.3}            # + registry:, + digest:
    image: {registry: docker.io, repository: bitnami/nginx, tag: 1.29.1, digest: ""}
    image: {name: ghcr.io/org/app, tag: 1.2.3}
    redis: {repository: public.ecr.aws/docker/library/redis, tag: 8.6.2}

A mapping is an image map when it has a ``repository`` field and a ``tag`` or ``digest`` field
beside it, or when it is the value of an image key (``image``, ``*Image``, ``*_image``) and has
a ``repository`` or a ``name`` field. The fields are paired by being siblings. The image looked
up is ``registry/repository`` (or ``name``); imagebot edits the ``tag`` field (a value
``TAG@sha256:…`` carries its pin) and the ``digest`` field, never the repository.

A map is governed by an inline marker on any of its fields (:func:`marked_map`), else by the
first matching config rule (as a Candidate); without either it is listed as unmanaged.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace

from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from imagebot.discover.occurrences import no_digest_field, split_field, templated
from imagebot.discover.parsed import Candidate, Found, ParsedFile
from imagebot.discover.yamltree import Scalar
from imagebot.errors import ReferenceError_
from imagebot.model import UNMANAGED, FieldKind, Occurrence, PolicySpec, Problem
from imagebot.reference import parse_name

KIND = "image-map"
FIELDS = ("registry", "repository", "name", "tag", "digest")
_NULL = "tag:yaml.org,2002:null"


def image_key(key: str | None) -> bool:
    """A mapping key that names an image: ``image``, ``initImage``, ``node_image``."""
    return bool(key) and (key == "image" or key.endswith(("Image", "_image", "-image")))  # type: ignore[union-attr]


@dataclass(frozen=True)
class ImageMap:
    node: MappingNode
    document: int
    path: str  # of the mapping
    fields: dict[str, ScalarNode]
    name_key: str  # "repository" or "name"
    image: str  # normalised registry/repository

    def scalar(self, key: str) -> Scalar:
        return Scalar(self.fields[key], self.document, f"{self.path}.{key}" if self.path else key, self.node, key)

    def value(self, key: str) -> str | None:
        node = self.fields.get(key)
        if node is None or node.tag == _NULL:
            return None
        return str(node.value)

    @property
    def tag(self) -> str | None:
        return self.value("tag") or None

    @property
    def digest(self) -> str | None:
        return self.value("digest") or None


def _fields(node: MappingNode) -> dict[str, ScalarNode]:
    out: dict[str, ScalarNode] = {}
    for k, v in node.value:
        if isinstance(k, ScalarNode) and k.value in FIELDS and isinstance(v, ScalarNode):
            out[str(k.value)] = v
    return out


def read_map(node: Node, document: int, path: str, key: str | None) -> ImageMap | None:
    """The image map `node` is (the value of `key` at `path`), or None when it is not one."""
    if not isinstance(node, MappingNode):
        return None
    fields = _fields(node)
    has_version = "tag" in fields or "digest" in fields
    if "repository" in fields and (has_version or image_key(key)):
        name_key = "repository"
    elif "name" in fields and image_key(key) and has_version:
        name_key = "name"
    else:
        return None
    written = fields[name_key]
    if written.tag == _NULL or not str(written.value) or templated(str(written.value)):
        return None
    registry = fields.get("registry")
    full = str(written.value)
    if registry is not None and registry.tag != _NULL and str(registry.value):
        if templated(str(registry.value)):
            return None
        full = f"{registry.value}/{full}"
    try:
        image = parse_name(full).name
    except ReferenceError_:
        return None
    return ImageMap(node, document, path, fields, name_key, image)


def _maps(pf: ParsedFile) -> Iterator[ImageMap]:
    """Every image map of the file, each mapping node once (also when reached through aliases)."""
    seen: set[int] = set()
    for index, doc in enumerate(pf.docs):
        stack: list[tuple[Node, str, str | None]] = [(doc, "", None)]
        while stack:
            node, path, key = stack.pop()
            if id(node) in seen:
                continue
            seen.add(id(node))
            if isinstance(node, MappingNode):
                found = read_map(node, index, path, key)
                if found is not None:
                    yield found
                    continue
                for k, v in reversed(node.value):
                    name = str(k.value) if isinstance(k, ScalarNode) else "?"
                    stack.append((v, f"{path}.{name}" if path else name, name))
            elif isinstance(node, SequenceNode):
                for i, item in reversed(list(enumerate(node.value))):
                    stack.append((item, f"{path}[{i}]", None))


def _position(node: Node) -> tuple[int, int]:
    return int(node.start_mark.line) + 1, int(node.start_mark.column) + 1


def find(pf: ParsedFile, claimed: set[tuple[int, int]]) -> Found:
    found = Found()
    if not pf.everything:
        return found
    for m in _maps(pf):
        positions = frozenset(_position(n) for n in m.fields.values())
        if positions & claimed:
            continue  # a marker governs this map
        ref = reference(pf, m)
        found.candidates.append(Candidate(ref, lambda spec, m=m: occurrences(pf, m, spec, "the rule"),
                                          updatable=m.tag is not None or m.digest is not None, positions=positions))
    return found


def reference(pf: ParsedFile, m: ImageMap) -> Occurrence:
    """The map as one unmanaged reference, located at its repository (name) field."""
    scalar = m.scalar(m.name_key)
    return Occurrence(
        location=pf.location(scalar.node), document=m.document, field=FieldKind.NAME, value=scalar.value,
        image=m.image, tag=m.tag, digest=m.digest, policy=UNMANAGED, subject=f"{pf.path} {m.path or '(top)'}",
        group=f"{pf.path}#{m.document}:{m.path}", path=scalar.path, form=KIND,
    )


def occurrences(pf: ParsedFile, m: ImageMap, spec: PolicySpec, by: str) -> list[Occurrence | Problem]:
    """One occurrence per editable field (tag, digest) of a map governed by `spec`."""
    subject = f"{pf.path} {m.path or '(top)'}"
    where = pf.location(m.fields[m.name_key])
    tag, digest = m.tag, m.digest
    writes_digest = spec.pin_digest or spec.policy.strip().lower() == "digest"
    editable = []
    if tag is not None:
        editable.append(("tag", FieldKind.TAG))
    if "digest" in m.fields and (digest is not None or writes_digest):
        editable.append(("digest", FieldKind.DIGEST))
    if not editable:
        return [Problem("manifest", f"{by} applies, but the image map has no tag or digest to update (add tag:)", where, subject)]
    if "digest" not in m.fields and "@" not in (tag or "") and (why := no_digest_field(spec, "a `digest:` field to the map")):
        return [Problem("manifest", why, where, subject)]
    group = f"{pf.path}#{m.document}:{m.path}"
    out: list[Occurrence | Problem] = []
    for key, kind in editable:
        result = split_field(pf, m.scalar(key), kind, spec, subject, m.image, tag, digest, group)
        out.append(replace(result, form=KIND) if isinstance(result, Occurrence) else result)
    return out


def marked_map(pf: ParsedFile, scalar: Scalar, spec: PolicySpec) -> list[Occurrence | Problem] | None:
    """The occurrences of the image map whose field `scalar` carries a marker, or None when
    `scalar` is not a field of an image map. A marker on the repository field of a map without
    a tag or digest is refused: writing a tag into a repository field would break the image."""
    if scalar.parent is None or scalar.key not in FIELDS:
        return None
    parent_path = scalar.path.rpartition(".")[0] if "." in scalar.path else ""
    parent_key = parent_path.rpartition(".")[2] if parent_path else None
    if parent_key and parent_key.endswith("]"):
        parent_key = None
    m = read_map(scalar.parent, scalar.document, parent_path, parent_key)
    if m is None:
        if scalar.key == "repository":
            hint = ("a marker on a `repository:` field governs the image map's `tag:` and `digest:` fields beside it, "
                    "and there are none here; add `tag:` beside it, or put the marker on a field that holds name:tag")
            return [Problem("marker", hint, pf.location(scalar.node), f"{pf.path} {scalar.path}")]
        return None
    if scalar.key == "name" and m.name_key != "name":
        return None
    return occurrences(pf, m, spec, "the marker")
