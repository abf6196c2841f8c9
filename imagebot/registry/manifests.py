"""Manifest media types, and what we read from manifests: platforms and the config blob.

Without the two list types in ``Accept`` a registry answers a multi-arch tag with one child
manifest, and the digest we pin would then be a single platform's, silently.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_V2 = "application/vnd.docker.distribution.manifest.v2+json"
ALL_MANIFEST_TYPES = (OCI_INDEX, OCI_MANIFEST, DOCKER_LIST, DOCKER_V2)
INDEX_TYPES = frozenset({OCI_INDEX, DOCKER_LIST})
#: Config media types of runnable images; any other config type is an artifact without a platform.
IMAGE_CONFIG_TYPES = frozenset({"application/vnd.oci.image.config.v1+json", "application/vnd.docker.container.image.v1+json"})
#: What `helm push` writes as the config media type of a chart.
HELM_CHART_CONFIG = "application/vnd.cncf.helm.config.v1+json"


@dataclass(frozen=True)
class Platform:
    os: str
    architecture: str
    variant: str | None = None

    @classmethod
    def parse(cls, text: str) -> "Platform":
        """``linux/arm64/v8`` -> Platform("linux", "arm64", "v8")."""
        parts = text.strip().split("/")
        if len(parts) < 2 or not all(parts):
            raise ValueError(f"not a platform: {text!r} (use os/arch[/variant], e.g. linux/amd64)")
        return cls(parts[0], parts[1], parts[2] if len(parts) > 2 else None)

    def covers(self, wanted: "Platform") -> bool:
        """Does an image for `self` satisfy a requirement for `wanted`? (no variant asked: any)"""
        return (self.os, self.architecture) == (wanted.os, wanted.architecture) and (
            wanted.variant is None or self.variant == wanted.variant
        )

    def __str__(self) -> str:
        return "/".join(p for p in (self.os, self.architecture, self.variant) if p)


def media_type(manifest: dict[str, Any], header: str | None) -> str:
    """The manifest's type: its own ``mediaType`` field, else the Content-Type header."""
    mt = manifest.get("mediaType")
    if isinstance(mt, str) and mt:
        return mt
    return (header or "").split(";")[0].strip()


def artifact_kind(manifest: dict[str, Any]) -> str:
    """"chart" (Helm's config media type), "image" (an image config, or none stated: Docker v2
    manifests always have one) or "artifact" (anything else: Flux's, cosign's, ...)."""
    config = manifest.get("config")
    ctype = config.get("mediaType") if isinstance(config, dict) else None
    if ctype == HELM_CHART_CONFIG:
        return "chart"
    if not isinstance(ctype, str) or ctype in IMAGE_CONFIG_TYPES:
        return "image"
    return "artifact"


def index_platforms(index: dict[str, Any]) -> list[tuple[Platform, str]]:
    """(platform, child digest) of each image in an index; attestations ('unknown/unknown') left out."""
    out = []
    for m in index.get("manifests") or []:
        p = m.get("platform") if isinstance(m, dict) else None
        if not isinstance(p, dict) or not p.get("os") or not p.get("architecture") or p.get("os") == "unknown":
            continue
        out.append((Platform(str(p["os"]), str(p["architecture"]), p.get("variant") or None), str(m.get("digest"))))
    return out


def missing_platforms(have: list[Platform], wanted: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(w for w in wanted if not any(h.covers(Platform.parse(w)) for h in have))


@dataclass(frozen=True)
class ImageConfig:
    """What imagebot reads from an image's config blob."""

    platform: Platform
    labels: dict[str, str] = field(default_factory=dict)
    created: str | None = None  # RFC 3339, as the image states it

    @classmethod
    def from_blob(cls, blob: dict[str, Any]) -> "ImageConfig":
        cfg = blob.get("config") if isinstance(blob.get("config"), dict) else {}
        labels = cfg.get("Labels") if isinstance(cfg.get("Labels"), dict) else {}
        created = blob.get("created") if isinstance(blob.get("created"), str) else None
        platform = Platform(str(blob.get("os") or "unknown"), str(blob.get("architecture") or "unknown"),
                            blob.get("variant") or None)
        return cls(platform, {str(k): str(v) for k, v in labels.items()}, created)
