"""Drift: Git declares one image, someone ran `kubectl set image` in the cluster.

Real Git remote, the Kubernetes API emulator over HTTP, the real `imagebot drift` command (via a
kubeconfig) and the real agent's periodic check (metric and Event).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import requests
from click.testing import CliRunner
from kubernetes import client

from imagebot.agent.loop import Agent
from imagebot.agent.serve import serve
from imagebot.cli import main
from imagebot.config.load import load
from imagebot.discover.declared import declared_workloads
from imagebot.k8s.drift import check_drift, same_image
from tests.integration.test_webhook import Recorder
from tests.support.gitrepo import make_remote
from tests.support.kube import KubeServer, kube  # noqa: F401  (fixture)

WEB = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: prod
spec:
  template:
    spec:
      initContainers:
        - name: migrate
          image: ghcr.io/org/migrate:3.1
      containers:
        - name: app
          image: nginx:1.25
        - name: sidecar
          image: "docker.io/library/busybox:1.36"
"""
WORKER = """\
apiVersion: batch/v1
kind: CronJob
metadata:
  name: report
spec:
  schedule: "0 * * * *"
  jobTemplate:
    spec:
      template:
        spec:
          containers:
            - name: report
              image: ghcr.io/org/report:2.0.0
---
apiVersion: v1
kind: Service
metadata:
  name: web
"""
FILES = {
    "apps/web.yaml": WEB,
    "jobs/kustomization.yaml": "namespace: batch\nresources:\n  - report.yaml\n",
    "jobs/report.yaml": WORKER,
    "chart/templates/deploy.yaml": "kind: Deployment\nmetadata:\n  name: {{ .Release.Name }}\nspec:\n  image: x\n",
}


def live(kind_path: str, containers: dict[str, list[dict[str, str]]]) -> dict[str, Any]:
    spec: dict[str, Any] = {"spec": containers}
    for key in reversed(kind_path.split(".")):
        spec = {key: spec}
    return spec


def seed_cluster(kube: KubeServer) -> None:
    kube.put("apps/v1/deployments", "prod", "web", live("spec.template", {
        "initContainers": [{"name": "migrate", "image": "ghcr.io/org/migrate:3.1"}],
        "containers": [{"name": "app", "image": "docker.io/library/nginx:1.25"},
                       {"name": "sidecar", "image": "busybox:1.36@sha256:" + "a" * 64}],
    }))
    kube.put("batch/v1/cronjobs", "batch", "report", live("spec.jobTemplate.spec.template", {
        "containers": [{"name": "report", "image": "ghcr.io/org/report:2.0.0"}],
    }))


def kubectl_set_image(kube: KubeServer) -> None:
    """What `kubectl set image deployment/web app=nginx:1.27-hotfix -n prod` sends: a PATCH."""
    apps = client.AppsV1Api(kube.api_client())
    obj = json.loads(apps.read_namespaced_deployment("web", "prod", _preload_content=False).data)
    containers = obj["spec"]["template"]["spec"]["containers"]
    containers[0]["image"] = "nginx:1.27-hotfix"
    apps.patch_namespaced_deployment("web", "prod", {"spec": {"template": {"spec": {"containers": containers}}}},
                                     _preload_content=False)


def write_config(tmp_path: Path, remote: Path, **agent: Any) -> Path:
    cfg = tmp_path / "imagebot.yaml"
    cfg.write_text(json.dumps({"repository": {"url": str(remote)}, "interval": "1h",
                               "cache_dir": str(tmp_path / "cache"), "agent": agent}))
    return cfg


def write_kubeconfig(tmp_path: Path, url: str) -> Path:
    path = tmp_path / "kubeconfig"
    path.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "emu",
        "clusters": [{"name": "emu", "cluster": {"server": url}}],
        "users": [{"name": "me", "user": {}}],
        "contexts": [{"name": "emu", "context": {"cluster": "emu", "user": "me"}}],
    }))
    return path


def test_declared_workloads_read_every_container_and_the_kustomization_namespace(tmp_path: Path) -> None:
    for rel, text in FILES.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    found = declared_workloads(tmp_path)
    assert [(str(w), str(w.location), [(c.name, c.image) for c in w.containers]) for w in found.workloads] == [
        ("Deployment/prod/web", "apps/web.yaml:2", [("migrate", "ghcr.io/org/migrate:3.1"), ("app", "nginx:1.25"),
                                                    ("sidecar", "docker.io/library/busybox:1.36")]),
        ("CronJob/batch/report", "jobs/report.yaml:2", [("report", "ghcr.io/org/report:2.0.0")]),
    ]
    assert found.problems == ()


