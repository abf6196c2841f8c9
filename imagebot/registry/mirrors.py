"""Where an image's tags and manifests are asked for: mirrors, pull-through caches, locations.

Three per-registry settings (see docs/registries.md, "Mirrors"), after containers'
``registries.conf`` and containerd's ``hosts.toml``:

- ``location``: where the registry's API really is (``127.0.0.1:5000/ghcr.io``); handled by
  :class:`imagebot.registry.transport.Registry` itself.
- ``mirrors``: endpoints tried first, in order, then the registry itself (unless
  ``mirrors_only``). A mirror that fails (down, 404, refused) hands over to the next.
- ``mirror_of`` (+ ``mirror_path``): a host written in files that *is* another registry's
  mirror — ``mirror.gcr.io/library/nginx`` is ``docker.io/library/nginx`` for listing and
  resolving. The file keeps the name as written.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from imagebot.config.schema import RegistrySettings
from imagebot.registry.names import canonical_host, split


@dataclass(frozen=True)
class Endpoint:
    """One place to ask: the registry client's connection for `host`, with `prefix` put in
    front of repository names (a mirror's namespace, e.g. Harbor's proxy-cache project)."""

    host: str
    prefix: str = ""
    mirror: bool = False

    def repository(self, repo: str) -> str:
        return f"{self.prefix}/{repo}" if self.prefix else repo


def parse_location(location: str) -> tuple[str, str]:
    """``"harbor.example.com/dockerhub-proxy"`` -> ``("harbor.example.com", "dockerhub-proxy")``."""
    host, _, prefix = location.partition("/")
    return canonical_host(host), prefix.strip("/")


def upstream(image: str, settings: Mapping[str, RegistrySettings]) -> str:
    """The image a mirror-written name stands for, when its host's entry says ``mirror_of``:
    ``mirror.gcr.io/library/nginx`` -> ``docker.io/library/nginx``. Other names unchanged;
    one hop only (a mirror of a mirror is configured on the upstream's `mirrors`)."""
    host, repo = split(image)
    entry = settings.get(host)
    if entry is None or not entry.mirror_of:
        return image
    if entry.mirror_path:
        head = entry.mirror_path + "/"
        if not repo.startswith(head):
            return image  # outside the mirrored namespace: the host's own repository
        repo = repo[len(head):]
    return f"{canonical_host(entry.mirror_of)}/{repo}"


def endpoints(host: str, settings: Mapping[str, RegistrySettings]) -> tuple[Endpoint, ...]:
    """Where to ask for a repository of `host`, in order: its mirrors, then itself."""
    entry = settings.get(host)
    if entry is None:
        return (Endpoint(host),)
    out = [Endpoint(*parse_location(m), mirror=True) for m in entry.mirrors]
    if not entry.mirrors_only:
        out.append(Endpoint(host))
    return tuple(out)
