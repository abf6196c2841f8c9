"""Format: Helm chart versions (and OCI artifact tags) in Flux and Argo CD objects.

Where a chart's version is written, and what it names:

- Flux ``OCIRepository``: ``spec.ref.tag`` of ``spec.url: oci://HOST/PATH`` (and ``spec.ref.digest``
  beside it, re-pinned with the tag; ``spec.ref.semver`` is a range: listed, never updated). A chart when ``spec.layerSelector.mediaType`` is Helm's
  chart layer or a HelmRelease in the same file takes it as ``chartRef``; otherwise an OCI
  artifact (Flux manifests, ...).
- Flux ``HelmRelease`` ``spec.chart.spec.version`` and ``HelmChart`` ``spec.version``, with the
  chart's ``sourceRef`` a ``HelmRepository``: that object is looked up in the same repository (any
  file, see :func:`resolve_sources`); ``type: oci`` / ``oci://`` makes the chart the OCI repository
  ``HOST/PATH/CHART``, otherwise the repository's ``index.yaml`` lists its versions
  (``https://charts.jetstack.io/cert-manager``).
- Argo CD ``Application`` ``spec.source`` / ``spec.sources[]`` with a ``chart``: ``targetRevision``
  of ``repoURL`` (``https://…`` an HTTP repository; ``oci://HOST/PATH`` or ``HOST/PATH`` OCI).

A reference is acted on when its version line carries a marker (``# imagebot: semver:^1`` or a
named ``# {"$imagebot": "NAME"}``); :func:`references` lists every chart reference of a file,
marked or not, for config rules that match ``kind: chart``. Occurrences have ``kind`` "chart"
(or "artifact"), field TAG (DIGEST for ``ref.digest``).
"""

from __future__ import annotations

import pathlib
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from functools import partial

from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from imagebot.discover import markers
from imagebot.discover.markers import InlineMarker, MarkerError
from imagebot.discover.occurrences import inline_spec, named_spec, template_problem, templated
from imagebot.discover.parsed import Candidate, Found, ParsedFile
from imagebot.discover.yamltree import (
    Scalar,
    YAMLError,
    compose,
    decode,
    line_comment,
    mapping_get,
    scalar_text,
)
from imagebot.errors import ReferenceError_
from imagebot.model import UNMANAGED, FieldKind, Location, Occurrence, PolicySpec, Problem
from imagebot.reference import parse_name

HELM_LAYER = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
#: The image of a HelmRelease / HelmChart chart until its HelmRepository is found (scan's last step).
PENDING = "helmrepository://"
#: A pinned chart version (strict semver in Helm, `v` allowed); anything else (`>=1.0`, `1.x`,
#: `~1.2`, `${VERSION}`) is a range or a substitution the source resolves.
_VERSION = re.compile(r"v?\d+(?:\.\d+)*(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?")


#: The name of a chart whose source the object does not say (a kustomize patch of a HelmRelease).
NO_SOURCE = PENDING + "?/"


@dataclass(frozen=True)
class ChartRef:
    """One chart (or artifact) reference written in a file: its version, when one is written."""

    kind: str  # "chart" | "artifact"
    at: Scalar  # where it is: the version, or (none written) the chart's name
    image: str  # OCI repository, "https://repo/chart", or PENDING... until resolve_sources
    subject: str  # "OCIRepository/bazarr chart", "HelmRelease/cert-manager chart cert-manager"
    version: Scalar | None = None
    digest: Scalar | None = None

    @property
    def pinned(self) -> bool:
        """A version to update, not a range (`ref.semver`, `>=1.0`) or a `${substitution}`."""
        v = self.version
        return v is not None and v.key != "semver" and bool(_VERSION.fullmatch(v.value))

    @property
    def updatable(self) -> bool:
        """A pinned version of a chart whose source is known: something a policy can move."""
        return self.pinned and not self.image.startswith(NO_SOURCE)


def references(pf: ParsedFile) -> list[ChartRef]:
    """Every chart or artifact version in the file's Flux / Argo CD objects."""
    out: list[ChartRef] = []
    for index, doc in enumerate(pf.docs):
        kind, api = scalar_text(mapping_get(doc, "kind")), scalar_text(mapping_get(doc, "apiVersion")) or ""
        name = scalar_text(mapping_get(mapping_get(doc, "metadata"), "name")) or "?"
        spec = mapping_get(doc, "spec")
        if api.startswith("source.toolkit.fluxcd.io/") and kind == "OCIRepository":
            out += _oci_repository(pf, index, doc, spec, name)
        elif api.startswith("helm.toolkit.fluxcd.io/") and kind == "HelmRelease":
            out += _from_helm_repository(pf, index, doc, mapping_get(mapping_get(spec, "chart"), "spec"),
                                         "spec.chart.spec", f"HelmRelease/{name}")
        elif api.startswith("source.toolkit.fluxcd.io/") and kind == "HelmChart":
            out += _from_helm_repository(pf, index, doc, spec, "spec", f"HelmChart/{name}")
        elif api.startswith("argoproj.io/") and kind == "Application":
            out += _argo(index, spec, f"Application/{name}")
    return out


