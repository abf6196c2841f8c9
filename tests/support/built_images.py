"""Push images whose config blobs state a chosen build time (`created`), to a RegistryServer.

`RegistryServer.push` gives every tag the same `created`; the newest-build policy needs images
built at known, different times, so these go in over the same HTTP API with their own config.
"""

from __future__ import annotations

import json
from typing import Any

from tests.support.registry import DOCKER_V2, OCI_MANIFEST, RegistryServer


def push_built(reg: RegistryServer, repo: str, tag: str, created: str | None, *, media_type: str = OCI_MANIFEST,
               build: str = "") -> str:
    """Push `repo:tag` with `created` in its config (None: the field is left out). `build` makes the
    config unique when two tags must be distinct images built at the same time. Returns the digest."""
    config: dict[str, Any] = {
        "architecture": "amd64",
        "os": "linux",
        "config": {"Labels": {"imagebot.test/tag": tag, "imagebot.test/build": build or tag}},
        "rootfs": {"type": "layers", "diff_ids": []},
    }
    if created is not None:
        config["created"] = created
    data = json.dumps(config, sort_keys=True).encode()
    digest = reg.push_blob(repo, data)
    oci = media_type == OCI_MANIFEST
    manifest = {
        "schemaVersion": 2,
        "mediaType": media_type,
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json" if oci else "application/vnd.docker.container.image.v1+json",
            "size": len(data),
            "digest": digest,
        },
        "layers": [],
    }
    return reg.put_manifest(repo, tag, json.dumps(manifest).encode(), media_type)


def retag(reg: RegistryServer, repo: str, source_tag: str, new_tag: str) -> str:
    """Point `new_tag` at the manifest `source_tag` points to (same digest, same build time)."""
    r = reg.session.get(f"{reg.url}/v2/{repo}/manifests/{source_tag}",
                        headers={"Accept": f"{OCI_MANIFEST}, {DOCKER_V2}"}, timeout=10)
    r.raise_for_status()
    return reg.put_manifest(repo, new_tag, r.content, r.headers["Content-Type"].split(";")[0])
