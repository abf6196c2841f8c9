"""deploy/ as operators run it: RBAC equal to the API calls the code makes (Lease name from the
shipped config), the webhook Service, the pod's address for handing webhooks to the leader, and the
optional components (NetworkPolicy; ServiceMonitor + PrometheusRule) rendered through
config/deploy-production, validated, and alerting only on metrics imagebot exports.
"""

from __future__ import annotations

import re
import subprocess
from typing import Any

import kubernetes_validate
import pytest
from prometheus_client.parser import text_string_to_metric_families
from ruamel.yaml import YAML

from imagebot.config import load_text
from imagebot.config.load import load
from imagebot.config.schema import Config
from imagebot.k8s.shards import LaneShards
from imagebot.lanes import lanes_of
from imagebot.report.metrics import Metrics
from tests.unit.test_deploy import KUBE_VERSION, KUBECTL, ROOT, objects, one  # noqa: F401  (fixture)

#: kubernetes client method -> (API group, resource); verbs from the method's prefix.
RESOURCES = {
    "lease": ("coordination.k8s.io", "leases"), "event": ("", "events"), "pod": ("", "pods"),
    "deployment": ("apps", "deployments"), "stateful_set": ("apps", "statefulsets"),
    "daemon_set": ("apps", "daemonsets"), "replica_set": ("apps", "replicasets"),
    "job": ("batch", "jobs"), "cron_job": ("batch", "cronjobs"), "secret": ("", "secrets"),
}
VERBS = {"read": "get", "create": "create", "replace": "update", "patch": "patch", "list": "list", "delete": "delete"}


def api_calls() -> set[tuple[str, str, str]]:
    """(group, resource, verb) of every kubernetes client call in imagebot/."""
    calls = set()
    for path in (ROOT / "imagebot").rglob("*.py"):
        for verb, kind in re.findall(r"\.(read|create|replace|patch|list|delete)_namespaced_(\w+?)\b", path.read_text()):
            group, resource = RESOURCES[kind]
            calls.add((group, resource, VERBS[verb]))
    return calls


def granted(objects: list[dict[str, Any]]) -> set[tuple[str, str, str]]:
    out = set()
    for role in (o for o in objects if o["kind"] in ("Role", "ClusterRole")):
        for rule in role["rules"]:
            for group in rule["apiGroups"]:
                for resource in rule["resources"]:
                    out |= {(group, resource, verb) for verb in rule["verbs"]}
    return out


def test_rbac_grants_exactly_the_calls_the_code_makes(objects: list[dict[str, Any]]) -> None:
    calls = api_calls()
    assert ("coordination.k8s.io", "leases", "update") in calls  # the scan sees the code
    assert granted(objects) == calls


def allows(role: dict[str, Any], verb: str, lease: str) -> bool:
    """Whether the Role lets the agent `verb` the Lease named `lease` (resourceNames, when given, are exact names)."""
    return any("coordination.k8s.io" in r["apiGroups"] and "leases" in r["resources"] and verb in r["verbs"]
               and (not r.get("resourceNames") or lease in r["resourceNames"]) for r in role["rules"])


def leases_of(cfg: Config) -> list[str]:
    """The Leases the agent takes for `cfg`, named by the code that names them (imagebot.agent.serve's choice:
    a fleet's lanes through LaneShards, one repository through the leader Lease)."""
    name = cfg.agent.leader_election.lease_name
    if not cfg.repositories:
        return [name]
    shards = LaneShards(None, base_name=name, namespace="imagebot", lanes=[x.name for x in lanes_of(cfg)], identity="r")  # type: ignore[arg-type]
    return [shards.membership.name, *(e.name for e in shards.electors.values())]


@pytest.mark.parametrize("config", ["deploy/imagebot.yaml", "config/example-repositories.yaml"])
def test_the_role_grants_every_lease_the_agent_takes(objects: list[dict[str, Any]], config: str) -> None:
    role = one(objects, "Role")
    if config == "deploy/imagebot.yaml":  # the shipped one, as the ConfigMap carries it
        cm = next(o for o in objects if o["kind"] == "ConfigMap")
        cfg = load_text(cm["data"]["imagebot.yaml"], config)
    else:  # a fleet: several lanes, so per-lane Leases and the membership Lease
        cfg = load(ROOT / config)
        assert len(lanes_of(cfg)) > 1
    names = leases_of(cfg)
    assert names and all(allows(role, verb, n) for n in names for verb in ("create", "get", "update")), names
    assert role["metadata"]["namespace"] == one(objects, "Deployment")["metadata"]["namespace"]  # its own namespace only
    assert not any("leases" in r["resources"] for c in objects if c["kind"] == "ClusterRole" for r in c["rules"])


