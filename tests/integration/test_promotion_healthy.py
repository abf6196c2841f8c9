"""The healthy gate reads the staging workload from a cluster (the kmock Kubernetes emulator, through
the same reader as the drift check): the value must run there with its rollout complete."""

from __future__ import annotations

from imagebot.k8s.drift import api_reader
from imagebot.promote.gates import Introduced
from imagebot.promote.pairing import Pair
from imagebot.promote.source import PromotionSource
from tests.support.kube import KubeServer, kube  # noqa: F401  (fixture)
from tests.unit.test_promote_gates import D1, D2, IMG, PROD, STG, T0, _Checks, _History, check, promotion


def deployment(image: str, *, replicas: int = 2, updated: int = 2, available: int = 2, generation: int = 3) -> dict:
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"generation": generation},
            "spec": {"replicas": replicas, "template": {"spec": {"containers": [{"name": "app", "image": image}]}}},
            "status": {"observedGeneration": generation, "updatedReplicas": updated, "availableReplicas": available}}


def resolve(kube: KubeServer):  # noqa: F811
    source = PromotionSource(promotion(healthy=True, **{"from": {"path": "overlays/staging", "namespace": "staging"}}),
                             [Pair(STG, PROD, "x")], [], _History(Introduced("a" * 40, T0 - 7200)),
                             _Checks((check("ci", "success"),)), lambda: T0, api_reader(kube.api_client()))
    (r,) = source.resolve()
    return r


def test_healthy_gate_on_a_cluster(kube: KubeServer) -> None:  # noqa: F811
    r = resolve(kube)
    assert r.target is None and "held by healthy: Deployment/web in namespace staging is not in the staging cluster" in r.reason
    kube.put("apps/v1/deployments", "staging", "web", deployment(f"{IMG}:1.1.0@{D1}"))
    r = resolve(kube)
    assert r.target is None and "runs " + f"{IMG}:1.1.0@{D1}" in r.reason
    kube.put("apps/v1/deployments", "staging", "web", deployment(f"{IMG}:1.2.0@{D2}", updated=1, available=1))
    r = resolve(kube)
    assert r.target is None and "rollout not complete (1/2 updated, 1/2 available" in r.reason
    kube.put("apps/v1/deployments", "staging", "web", deployment(f"{IMG}:1.2.0@{D2}"))
    r = resolve(kube)
    assert r.target is not None and (r.target.tag, r.target.digest) == ("1.2.0", D2)


def test_healthy_gate_outside_a_cluster_says_so() -> None:
    source = PromotionSource(promotion(healthy=True), [Pair(STG, PROD, "x")], [], _History(Introduced("a" * 40, T0 - 7200)),
                             _Checks((check("ci", "success"),)), lambda: T0)
    (r,) = source.resolve()
    assert r.target is None and "the agent cannot see the staging cluster" in r.reason
