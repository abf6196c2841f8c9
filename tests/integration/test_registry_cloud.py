"""`registries[].provider`: logging in with the workload's cloud identity, against local stand-ins.

* aws: moto's server (STS web identity + IAM enforcement + ECR), see tests/support/cloud_aws.py;
* gcp: a GCE metadata server fake (google-auth reaches it through GCE_METADATA_HOST);
* azure: a fake Entra ID (AAD) token endpoint over HTTPS (the test CA) and a fake ACR front
  with /oauth2/exchange before a real registry.

Each lists tags from a real Debian docker-registry with htpasswd auth whose password only the
cloud's token exchange hands out.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.registry import RegistryServer, registry_available

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(not registry_available(), reason="docker-registry is not installed")


def write_config(path: Path, host: str, provider: str) -> Path:
    path.write_text(
        "repository:\n  url: /nonexistent\n"
        f"registries:\n  - host: {host}\n    insecure: true\n    provider: {provider}\n"
    )
    return path


def imagebot_tags(env: dict[str, str], config: Path, image: str) -> subprocess.CompletedProcess[str]:
    """`imagebot tags` in a clean environment: only what the pod would have, plus PATH and PYTHONPATH."""
    full = {**env, "PATH": os.environ["PATH"], "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "imagebot", "tags", image, "--json", "-c", str(config),
                           "--log-level", "debug", "--log-format", "text"],
                          env=full, capture_output=True, text=True, timeout=120)


# --- aws ------------------------------------------------------------------------------------------

def test_ecr_through_moto_with_a_web_identity_token_file(tmp_path: Path) -> None:
    """Must show: ECR through a local moto server with a web-identity token file lists tags from the
    local registry with the token it obtained."""
    from tests.support.cloud_aws import ECR_PASSWORD, WEB_IDENTITY_TOKEN, MotoAWS

    with MotoAWS(tmp_path) as aws, RegistryServer(tmp_path, htpasswd={"AWS": ECR_PASSWORD}) as reg:
        reg.push("team/app", "1.0.0")
        reg.push("team/app", "1.2.0")
        role = aws.web_identity_role("imagebot-ecr", ["ecr:GetAuthorizationToken"])
        env = aws.pod_env(role, tmp_path / "home")
        aws.enforce_after(1)  # STS web identity is unsigned; ECR must be signed by the role's keys
        out = imagebot_tags(env, write_config(tmp_path / "imagebot.yaml", reg.host, "aws"), f"{reg.host}/team/app")
        assert out.returncode == 0, out.stderr
        assert sorted(json.loads(out.stdout)["tags"]) == ["1.0.0", "1.2.0"]
        assert aws.web_identity_tokens == [WEB_IDENTITY_TOKEN], "one STS call, with the token file's content"
        assert f"aws ECR GetAuthorizationToken (role {role}" in out.stderr
        assert len(aws.issued_secrets()) == 2, "STS issued one key pair + session token"
        for secret in (ECR_PASSWORD, WEB_IDENTITY_TOKEN, *aws.issued_secrets()):
            assert secret not in out.stdout + out.stderr


def test_ecr_refused_by_iam_is_a_clear_permanent_error(tmp_path: Path) -> None:
    from tests.support.cloud_aws import MotoAWS

    with MotoAWS(tmp_path) as aws, RegistryServer(tmp_path, htpasswd={"AWS": "unused"}) as reg:
        role = aws.web_identity_role("imagebot-nothing", [])
        env = aws.pod_env(role, tmp_path / "home")
        aws.enforce_after(1)
        out = imagebot_tags(env, write_config(tmp_path / "imagebot.yaml", reg.host, "aws"), f"{reg.host}/team/app")
        assert out.returncode != 0
        # moto answers IAM refusals in XML whatever the protocol; botocore keeps the status as the code.
        assert "provider: aws: GetAuthorizationToken failed" in out.stderr
        assert "AccessDenied" in out.stderr and "not authorized to perform: ecr:GetAuthorizationToken" in out.stderr


def test_ecr_without_any_aws_identity_says_what_to_set_up(tmp_path: Path) -> None:
    with RegistryServer(tmp_path, htpasswd={"AWS": "unused"}) as reg:
        home = tmp_path / "home"
        home.mkdir()
        env = {"HOME": str(home), "AWS_REGION": "eu-west-1", "AWS_EC2_METADATA_DISABLED": "true",
               "AWS_CONFIG_FILE": str(home / "none"), "AWS_SHARED_CREDENTIALS_FILE": str(home / "none")}
        out = imagebot_tags(env, write_config(tmp_path / "imagebot.yaml", reg.host, "aws"), f"{reg.host}/team/app")
        assert out.returncode != 0
        assert "provider: aws found no AWS identity" in out.stderr


# --- gcp ------------------------------------------------------------------------------------------

def gcp_env(meta: Any, home: Path) -> dict[str, str]:
    home.mkdir(parents=True, exist_ok=True)
    return {"HOME": str(home), "CLOUDSDK_CONFIG": str(home / "gcloud"), **meta.env()}


def test_gcp_workload_identity_through_a_metadata_server_fake(tmp_path: Path) -> None:
    from tests.support.cloud_fakes import FakeMetadataServer

    token = "ya29.gke-workload-identity-token-for-imagebot"
    with FakeMetadataServer(tokens=(token,)) as meta, RegistryServer(tmp_path, htpasswd={"oauth2accesstoken": token}) as reg:
        reg.push("team/app", "4.0.0")
        out = imagebot_tags(gcp_env(meta, tmp_path / "home"), write_config(tmp_path / "imagebot.yaml", reg.host, "gcp"),
                            f"{reg.host}/team/app")
        assert out.returncode == 0, out.stderr
        assert json.loads(out.stdout)["tags"] == ["4.0.0"]
        assert meta.issued == [token]
        assert "gcp access token (imagebot@test-project.iam.gserviceaccount.com)" in out.stderr
        assert token not in out.stdout + out.stderr


def test_gcp_without_a_metadata_server_says_what_to_set_up(tmp_path: Path) -> None:
    from tests.support.registry import free_port

    with RegistryServer(tmp_path, htpasswd={"oauth2accesstoken": "unused"}) as reg:
        home = tmp_path / "home"
        home.mkdir()
        nobody = f"127.0.0.1:{free_port()}"
        env = {"HOME": str(home), "CLOUDSDK_CONFIG": str(home / "gcloud"), "GCE_METADATA_HOST": nobody,
               "GCE_METADATA_IP": nobody, "GCE_METADATA_DETECT_RETRIES": "1", "GCE_METADATA_TIMEOUT": "1"}
        out = imagebot_tags(env, write_config(tmp_path / "imagebot.yaml", reg.host, "gcp"), f"{reg.host}/team/app")
        assert out.returncode != 0
        assert "provider: gcp found no Google identity" in out.stderr


def test_a_cloud_login_is_kept_across_cycles_until_shortly_before_it_expires(tmp_path: Path,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """One token request per token lifetime, not per cycle; a token is never used past its margin."""
    import time

    from google.auth.compute_engine import _metadata

    from imagebot.config.schema import RegistrySettings
    from imagebot.registry.credentials import CredentialStore
    from tests.support.cloud_fakes import FakeMetadataServer

    with FakeMetadataServer(expires_in=3600) as meta:
        monkeypatch.setattr(_metadata, "_GCE_METADATA_HOST", meta.host)  # read by google-auth at import
        for name, value in gcp_env(meta, tmp_path / "home").items():
            monkeypatch.setenv(name, value)
        monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
        host = "europe-docker.pkg.dev"
        settings = {host: RegistrySettings(host=host, provider="gcp")}

        store = CredentialStore(settings, dict(os.environ))
        first = store.get(host)
        assert first is not None and first.username == "oauth2accesstoken" and first.password == meta.issued[0]
        assert 3600 - 300 - 5 < first.expires_at - time.time() <= 3600 - 300  # 5 min before expiry
        for _cycle in range(3):
            store.forget()
            assert store.get(host) is first
        assert len(meta.issued) == 1

        meta.expires_in = 2  # a short-lived token: used until a quarter of its life before expiry
        store = CredentialStore(settings, dict(os.environ))
        short = store.get(host)
        assert short is not None and short.password == meta.issued[1]
        assert store.get(host) is short
        time.sleep(max(0.0, short.expires_at - time.time()) + 0.05)
        again = store.get(host)  # within the same cycle too: an expired login is not handed out
        assert again is not None and again.password == meta.issued[2] != short.password


# --- azure ----------------------------------------------------------------------------------------

TENANT, CLIENT = "72f988bf-0000-0000-0000-2d7cd011db47", "c0ffee00-0000-0000-0000-000000000001"


@contextlib.contextmanager
def entra_id(tmp_path: Path, token_in_pod: str, token_expected: str) -> Iterator[tuple[Any, dict[str, str]]]:
    """A fake Entra ID expecting `token_expected`, and what AKS workload identity puts into the pod."""
    from tests.support.cloud_fakes import FakeEntraID, tls_context
    from tests.support.registry_tls import RegistryPKI

    pki = RegistryPKI(tmp_path / "pki")
    token_file = tmp_path / "azure-identity-token"
    token_file.write_text(token_in_pod)
    home = tmp_path / "home"
    home.mkdir()
    with FakeEntraID(tls_context(pki.cert_file, pki.key_file), TENANT, CLIENT, token_expected) as aad:
        yield aad, {"HOME": str(home), "AZURE_CLIENT_ID": CLIENT, "AZURE_TENANT_ID": TENANT,
                    "AZURE_FEDERATED_TOKEN_FILE": str(token_file), "AZURE_AUTHORITY_HOST": aad.authority,
                    "REQUESTS_CA_BUNDLE": str(pki.ca_file)}


def test_acr_through_fake_entra_id_and_the_acr_token_exchange(tmp_path: Path) -> None:
    from tests.support.cloud_fakes import ACR_USER, FakeACR

    federated = "eyJhbGciOiJSUzI1NiJ9.aks-projected-service-account-token.sig"
    with entra_id(tmp_path, federated, federated) as (aad, env):
        acr = FakeACR("", aad)
        with RegistryServer(tmp_path, htpasswd={ACR_USER: acr.refresh_token}) as reg, acr:
            acr.upstream = reg.url
            reg.push("team/app", "5.0.0")
            out = imagebot_tags(env, write_config(tmp_path / "imagebot.yaml", acr.host, "azure"), f"{acr.host}/team/app")
            assert out.returncode == 0, out.stderr + "\n".join(aad.refused)
            assert json.loads(out.stdout)["tags"] == ["5.0.0"]
            assert len(aad.issued) == 1 and not aad.refused
            [exchange] = acr.exchanges
            assert exchange["access_token"] == aad.issued[0] and exchange["tenant"] == TENANT
            assert f"azure ACR refresh token (client {CLIENT})" in out.stderr
            for secret in (federated, aad.issued[0], acr.refresh_token):
                assert secret not in out.stdout + out.stderr


def test_acr_with_a_federated_token_entra_id_refuses_is_a_clear_error(tmp_path: Path) -> None:
    from tests.support.cloud_fakes import FakeACR

    with entra_id(tmp_path, "a-token-from-another-cluster", "the-expected-token") as (aad, env):
        with RegistryServer(tmp_path, htpasswd={"someone": "else"}) as reg, FakeACR(reg.url, aad) as acr:
            out = imagebot_tags(env, write_config(tmp_path / "imagebot.yaml", acr.host, "azure"), f"{acr.host}/team/app")
            assert out.returncode != 0
            assert "provider: azure: Entra ID token request failed" in out.stderr
            assert aad.refused == ["client_assertion is not the federated token"] and not acr.exchanges
            assert "a-token-from-another-cluster" not in out.stderr
