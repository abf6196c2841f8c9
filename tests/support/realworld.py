"""The real-world corpus (../shared/testdata/realworld) served by real servers, for tests.

    with RealWorld(tmp_path, only={"ghcr.io/bjw-s-labs/helm/app-template"}) as world:
        world.registry.host            # the docker-registry holding the corpus repositories
        world.helm_url                 # http://127.0.0.1:PORT serving http-helm/
        world.registries_yaml()        # `registries:` entries mapping ghcr.io, quay.io, charts.jetstack.io… here
        world.digest("ghcr.io/bjw-s-labs/helm/app-template", "6.0.0")

- **Registry.** Debian's docker-registry (:class:`tests.support.registry.RegistryServer`),
  seeded from ``registry.json``: each repository under its corpus name
  (``127.0.0.1:PORT/ghcr.io/home-operations/bazarr``), images as a single linux/amd64 manifest
  or, when ``multi_arch``, an OCI index of the listed platforms; charts as ``helm push`` writes
  them (config media type ``application/vnd.cncf.helm.config.v1+json``, one chart-content
  layer, no platform); Flux artifacts with Flux's config media type. Every tag has its own
  config blob, so its own digest. Only the repositories a test names are pushed (`only`):
  seeding the whole corpus (518 tags) costs seconds a test does not need to spend.
- **HTTP Helm repositories.** ``http-helm/`` served as static files on 127.0.0.1 (the paths
  are ``<host>/<path>/index.yaml``), with an access log.
- **Host mapping.** :meth:`RealWorld.registries` gives the config entries that point each
  corpus host at these servers with ``location`` (``ghcr.io`` -> ``127.0.0.1:PORT/ghcr.io``,
  ``charts.jetstack.io`` -> ``127.0.0.1:PORT2/charts.jetstack.io``), so the files keep their
  real names and the bot's edits can be compared with ``EXPECTED.json`` as they are.
"""

from __future__ import annotations

import functools
import gzip
import io
import json
import tarfile
from collections.abc import Collection, Iterable
from concurrent.futures import ThreadPoolExecutor
from http.server import SimpleHTTPRequestHandler
from pathlib import Path
from typing import Any

from tests.support.git_http import LoopbackServer
from tests.support.registry import ALL_MANIFEST_TYPES, OCI_INDEX, OCI_MANIFEST, RegistryServer

HELM_CONFIG = "application/vnd.cncf.helm.config.v1+json"
HELM_LAYER = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
FLUX_CONFIG = "application/vnd.cncf.flux.config.v1+json"
FLUX_LAYER = "application/vnd.cncf.flux.content.v1.tar+gzip"


def _tgz(name: str, text: str) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        data = text.encode()
        info = tarfile.TarInfo(name)
        info.size, info.mtime = len(data), 0
        tar.addfile(info, io.BytesIO(data))
    return gzip.compress(buf.getvalue(), mtime=0)


#: Repositories pushed at once while seeding.
SEED_WORKERS = 4


def _push_artifact(client: RegistryServer, repo: str, tag: str, config_type: str, config: dict[str, Any],
                   layer_type: str, member: str) -> str:
    """An OCI manifest as `helm push` (or `flux push artifact`) writes it: no platform anywhere."""
    config_bytes = json.dumps(config, sort_keys=True).encode()
    layer = _tgz(member, f"name: {config.get('name', repo)}\n")  # one blob per repository: the config differs per tag
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": config_type, "digest": client.push_blob(repo, config_bytes), "size": len(config_bytes)},
        "layers": [{"mediaType": layer_type, "digest": client.push_blob(repo, layer), "size": len(layer)}],
    }
    return client.put_manifest(repo, tag, json.dumps(manifest).encode(), OCI_MANIFEST)


