"""The cluster side of drift: compare the images Git declares with the live workloads.

Read-only: one GET per declared workload (no list/watch, no patch, ever). Someone who ran
``kubectl set image`` shows up as a difference; a workload Git declares but the cluster lacks
is reported too. Images are compared as normalised references ("nginx:1.25" is
"docker.io/library/nginx:1.25"); a live image that only adds the digest of the declared tag
(an admission controller pinning digests) is not a difference.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from kubernetes import client
from kubernetes.client.rest import ApiException
from urllib3.exceptions import HTTPError

from imagebot.discover.declared import DeclaredWorkload
from imagebot.errors import ReferenceError_
from imagebot.model import Problem
from imagebot.reference import parse as parse_reference

REQUEST_TIMEOUT = 15.0  # seconds per workload read

_POD_SPEC: dict[str, tuple[str, ...]] = {
    "Deployment": ("spec", "template", "spec"),
    "StatefulSet": ("spec", "template", "spec"),
    "DaemonSet": ("spec", "template", "spec"),
    "ReplicaSet": ("spec", "template", "spec"),
    "Job": ("spec", "template", "spec"),
    "CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
    "Pod": ("spec",),
}


@dataclass(frozen=True)
class Drift:
    workload: DeclaredWorkload
    namespace: str
    container: str  # "" when the whole workload is missing
    declared: str
    live: str | None  # None: the container or the workload is not in the cluster

    def __str__(self) -> str:
        where = f"{self.workload.kind}/{self.namespace}/{self.workload.name}"
        if not self.container:
            return f"{where}: declared in {self.workload.location} but not found in the cluster"
        if self.live is None:
            return f"{where} container {self.container}: declared {self.declared}, missing in the cluster"
        return f"{where} container {self.container}: Git declares {self.declared}, the cluster runs {self.live}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.workload.kind, "namespace": self.namespace, "name": self.workload.name,
            "container": self.container, "declared": self.declared, "live": self.live,
            "file": str(self.workload.location),
        }


@dataclass(frozen=True)
class DriftReport:
    checked: int
    drifts: tuple[Drift, ...]
    problems: tuple[Problem, ...] = ()

    @property
    def drifted_workloads(self) -> int:
        return len({(d.workload.kind, d.namespace, d.workload.name) for d in self.drifts})


Reader = Callable[[str, str, str], dict[str, Any] | None]


def api_reader(api: client.ApiClient) -> Reader:
    """A reader `(kind, namespace, name) -> object dict | None (not found)` over the official client."""
    apps, batch, core = client.AppsV1Api(api), client.BatchV1Api(api), client.CoreV1Api(api)
    methods = {
        "Deployment": apps.read_namespaced_deployment,
        "StatefulSet": apps.read_namespaced_stateful_set,
        "DaemonSet": apps.read_namespaced_daemon_set,
        "ReplicaSet": apps.read_namespaced_replica_set,
        "Job": batch.read_namespaced_job,
        "CronJob": batch.read_namespaced_cron_job,
        "Pod": core.read_namespaced_pod,
    }

    def read(kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            resp = methods[kind](name, namespace, _preload_content=False, _request_timeout=REQUEST_TIMEOUT)
        except ApiException as e:
            if e.status == 404:
                return None
            raise
        data: dict[str, Any] = json.loads(resp.data)
        return data

    return read


def check_drift(declared: Sequence[DeclaredWorkload], read: Reader, default_namespace: str = "default") -> DriftReport:
    drifts: list[Drift] = []
    problems: list[Problem] = []
    for w in declared:
        ns = w.namespace or default_namespace
        try:
            live = read(w.kind, ns, w.name)
        except ApiException as e:
            problems.append(Problem("kubernetes", f"cannot read {w.kind} {ns}/{w.name}: {e.status} {e.reason}",
                                    w.location, str(w), temporary=e.status in (429, 500, 502, 503, 504)))
            continue
        except (HTTPError, OSError) as e:
            problems.append(Problem("kubernetes", f"cannot reach the API server: {e}", w.location, str(w), temporary=True))
            continue
        if live is None:
            drifts.append(Drift(w, ns, "", "", None))
            continue
        running = _containers(live, w.kind)
        for c in w.containers:
            image = running.get((c.list, c.name))
            if image is None or not same_image(c.image, image):
                drifts.append(Drift(w, ns, c.name, c.image, image))
    return DriftReport(len(declared), tuple(drifts), tuple(problems))


def _containers(obj: dict[str, Any], kind: str) -> dict[tuple[str, str], str]:
    spec: Any = obj
    for key in _POD_SPEC[kind]:
        spec = spec.get(key) if isinstance(spec, dict) else None
    found: dict[tuple[str, str], str] = {}
    if not isinstance(spec, dict):
        return found
    for list_key in ("initContainers", "containers", "ephemeralContainers"):
        for c in spec.get(list_key) or ():
            if isinstance(c, dict) and c.get("name") and c.get("image"):
                found[(list_key, c["name"])] = c["image"]
    return found


def same_image(declared: str, live: str) -> bool:
    if declared == live:
        return True
    try:
        d, lv = parse_reference(declared), parse_reference(live)
    except ReferenceError_:
        return False
    if d.name != lv.name or _tag(d.tag, d.digest) != _tag(lv.tag, lv.digest):
        return False
    return d.digest is None or d.digest == lv.digest


def _tag(tag: str | None, digest: str | None) -> str | None:
    """A reference without tag or digest means `latest` to the kubelet."""
    return tag or (None if digest else "latest")
