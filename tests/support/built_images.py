"""Images with chosen build times (`created`) on a RegistryServer, for the newest-build policy."""

from __future__ import annotations

from tests.support.registry import DOCKER_V2, OCI_MANIFEST, RegistryServer


def push_built(reg: RegistryServer, repo: str, tag: str, created: str | None, *, media_type: str = OCI_MANIFEST) -> str:
    """Push `repo:tag` whose config states `created` (None: no build time). Returns the digest."""
    return reg.push(repo, tag, media_type=media_type, created=created)


def retag(reg: RegistryServer, repo: str, source_tag: str, new_tag: str) -> str:
    """Point `new_tag` at the manifest `source_tag` points to (same digest, same build time)."""
    r = reg.session.get(f"{reg.url}/v2/{repo}/manifests/{source_tag}",
                        headers={"Accept": f"{OCI_MANIFEST}, {DOCKER_V2}"}, timeout=10)
    r.raise_for_status()
    return reg.put_manifest(repo, new_tag, r.content, r.headers["Content-Type"].split(";")[0])