class HelmServer(LoopbackServer):
    """Static files (``http-helm/``); `requests` logs each path asked for."""

    def __init__(self, directory: Path):
        self.directory = directory
        self.requests: list[str] = []
        log = self.requests

        class Handler(SimpleHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - http.server's name
                log.append(self.path)

        super().__init__(functools.partial(Handler, directory=str(directory)))


class RealWorld:
    """The corpus's registry and Helm repositories, on loopback, for one test."""

    def __init__(self, workdir: Path, corpus: Path, *, only: Collection[str] | None = None,
                 registry_config: dict[str, Any] | None = None):
        self.corpus = corpus
        self.data = json.loads((corpus / "registry.json").read_text())
        self.repositories: dict[str, dict[str, Any]] = self.data["repositories"]
        unknown = set(only or ()) - set(self.repositories)
        if unknown:
            raise KeyError(f"not in registry.json: {sorted(unknown)}")
        self.only = set(only) if only is not None else set(self.repositories)
        self.registry = RegistryServer(workdir, extra_config=registry_config)
        self.helm = HelmServer(corpus / "http-helm")

    def __enter__(self) -> "RealWorld":
        self.registry.start()
        try:
            self.helm.__enter__()
            # Repositories are pushed concurrently (the registry's own write time dominates), each
            # by a pushing client of its own (a RegistryServer object that is never started).
            with ThreadPoolExecutor(max_workers=SEED_WORKERS, thread_name_prefix="seed") as pool:
                list(pool.map(self.seed, sorted(self.only)))
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.helm.__exit__()
        finally:
            self.registry.stop()

    @property
    def helm_url(self) -> str:
        return self.helm.url

    # -- seeding -----------------------------------------------------------------------------
    def seed(self, name: str) -> None:
        """Push every tag registry.json lists for repository `name`, as its type says."""
        entry = self.repositories[name]
        client = RegistryServer(self.registry.workdir.parent, port=self.registry.port)  # pushes only, never started
        try:
            for tag in entry["tags"]:
                if entry["type"] == "image":
                    platforms = tuple(entry.get("platforms") or ("linux/amd64",))
                    if entry.get("multi_arch"):
                        client.push(name, tag, media_type=OCI_INDEX, platforms=platforms)
                    else:
                        client.push(name, tag, media_type=OCI_MANIFEST, platforms=platforms[:1])
                elif entry["type"] == "helm-chart":
                    chart = entry.get("chart_name") or name.rsplit("/", 1)[-1]
                    config = {"apiVersion": "v2", "name": chart, "version": tag, "type": "application"}
                    _push_artifact(client, name, tag, HELM_CONFIG, config, HELM_LAYER, f"{chart}/Chart.yaml")
                else:
                    config = {"revision": tag, "source": name}
                    _push_artifact(client, name, tag, entry.get("config_media_type") or FLUX_CONFIG, config,
                                   entry.get("layer_media_type") or FLUX_LAYER, "manifests.yaml")
        finally:
            client.session.close()
    # -- what tests read ---------------------------------------------------------------------
    def digest(self, name: str, tag: str) -> str:
        """The registry's digest of `name:tag` (HEAD with every manifest type, as the README says)."""
        r = self.registry.session.head(f"{self.registry.url}/v2/{name}/manifests/{tag}",
                                       headers={"Accept": ", ".join(ALL_MANIFEST_TYPES)}, timeout=10)
        r.raise_for_status()
        return r.headers["Docker-Content-Digest"]

    def hosts(self) -> list[str]:
        """Every registry host of the corpus repositories (ghcr.io, quay.io, docker.io, mirror.gcr.io, …)."""
        return sorted({name.split("/", 1)[0] for name in self.repositories})

    def helm_hosts(self) -> list[str]:
        return sorted({url.split("://", 1)[1].split("/", 1)[0] for url in self.data["http_helm_repositories"]})

    def registries(self, hosts: Iterable[str] | None = None, **settings: dict[str, Any]) -> list[dict[str, Any]]:
        """Config `registries:` entries mapping each corpus host onto the local servers; keyword
        arguments add settings to a host's entry (``**{"ghcr.io": {"platforms": [...]}}``)."""
        out = [{"host": h, "location": f"{self.registry.host}/{h}", "insecure": True} for h in hosts or self.hosts()]
        out += [{"host": h, "location": f"{self.helm.host}/{h}", "insecure": True} for h in self.helm_hosts()]
        return [{**entry, **settings.get(entry["host"], {})} for entry in out]

    def registries_yaml(self, hosts: Iterable[str] | None = None, **settings: dict[str, Any]) -> str:
        lines = ["registries:"]
        for entry in self.registries(hosts, **settings):
            lines.append(f"  - host: {entry['host']}")
            lines += [f"    {k}: {json.dumps(v)}" for k, v in entry.items() if k != "host"]
        return "\n".join(lines) + "\n"


class Corpus:
    """INDEX.json and EXPECTED.json of the corpus, and the byte edits a test makes and expects.

    Lines and columns are INDEX.json's (1-based, at the scalar as written). A marker appended to
    a line moves no earlier byte, so a value's column stays valid after :meth:`mark`.
    """

    def __init__(self, corpus: Path):
        self.root = corpus
        index = json.loads((corpus / "INDEX.json").read_text())
        self.refs: dict[str, dict[str, Any]] = {r["id"]: r for f in index["files"] for r in f["image_refs"]}
        self.sources: dict[str, dict[str, Any]] = {
            f"{f['source']['repo']}/{f['source']['path']}": f["source"] for f in index["files"]}
        self.expected: dict[str, dict[str, Any]] = {
            e["id"]: e for e in json.loads((corpus / "EXPECTED.json").read_text())["references"]}
        #: registry.json's repositories (what a RealWorld can seed), by name.
        self.repositories: dict[str, dict[str, Any]] = json.loads((corpus / "registry.json").read_text())["repositories"]

    def ids(self, kind: str) -> list[str]:
        return sorted(i for i, r in self.refs.items() if r["kind"] == kind)

    def file(self, ref_id: str) -> str:
        """The corpus path of a reference's file: '<owner>/<repo>/<path>'."""
        return ref_id.rsplit("#", 1)[0]

    def read(self, path: str) -> bytes:
        return (self.root / "files" / path).read_bytes()

    def in_repository(self, path: str) -> str:
        """The path inside its source repository ('kubernetes/apps/…' for 'onedr0p/home-ops/kubernetes/apps/…')."""
        return self.sources[path]["path"]

    def field(self, ref_id: str, name: str) -> dict[str, Any]:
        return self.refs[ref_id]["fields"][name]

    def mark(self, data: bytes, ref_id: str, field: str, marker: str) -> bytes:
        """`data` with ` # <marker>` at the end of the line holding the reference's `field`."""
        lines = data.split(b"\n")
        at = self.field(ref_id, field)["line"] - 1
        body = lines[at].rstrip(b"\r")
        lines[at] = body + b" # " + marker.encode() + lines[at][len(body):]
        return b"\n".join(lines)

    def after(self, data: bytes, ref_id: str, digest: str | None = None, write: dict[str, str] | None = None) -> bytes:
        """`data` as EXPECTED.json says it reads after the update: each field of `write` (default:
        the reference's) replaced in place by its new value (`{digest}` standing for `digest`), quotes kept."""
        lines = data.split(b"\n")
        for name, new in sorted((write if write is not None else self.expected[ref_id].get("write") or {}).items()):
            f = self.field(ref_id, name)
            raw = f["raw"]
            value = new.replace("{digest}", digest or "")
            if f["style"] in ("single_quoted", "double_quoted", "'", '"'):
                value = raw[0] + value + raw[-1]
            at, col = f["line"] - 1, f["column"] - 1
            line = lines[at].decode()
            assert line[col:col + len(raw)] == raw, (ref_id, name, line)
            lines[at] = (line[:col] + value + line[col + len(raw):]).encode()
        return b"\n".join(lines)
