"""The credentials deploy/ ships reach imagebot: the rendered Deployment, played out on disk.

`kubectl kustomize deploy/` is rendered for real. Then what the kubelet would do is done in a
temporary root: every Secret and ConfigMap volume is written at its volumeMount's path (keys as
files, as the kubelet projects them), the container's environment is built from the image's
ENV (Dockerfile) and the Deployment's `env` (values and secretKeyRefs), with paths under a mount
re-rooted into the temporary root. imagebot then runs with exactly that environment:

* `imagebot tags` lists a private registry's tags with the credentials of the mounted
  `imagebot-registries` Secret (a docker config.json) — and, as a control, finds none once
  DOCKER_CONFIG is taken out of that environment (HOME=/tmp has no docker config);
* the Git token of the `imagebot-git` Secret is what git authenticates with.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import jwt
import pytest
from ruamel.yaml import YAML

from imagebot.config import load_text
from imagebot.config.load import load
from imagebot.deliver.credentials import git_credentials
from imagebot.deliver.github_client import app_auth
from tests.support.fake_github_app import GitHubAppIssuer
from tests.support.registry import RegistryServer, registry_available
from tests.support.registry_creds import CredentialHelper, basic_auth_entry
from tests.unit.test_dockerfile import instructions

ROOT = Path(__file__).resolve().parents[2]
KUBECTL = shutil.which("kubectl")

pytestmark = [
    pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed (Debian: kubernetes-client)"),
    pytest.mark.skipif(not registry_available(), reason="docker-registry is not installed"),
]


def rendered() -> list[dict[str, Any]]:
    out = subprocess.run([KUBECTL, "kustomize", str(ROOT / "deploy")], check=True, capture_output=True, text=True, timeout=60)
    return [doc for doc in YAML(typ="safe", pure=True).load_all(out.stdout) if doc]


class Pod:
    """The imagebot container of the rendered Deployment, laid out under `root` as the kubelet would."""

    def __init__(self, objects: list[dict[str, Any]], root: Path, secrets: dict[str, dict[str, str]]):
        self.root = root
        dep = next(o for o in objects if o["kind"] == "Deployment")
        spec = dep["spec"]["template"]["spec"]
        [self.container] = spec["containers"]
        config_maps = {o["metadata"]["name"]: o["data"] for o in objects if o["kind"] == "ConfigMap"}
        volumes = {v["name"]: v for v in spec["volumes"]}
        self.mounts: list[str] = []
        for m in self.container["volumeMounts"]:
            volume = volumes[m["name"]]
            target = self.path(m["mountPath"])
            target.mkdir(parents=True, exist_ok=True)
            self.mounts.append(m["mountPath"])
            if "secret" in volume:
                data = secrets.get(volume["secret"]["secretName"])
                assert data is not None or volume["secret"].get("optional"), f"Secret {volume['secret']['secretName']} is required"
                self._project(target, data or {}, volume["secret"].get("items"))
            elif "configMap" in volume:
                self._project(target, config_maps[volume["configMap"]["name"]], volume["configMap"].get("items"))
        self.env = self._image_env()
        for e in self.container.get("env", []):
            if "value" in e:
                self.env[e["name"]] = e["value"]
            elif "secretKeyRef" in e.get("valueFrom", {}):
                ref = e["valueFrom"]["secretKeyRef"]
                value = secrets.get(ref["name"], {}).get(ref["key"])
                if value is not None:
                    self.env[e["name"]] = value
            elif "fieldRef" in e.get("valueFrom", {}):
                self.env[e["name"]] = "imagebot-0"
        self.env = {k: self.reroot(v) for k, v in self.env.items()}

    def path(self, absolute: str) -> Path:
        return self.root / absolute.lstrip("/")

    def reroot(self, value: str) -> str:
        """A path under one of the container's mounts, moved into the temporary root."""
        if any(value == m or value.startswith(m.rstrip("/") + "/") for m in self.mounts):
            return str(self.path(value))
        return value

    @staticmethod
    def _project(target: Path, data: dict[str, str], items: list[dict[str, str]] | None) -> None:
        pairs = [(i["key"], i["path"]) for i in items] if items else [(k, k) for k in data]
        for key, rel in pairs:
            if key in data:
                (target / rel).parent.mkdir(parents=True, exist_ok=True)
                (target / rel).write_text(data[key])

    @staticmethod
    def _image_env() -> dict[str, str]:
        env: dict[str, str] = {}
        for kind, args in instructions((ROOT / "Dockerfile").read_text()):
            if kind == "ENV":
                for word in args.split():
                    name, _, value = word.partition("=")
                    env[name] = value
        env.pop("PATH", None)  # the image's venv; here the test's interpreter runs imagebot
        return env


