"""Format: Kubernetes workloads whose annotations carry an imagebot policy.

Deployment, StatefulSet, DaemonSet, ReplicaSet, ReplicationController, Job, CronJob
(``jobTemplate``), Pod and Argo Rollouts' Rollout; ``containers``, ``initContainers`` and
``ephemeralContainers``. Annotations are read from the workload's ``metadata.annotations`` and
from its pod template's (the workload's win). A container whose image line carries a marker is
left to the marker format: the marker is the more specific statement.
"""

from __future__ import annotations

from dataclasses import replace

from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from imagebot.discover import policy_annotations
from imagebot.discover.occurrences import full_reference
from imagebot.discover.parsed import Candidate, Found, ParsedFile
from imagebot.discover.yamltree import Scalar, mapping_get, scalar_text
from imagebot.model import UNMANAGED, Location, Occurrence, PolicySpec, Problem

_TEMPLATE = ("spec", "template")
#: Where the pod template sits, per kind.
POD_TEMPLATE: dict[str, tuple[str, ...]] = {
    "Deployment": _TEMPLATE,
    "StatefulSet": _TEMPLATE,
    "DaemonSet": _TEMPLATE,
    "ReplicaSet": _TEMPLATE,
    "ReplicationController": _TEMPLATE,
    "Job": _TEMPLATE,
    "Rollout": _TEMPLATE,
    "CronJob": ("spec", "jobTemplate", "spec", "template"),
    "Pod": (),
}
CONTAINER_LISTS = ("initContainers", "containers", "ephemeralContainers")
_LABEL = {"initContainers": "initContainer", "containers": "container", "ephemeralContainers": "ephemeralContainer"}


def _dig(node: Node | None, keys: tuple[str, ...]) -> Node | None:
    for k in keys:
        node = mapping_get(node, k)
    return node


def find(pf: ParsedFile, claimed: set[tuple[int, int]]) -> Found:
    found = Found()
    annotated = policy_annotations.PREFIX in pf.text
    if not annotated and not pf.everything:
        return found
    for index, doc in enumerate(pf.docs):
        kind = scalar_text(mapping_get(doc, "kind"))
        if kind in POD_TEMPLATE:
            _workload(pf, index, doc, kind, claimed, found)  # type: ignore[arg-type]
        elif kind:
            found.problems += _not_read(pf, doc, kind)
    if not annotated:  # only listing candidates: a file that asks imagebot nothing has no annotation problem
        found.problems = []
    return found


def _not_read(pf: ParsedFile, doc: Node, kind: str) -> list[Problem]:
    """An imagebot annotation on a kind that is not a workload would silently do nothing."""
    annotations = _dig(doc, ("metadata", "annotations"))
    if not isinstance(annotations, MappingNode):
        return []
    for k, _ in annotations.value:
        if isinstance(k, ScalarNode) and str(k.value).startswith(policy_annotations.PREFIX):
            name = scalar_text(_dig(doc, ("metadata", "name"))) or "?"
            return [Problem(
                "annotation",
                f"{k.value}: imagebot reads annotations only on {', '.join(POD_TEMPLATE)}, not on a {kind}; "
                "put an inline marker on the image value instead (image: repo:1.2.3 # imagebot: semver:^1.2)",
                Location(pf.path, int(k.start_mark.line) + 1),
                f"{kind}/{name}",
            )]
    return []


def _workload(pf: ParsedFile, index: int, doc: MappingNode, kind: str, claimed: set[tuple[int, int]], found: Found) -> None:
    name = scalar_text(_dig(doc, ("metadata", "name"))) or "?"
    subject = f"{kind}/{name}"
    template_path = POD_TEMPLATE[kind]
    template = _dig(doc, template_path) if template_path else doc
    ann = policy_annotations.read(
        pf.path,
        subject,
        [_dig(template, ("metadata", "annotations")), _dig(doc, ("metadata", "annotations"))] if template_path else [_dig(doc, ("metadata", "annotations"))],
    )
    found.problems += ann.problems
    if not ann.by_container and not pf.everything:
        return
    namespace = scalar_text(_dig(doc, ("metadata", "namespace"))) or ""
    pod_spec = mapping_get(template, "spec")
    spec_path = ".".join((*template_path, "spec"))
    names: list[str] = []
    for list_key in CONTAINER_LISTS:
        seq = mapping_get(pod_spec, list_key)
        if not isinstance(seq, SequenceNode):
            continue
        for i, item in enumerate(seq.value):
            cname = scalar_text(mapping_get(item, "name")) or ""
            names.append(cname)
            image = mapping_get(item, "image")
            if not isinstance(image, ScalarNode) or not isinstance(item, MappingNode):
                continue
            if (int(image.start_mark.line) + 1, int(image.start_mark.column) + 1) in claimed:
                continue
            who = f"{subject} {_LABEL[list_key]} {cname or i}"
            policy = ann.policy_for(pf.path, cname)
            scalar = Scalar(image, index, f"{spec_path}.{list_key}[{i}].image", item, "image")
            context = {"form": "container", "workload": subject, "namespace": namespace, "container": cname}
            if policy is None:
                if pf.everything:
                    _candidate(pf, scalar, who, context, found)
                continue
            result = full_reference(pf, scalar, policy, who)
            found.take([replace(result, **context) if isinstance(result, Occurrence) else result])
    found.problems += ann.check_containers(pf.path, subject, names)


def _candidate(pf: ParsedFile, scalar: Scalar, who: str, context: dict[str, str], found: Found) -> None:
    """A container no annotation governs: config rules may (a value that is not an image
    reference, e.g. a template, is left out silently: nothing asked imagebot to read it)."""
    ref = full_reference(pf, scalar, UNMANAGED, who)
    if isinstance(ref, Problem):
        return
    ref = replace(ref, **context)

    def build(spec: PolicySpec) -> list[Occurrence | Problem]:
        return [replace(ref, policy=spec)]

    found.candidates.append(Candidate(ref, build, updatable=ref.tag is not None or ref.digest is not None,
                                      positions=frozenset({(scalar.line, scalar.column)})))
