"""Registry names: split a normalised repository name, map Docker Hub to its API host.

The image names the registry client receives are already normalised (``docker.io/library/nginx``,
``127.0.0.1:5000/team/app``, see :mod:`imagebot.reference`).
"""

from __future__ import annotations

import re

from imagebot.errors import RegistryError

DOCKER_HUB = "docker.io"
DOCKER_HUB_API = "registry-1.docker.io"
#: The key docker itself uses for Docker Hub in config.json and when asking credential helpers.
DOCKER_HUB_AUTH_KEY = "https://index.docker.io/v1/"
_HUB_ALIASES = frozenset({"docker.io", "index.docker.io", "registry-1.docker.io", "registry.hub.docker.com"})
_REPO = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$")
TAG = re.compile(r"^[\w][\w.-]{0,127}$")


def canonical_host(host: str) -> str:
    """``index.docker.io`` and friends -> ``docker.io``; other hosts unchanged (lower-cased)."""
    host = host.lower()
    return DOCKER_HUB if host in _HUB_ALIASES else host


def is_docker_hub(host: str) -> bool:
    return canonical_host(host) == DOCKER_HUB


def api_host(host: str) -> str:
    """Where the v2 API of `host` lives: Docker Hub answers on registry-1.docker.io."""
    return DOCKER_HUB_API if is_docker_hub(host) else host


def _looks_like_host(part: str) -> bool:
    return "." in part or ":" in part or part == "localhost"


def split(image: str) -> tuple[str, str]:
    """``"127.0.0.1:5000/team/app"`` -> ``("127.0.0.1:5000", "team/app")``;
    ``"docker.io/nginx"`` -> ``("docker.io", "library/nginx")``."""
    first, sep, rest = image.partition("/")
    if sep and _looks_like_host(first):
        host, repo = canonical_host(first), rest
    else:
        host, repo = DOCKER_HUB, image
    if host == DOCKER_HUB and "/" not in repo:
        repo = "library/" + repo
    if not _REPO.match(repo):
        raise RegistryError(f"{image}: not a valid repository name {repo!r}", temporary=False)
    return host, repo



def listing_name(text: str) -> str:
    """What to list for a name a person types: an image reference (``nginx:1.2`` ->
    ``docker.io/library/nginx``), an OCI chart (``oci://ghcr.io/org/charts/app``) or a chart of an
    HTTP Helm repository (``https://charts.jetstack.io/cert-manager``, as it is)."""
    from imagebot.reference import parse

    if text.startswith(("https://", "http://")):
        return text.rstrip("/")
    return parse(text[len("oci://"):] if text.startswith("oci://") else text).name
