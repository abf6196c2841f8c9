"""RegistryClient: tags, digests, platforms and labels of images, for one process.

One client serves every registry. Within a cycle (see :meth:`RegistryClient.new_cycle`) each
repository's tag list is fetched once, however many workloads use it and however many
threads ask at the same time; failures are remembered for the cycle too, so a broken
repository costs its retries once, not once per workload.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urljoin, urlsplit



from imagebot.config.schema import RegistrySettings
from imagebot.deadline import NO_DEADLINE, Deadline
from imagebot.errors import RegistryError
from imagebot.registry import helm_index
from imagebot.registry.cache import TagCache
from imagebot.registry.created import CreatedTimes
from imagebot.registry.credentials import CredentialStore, environment
from imagebot.registry.manifests import (
    ALL_MANIFEST_TYPES,
    INDEX_TYPES,
    ImageConfig,
    Platform,
    artifact_kind,
    index_platforms,
    media_type,
    missing_platforms,
)
from imagebot.registry.mirrors import Endpoint, endpoints, upstream
from imagebot.registry.names import TAG, canonical_host, split
from imagebot.registry.platform_cache import ManifestFacts
from imagebot.registry.stats import RequestStats
from imagebot.registry.transport import Answer, Registry, RetryPolicy

log = logging.getLogger(__name__)
T = TypeVar("T")
_UNKNOWN = object()  # "not known without a request" (None is an answer: not an image)
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
#: Tags asked for per page (`n=`); registries that cap it lower simply page sooner.
PAGE_SIZE = 1000
#: Bounded input: an image with more tags than this is skipped with a reason (a million tags
#: would take half a gigabyte to choose from).
MAX_TAGS = 100_000


@dataclass(frozen=True)
class TagList:
    image: str
    tags: tuple[str, ...]
    #: Seconds since the list was fetched, when served from the disk cache because the registry failed.
    stale_age: float | None = None


@dataclass(frozen=True)
class Manifest:
    media_type: str
    digest: str
    body: dict[str, Any]

    @property
    def is_index(self) -> bool:
        return self.media_type in INDEX_TYPES


def _json(resp: Answer, where: str) -> Any:
    """The body as JSON; a wrong content type is permanent, a broken body temporary (truncated)."""
    ctype = resp.headers.get("Content-Type", "").split(";")[0].strip().lower()
    try:
        return json.loads(resp.content)
    except RecursionError:
        raise RegistryError(f"{where}: refused an answer nested too deeply to read", temporary=False) from None
    except ValueError:
        if ctype and "json" not in ctype and ctype != "text/plain":
            raise RegistryError(f"{where}: answered with Content-Type {ctype} instead of JSON "
                                f"(is this a registry, or a proxy / login page?)", temporary=False) from None
        raise RegistryError(f"{where}: the answer is not valid JSON (truncated?)", temporary=True) from None


class RegistryClient:
    """Thread-safe client of every registry the configuration names (and any other, with defaults)."""

    def __init__(
        self,
        settings: Sequence[RegistrySettings] = (),
        *,
        cache_dir: Path | None = None,
        env: Mapping[str, str] | None = None,
        retry: RetryPolicy = RetryPolicy(),
        page_size: int = PAGE_SIZE,
        only_listed: bool = False,
    ):
        self._settings = {canonical_host(s.host): s for s in settings}
        #: The allowlist: only hosts in `settings` are contacted.
        self._only_listed = only_listed
        self._env = environment(env)
        self._credentials = CredentialStore(self._settings, self._env)
        self._retry = retry
        self._page_size = page_size
        self.stats = RequestStats()
        self.cache = TagCache(cache_dir) if cache_dir is not None else None
        self._lock = threading.Lock()
        self._registries: dict[str, Registry] = {}
        self._memo: dict[tuple[str, ...], Any] = {}
        self._key_locks: dict[tuple[str, ...], threading.Lock] = {}
        self.created_times = CreatedTimes()  # kept across cycles: keyed by manifest digest
        # Platforms, labels and remembered tag digests by manifest digest: across cycles, and
        # across runs when there is a cache directory (docs/performance.md).
        self.facts = ManifestFacts(cache_dir / "manifests" if cache_dir is not None else None)
        self._blobs: dict[str, ImageConfig] = {}  # config blobs by digest: content-addressed, shared by repos
        self._deadline: Deadline = NO_DEADLINE
        #: (image, tag, digest) whose manifest bytes were seen to hash to the digest (kept across
        #: cycles, and on disk next to the tag cache: a digest is verified once, not every run).
        self._verified: set[tuple[str, str, str]] = set()

    # -- lifecycle -------------------------------------------------------------------------
    def new_cycle(self, deadline: Deadline = NO_DEADLINE) -> None:
        """Forget this cycle's answers, failures and skipped registries; re-read credentials.
        No request of the new cycle starts past `deadline` or waits beyond it."""
        with self._lock:
            self._memo.clear()
            self._key_locks.clear()
            self._deadline = deadline
            registries = list(self._registries.values())
        for reg in registries:
            reg.new_cycle(deadline)
        self.facts.flush()  # what the last cycle learnt, on disk
        self._credentials.forget()

    def close(self) -> None:
        self.facts.flush()
        with self._lock:
            registries, self._registries = list(self._registries.values()), {}
        for reg in registries:
            reg.close()

    def __enter__(self) -> "RegistryClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def registry(self, host: str, *, plain_http: bool = False) -> Registry:
        """The connection to `host`. `plain_http`: the host was written with http:// (an HTTP
        Helm repository) and has no registries entry, so it speaks plain HTTP."""
        host = canonical_host(host)
        if self._only_listed and host not in self._settings:
            raise RegistryError(f"registry {host} is not listed under `registries` (only_listed_registries: true): "
                                f"not contacted", temporary=False)
        with self._lock:
            reg = self._registries.get(host)
            if reg is None:
                settings = self._settings.get(host)
                if settings is None and plain_http:
                    settings = RegistrySettings(host=host, insecure=True)
                reg = Registry(host, settings, self._credentials, self.stats, self._retry, self._env)
                reg.new_cycle(self._deadline)
                self._registries[host] = reg
            return reg

    def settings(self, host: str) -> RegistrySettings:
        return self.registry(host).settings

    # -- per-cycle memo --------------------------------------------------------------------
    def _once(self, key: tuple[str, ...], compute: Callable[[], T]) -> T:
        """compute() once per cycle per key, also when several threads ask at once; failures too."""
        with self._lock:
            lock = self._key_locks.setdefault(key, threading.Lock())
        with lock:
            with self._lock:
                if key in self._memo:
                    found = self._memo[key]
                    if isinstance(found, BaseException):
                        raise found
                    return found
            try:
                value: Any = compute()
            except RegistryError as e:
                value = e
            with self._lock:
                self._memo[key] = value
            if isinstance(value, BaseException):
                raise value
            return value

    # -- mirrors ---------------------------------------------------------------------------
    def upstream(self, image: str) -> str:
        """The image a mirror-written name stands for (`mirror_of`), else `image` itself."""
        return image if helm_index.is_http_chart(image) else upstream(image, self._settings)

    def _through(self, image: str, call: Callable[[Registry, str], T]) -> T:
        """call(registry, repository on the wire) at the image's mirrors in order, then at the
        registry itself (see :mod:`imagebot.registry.mirrors`); the first answer wins. A failing
        mirror hands over to the next; the last failure is raised."""
        host, repo = split(image)
        chain = endpoints(host, self._settings)
        for i, ep in enumerate(chain):
            reg = self.registry(ep.host)
            try:
                return call(reg, reg.repository(ep.repository(repo)))
            except RegistryError as e:
                if i == len(chain) - 1:
                    raise
                log.info("%s; asking %s instead", e, self._describe(chain[i + 1], host))
        raise AssertionError("no endpoint")  # pragma: no cover - endpoints() is never empty

    @staticmethod
    def _describe(ep: Endpoint, host: str) -> str:
        return f"mirror {ep.host}{'/' + ep.prefix if ep.prefix else ''}" if ep.mirror else f"{host} itself"

    # -- tags ------------------------------------------------------------------------------
    def tags(self, image: str) -> TagList:
        """All tags of `image` ("host/repository"), listed once per cycle; stale from disk if the registry fails."""
        image = self.upstream(image)
        return self._once(("tags", image), lambda: self._tags_or_stale(image))

    def _tags_or_stale(self, image: str) -> TagList:
        try:
            tags = self._list_tags(image)
        except RegistryError as e:
            cached = self.cache.load(image) if self.cache is not None and e.temporary else None
            if cached is None:
                raise
            log.warning("%s; using the tag list cached %.0fs ago", e, cached.age())
            return TagList(image, cached.tags, stale_age=cached.age())
        if self.cache is not None:
            self.cache.store(image, tags)
        if not helm_index.is_http_chart(image):
            self.facts.preload(image)  # on this thread: the decisions about `image` ask its platforms next
        return TagList(image, tags)

    def _list_tags(self, image: str) -> tuple[str, ...]:
        if helm_index.is_http_chart(image):
            scheme, host, path, chart = helm_index.split_chart(image)
            index = self._once(("helm-index", scheme, host, path), lambda: self._fetch_index(scheme, host, path))
            return helm_index.chart_versions(index, image, chart)
        return self._through(image, lambda reg, repo: self._list_tags_at(reg, repo, image))

    def _list_tags_at(self, reg: Registry, repo: str, image: str) -> tuple[str, ...]:
        host = reg.host
        what = f"listing tags of {image}" + (f" at {reg.base_url}/v2/{repo}" if reg.host != split(image)[0] else "")
        url: str | None = urljoin(reg.base_url, f"/v2/{repo}/tags/list?n={self._page_size}")
        tags: dict[str, None] = {}
        visited: set[str] = set()
        pages = 0
        while url:
            if pages >= reg.settings.max_tag_pages:
                raise RegistryError(
                    f"registry {host}: {what}: more than {reg.settings.max_tag_pages} pages ({len(tags)} tags so far); "
                    f"raise max_tag_pages for this registry to list them all", temporary=False)
            visited.add(url)
            pages += 1
            page_tags, next_url = reg.request(
                "GET", url, kind="tags", repository=repo, what=what,
                parse=lambda r: (self._page(r, f"registry {host}: {what}"), self._next_page(reg, r, what)),
            )
            tags.update(dict.fromkeys(page_tags))
            if len(tags) > MAX_TAGS:
                raise RegistryError(f"registry {host}: {what}: refused: more than {MAX_TAGS:,} tags", temporary=False)
            if next_url in visited:
                raise RegistryError(f"registry {host}: {what}: the next-page link loops back to a page already read",
                                    temporary=False)
            url = next_url
        log.debug("%s: %d tags in %d page(s) from %s", image, len(tags), pages, reg.host)
        return tuple(tags)

    def _fetch_index(self, scheme: str, host: str, path: str) -> dict[str, tuple[str, ...]]:
        """An HTTP Helm repository's index.yaml, as {chart: versions} (see :mod:`.helm_index`)."""
        reg = self.registry(host, plain_http=scheme == "http")
        what = f"index.yaml of {scheme}://{host}{path}"
        index = reg.request("GET", helm_index.index_path(path, reg.prefix), kind="index", repository=path.strip("/"),
                            what=what, accept=helm_index.ACCEPT,
                            parse=lambda r: helm_index.parse_index(r, f"registry {host}: {what}"))
        log.debug("%s: %d chart(s)", what, len(index))
        return index

    @staticmethod
    def _page(resp: Answer, where: str) -> list[str]:
        data = _json(resp, where)
        if not isinstance(data, dict):
            raise RegistryError(f"{where}: the answer is not a JSON object", temporary=False)
        raw = data.get("tags") or []
        if not isinstance(raw, list):
            raise RegistryError(f"{where}: 'tags' is not a list", temporary=False)
        if len(raw) > MAX_TAGS:
            raise RegistryError(f"{where}: refused: more than {MAX_TAGS:,} tags", temporary=False)
        tags = [t for t in raw if isinstance(t, str) and TAG.match(t)]
        if len(tags) != len(raw):
            log.debug("%s: ignored %d entries that are not valid tags", where, len(raw) - len(tags))
        return tags

    @staticmethod
    def _next_page(reg: Registry, resp: Answer, what: str) -> str | None:
        link = resp.links.get("next", {}).get("url")
        if not link:
            return None
        url = urljoin(resp.url, link)
        here, there = urlsplit(reg.base_url), urlsplit(url)
        if (there.scheme, there.netloc) != (here.scheme, here.netloc):
            raise RegistryError(
                f"registry {reg.host}: {what}: refused a next-page link to another origin "
                f"({there.scheme}://{there.netloc}); credentials and listings stay on {here.netloc}", temporary=False)
        return url

    # -- manifests -------------------------------------------------------------------------
    def digest(self, image: str, tag: str) -> str:
        """The digest the registry stores for `image:tag` (of the index, for a multi-arch tag)."""
        image = self.upstream(image)
        if helm_index.is_http_chart(image):
            raise helm_index.no_digest(image)
        return self._once(("digest", image, tag), lambda: self._head_digest(image, tag))

    def _head_digest(self, image: str, tag: str) -> str:
        return self._through(image, lambda reg, repo: self._head_digest_at(reg, repo, image, tag))

    def _head_digest_at(self, reg: Registry, repo: str, image: str, tag: str) -> str:
        host = reg.host
        what = f"digest of {image}:{tag}"
        digest = reg.request("HEAD", f"/v2/{repo}/manifests/{tag}", kind="manifest", repository=repo, what=what,
                             accept=ALL_MANIFEST_TYPES, parse=lambda r: r.headers.get("Docker-Content-Digest"))
        if not digest:  # some registries omit it on HEAD: hash the manifest we GET instead
            digest = self.manifest(image, tag).digest
        if not _DIGEST.match(digest):
            raise RegistryError(f"registry {host}: {what}: unexpected digest {digest[:80]!r}", temporary=False)
        self._verify(image, tag, digest, f"registry {host}: {what}")
        self.facts.remember_tag(image, tag, digest)
        return digest

    def _verify(self, image: str, tag: str, digest: str, where: str) -> None:
        """Never trust a Docker-Content-Digest header alone: the manifest the tag serves must hash
        to it (one GET per new (image, tag, digest), remembered across cycles and runs)."""
        key = (image, tag, digest)
        marker = self._verified_marker(key)
        if key in self._verified or (marker is not None and marker.exists()):
            return
        computed = self.manifest(image, tag).digest  # sha256 of the bytes received
        if computed != digest:
            raise RegistryError(f"{where}: the registry states {digest} but its manifest hashes to {computed}; "
                                f"nothing is pinned to it", temporary=True)
        self._remember_verified(key, marker)

    def _verified_marker(self, key: tuple[str, str, str]) -> Path | None:
        if self.cache is None:
            return None
        return self.cache.directory / "verified" / hashlib.sha256("\0".join(key).encode()).hexdigest()[:40]

    def _remember_verified(self, key: tuple[str, str, str], marker: Path | None) -> None:
        self._verified.add(key)
        if marker is not None:
            try:
                marker.parent.mkdir(parents=True, exist_ok=True)
                marker.touch()
            except OSError as e:
                log.debug("cannot remember the verified digest in %s: %s", marker, e)

    def manifest(self, image: str, reference: str) -> Manifest:
        """The manifest `reference` (a tag or digest) points to, as stored (an index stays an index)."""
        image = self.upstream(image)
        if helm_index.is_http_chart(image):
            raise helm_index.no_digest(image)
        m = self._once(("manifest", image, reference), lambda: self._get_manifest(image, reference))
        if not reference.startswith("sha256:"):  # the same bytes, asked for by digest later this cycle
            with self._lock:
                self._memo.setdefault(("manifest", image, m.digest), m)
        return m

    def _get_manifest(self, image: str, reference: str) -> Manifest:
        return self._through(image, lambda reg, repo: self._get_manifest_at(reg, repo, image, reference))

    def _get_manifest_at(self, reg: Registry, repo: str, image: str, reference: str) -> Manifest:
        host = reg.host
        what = f"manifest of {image}{'@' if reference.startswith('sha256:') else ':'}{reference}"
        where = f"registry {host}: {what}"

        def parse(resp: Answer) -> Manifest:
            body = _json(resp, where)
            if not isinstance(body, dict):
                raise RegistryError(f"{where}: the manifest is not a JSON object", temporary=False)
            computed = "sha256:" + hashlib.sha256(resp.content).hexdigest()
            if reference.startswith("sha256:") and computed != reference:
                raise RegistryError(f"{where}: content does not match its digest", temporary=True)
            stated = resp.headers.get("Docker-Content-Digest")
            if stated and stated != computed:
                raise RegistryError(f"{where}: the Docker-Content-Digest header ({stated[:80]}) does not match the "
                                    f"manifest received ({computed}); nothing is pinned to it", temporary=False)
            if "manifests" in body and not isinstance(body["manifests"], list):
                raise RegistryError(f"{where}: 'manifests' is not a list", temporary=False)
            return Manifest(media_type(body, resp.headers.get("Content-Type")), computed, body)

        return reg.request("GET", f"/v2/{repo}/manifests/{reference}", kind="manifest", repository=repo, what=what,
                           accept=ALL_MANIFEST_TYPES, parse=parse)

    def missing_platforms(self, image: str, tag: str, platforms: Sequence[str] | None = None) -> tuple[str, ...]:
        """The required platforms (default: the registry's `platforms` setting) that `image:tag` lacks.

        Only images have platforms: a Helm chart or another OCI artifact (recognised by its
        config media type) lacks none."""
        image, wanted = self._required(image, platforms)
        if not wanted:
            return ()
        have = self.platforms(image, tag)
        return () if have is None else missing_platforms(list(have), wanted)

    def missing_platforms_known(self, image: str, tag: str) -> tuple[str, ...] | None:
        """`missing_platforms(image, tag)` when it is known without a request (this cycle's answer,
        or the platforms remembered for the digest the tag had within `tag_digest_ttl`); None: it
        needs the registry. Resolve asks this first, so that a warm cycle's hundreds of platform
        checks are answered in place rather than queued on its request threads."""
        try:
            image, wanted = self._required(image)
        except RegistryError:
            return None  # missing_platforms raises it, for the image concerned
        if not wanted:
            return ()
        key = ("platforms", image, tag)
        with self._lock:
            found = self._memo.get(key, _UNKNOWN)
        if found is _UNKNOWN:
            digest = self._known_digest(image, tag)
            if digest is None:
                return None
            found = self._known_platforms(image, digest)
            if found is _UNKNOWN:
                return None
            with self._lock:  # what the same call through `platforms` would have kept
                found = self._memo.setdefault(key, found)
        if isinstance(found, BaseException):
            return None
        return () if found is None else missing_platforms(list(found), wanted)  # type: ignore[arg-type]

    def _required(self, image: str, platforms: Sequence[str] | None = None) -> tuple[str, tuple[str, ...]]:
        """(the upstream image, the platforms it must provide): `platforms`, else its registry's
        setting; none for a chart from a Helm HTTP repository (charts have no platforms)."""
        image = self.upstream(image)
        if helm_index.is_http_chart(image):
            return image, ()
        host, _ = split(image)
        return image, tuple(platforms) if platforms is not None else self.settings(host).platforms

    def platforms(self, image: str, tag: str) -> tuple[Platform, ...] | None:
        """The platforms `image:tag` provides (None: not an image but a chart or another artifact):
        an index's from the index itself, an image's from its config blob; remembered by manifest
        digest, on disk when there is a cache directory (see platform_cache)."""
        image = self.upstream(image)
        return self._once(("platforms", image, tag), lambda: self._platforms(image, self._facts_digest(image, tag)))

    def _known_platforms(self, image: str, digest: str) -> tuple[Platform, ...] | None | object:
        """The platforms remembered for `digest` (None: not an image), or _UNKNOWN."""
        known = self.facts.facts(image, digest)
        if known.kind not in (None, "image"):
            return None
        return known.platforms if known.platforms is not None else _UNKNOWN

    def _platforms(self, image: str, digest: str) -> tuple[Platform, ...] | None:
        known = self._known_platforms(image, digest)
        if known is not _UNKNOWN:
            return known  # type: ignore[return-value]
        m = self.manifest(image, digest)
        if not m.is_index:
            kind = artifact_kind(m.body)
            if kind != "image":
                self.facts.remember(image, digest, kind=kind)
                return None
            return (self._config_at(image, digest).platform,)  # remembers the platform too
        have = tuple(p for p, _ in index_platforms(m.body))
        self.facts.remember(image, digest, platforms=have, kind="image")
        return have

    def _facts_digest(self, image: str, tag: str) -> str:
        """The digest of `image:tag` for the platform and label checks: this cycle's answer, or one
        remembered within the registry's `tag_digest_ttl`, or a HEAD when the tag was seen before
        (its digest's facts are likely known), or else the manifest GET by tag (it tells the digest
        and is needed anyway)."""
        known = self._known_digest(image, tag)
        if known is not None:
            return known
        if self.facts.knows_tag(image, tag):
            return self.digest(image, tag)
        m = self.manifest(image, tag)
        self.facts.remember_tag(image, tag, m.digest)
        key = (image, tag, m.digest)  # the bytes received hash to it: verified (see _verify)
        self._remember_verified(key, self._verified_marker(key))
        return m.digest

    def _known_digest(self, image: str, tag: str) -> str | None:
        """The digest of `image:tag` as this cycle found it, or as remembered within the registry's
        `tag_digest_ttl`; None: it needs a request."""
        with self._lock:
            known = self._memo.get(("digest", image, tag))
        if isinstance(known, str):
            return known
        host, _ = split(image)
        return self.facts.tag_digest(image, tag, self.settings(host).tag_digest_ttl)

    def artifact_kind(self, image: str, tag: str) -> str:
        """"image", "chart" (a Helm chart pushed as `helm push` does) or "artifact" (any other OCI
        artifact), from the manifest's config media type; an index is an image."""
        if helm_index.is_http_chart(image):
            return "chart"
        m = self.manifest(image, tag)
        return "image" if m.is_index else artifact_kind(m.body)

    def image_config(self, image: str, tag: str) -> ImageConfig:
        """The config blob of `image:tag` (for an index: of the first required platform's image)."""
        image = self.upstream(image)
        return self._once(("config", image, tag), lambda: self._config_at(image, self._facts_digest(image, tag)))

    def _config_at(self, image: str, digest: str) -> ImageConfig:
        """The config of the manifest `digest` (remembered by digest, on disk when there is a cache)."""
        known = self.facts.facts(image, digest).config
        if known is not None:
            return known
        host, _ = split(image)
        m = self.manifest(image, digest)
        if m.is_index:
            children = index_platforms(m.body)
            if not children:
                raise RegistryError(f"registry {host}: {image}@{digest}: the index lists no platform images",
                                    temporary=False)
            wanted = Platform.parse(self.settings(host).platforms[0]) if self.settings(host).platforms else None
            child = next((d for p, d in children if wanted is None or p.covers(wanted)), children[0][1])
            config = self._config_at(image, child)
            self.facts.remember(image, digest, config=config)
            return config
        blob = m.body.get("config")
        blob_digest = blob.get("digest") if isinstance(blob, dict) else None
        if not isinstance(blob_digest, str) or not _DIGEST.match(blob_digest):
            raise RegistryError(f"registry {host}: {image}@{digest}: the manifest names no config blob",
                                temporary=False)
        config = self._once(("blob", image, blob_digest), lambda: self._fetch_blob(image, blob_digest))
        kind = artifact_kind(m.body)
        self.facts.remember(image, digest, config=config, kind=kind,
                            platforms=(config.platform,) if kind == "image" else None)
        return config

    def _fetch_blob(self, image: str, digest: str) -> ImageConfig:
        with self._lock:
            known = self._blobs.get(digest)
        if known is not None:  # the same blob in another repository: the same content
            return known
        host, _ = split(image)
        where = f"registry {host}: config blob {digest[:19]} of {image}"

        def parse(resp: Answer) -> ImageConfig:
            if "sha256:" + hashlib.sha256(resp.content).hexdigest() != digest:
                raise RegistryError(f"{where}: the blob does not match its digest (truncated?)", temporary=True)
            blob = _json(resp, where)
            if not isinstance(blob, dict):
                raise RegistryError(f"{where}: the config is not a JSON object", temporary=False)
            return ImageConfig.from_blob(blob)

        config = self._through(image, lambda reg, wire: reg.request(
            "GET", f"/v2/{wire}/blobs/{digest}", kind="blob", repository=wire, what=f"config blob of {image}",
            parse=parse))
        with self._lock:
            if len(self._blobs) >= 50_000:
                self._blobs.clear()
            self._blobs[digest] = config
        return config

    def created(self, image: str, tag: str) -> datetime | None:
        """When `image:tag` was built (its config's `created`), None when it does not say."""
        return self.created_times.created(self, image, tag)

    def labels(self, image: str, tag: str) -> Mapping[str, str]:
        """OCI labels of `image:tag` (org.opencontainers.image.source, ...), from its config blob."""
        return self.image_config(image, tag).labels
