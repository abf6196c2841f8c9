"""Registry webhook payloads -> the pushed images ("host/path") and tags.

One parser per registry family, registered in a plain map. A payload that is valid JSON but
announces no push (a pull, a delete, a scan) yields nothing; a payload that is not what the
kind promises raises :class:`BadPayload` (HTTP 400).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from imagebot.errors import ImagebotError, ReferenceError_
from imagebot.reference import parse as parse_reference


class BadPayload(ImagebotError):
    """The webhook body is not the JSON its kind promises."""


@dataclass(frozen=True, order=True)
class Push:
    image: str  # normalised repository, e.g. "docker.io/library/nginx", "127.0.0.1:5000/team/app"
    tag: str | None = None


def _image(name: str) -> str:
    try:
        return parse_reference(name).name
    except ReferenceError_ as e:
        raise BadPayload(f"not an image name: {name!r} ({e})") from None


def _strip(ref: str) -> str:
    """"host/repo:tag@sha256:..." -> "host/repo" as written (then normalised by _image)."""
    name = ref.split("@", 1)[0]
    if name.rfind(":") > name.rfind("/"):
        name = name[: name.rfind(":")]
    return name


def _obj(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise BadPayload(f"{what}: expected a JSON object")
    return value


def distribution(doc: Any) -> Iterator[Push]:
    """CNCF distribution notifications (application/vnd.docker.distribution.events.v1+json)."""
    events = _obj(doc, "envelope").get("events")
    if not isinstance(events, list):
        raise BadPayload("envelope: 'events' must be a list")
    for event in events:
        event = _obj(event, "event")
        target = _obj(event.get("target") or {}, "event.target")
        if event.get("action") != "push" or not target.get("tag") or not target.get("repository"):
            continue  # pulls, deletes, blob pushes and untagged manifests (children of an index)
        host = (_obj(event.get("request") or {}, "event.request").get("host") or urlsplit(target.get("url", "")).netloc)
        if not host:
            raise BadPayload("event: no registry host in request.host or target.url")
        yield Push(_image(f"{host}/{target['repository']}"), str(target["tag"]))


def dockerhub(doc: Any) -> Iterator[Push]:
    doc = _obj(doc, "payload")
    repo = _obj(doc.get("repository"), "repository")
    name = repo.get("repo_name") or "/".join(p for p in (repo.get("namespace"), repo.get("name")) if p)
    if not name:
        raise BadPayload("repository.repo_name is missing")
    tag = _obj(doc.get("push_data") or {}, "push_data").get("tag")
    yield Push(_image(f"docker.io/{name}"), tag)


def ghcr(doc: Any) -> Iterator[Push]:
    """GitHub `package` / `registry_package` events for container packages."""
    doc = _obj(doc, "payload")
    if doc.get("action") not in (None, "published", "updated"):
        return
    pkg = _obj(doc.get("package") or doc.get("registry_package"), "package")
    if (pkg.get("package_type") or "container").lower() not in ("container", "docker"):
        return
    version = _obj(pkg.get("package_version") or {}, "package.package_version")
    tag_info = _obj(_obj(version.get("container_metadata") or {}, "container_metadata").get("tag") or {}, "tag")
    tag = tag_info.get("name") or None
    url = version.get("package_url") or pkg.get("package_url")
    if url:
        yield Push(_image(_strip(url)), tag)
        return
    owner = _obj(pkg.get("owner") or {}, "package.owner").get("login") or pkg.get("namespace")
    if not owner or not pkg.get("name"):
        raise BadPayload("package: no package_url, and no owner.login and name")
    yield Push(_image(f"ghcr.io/{owner}/{pkg['name']}".lower()), tag)


def harbor(doc: Any) -> Iterator[Push]:
    doc = _obj(doc, "payload")
    if doc.get("type") not in ("PUSH_ARTIFACT", "pushImage"):
        return
    data = _obj(doc.get("event_data"), "event_data")
    resources = data.get("resources") or []
    if not isinstance(resources, list):
        raise BadPayload("event_data.resources must be a list")
    for res in resources:
        res = _obj(res, "event_data.resources[]")
        if res.get("resource_url"):
            yield Push(_image(_strip(res["resource_url"])), res.get("tag") or None)


def quay(doc: Any) -> Iterator[Push]:
    doc = _obj(doc, "payload")
    url = doc.get("docker_url") or (f"quay.io/{doc['repository']}" if doc.get("repository") else None)
    if not url:
        raise BadPayload("docker_url / repository is missing")
    tags = doc.get("updated_tags") or [None]
    if not isinstance(tags, list):
        raise BadPayload("updated_tags must be a list")
    for tag in tags:
        yield Push(_image(url), tag)


def generic(doc: Any) -> Iterator[Push]:
    """``{"image": "ghcr.io/org/app", "tag": "1.2.3"}`` (the image may carry the tag)."""
    doc = _obj(doc, "payload")
    image = doc.get("image")
    if not isinstance(image, str) or not image:
        raise BadPayload("'image' (a string) is required")
    tag = doc.get("tag")
    if tag is None:
        try:
            tag = parse_reference(image).tag
        except ReferenceError_ as e:
            raise BadPayload(f"not an image reference: {image!r} ({e})") from None
    yield Push(_image(_strip(image)), tag)


PARSERS: dict[str, Callable[[Any], Iterator[Push]]] = {
    "distribution": distribution,
    "dockerhub": dockerhub,
    "ghcr": ghcr,
    "harbor": harbor,
    "quay": quay,
    "generic": generic,
}


def parse(kind: str, body: bytes) -> tuple[Push, ...]:
    """The pushes a webhook body announces, deduplicated, in order."""
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError) as e:
        raise BadPayload(f"not JSON: {e}") from None
    except RecursionError:
        raise BadPayload("not JSON we accept: nested too deeply") from None
    seen: dict[Push, None] = {}
    for push in PARSERS[kind](doc):
        seen.setdefault(push, None)
    return tuple(seen)
