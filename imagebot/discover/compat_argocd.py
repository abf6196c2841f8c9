"""Compatibility format: Argo CD Image Updater's annotations on Argo CD Applications, read as they are.

Opt-in with ``compat: [argocd-image-updater]``. The annotations (argoproj-labs/argocd-image-updater,
docs/configuration/images.md) name the images of an Application and how each one moves:

- ``argocd-image-updater.argoproj.io/image-list: [alias=]image[:constraint], ...``
- ``<alias>.update-strategy``: ``semver`` (default; the constraint), ``newest-build`` (old name
  ``latest``), ``alphabetical`` (old name ``name``), ``digest`` (the constraint is the tag to follow);
- ``<alias>.allow-tags: regexp:EXPR`` (or ``any``) -> tag-filter; ``<alias>.ignore-tags: glob, ...``
  -> exclude;
- where the image is written: ``<alias>.helm.image-spec`` (a full reference), or
  ``<alias>.helm.image-name`` / ``<alias>.helm.image-tag`` (default ``image.name`` /
  ``image.tag``) for a Helm source; ``<alias>.kustomize.image-name`` for a Kustomize source.

Its v1.x ``ImageUpdater`` resources are read too (:mod:`imagebot.discover.compat_argocd_crd`):
their settings stand in for the annotations of each Application they select.

Argo CD Image Updater writes parameter overrides (into the live Application, or a
``.argocd-source-<app>.yaml`` / kustomization / values file in Git). imagebot edits in place,
in the Application manifest: the Helm parameter's ``value`` in ``spec.source(s).helm.parameters``,
else the same dotted key in ``helm.valuesObject``, or the entry of ``kustomize.images``. An image
whose value is not written there yet is reported (imagebot never adds a field). Each difference
is listed in docs/migration/argocd-image-updater.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from imagebot.discover import compat
from imagebot.discover.occurrences import full_reference, no_digest_field, split_field
from imagebot.discover.parsed import Found, ParsedFile
from imagebot.discover.yamltree import Scalar, mapping_get, scalar_text
from imagebot.errors import ReferenceError_
from imagebot.model import FieldKind, Location, Occurrence, PolicySpec, Problem
from imagebot.reference import parse, parse_name

PREFIX = "argocd-image-updater.argoproj.io/"
IMAGE_LIST = PREFIX + "image-list"
STRATEGIES = {"semver": "semver", "newest-build": "newest-build", "latest": "newest-build",
              "alphabetical": "alphabetical", "name": "alphabetical", "digest": "digest"}


@dataclass(frozen=True)
class ImageEntry:
    """One entry of the image-list: ``[alias=]image[:constraint]``."""

    alias: str
    image: str  # as written, without the constraint
    constraint: str

    @property
    def key(self) -> str:
        """The name its option annotations use: the alias, else the image ('/' written as '_')."""
        return (self.alias or self.image).replace("/", "_")

    @property
    def label(self) -> str:
        return self.alias or self.image


def parse_image_list(text: str) -> list[ImageEntry]:
    """``"web=ghcr.io/org/web:^1.2, worker=127.0.0.1:5000/org/worker:stable"`` -> entries."""
    out = []
    for item in text.split(","):
        item = item.strip()
        if not item:
            continue
        alias, eq, rest = item.partition("=")
        if not eq:
            alias, rest = "", item
        slash = rest.rfind("/")
        colon = rest.find(":", slash + 1)
        image, constraint = (rest[:colon], rest[colon + 1 :]) if colon > 0 else (rest, "")
        out.append(ImageEntry(alias.strip(), image.strip(), constraint.strip()))
    return out


@dataclass(frozen=True)
class Options:
    """The annotations of one Application: key -> (value, line in `path`). `described`: where a
    key came from when not from an annotation (an ImageUpdater resource), for messages."""

    values: dict[str, tuple[str, int]]
    path: str
    described: dict[str, str] = field(default_factory=dict)

    def get(self, entry: ImageEntry, option: str) -> tuple[str, int] | None:
        return self.values.get(f"{PREFIX}{entry.key}.{option}")

    def where(self, *keys: str) -> str:
        lines = [self.described.get(k) or f"{self.path}:{self.values[k][1]} annotation {k}" for k in keys if k in self.values]
        return ", ".join(dict.fromkeys(lines))


def policy_for(entry: ImageEntry, opts: Options) -> PolicySpec | str:
    """The imagebot policy of one image; a str says why there is none."""
    used = [IMAGE_LIST]
    strategy = "semver"
    found = opts.get(entry, "update-strategy")
    if found is not None:
        used.append(f"{PREFIX}{entry.key}.update-strategy")
        if found[0].strip() not in STRATEGIES:
            return (f"{PREFIX}{entry.key}.update-strategy: unknown strategy {found[0]!r} "
                    f"(Argo CD Image Updater knows {', '.join(STRATEGIES)})")
        strategy = found[0].strip()
    kind = STRATEGIES[strategy]
    tag_filter = exclude = None
    allow = opts.get(entry, "allow-tags")
    if allow is not None:
        used.append(f"{PREFIX}{entry.key}.allow-tags")
        text = allow[0].strip()
        if text.startswith("regexp:"):
            tag_filter = text[len("regexp:"):]
        elif text != "any":
            return f"{PREFIX}{entry.key}.allow-tags: {text!r} is neither regexp:EXPRESSION nor any"
    ignore = opts.get(entry, "ignore-tags")
    if ignore is not None:
        used.append(f"{PREFIX}{entry.key}.ignore-tags")
        globs = [g.strip() for g in ignore[0].split(",") if g.strip()]
        if globs:
            exclude = "|".join(f"(?:{compat.glob_regex(g, classes=True)})" for g in globs)
    source = compat.source(compat.ARGOCD, opts.where(*used))
    if kind == "semver":
        return PolicySpec(f"semver:{entry.constraint or '*'}", tag_filter, None, exclude, source=source, origin=compat.ARGOCD_ORIGIN)
    if kind == "digest":
        if tag_filter is not None:
            return f"{entry.label}: strategy digest follows one tag; allow-tags does not apply"
        return PolicySpec("digest", exclude=exclude, source=source, origin=compat.ARGOCD_ORIGIN)
    return PolicySpec(kind, tag_filter, None, exclude, source=source, origin=compat.ARGOCD_ORIGIN)


def find(pf: ParsedFile, claimed: set[tuple[int, int]]) -> Found:
    found = Found()
    if compat.ARGOCD not in pf.compat or (PREFIX not in pf.text and not pf.argocd_updaters):
        return found
    for index, doc in enumerate(pf.docs):
        if scalar_text(mapping_get(doc, "kind")) != "Application":
            continue
        if not (scalar_text(mapping_get(doc, "apiVersion")) or "").startswith("argoproj.io/"):
            continue
        _application(pf, index, doc, claimed, found, pf.argocd_updaters)
    return found


def _annotations(pf: ParsedFile, doc: Node) -> Options:
    node = mapping_get(mapping_get(doc, "metadata"), "annotations")
    values: dict[str, tuple[str, int]] = {}
    if isinstance(node, MappingNode):
        for k, v in node.value:
            if isinstance(k, ScalarNode) and isinstance(v, ScalarNode) and str(k.value).startswith(PREFIX):
                values[str(k.value)] = (str(v.value), int(v.start_mark.line) + 1)
    return Options(values, pf.path)


def _sources(doc: Node) -> list[tuple[str, Node]]:
    spec = mapping_get(doc, "spec")
    single = mapping_get(spec, "source")
    out = [("spec.source", single)] if isinstance(single, MappingNode) else []
    many = mapping_get(spec, "sources")
    if isinstance(many, SequenceNode):
        out += [(f"spec.sources[{i}]", s) for i, s in enumerate(many.value) if isinstance(s, MappingNode)]
    return out


def _application(pf: ParsedFile, index: int, doc: Node, claimed: set[tuple[int, int]], found: Found,
                 updaters: Sequence[object] = ()) -> None:
    opts = _annotations(pf, doc)
    name = scalar_text(mapping_get(mapping_get(doc, "metadata"), "name")) or "?"
    if updaters:
        namespace = scalar_text(mapping_get(mapping_get(doc, "metadata"), "namespace")) or ""
        opts = _from_updaters(updaters, name, namespace, int(doc.start_mark.line) + 1, opts)
    if IMAGE_LIST not in opts.values:
        return
    list_text, list_line = opts.values[IMAGE_LIST]
    for entry in parse_image_list(list_text):
        subject = f"Application/{name} image {entry.label}"
        where = Location(pf.path, list_line)
        try:
            image = parse_name(entry.image).name
        except ReferenceError_ as exc:
            found.problems.append(Problem("annotation", f"{IMAGE_LIST}: {entry.image!r}: {exc}", where, subject))
            continue
        spec = policy_for(entry, opts)
        if isinstance(spec, str):
            found.problems.append(Problem("annotation", spec, where, subject))
            continue
        hits = [hit for path, src in _sources(doc) for hit in _targets(pf, index, path, src, entry, image, spec, subject, opts)]
        for hit in hits:
            if isinstance(hit, Occurrence) and spec.policy == "digest" and entry.constraint and hit.tag != entry.constraint:
                hit = Problem("compat", f"strategy digest follows tag {entry.constraint!r} but the value is on "
                              f"{hit.tag!r}; imagebot's digest policy keeps the current tag: write {entry.constraint!r} first",
                              hit.location, subject)
            if isinstance(hit, Problem):
                found.problems.append(hit)
            elif (hit.location.line, hit.location.column) not in claimed:
                found.occurrences.append(hit)
                found.claimed.add((hit.location.line, hit.location.column))
        if not hits:
            found.problems.append(Problem(
                "compat",
                f"no value of {entry.image} to edit in this Application (looked for {_looked_for(entry, opts)}); "
                "Argo CD Image Updater would add a parameter override, imagebot edits only values that are written",
                where, subject))


def _from_updaters(updaters: Sequence[Any], name: str, namespace: str, line: int, opts: Options) -> Options:
    """The options an ImageUpdater resource gives this Application (the first that selects it), as
    if they were annotations; with `useAnnotations: true`, or when none selects it, its own."""
    for rule in updaters:
        if rule.selects(name, namespace):
            if rule.use_annotations:
                return opts
            return Options({k: (v, line) for k, v, _ in rule.entries}, opts.path, {k: w for k, _, w in rule.entries})
    return opts


def _looked_for(entry: ImageEntry, opts: Options) -> str:
    spec_param = opts.get(entry, "helm.image-spec")
    helm = (f"helm parameter {spec_param[0]!r}" if spec_param
            else f"helm parameter {(opts.get(entry, 'helm.image-tag') or ('image.tag', 0))[0]!r}")
    kustomize = (opts.get(entry, "kustomize.image-name") or (entry.image, 0))[0]
    return f"{helm} or kustomize image {kustomize!r}"


def _targets(pf: ParsedFile, index: int, path: str, src: Node, entry: ImageEntry, image: str, spec: PolicySpec,
             subject: str, opts: Options) -> list[Occurrence | Problem]:
    out: list[Occurrence | Problem] = []
    helm = mapping_get(src, "helm")
    if isinstance(helm, MappingNode):
        out += _helm(pf, index, f"{path}.helm", helm, entry, image, spec, subject, opts)
    kustomize = mapping_get(src, "kustomize")
    if isinstance(kustomize, MappingNode):
        out += _kustomize(pf, index, f"{path}.kustomize", kustomize, entry, image, spec, subject, opts)
    return out


def _helm_value(helm: MappingNode, path: str, param: str) -> tuple[ScalarNode, str, Node | None] | None:
    """The scalar holding Helm parameter `param`: in `parameters` (name/value), else in `valuesObject`."""
    params = mapping_get(helm, "parameters")
    if isinstance(params, SequenceNode):
        for i, item in enumerate(params.value):
            value = mapping_get(item, "value")
            if scalar_text(mapping_get(item, "name")) == param and isinstance(value, ScalarNode):
                return value, f"{path}.parameters[{i}].value", item
    node: Node | None = mapping_get(helm, "valuesObject")
    parent = None
    for key in param.split("."):
        parent, node = node, mapping_get(node, key)
    if isinstance(node, ScalarNode):
        return node, f"{path}.valuesObject.{param}", parent
    return None


def _helm(pf: ParsedFile, index: int, path: str, helm: MappingNode, entry: ImageEntry, image: str, spec: PolicySpec,
          subject: str, opts: Options) -> list[Occurrence | Problem]:
    spec_param = opts.get(entry, "helm.image-spec")
    if spec_param is not None:
        hit = _helm_value(helm, path, spec_param[0].strip())
        if hit is None:
            return []
        node, where, parent = hit
        return [full_reference(pf, Scalar(node, index, where, parent, "value"), spec, subject, image=image)]
    tag_param = (opts.get(entry, "helm.image-tag") or ("image.tag", 0))[0].strip()
    hit = _helm_value(helm, path, tag_param)
    if hit is None:
        return []
    node, where, parent = hit
    why = no_digest_field(spec, "a helm.image-spec parameter holding the whole reference")
    if why:
        return [Problem("compat", why, pf.location(node), subject)]
    scalar = Scalar(node, index, where, parent, "value")
    current = str(node.value) or None
    return [split_field(pf, scalar, FieldKind.TAG, spec, subject, image, current, None, f"{pf.path}#{index}/{entry.key}")]


def _kustomize(pf: ParsedFile, index: int, path: str, kustomize: MappingNode, entry: ImageEntry, image: str,
               spec: PolicySpec, subject: str, opts: Options) -> list[Occurrence | Problem]:
    images = mapping_get(kustomize, "images")
    if not isinstance(images, SequenceNode):
        return []
    wanted = (opts.get(entry, "kustomize.image-name") or (entry.image, 0))[0].strip()
    names = {wanted, image}
    out: list[Occurrence | Problem] = []
    for i, node in enumerate(images.value):
        if not isinstance(node, ScalarNode):
            continue
        text = str(node.value)
        original, eq, _ = text.partition("=")
        try:
            written = parse(text if not eq else original).name
        except ReferenceError_:
            continue
        if original not in names and written not in names:
            continue
        if eq:
            out.append(Problem(
                "compat",
                f"kustomize image {text!r}: the NAME=IMAGE:TAG override form is not edited in place yet; "
                "write the entry as IMAGE:TAG, or declare a config policy for the kustomization's images:",
                pf.location(node), subject))
            continue
        out.append(full_reference(pf, Scalar(node, index, f"{path}.images[{i}]", None, None), spec, subject, image=image))
    return out
