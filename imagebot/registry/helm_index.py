"""HTTP Helm repositories: a chart's versions from the repository's ``index.yaml``.

A chart in an HTTP repository is named by its URL: the repository URL as the HelmRepository
(or Argo CD Application) writes it, a slash, the chart: ``https://charts.jetstack.io/cert-manager``.
Its versions are the "tags" the policies choose from, like a registry's tag list.

The index is fetched once per repository per cycle however many charts and references use it
(:class:`imagebot.registry.client.RegistryClient` memoises it), through the same per-host
connection as a registry: the host's ``registries`` entry gives credentials (Basic, answered on
the server's 401), TLS settings, the rate limit, the per-request timeout with bounded retries,
and ``location`` (a test server or an internal copy). Its size is bounded
(:data:`MAX_INDEX_BYTES`); each chart's last good version list is kept on disk like a tag list,
so a repository that is down for a cycle does not stall its charts.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit


from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from imagebot.errors import RegistryError
from imagebot.registry.transport import Answer

#: An index larger than this is refused (the biggest public ones are a few tens of MB).
MAX_INDEX_BYTES = 64 * 1024 * 1024
ACCEPT = ("application/x-yaml", "application/yaml", "text/yaml", "text/plain", "*/*")


def is_http_chart(name: str) -> bool:
    """Is `name` a chart of an HTTP Helm repository (`https://host/path/chart`)?"""
    return name.startswith(("https://", "http://"))


def chart_name(repository_url: str, chart: str) -> str:
    """The name imagebot uses for a chart: ``https://charts.jetstack.io/`` + ``cert-manager``
    -> ``https://charts.jetstack.io/cert-manager``."""
    return f"{repository_url.rstrip('/')}/{chart}"


def split_chart(name: str) -> tuple[str, str, str, str]:
    """``https://charts.rook.io/release/rook-ceph`` -> (scheme, host, repository path, chart):
    ``("https", "charts.rook.io", "/release", "rook-ceph")``."""
    parts = urlsplit(name)
    path, _, chart = parts.path.rstrip("/").rpartition("/")
    if parts.scheme not in ("http", "https") or not parts.netloc or not chart or parts.query or parts.fragment:
        raise RegistryError(f"{name}: not a chart of an HTTP Helm repository (https://HOST/PATH/CHART)", temporary=False)
    return parts.scheme, parts.netloc.lower(), path, chart


def index_path(repository_path: str, prefix: str = "") -> str:
    """The request path of a repository's index: under a `location` namespace when there is one."""
    base = "/".join(p for p in (prefix.strip("/"), repository_path.strip("/")) if p)
    return f"/{base}/index.yaml" if base else "/index.yaml"


def parse_index(resp: Answer, where: str) -> dict[str, tuple[str, ...]]:
    """{chart: versions, in the index's order} from an index.yaml answer; bounded in size."""
    declared = resp.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > MAX_INDEX_BYTES or len(resp.content) > MAX_INDEX_BYTES:
        raise RegistryError(f"{where}: index.yaml is larger than {MAX_INDEX_BYTES // (1024 * 1024)} MiB; refused",
                            temporary=False)
    try:
        data: Any = YAML(typ="safe").load(resp.content)
    except (YAMLError, ValueError) as e:
        raise RegistryError(f"{where}: index.yaml is not valid YAML ({type(e).__name__}; truncated?)",
                            temporary=True) from None
    entries = data.get("entries") if isinstance(data, dict) else None
    if not isinstance(entries, dict):
        raise RegistryError(f"{where}: the answer has no 'entries' map (is this a Helm repository?)", temporary=False)
    return {str(chart): _versions(items) for chart, items in entries.items()}


def _versions(items: object) -> tuple[str, ...]:
    if not isinstance(items, list):
        return ()
    found: dict[str, None] = {}
    for item in items:
        version = item.get("version") if isinstance(item, Mapping) else None
        if isinstance(version, (str, int, float)) and str(version).strip():
            found[str(version).strip()] = None
    return tuple(found)


def chart_versions(index: Mapping[str, tuple[str, ...]], name: str, chart: str) -> tuple[str, ...]:
    """The chart's versions; a chart the index does not list is a permanent error naming it."""
    if chart not in index:
        known = ", ".join(sorted(index)[:10]) + (", ..." if len(index) > 10 else "")
        raise RegistryError(f"{name}: the repository's index.yaml lists no chart {chart!r} (it lists: {known or 'none'})",
                            temporary=False)
    return index[chart]


def no_digest(name: str) -> RegistryError:
    return RegistryError(f"{name}: a chart from an HTTP Helm repository has no registry digest "
                         f"(policies that pin digests need an OCI chart)", temporary=False)