def test_the_pod_advertises_its_ip_for_the_webhook_hand_over(objects: list[dict[str, Any]]) -> None:
    [c] = one(objects, "Deployment")["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e for e in c["env"]}
    assert env["POD_IP"]["valueFrom"]["fieldRef"]["fieldPath"] == "status.podIP"
    hooks = one(objects, "Service", "imagebot-webhooks")
    assert hooks["spec"]["ports"][0]["targetPort"] == "webhooks"  # the webhook-only listener
    cm = next(o for o in objects if o["kind"] == "ConfigMap")
    cfg = load_text(cm["data"]["imagebot.yaml"], "deploy/imagebot.yaml")
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    assert cfg.agent.webhooks_listen is not None and cfg.agent.webhooks_listen.endswith(f":{ports['webhooks']}")
    assert cfg.agent.listen.endswith(f":{ports['http']}")


@pytest.fixture(scope="module")
def production() -> list[dict[str, Any]]:
    if KUBECTL is None:
        pytest.skip("kubectl is not installed (Debian: kubernetes-client)")
    out = subprocess.run([KUBECTL, "kustomize", str(ROOT / "config" / "deploy-production")], check=True,
                         capture_output=True, text=True, timeout=60)
    return [doc for doc in YAML(typ="safe", pure=True).load_all(out.stdout) if doc]


def test_the_components_render_into_the_namespace_and_validate(production: list[dict[str, Any]]) -> None:
    kinds = {o["kind"] for o in production}
    assert {"NetworkPolicy", "ServiceMonitor", "PrometheusRule"} <= kinds
    for obj in production:
        assert obj["kind"] in ("Namespace", "ClusterRole", "ClusterRoleBinding") or obj["metadata"]["namespace"] == "imagebot"
        if obj["kind"] in ("ServiceMonitor", "PrometheusRule"):
            continue  # CRDs: no schema in kubernetes-validate; checked structurally below
        kubernetes_validate.validate(obj, KUBE_VERSION, strict=True)


def test_the_network_policy_lets_in_webhooks_scrapes_and_the_other_replica(production: list[dict[str, Any]]) -> None:
    policy = one(production, "NetworkPolicy")
    dep = one(production, "Deployment")
    assert policy["spec"]["podSelector"]["matchLabels"].items() <= dep["spec"]["template"]["metadata"]["labels"].items()
    assert set(policy["spec"]["policyTypes"]) == {"Ingress", "Egress"}
    ingress = policy["spec"]["ingress"]
    assert [rule["ports"] for rule in ingress] == [[{"port": "webhooks", "protocol": "TCP"}],
                                                   [{"port": "http", "protocol": "TCP"}],
                                                   [{"port": "http", "protocol": "TCP"}]]
    assert ingress[0]["from"] != ingress[1]["from"]  # the Ingress controller reaches webhooks only
    egress_ports = {p["port"] for rule in policy["spec"]["egress"] for p in rule["ports"]}
    assert {53, 443, 22, 8080} <= egress_ports


def test_the_service_monitor_scrapes_the_metrics_service(production: list[dict[str, Any]]) -> None:
    sm = one(production, "ServiceMonitor")
    svc = one(production, "Service", "imagebot")
    assert sm["spec"]["selector"]["matchLabels"].items() <= svc["metadata"]["labels"].items()
    assert {e["port"] for e in sm["spec"]["endpoints"]} <= {p["name"] for p in svc["spec"]["ports"]}
    assert not sm["spec"]["selector"]["matchLabels"].items() <= one(production, "Service", "imagebot-webhooks")["metadata"]["labels"].items()


def test_every_alert_uses_metrics_imagebot_exports(production: list[dict[str, Any]]) -> None:
    rules = [r for g in one(production, "PrometheusRule")["spec"]["groups"] for r in g["rules"]]
    alerts = {r["alert"] for r in rules}
    assert {"ImagebotCyclesFailing", "ImagebotImageUpdateWaiting", "ImagebotDrift"} <= alerts
    body, _ = Metrics().exposition()
    exported = {f.name for f in text_string_to_metric_families(body.decode())}
    exported |= {n + "_total" for n in exported}
    for rule in rules:
        used = set(re.findall(r"\b(imagebot_[a-z_]+)", rule["expr"]))
        assert used and used <= exported, (rule["alert"], used - exported)