def test_no_drift_when_the_cluster_runs_what_git_declares(kube: KubeServer, tmp_path: Path) -> None:
    seed_cluster(kube)
    remote = make_remote(tmp_path, FILES)
    result = CliRunner().invoke(main, ["drift", "-c", str(write_config(tmp_path, remote)),
                                       "--kubeconfig", str(write_kubeconfig(tmp_path, kube.url))])
    assert result.exit_code == 0, result.output
    assert "2 workload(s) checked; 0 drifted; 0 problem(s)." in result.output


def test_kubectl_set_image_is_reported_by_imagebot_drift(kube: KubeServer, tmp_path: Path) -> None:
    seed_cluster(kube)
    kubectl_set_image(kube)
    remote = make_remote(tmp_path, FILES)
    result = CliRunner().invoke(main, ["drift", "-c", str(write_config(tmp_path, remote)), "--json",
                                       "--kubeconfig", str(write_kubeconfig(tmp_path, kube.url))])
    assert result.exit_code == 1, result.output
    report = json.loads(result.output)
    assert report["drifts"] == [{
        "kind": "Deployment", "namespace": "prod", "name": "web", "container": "app",
        "declared": "nginx:1.25", "live": "nginx:1.27-hotfix", "file": "apps/web.yaml:2",
    }]
    assert report["drifted_workloads"] == 1
    kinds = [r.method for r in kube.emulator._requests if r.resource is not None]  # type: ignore[union-attr]
    assert set(kinds) <= {"GET", "PATCH"}  # the PATCH is ours, playing kubectl; imagebot only reads


def test_a_workload_missing_from_the_cluster_is_drift(kube: KubeServer, tmp_path: Path) -> None:
    (tmp_path / "apps").mkdir()
    (tmp_path / "apps/web.yaml").write_text(WEB)
    report = check_drift(declared_workloads(tmp_path).workloads,
                         __import__("imagebot.k8s.drift", fromlist=["api_reader"]).api_reader(kube.api_client()))
    assert [str(d) for d in report.drifts] == [
        "Deployment/prod/web: declared in apps/web.yaml:2 but not found in the cluster"]


def test_same_image_rules() -> None:
    assert same_image("nginx:1.25", "docker.io/library/nginx:1.25")
    assert same_image("nginx", "nginx:latest")
    assert same_image("nginx:1.25", "nginx:1.25@sha256:" + "b" * 64)  # a digest pinned by admission
    assert not same_image("nginx:1.25@sha256:" + "a" * 64, "nginx:1.25@sha256:" + "b" * 64)
    assert not same_image("nginx:1.25", "nginx:1.26")
    assert not same_image("ghcr.io/a/nginx:1.25", "nginx:1.25")


@contextmanager
def running_agent(cfg: Any, kube: KubeServer) -> Iterator[dict[str, Any]]:
    """`serve` in a thread over the API emulator (cycles recorded, not run); yields {agent, url}."""
    started: dict[str, Any] = {}
    ready = threading.Event()

    def on_started(agent: Agent, server: Any) -> None:
        started.update(agent=agent, url=server.url)
        ready.set()

    t = threading.Thread(target=serve, args=(cfg,), kwargs={
        "listen": "127.0.0.1:0", "run_cycle": Recorder(), "kube_api": kube.api_client(),
        "on_started": on_started, "install_signals": False})
    t.start()
    try:
        assert ready.wait(10)
        yield started
    finally:
        if "agent" in started:
            started["agent"].stop()
        t.join(15)
    assert not t.is_alive()


