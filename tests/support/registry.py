"""A real CNCF distribution registry (Debian's `docker-registry`) on 127.0.0.1 for tests.

    with RegistryServer(tmp_path) as reg:          # anonymous
        reg.push("team/app", "1.0.0")
        reg.host  # "127.0.0.1:PORT"

Auth variants: ``RegistryServer(tmp, htpasswd={"user": "pw"})`` for Basic auth. Token auth
(``token=...``) is configured through ``extra_config``.

Images are seeded over the registry's own HTTP API: a config blob unique to the tag (so each
tag has its own digest), one small layer shared by all (mounted across repositories), and a
manifest of the requested media type.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import shutil
import socket
import subprocess
import tarfile
import time
from pathlib import Path
from typing import Any

import requests

REGISTRY_BIN = os.environ.get("IMAGEBOT_TEST_REGISTRY_BIN", "/usr/bin/docker-registry")

DOCKER_V2 = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
ALL_MANIFEST_TYPES = (OCI_INDEX, OCI_MANIFEST, DOCKER_LIST, DOCKER_V2)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def registry_available() -> bool:
    return Path(REGISTRY_BIN).exists()


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _layer() -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        data = b"hello from imagebot tests\n"
        info = tarfile.TarInfo("hello.txt")
        info.size, info.mtime = len(data), 0
        tar.addfile(info, io.BytesIO(data))
    return gzip.compress(buf.getvalue(), mtime=0)


class RegistryServer:
    def __init__(
        self,
        workdir: Path,
        *,
        htpasswd: dict[str, str] | None = None,
        extra_config: dict[str, Any] | None = None,
        port: int | None = None,
    ):
        self.workdir = Path(workdir) / f"registry-{os.getpid()}-{time.monotonic_ns()}"
        self.port = port or free_port()
        self.host = f"127.0.0.1:{self.port}"
        self.url = f"http://{self.host}"
        self.htpasswd = htpasswd
        self.extra_config = extra_config or {}
        self.proc: subprocess.Popen[bytes] | None = None
        self.session = requests.Session()
        self._layer = _layer()
        self._pushed_layer_to: str | None = None
        if htpasswd:
            user, pw = next(iter(htpasswd.items()))
            self.session.auth = (user, pw)

    # -- lifecycle -------------------------------------------------------------------------
    def config(self) -> dict[str, Any]:
        cfg: dict[str, Any] = {
            "version": 0.1,
            "log": {"level": "error", "accesslog": {"disabled": True}},
            "storage": {"filesystem": {"rootdirectory": str(self.workdir / "data")}, "delete": {"enabled": True}},
            "http": {"addr": self.host, "secret": "imagebot-test"},
        }
        if self.htpasswd:
            path = self.workdir / "htpasswd"
            lines = []
            for user, pw in self.htpasswd.items():
                out = subprocess.run(["htpasswd", "-nbB", user, pw], check=True, capture_output=True, text=True)
                lines.append(out.stdout.strip())
            path.write_text("\n".join(lines) + "\n")
            cfg["auth"] = {"htpasswd": {"realm": "imagebot-test", "path": str(path)}}
        for k, v in self.extra_config.items():
            cfg[k] = v
        return cfg

    def start(self) -> "RegistryServer":
        self.workdir.mkdir(parents=True, exist_ok=True)
        conf = self.workdir / "config.yml"
        conf.write_text(json.dumps(self.config()))  # JSON is YAML
        self.log = open(self.workdir / "registry.log", "wb")
        self.proc = subprocess.Popen([REGISTRY_BIN, "serve", str(conf)], stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"docker-registry exited: {(self.workdir / 'registry.log').read_text()}")
            try:
                requests.get(self.url + "/v2/", timeout=1)
                return self
            except requests.ConnectionError:
                time.sleep(0.05)
        raise RuntimeError("docker-registry did not start within 15 s")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if getattr(self, "log", None):
            self.log.close()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> "RegistryServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- seeding over the HTTP API ----------------------------------------------------------
    def push_blob(self, repo: str, data: bytes) -> str:
        digest = _digest(data)
        head = self.session.head(f"{self.url}/v2/{repo}/blobs/{digest}", timeout=10)
        if head.status_code == 200:
            return digest
        r = self.session.post(f"{self.url}/v2/{repo}/blobs/uploads/", timeout=10)
        r.raise_for_status()
        loc = r.headers["Location"]
        if loc.startswith("/"):
            loc = self.url + loc
        sep = "&" if "?" in loc else "?"
        r = self.session.put(
            f"{loc}{sep}digest={digest}", data=data, headers={"Content-Type": "application/octet-stream"}, timeout=30
        )
        r.raise_for_status()
        return digest

    def mount_blob(self, repo: str, digest: str, from_repo: str) -> bool:
        r = self.session.post(f"{self.url}/v2/{repo}/blobs/uploads/?mount={digest}&from={from_repo}", timeout=10)
        return r.status_code == 201

    def _layer_in(self, repo: str) -> str:
        digest = _digest(self._layer)
        if self._pushed_layer_to and self._pushed_layer_to != repo and self.mount_blob(repo, digest, self._pushed_layer_to):
            return digest
        self.push_blob(repo, self._layer)
        self._pushed_layer_to = repo
        return digest

    def _image_manifest(self, repo: str, tag: str, media_type: str, platform: str, labels: dict[str, str] | None,
                        created: str | None = "2026-01-01T00:00:00Z") -> bytes:
        os_, arch = platform.split("/")[:2]
        config: dict[str, Any] = {
            "architecture": arch,
            "os": os_,
            "config": {"Labels": {"imagebot.test/tag": tag, **(labels or {})}},
            "rootfs": {"type": "layers", "diff_ids": [_digest(gzip.decompress(self._layer))]},
        }
        if created is not None:  # None: an image that states no build time
            config["created"] = created
        config_bytes = json.dumps(config, sort_keys=True).encode()
        config_digest = self.push_blob(repo, config_bytes)
        layer_digest = self._layer_in(repo)
        oci = media_type == OCI_MANIFEST
        manifest = {
            "schemaVersion": 2,
            "mediaType": media_type,
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json" if oci else "application/vnd.docker.container.image.v1+json",
                "size": len(config_bytes),
                "digest": config_digest,
            },
            "layers": [
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip" if oci else "application/vnd.docker.image.rootfs.diff.tar.gzip",
                    "size": len(self._layer),
                    "digest": layer_digest,
                }
            ],
        }
        return json.dumps(manifest, indent=2).encode()

    def put_manifest(self, repo: str, ref: str, body: bytes, media_type: str) -> str:
        r = self.session.put(
            f"{self.url}/v2/{repo}/manifests/{ref}", data=body, headers={"Content-Type": media_type}, timeout=30
        )
        if r.status_code >= 400:
            raise RuntimeError(f"PUT manifest {repo}:{ref}: {r.status_code} {r.text}")
        return r.headers.get("Docker-Content-Digest") or _digest(body)

    def push(
        self,
        repo: str,
        tag: str,
        *,
        media_type: str = DOCKER_V2,
        platforms: tuple[str, ...] = ("linux/amd64",),
        labels: dict[str, str] | None = None,
        created: str | None = "2026-01-01T00:00:00Z",
    ) -> str:
        """Push an image `repo:tag`; returns the manifest digest the registry stores.

        For an index/list media type, one child manifest per platform is pushed first.
        `created`: the build time its config states (None: none).
        """
        if media_type in (OCI_INDEX, DOCKER_LIST):
            child_type = OCI_MANIFEST if media_type == OCI_INDEX else DOCKER_V2
            children = []
            for platform in platforms:
                body = self._image_manifest(repo, f"{tag}-{platform}", child_type, platform, labels, created)
                digest = self.put_manifest(repo, _digest(body), body, child_type)
                os_, arch = platform.split("/")[:2]
                children.append({"mediaType": child_type, "size": len(body), "digest": digest,
                                 "platform": {"architecture": arch, "os": os_}})
            body = json.dumps({"schemaVersion": 2, "mediaType": media_type, "manifests": children}, indent=2).encode()
            return self.put_manifest(repo, tag, body, media_type)
        body = self._image_manifest(repo, tag, media_type, platforms[0], labels, created)
        return self.put_manifest(repo, tag, body, media_type)

    def push_tags(self, repo: str, tags: list[str] | tuple[str, ...], **kw: Any) -> dict[str, str]:
        return {tag: self.push(repo, tag, **kw) for tag in tags}

    def push_tags_bulk(
        self, repo: str, tags: list[str] | tuple[str, ...], *, mount_from: str | None = None,
        session: requests.Session | None = None,
    ) -> None:
        """Many tags at one request each (benchmarks): the config and layer blobs go in once per
        repository (mounted from `mount_from` when given), each tag is an OCI manifest made
        distinct by an annotation. `session` lets callers seed from several threads."""
        s = session or self.session
        config = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}}).encode()
        blobs = []
        for data in (config, self._layer):
            digest = _digest(data)
            if mount_from is None or s.post(
                f"{self.url}/v2/{repo}/blobs/uploads/?mount={digest}&from={mount_from}", timeout=10
            ).status_code != 201:
                r = s.post(f"{self.url}/v2/{repo}/blobs/uploads/", timeout=10)
                r.raise_for_status()
                loc = r.headers["Location"]
                loc = self.url + loc if loc.startswith("/") else loc
                s.put(f"{loc}{'&' if '?' in loc else '?'}digest={digest}", data=data, timeout=30).raise_for_status()
            blobs.append({"size": len(data), "digest": digest})
        for tag in tags:
            body = json.dumps({
                "schemaVersion": 2, "mediaType": OCI_MANIFEST,
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json", **blobs[0]},
                "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", **blobs[1]}],
                "annotations": {"org.opencontainers.image.version": tag},
            }).encode()
            r = s.put(f"{self.url}/v2/{repo}/manifests/{tag}", data=body, headers={"Content-Type": OCI_MANIFEST}, timeout=30)
            if r.status_code >= 400:
                raise RuntimeError(f"PUT manifest {repo}:{tag}: {r.status_code} {r.text}")

    def tags(self, repo: str) -> list[str]:
        r = self.session.get(f"{self.url}/v2/{repo}/tags/list", timeout=10)
        r.raise_for_status()
        return r.json().get("tags") or []

    def delete_tag(self, repo: str, tag: str) -> None:
        """Delete the manifest a tag points to (the registry then lists the tag no more)."""
        r = self.session.head(
            f"{self.url}/v2/{repo}/manifests/{tag}", headers={"Accept": ", ".join(ALL_MANIFEST_TYPES)}, timeout=10
        )
        r.raise_for_status()
        self.session.delete(f"{self.url}/v2/{repo}/manifests/{r.headers['Docker-Content-Digest']}", timeout=10).raise_for_status()
