"""Connecting to the Kubernetes API: in-cluster service account, or a kubeconfig.

`in_cluster()` decides whether leader election and Events are on: outside a cluster the
agent runs alone and writes without a lease.
"""

from __future__ import annotations

import os
from pathlib import Path

from kubernetes import client, config
from kubernetes.config.config_exception import ConfigException

from imagebot.errors import ImagebotError

SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")


class KubernetesUnavailable(ImagebotError):
    """No cluster to talk to: neither a service account nor a usable kubeconfig."""


def in_cluster() -> bool:
    return bool(os.environ.get("KUBERNETES_SERVICE_HOST")) and (SERVICE_ACCOUNT_DIR / "token").exists()


def own_namespace(default: str = "default") -> str:
    """The pod's namespace: $POD_NAMESPACE (downward API), the service account's, or `default`."""
    env = os.environ.get("POD_NAMESPACE")
    if env:
        return env
    try:
        return (SERVICE_ACCOUNT_DIR / "namespace").read_text().strip() or default
    except OSError:
        return default


def api_client(*, kubeconfig: str | None = None, context: str | None = None) -> client.ApiClient:
    """An ApiClient for the pod's service account when in a cluster, else for the kubeconfig."""
    conf = client.Configuration()
    try:
        if kubeconfig is None and context is None and in_cluster():
            config.load_incluster_config(client_configuration=conf)
        else:
            config.load_kube_config(config_file=kubeconfig, context=context, client_configuration=conf)
    except (ConfigException, OSError) as e:
        raise KubernetesUnavailable(f"cannot configure the Kubernetes client: {e}", temporary=False) from None
    return client.ApiClient(conf)