def find(pf: ParsedFile, claimed: set[tuple[int, int]]) -> Found:
    """Occurrences for the chart references whose version line carries a marker; when every
    reference is asked for (config rules, inventory: ``pf.everything``), the others as Candidates."""
    found = Found()
    everything = pf.everything
    if not everything and not markers.CANDIDATE.search(pf.text):
        return found
    for ref in references(pf):
        comment = line_comment(pf.text, ref.at.node)
        if comment is None or not markers.CANDIDATE.search("#" + comment):
            if everything:
                _candidate(pf, ref, found)
            continue
        found.claimed.add((ref.at.line, ref.at.column))
        where = Location(pf.path, int(ref.at.node.end_mark.line) + 1)
        try:
            marker = markers.parse(comment)
        except MarkerError as exc:
            found.problems.append(Problem("marker", str(exc), where, ref.subject))
            continue
        if marker is None:
            continue
        if isinstance(marker, InlineMarker):
            spec = inline_spec(marker, f"{where} marker")
        elif marker.name in pf.policies:
            spec = named_spec(pf.policies[marker.name], f"{where} marker {marker.key} {marker.name}")
        else:
            known = ", ".join(sorted(pf.policies)) or "none configured"
            found.problems.append(Problem("marker", f"{marker.key} marker names an unknown policy {marker.name!r} "
                                                    f"(config policies: {known})", where, ref.subject))
            continue
        found.take(occurrences(pf, ref, spec))  # claims the digest pinned beside the version too
    return found


def occurrences(pf: ParsedFile, ref: ChartRef, spec: PolicySpec) -> list[Occurrence | Problem]:
    """The occurrence(s) of one chart reference under `spec`: its version (and the digest pinned
    beside it), or the problem that keeps it from having any."""
    subject, where = ref.subject, pf.location(ref.at.node)
    version = ref.version
    if version is None:
        return [Problem("chart", "no version is written here (the source's newest is deployed): nothing to "
                                 "update, and imagebot never adds one", where, subject)]
    if templated(version.value):
        return [template_problem(pf, version, subject)]
    if not ref.pinned:
        return [Problem("chart", f"{version.value!r} is not a pinned version (a range or a substitution the "
                                 f"source resolves itself): nothing to update; remove the marker", where, subject)]
    if not ref.updatable:
        return [Problem("chart", "this HelmRelease names no chart source (a kustomize patch?): put the marker where "
                                 "chart, version and sourceRef are written together", where, subject)]
    digest = ref.digest.value if ref.digest is not None else None
    group = f"{pf.path}#{version.document}:{version.path}" if ref.digest is not None else ""
    return [_occurrence(pf, ref, scalar, field, spec, group, digest)
            for scalar, field in ((version, FieldKind.TAG), (ref.digest, FieldKind.DIGEST)) if scalar is not None]


def _occurrence(pf: ParsedFile, ref: ChartRef, scalar: Scalar, field: FieldKind, spec: PolicySpec, group: str,
                digest: str | None) -> Occurrence:
    return Occurrence(
        location=pf.location(scalar.node), document=scalar.document, field=field, value=scalar.value,
        image=ref.image, tag=ref.version.value if ref.version is not None else None, digest=digest, policy=spec,
        subject=ref.subject, group=group, path=scalar.path, kind=ref.kind)


def _candidate(pf: ParsedFile, ref: ChartRef, found: Found) -> None:
    """An unmarked chart reference for config rules (`match: {kind: chart}`) and the inventory
    (discover.parsed.Candidate: the reference at its version, and how to build it under a policy)."""
    digest = ref.digest.value if ref.digest is not None else None
    reference = _occurrence(pf, ref, ref.at, FieldKind.TAG, UNMANAGED, "", digest)
    found.candidates.append(Candidate(reference, partial(occurrences, pf, ref), updatable=ref.updatable))


