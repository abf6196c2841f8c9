"""The Git side of drift: every workload the repository declares and the images of its containers.

Unlike :func:`imagebot.discover.scan`, this reads every workload, with or without an update
policy: drift is about what Git says the cluster runs. Plain manifests only (a Helm template
or a kustomize overlay renders into something else; those files are skipped, not guessed at).

A workload's namespace is its ``metadata.namespace``, else the ``namespace:`` of the nearest
``kustomization.yaml`` in its folder or a parent folder, else None (the caller's default).
"""

from __future__ import annotations

import pathlib
from collections.abc import Sequence
from dataclasses import dataclass

from ruamel.yaml.nodes import MappingNode, Node, SequenceNode

from imagebot.discover.files import walk
from imagebot.discover.workloads import CONTAINER_LISTS, POD_TEMPLATE
from imagebot.discover.yamltree import YAMLError, compose, decode, error_line, mapping_get, problem_text, scalar_text
from imagebot.model import Location, Problem

API_VERSIONS = {
    "Deployment": "apps/v1", "StatefulSet": "apps/v1", "DaemonSet": "apps/v1", "ReplicaSet": "apps/v1",
    "Job": "batch/v1", "CronJob": "batch/v1", "Pod": "v1",
}
_KUSTOMIZATIONS = ("kustomization.yaml", "kustomization.yml", "Kustomization")


@dataclass(frozen=True)
class Container:
    name: str
    image: str  # as written in Git
    list: str = "containers"  # "initContainers", "containers"


@dataclass(frozen=True)
class DeclaredWorkload:
    kind: str
    name: str
    namespace: str | None
    location: Location  # the file and the line of the document's `kind:`
    document: int
    containers: tuple[Container, ...]

    @property
    def api_version(self) -> str:
        return API_VERSIONS[self.kind]

    def __str__(self) -> str:
        return f"{self.kind}/{self.namespace + '/' if self.namespace else ''}{self.name}"


@dataclass(frozen=True)
class Declared:
    workloads: tuple[DeclaredWorkload, ...]
    problems: tuple[Problem, ...] = ()
    files_scanned: int = 0


def declared_workloads(root: pathlib.Path, *, paths: Sequence[str] = (), exclude: Sequence[str] = ()) -> Declared:
    """Every workload (of the kinds the cluster side can read) under `paths` of the checkout."""
    workloads: list[DeclaredWorkload] = []
    problems: list[Problem] = []
    try:
        files = list(walk(root, paths, exclude))
    except FileNotFoundError as exc:
        return Declared((), (Problem("config", f"repository.paths: {exc.args[0]!r} does not exist in the repository"),))
    namespaces: dict[str, str | None] = {}
    for rel in files:
        try:
            data = (root / rel).read_bytes()
        except OSError as exc:
            problems.append(Problem("yaml", f"cannot read the file: {exc.strerror or exc}", Location(rel), temporary=True))
            continue
        if b"image" not in data or b"kind" not in data or b"{{" in data:
            continue  # no workload, or a template that is not YAML until rendered
        try:
            _, text = decode(data)
            docs = compose(text)
        except UnicodeDecodeError:
            problems.append(Problem("yaml", "not UTF-8 text", Location(rel)))
            continue
        except YAMLError as exc:
            problems.append(Problem("yaml", problem_text(exc), Location(rel, error_line(exc) or 0)))
            continue
        default_ns = _kustomize_namespace(root, rel, namespaces)
        for index, doc in enumerate(docs):
            w = _workload(rel, index, doc, default_ns)
            if w is not None:
                workloads.append(w)
    return Declared(tuple(workloads), tuple(problems), len(files))


def _workload(rel: str, index: int, doc: Node, default_ns: str | None) -> DeclaredWorkload | None:
    kind_node = mapping_get(doc, "kind")
    kind = scalar_text(kind_node)
    if kind not in API_VERSIONS or kind_node is None:
        return None
    name = scalar_text(mapping_get(mapping_get(doc, "metadata"), "name"))
    if not name:
        return None
    namespace = scalar_text(mapping_get(mapping_get(doc, "metadata"), "namespace")) or default_ns
    template: Node | None = doc
    for key in POD_TEMPLATE[kind]:
        template = mapping_get(template, key)
    pod_spec = mapping_get(template, "spec")
    containers: list[Container] = []
    for list_key in CONTAINER_LISTS:
        seq = mapping_get(pod_spec, list_key)
        if not isinstance(seq, SequenceNode):
            continue
        for item in seq.value:
            cname, image = scalar_text(mapping_get(item, "name")), scalar_text(mapping_get(item, "image"))
            if isinstance(item, MappingNode) and cname and image:
                containers.append(Container(cname, image, list_key))
    if not containers:
        return None
    line = int(kind_node.start_mark.line) + 1
    return DeclaredWorkload(kind, name, namespace, Location(rel, line), index, tuple(containers))


def _kustomize_namespace(root: pathlib.Path, rel: str, cache: dict[str, str | None]) -> str | None:
    """The `namespace:` of the nearest kustomization at or above the file's folder."""
    folder = pathlib.PurePosixPath(rel).parent
    chain: list[str] = []
    found: str | None = None
    while True:
        key = folder.as_posix()
        if key in cache:
            found = cache[key]
            break
        chain.append(key)
        ns = _namespace_in(root / key)
        if ns is not None:
            found = ns
            break
        if key in ("", "."):
            break
        folder = folder.parent
    for key in chain:
        cache[key] = found
    return found


def _namespace_in(folder: pathlib.Path) -> str | None:
    for name in _KUSTOMIZATIONS:
        p = folder / name
        if p.is_file():
            try:
                docs = compose(decode(p.read_bytes())[1])
            except (OSError, UnicodeDecodeError, YAMLError):
                return None
            return scalar_text(mapping_get(docs[0], "namespace")) if docs else None
    return None
