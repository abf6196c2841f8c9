"""deploy/: the kustomize base renders with the real kubectl, every object validates against the
Kubernetes schemas, and the manifests keep the promises docs/agent.md makes (two replicas,
hardening, probes, minimal RBAC, the config it ships is a valid imagebot config).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
from ruamel.yaml import YAML

from imagebot.config import load_text

ROOT = Path(__file__).resolve().parents[2]
KUBECTL = shutil.which("kubectl")
KUBE_VERSION = "1.30.0"


@pytest.fixture(scope="module")
def objects() -> list[dict[str, Any]]:
    if KUBECTL is None:
        pytest.skip("kubectl is not installed (Debian: kubernetes-client)")
    out = subprocess.run([KUBECTL, "kustomize", str(ROOT / "deploy")], check=True, capture_output=True, text=True, timeout=60)
    return [doc for doc in YAML(typ="safe", pure=True).load_all(out.stdout) if doc]


def one(objects: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    found = [o for o in objects if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)]
    assert len(found) == 1, f"{kind}/{name}: {len(found)} found"
    return found[0]


def test_renders_the_promised_objects(objects: list[dict[str, Any]]) -> None:
    kinds = sorted(f"{o['kind']}/{o['metadata']['name']}" for o in objects)
    assert [k for k in kinds if not k.startswith("ConfigMap/")] == [
        "ClusterRole/imagebot-drift-reader", "ClusterRoleBinding/imagebot-drift-reader", "Deployment/imagebot",
        "Namespace/imagebot", "PodDisruptionBudget/imagebot", "Role/imagebot", "RoleBinding/imagebot",
        "Service/imagebot", "Service/imagebot-webhooks", "ServiceAccount/imagebot",
    ]
    assert all(o["metadata"].get("namespace") == "imagebot" for o in objects
               if o["kind"] not in ("Namespace", "ClusterRole", "ClusterRoleBinding"))


def test_every_object_validates_against_the_kubernetes_schemas(objects: list[dict[str, Any]]) -> None:
    for obj in objects:
        try:
            kubernetes_validate.validate(obj, KUBE_VERSION, strict=True)
        except kubernetes_validate.ValidationError as e:
            pytest.fail(f"{obj['kind']}/{obj['metadata']['name']}: {e.message} at {'.'.join(map(str, e.path))}")


def test_deployment_two_replicas_hardened_with_probes(objects: list[dict[str, Any]]) -> None:
    dep = one(objects, "Deployment")
    assert dep["spec"]["replicas"] == 2
    pod = dep["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    [c] = pod["containers"]
    sc = c["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"] == {"drop": ["ALL"]}
    assert sc["seccompProfile"] == {"type": "RuntimeDefault"}
    assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert c["resources"]["requests"] and c["resources"]["limits"]["memory"]
    # Writable mounts are emptyDirs only; the config and Secrets are read-only.
    volumes = {v["name"]: v for v in pod["volumes"]}
    for m in c["volumeMounts"]:
        assert m.get("readOnly") or "emptyDir" in volumes[m["name"]], m
    env = {e["name"]: e for e in c["env"]}
    config_mount = next(m for m in c["volumeMounts"] if m["name"] == "config")["mountPath"]
    assert env["IMAGEBOT_CONFIG"]["value"].startswith(config_mount + "/")
    assert env["POD_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    assert env["IMAGEBOT_WEBHOOK_TOKEN"]["valueFrom"]["secretKeyRef"]["optional"] is True


def test_the_services_reach_the_pods_http_port(objects: list[dict[str, Any]]) -> None:
    dep = one(objects, "Deployment")
    labels = dep["spec"]["template"]["metadata"]["labels"]
    for svc in (one(objects, "Service", "imagebot"), one(objects, "Service", "imagebot-webhooks")):
        assert svc["spec"]["selector"].items() <= labels.items()
        [port] = svc["spec"]["ports"]
        assert port["targetPort"] in ("http", "webhooks")
    assert any(p["name"] == "http" for p in dep["spec"]["template"]["spec"]["containers"][0]["ports"])


def test_rbac_is_minimal(objects: list[dict[str, Any]]) -> None:
    role = one(objects, "Role")
    for rule in role["rules"]:
        assert "*" not in rule["verbs"] and "*" not in rule["resources"]
        assert "secrets" not in rule["resources"], "Secrets are mounted by the kubelet, never read through the API"
        if "leases" in rule["resources"]:
            assert set(rule["verbs"]) <= {"get", "create", "update"}
    reader = one(objects, "ClusterRole")
    for rule in reader["rules"]:
        if rule["resources"] == ["events"]:
            assert set(rule["verbs"]) <= {"create"}
        else:
            assert rule["verbs"] == ["get"], "read-only on workloads: never list, watch, patch or update"
    sa = one(objects, "ServiceAccount")["metadata"]["name"]
    for binding in (one(objects, "RoleBinding"), one(objects, "ClusterRoleBinding")):
        assert binding["subjects"] == [{"kind": "ServiceAccount", "name": sa, "namespace": "imagebot"}]


def test_the_shipped_config_is_a_valid_imagebot_config(objects: list[dict[str, Any]]) -> None:
    cm = next(o for o in objects if o["kind"] == "ConfigMap")
    dep = one(objects, "Deployment")
    assert dep["spec"]["template"]["spec"]["volumes"][0]["configMap"]["name"] == cm["metadata"]["name"]
    cfg = load_text(cm["data"]["imagebot.yaml"], "deploy/imagebot.yaml")
    assert cfg.agent.leader_election.enabled
    assert cfg.cache_dir == "/var/cache/imagebot"
    mounts = {m["mountPath"] for m in dep["spec"]["template"]["spec"]["containers"][0]["volumeMounts"]}
    assert cfg.cache_dir in mounts