# -- the objects ------------------------------------------------------------------------------
def _scalar(node: Node | None, doc: int, path: str, parent: Node | None, key: str) -> Scalar | None:
    if not isinstance(node, ScalarNode) or not str(node.value):
        return None
    return Scalar(node, doc, path, parent if isinstance(parent, MappingNode) else None, key)


def _oci_name(url: str) -> str | None:
    """``oci://ghcr.io/org/chart`` (or ``ghcr.io/org/chart``) -> the normalised repository."""
    from imagebot.registry.names import canonical_host  # imagebot.registry (requests): only with charts

    text = url[len("oci://"):] if url.startswith("oci://") else url
    if "://" in text or not text:
        return None
    try:
        name = parse_name(text.rstrip("/")).name
    except ReferenceError_:
        return None
    host, _, path = name.partition("/")
    return f"{canonical_host(host)}/{path}"  # registry-1.docker.io/x -> docker.io/x, as image names read


def _oci_repository(pf: ParsedFile, index: int, doc: Node, spec: Node | None, name: str) -> list[ChartRef]:
    ref = mapping_get(spec, "ref")
    # `ref.semver` is a range the source resolves: listed (not `pinned`), so a marker on it is answered
    tag = _scalar(mapping_get(ref, "tag"), index, "spec.ref.tag", ref, "tag") or \
        _scalar(mapping_get(ref, "semver"), index, "spec.ref.semver", ref, "semver")
    image = _oci_name(scalar_text(mapping_get(spec, "url")) or "")
    if tag is None or image is None:
        return []
    digest = _scalar(mapping_get(ref, "digest"), index, "spec.ref.digest", ref, "digest")
    layer = scalar_text(mapping_get(mapping_get(spec, "layerSelector"), "mediaType"))
    kind = "chart" if layer == HELM_LAYER or _chart_ref_to(pf, name) else "artifact"
    return [ChartRef(kind, tag, image, f"OCIRepository/{name} {kind}", tag, digest)]


def _chart_ref_to(pf: ParsedFile, name: str) -> bool:
    """Does a HelmRelease of the same file take OCIRepository `name` as its chartRef?"""
    for doc in pf.docs:
        ref = mapping_get(mapping_get(doc, "spec"), "chartRef")
        if scalar_text(mapping_get(ref, "kind")) == "OCIRepository" and scalar_text(mapping_get(ref, "name")) == name:
            return True
    return False


def _from_helm_repository(pf: ParsedFile, index: int, doc: Node, chart_spec: Node | None, at: str,
                          subject: str) -> list[ChartRef]:
    version = _scalar(mapping_get(chart_spec, "version"), index, f"{at}.version", chart_spec, "version")
    chart_node = _scalar(mapping_get(chart_spec, "chart"), index, f"{at}.chart", chart_spec, "chart")
    chart = chart_node.value if chart_node is not None else None
    source = mapping_get(chart_spec, "sourceRef")
    position = version or chart_node
    if position is None:
        return []
    source_kind, repo = scalar_text(mapping_get(source, "kind")), scalar_text(mapping_get(source, "name"))
    if source is None or not chart or not repo:  # a kustomize patch of a HelmRelease: listed, not updatable
        return [ChartRef("chart", position, f"{NO_SOURCE}{chart or '?'}", f"{subject} chart {chart or '?'}", version)]
    if source_kind != "HelmRepository":
        return []  # a chart from Git or a bucket: its version is not a release to follow
    namespace = scalar_text(mapping_get(source, "namespace")) or scalar_text(mapping_get(mapping_get(doc, "metadata"), "namespace"))
    pending = f"{PENDING}{namespace or '*'}/{repo}/{chart}"
    return [ChartRef("chart", position, pending, f"{subject} chart {chart}", version)]


def _argo(index: int, spec: Node | None, subject: str) -> list[ChartRef]:
    from imagebot.registry.helm_index import chart_name  # imagebot.registry (requests): only with charts

    sources: list[tuple[Node | None, str]] = [(mapping_get(spec, "source"), "spec.source")]
    many = mapping_get(spec, "sources")
    if isinstance(many, SequenceNode):
        sources += [(item, f"spec.sources[{i}]") for i, item in enumerate(many.value)]
    out = []
    for source, at in sources:
        chart_node = _scalar(mapping_get(source, "chart"), index, f"{at}.chart", source, "chart")
        url = scalar_text(mapping_get(source, "repoURL")) or ""
        version = _scalar(mapping_get(source, "targetRevision"), index, f"{at}.targetRevision", source, "targetRevision")
        if chart_node is None or not url:
            continue  # a Git source: targetRevision is a branch, tag or commit
        chart = chart_node.value
        image = chart_name(url, chart) if url.startswith(("https://", "http://")) else _oci_name(f"{url.rstrip('/')}/{chart}")
        if image:
            out.append(ChartRef("chart", version or chart_node, image, f"{subject} chart {chart}", version))
    return out


