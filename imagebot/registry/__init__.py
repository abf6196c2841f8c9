"""The registry client: OCI distribution v2 tag lists, digests, platforms and labels.

    client = RegistryClient(config.registries, cache_dir=cache, env=os.environ)
    client.tags("docker.io/library/nginx").tags
    client.digest("ghcr.io/org/app", "1.2.3")
    client.new_cycle()   # before each cycle: list each repository once per cycle

Auth (Bearer token services and Basic), docker credential sources, per-registry rate limits,
retries and the stale-on-error cache live in the modules of this package.
"""

from imagebot.registry.client import Manifest, RegistryClient, TagList
from imagebot.registry.manifests import ALL_MANIFEST_TYPES, ImageConfig, Platform
from imagebot.registry.stats import RequestStats
from imagebot.registry.transport import RetryPolicy

__all__ = [
    "ALL_MANIFEST_TYPES",
    "ImageConfig",
    "Manifest",
    "Platform",
    "RegistryClient",
    "RequestStats",
    "RetryPolicy",
    "TagList",
]