def run_imagebot(env: dict[str, str], *args: str, path: str = "") -> subprocess.CompletedProcess[str]:
    full = {**env, "PATH": path + os.environ["PATH"], "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "imagebot", *args], env=full, capture_output=True, text=True, timeout=120)


def test_the_mounted_docker_config_is_what_imagebot_reads(tmp_path: Path) -> None:
    with RegistryServer(tmp_path, htpasswd={"puller": "s3cret-registry-pw"}) as reg:
        reg.push("team/app", "1.0.0")
        reg.push("team/app", "1.1.0")
        docker_config = {"auths": {reg.host: basic_auth_entry("puller", "s3cret-registry-pw")}}
        pod = Pod(rendered(), tmp_path / "pod", {"imagebot-registries": {"config.json": json.dumps(docker_config)}})
        assert "DOCKER_CONFIG" in pod.env, "the Deployment sets DOCKER_CONFIG"
        assert Path(pod.env["DOCKER_CONFIG"], "config.json").is_file(), "DOCKER_CONFIG is the Secret's mount"
        Path(pod.env["HOME"]).mkdir(parents=True, exist_ok=True)

        out = run_imagebot(pod.env, "tags", f"{reg.host}/team/app", "--json")
        assert out.returncode == 0, out.stderr
        assert sorted(json.loads(out.stdout)["tags"]) == ["1.0.0", "1.1.0"]
        assert "s3cret-registry-pw" not in out.stdout + out.stderr

        # The control: the same pod without DOCKER_CONFIG (what deploy/ shipped before) finds nothing.
        without = {k: v for k, v in pod.env.items() if k != "DOCKER_CONFIG"}
        out = run_imagebot(without, "tags", f"{reg.host}/team/app", "--json")
        assert out.returncode != 0
        assert "requires credentials and none were found" in out.stderr


def test_a_dockerconfigjson_secret_works_too(tmp_path: Path) -> None:
    """`kubectl create secret docker-registry` stores the config under `.dockerconfigjson`."""
    with RegistryServer(tmp_path, htpasswd={"puller": "another-registry-pw"}) as reg:
        reg.push("team/app", "2.0.0")
        docker_config = {"auths": {reg.host: basic_auth_entry("puller", "another-registry-pw")}}
        pod = Pod(rendered(), tmp_path / "pod", {"imagebot-registries": {".dockerconfigjson": json.dumps(docker_config)}})
        Path(pod.env["HOME"]).mkdir(parents=True, exist_ok=True)
        out = run_imagebot(pod.env, "tags", f"{reg.host}/team/app", "--json")
        assert out.returncode == 0, out.stderr
        assert json.loads(out.stdout)["tags"] == ["2.0.0"]


@pytest.mark.parametrize("key", ["credHelpers", "credsStore"])
def test_the_ecr_login_helper_named_in_the_mounted_config_is_run(tmp_path: Path, key: str) -> None:
    """The image ships docker-credential-ecr-login; a config naming it makes imagebot run it.

    Here a stand-in `docker-credential-ecr-login` answers like the real one does for ECR
    (user `AWS`, the GetAuthorizationToken password); the registry accepts exactly that.
    """
    with RegistryServer(tmp_path, htpasswd={"AWS": "ecr-token-from-the-helper"}) as reg:
        reg.push("team/app", "3.0.0")
        helper = CredentialHelper(tmp_path / "bin", "ecr-login", {reg.host: ("AWS", "ecr-token-from-the-helper")})
        docker_config = {"credHelpers": {reg.host: "ecr-login"}} if key == "credHelpers" else {"credsStore": "ecr-login"}
        pod = Pod(rendered(), tmp_path / "pod", {"imagebot-registries": {"config.json": json.dumps(docker_config)}})
        Path(pod.env["HOME"]).mkdir(parents=True, exist_ok=True)
        out = run_imagebot(pod.env, "tags", f"{reg.host}/team/app", "--json", path=f"{helper.bin_dir}{os.pathsep}")
        assert out.returncode == 0, out.stderr
        assert json.loads(out.stdout)["tags"] == ["3.0.0"]
        assert helper.asked() == [reg.host]
        assert "ecr-token-from-the-helper" not in out.stdout + out.stderr


def test_the_git_secret_is_what_git_authenticates_with(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pod = Pod(rendered(), tmp_path / "pod", {"imagebot-git": {"token": "ghs_from_the_git_secret"}})
    for name in list(os.environ):
        monkeypatch.delenv(name)
    for name, value in pod.env.items():
        monkeypatch.setenv(name, value)
    cfg = load(pod.env["IMAGEBOT_CONFIG"])
    url, creds = git_credentials(cfg)
    assert url == cfg.repository.url
    assert creds.token == "ghs_from_the_git_secret"
    header = dict(creds.config_entries())["http.extraHeader"]
    assert header == "Authorization: Basic " + base64.b64encode(b"x-access-token:ghs_from_the_git_secret").decode()


def test_the_documented_github_app_setup_reads_the_key_from_the_git_secret(tmp_path: Path) -> None:
    """deploy/imagebot.yaml's commented App block, uncommented as it says, with the key in imagebot-git."""
    objects = rendered()
    app = GitHubAppIssuer(123456, 12345678)
    pod = Pod(objects, tmp_path / "pod", {"imagebot-git": {"app-private-key.pem": app.private_key_pem}})
    text = Path(pod.env["IMAGEBOT_CONFIG"]).read_text()
    block = "  git:\n    token_env: GITHUB_TOKEN   # the imagebot-git Secret's `token` (deployment.yaml)\n"
    assert block in text
    text = text.replace(block, "")
    text = "\n".join(line.replace("  # ", "  ", 1) if line.startswith(("  # pull_request:", "  #   ")) else line
                     for line in text.splitlines())
    key_path = "/var/run/secrets/imagebot/git/app-private-key.pem"
    assert f"private_key_file: {key_path}" in text
    assert pod.reroot(key_path) != key_path, "the key file is on the imagebot-git Secret's mount"
    cfg = load_text(text.replace(key_path, pod.reroot(key_path)), "deploy/imagebot.yaml (App)")
    assert cfg.delivery.pull_request.app is not None
    auth = app_auth(cfg.delivery.pull_request.app)
    claims = jwt.decode(auth._app_auth.create_jwt(), app.public_key, algorithms=["RS256"])
    assert claims["iss"] == "123456" and auth.installation_id == 12345678