# -- HelmRepository lookup (across files) ---------------------------------------------------
@dataclass(frozen=True)
class HelmRepository:
    namespace: str | None
    name: str
    url: str
    oci: bool
    location: Location


#: HelmRepository objects per file, by (root, path): (mtime_ns, size, objects). A process that
#: scans again (the agent) re-reads only the files that changed since.
_SEEN: dict[tuple[str, str], tuple[int, int, tuple[HelmRepository, ...]]] = {}


def helm_repositories(root: pathlib.Path, files: Iterable[str]) -> Iterator[HelmRepository]:
    """Every Flux HelmRepository object in `files` (a byte screen first: few files hold one)."""
    for rel in files:
        path = root / rel
        try:
            st = path.stat()
            key = (str(root), rel)
            seen = _SEEN.get(key)
            if seen is None or seen[:2] != (st.st_mtime_ns, st.st_size):
                seen = (st.st_mtime_ns, st.st_size, tuple(_in_file(rel, path.read_bytes())))
                _SEEN[key] = seen
        except OSError:
            continue
        yield from seen[2]


def _in_file(rel: str, data: bytes) -> Iterator[HelmRepository]:
    if b"HelmRepository" not in data or b"kind" not in data:
        return
    try:
        docs = compose(decode(data)[1])
    except (UnicodeDecodeError, YAMLError):
        return  # reported by the scan when it matters
    for doc in docs:
        if scalar_text(mapping_get(doc, "kind")) != "HelmRepository":
            continue
        meta, spec = mapping_get(doc, "metadata"), mapping_get(doc, "spec")
        name, url = scalar_text(mapping_get(meta, "name")), scalar_text(mapping_get(spec, "url"))
        if name and url:
            oci = scalar_text(mapping_get(spec, "type")) == "oci" or url.startswith("oci://")
            line = int(doc.start_mark.line) + 1 if doc.start_mark is not None else 0
            yield HelmRepository(scalar_text(mapping_get(meta, "namespace")), name, url, oci, Location(rel, line))


def resolve_sources(root: pathlib.Path, found: Sequence[Occurrence], files: Callable[[], Iterable[str]], *,
                    keep_unresolved: bool = False) -> tuple[list[Occurrence], list[Problem]]:
    """Give each HelmRelease / HelmChart chart the name its HelmRepository says (OCI repository
    or index.yaml URL), looked up in `files()` (the whole checkout, not only the scanned paths).
    Files are read only when such a chart is among `found`, and unchanged files not again.
    A chart whose HelmRepository cannot be found is a problem, and left out unless
    `keep_unresolved` (references listed, not governed: the inventory)."""
    if not any(o.image.startswith(PENDING) for o in found):
        return list(found), []
    from imagebot.registry.helm_index import chart_name  # imagebot.registry (requests): only with charts

    known = list(helm_repositories(root, files()))
    out: list[Occurrence] = []
    problems: list[Problem] = []
    for occ in found:
        if not occ.image.startswith(PENDING) or occ.image.startswith(NO_SOURCE):
            out.append(occ)
            continue
        where, _, chart = occ.image[len(PENDING):].rpartition("/")
        namespace, _, name = where.partition("/")
        matches = [r for r in known if r.name == name and (namespace == "*" or r.namespace in (None, namespace))]
        if len(matches) != 1:
            how = "is defined more than once: " + ", ".join(str(r.location) for r in matches) if matches else \
                f"is not defined in the repository ({len(known)} HelmRepository object(s) found)"
            problems.append(Problem("chart", f"sourceRef HelmRepository {where.replace('*/', '')} {how}; cannot tell "
                                             f"where chart {chart} comes from", occ.location, occ.subject))
            if keep_unresolved:
                out.append(occ)
            continue
        repo = matches[0]
        image = _oci_name(f"{repo.url.rstrip('/')}/{chart}") if repo.oci else chart_name(repo.url, chart)
        if image is None:
            problems.append(Problem("chart", f"HelmRepository {name} ({repo.location}): {repo.url!r} is not an OCI "
                                             f"repository URL", occ.location, occ.subject))
            if keep_unresolved:
                out.append(occ)
            continue
        out.append(replace(occ, image=image))
    return out, problems