def test_the_agent_checks_drift_periodically_sets_the_metric_and_posts_an_event(kube: KubeServer, tmp_path: Path) -> None:
    seed_cluster(kube)
    kubectl_set_image(kube)
    remote = make_remote(tmp_path, FILES)
    cfg = load(write_config(tmp_path, remote, drift_interval="1h",
                            leader_election={"lease_duration": "3s", "renew_deadline": "2s", "retry_period": "100ms"}))
    with running_agent(cfg, kube) as started:
        events: list[dict[str, Any]] = []
        for _ in range(100):  # bounded: the drift check runs right after start-up
            events = [e for e in kube.list("v1/events") if e.get("reason") == "DriftDetected"]
            if events:
                break
            threading.Event().wait(0.05)
        assert len(events) == 1, kube.list("v1/events")
        e = events[0]
        assert e["involvedObject"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web", "namespace": "prod"}
        assert e["type"] == "Warning" and "nginx:1.27-hotfix" in e["message"]
        metrics = requests.get(started["url"] + "/metrics", timeout=5).text
        assert "imagebot_drifted_workloads 1.0" in metrics
        assert "imagebot_leader 1.0" in metrics
        assert 'imagebot_kubernetes_events_total{reason="DriftDetected"} 1.0' in metrics
    lease = kube.get("coordination.k8s.io/v1/leases", "default", "imagebot")
    assert lease is not None and "holderIdentity" not in lease["spec"], "the lease is released at shutdown"


API = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: api
  namespace: ops
spec:
  template:
    spec:
      containers:
        - name: api
          image: ghcr.io/org/api:4.2.0
"""


def test_the_agent_checks_drift_in_every_repository_it_holds_and_names_the_repository(kube: KubeServer,
                                                                                       tmp_path: Path) -> None:
    """`repositories:` with two lanes (one Lease each, both held by this agent): each lane's declared
    workloads, from its own clone, are compared with the cluster; one drifted workload in each is
    reported with its repository in the metric, the log, the Event and the notification."""
    import logging

    from tests.support.receivers import Receiver

    seed_cluster(kube)
    kubectl_set_image(kube)  # drift in lane "apps": Deployment/prod/web
    kube.put("apps/v1/deployments", "ops", "api", live("spec.template", {
        "containers": [{"name": "api", "image": "ghcr.io/org/api:4.2.0-debug"}]}))  # drift in lane "ops"
    apps = make_remote(tmp_path, FILES, name="apps.git")
    ops = make_remote(tmp_path, {"deploy/api.yaml": API}, name="ops.git")
    with Receiver() as hook:
        cfg_path = tmp_path / "imagebot.yaml"
        cfg_path.write_text(json.dumps({
            "repositories": [{"name": "apps", "url": str(apps)}, {"name": "ops", "url": str(ops)}],
            "interval": "1h", "cache_dir": str(tmp_path / "cache"),
            "notifications": [{"type": "webhook", "url": hook.url, "timeout": 5, "max_attempts": 1}],
            "agent": {"drift_interval": "1h", "leader_election": {
                "lease_duration": "3s", "renew_deadline": "2s", "retry_period": "100ms"}}}))
        cfg = load(cfg_path)
        logged: list[logging.LogRecord] = []

        class Capture(logging.Handler):
            def emit(self, record: logging.LogRecord) -> None:
                if record.getMessage().startswith("drift"):
                    logged.append(record)

        capture = Capture()
        logging.getLogger("imagebot.agent").addHandler(capture)
        try:
            with running_agent(cfg, kube) as started:
                events: list[dict[str, Any]] = []
                for _ in range(200):  # bounded: each lane's check runs once its Lease is taken
                    events = [e for e in kube.list("v1/events") if e.get("reason") == "DriftDetected"]
                    if len(events) == 2:
                        break
                    threading.Event().wait(0.05)
                by_name = {e["involvedObject"]["name"]: e for e in events}
                assert sorted(by_name) == ["api", "web"], kube.list("v1/events")
                for name, repo in (("web", "apps"), ("api", "ops")):
                    e = by_name[name]
                    assert e["metadata"]["annotations"] == {"imagebot.io/repository": repo}
                    assert e["message"].startswith(f"[{repo}] ") and e["type"] == "Warning"
                assert "ghcr.io/org/api:4.2.0-debug" in by_name["api"]["message"]
                for _ in range(100):  # the check that posted the last Event sets the total when it ends
                    metrics = requests.get(started["url"] + "/metrics", timeout=5).text
                    if "imagebot_drifted_workloads 2.0" in metrics:
                        break
                    threading.Event().wait(0.05)
                assert 'imagebot_repository_drifted_workloads{repository="apps"} 1.0' in metrics
                assert 'imagebot_repository_drifted_workloads{repository="ops"} 1.0' in metrics
                assert "imagebot_drifted_workloads 2.0" in metrics
                fields = sorted({(r.fields["repository"], r.fields["name"]) for r in logged  # type: ignore[attr-defined]
                                 if getattr(r, "fields", {}).get("event") == "drift"})
                assert fields == [("apps", "web"), ("ops", "api")]
                assert any("in repository ops" in r.getMessage() for r in logged)
                received = [ev for req in hook.wait_for(2) for ev in req.json()["events"] if ev["kind"] == "drift-detected"]
                assert sorted((ev["repository"], ev["subject"]) for ev in received) == [
                    (str(apps), "Deployment/prod/web"), (str(ops), "Deployment/ops/api")], received
        finally:
            logging.getLogger("imagebot.agent").removeHandler(capture)
