"""A Kubernetes API emulator over real HTTP for tests: kmock, plus PUT and resourceVersion.

No kube-apiserver can be had here. kmock's KubernetesEmulator keeps objects in memory and
serves GET / POST / PATCH / DELETE like an API server, but it has no PUT (replace) and no
resourceVersion. Leader election depends on both (a stale replace must get 409 Conflict), so
:class:`Emulator` adds them:

- every create, patch and replace stamps ``metadata.resourceVersion`` from one counter
  (plus ``uid``, ``creationTimestamp`` and a name from ``generateName`` on create);
- PUT on a named object replaces it; when the body carries a resourceVersion that is not the
  stored one, the answer is 409 ``Conflict`` and nothing changes.

kmock keeps every request and every object version for assertions, and slows down as they
pile up, so both are trimmed to the last few.

The official (synchronous) client talks to it from test threads while it runs in its own event
loop in a background thread::

    with KubeServer() as kube:
        api = kube.api_client()           # kubernetes.client.ApiClient
        kube.put("apps/v1/deployments", "prod", "web", {...})
        kube.get("coordination.k8s.io/v1/leases", "imagebot", "imagebot")
"""

from __future__ import annotations

import asyncio
import copy
import itertools
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import Future
from datetime import UTC, datetime
from typing import Any

import aiohttp.web
import attrs
import pytest
from kmock import KubernetesEmulator, KubernetesError, KubernetesObjectNotFoundError, Server, resource

KEEP_REQUESTS = 50
KEEP_VERSIONS = 3


@attrs.define(kw_only=True)
class Emulator(KubernetesEmulator):
    _versions: Iterator[int] = attrs.field(factory=lambda: itertools.count(1), init=False)
    conflicts: int = attrs.field(default=0, init=False)

    async def _handle(self, request: Any) -> aiohttp.web.StreamResponse:
        self._trim()
        if request.resource is not None and request.name and request.method == "PUT" and not request.subresource:
            return await self._replace(request)
        if request.resource is not None and isinstance(request.data, dict):
            meta = request.data.setdefault("metadata", {})
            if request.method == "POST":
                if not meta.get("name") and meta.get("generateName"):
                    meta["name"] = meta["generateName"] + uuid.uuid4().hex[:5]
                meta.setdefault("uid", str(uuid.uuid4()))
                meta.setdefault("creationTimestamp", _now())
                meta["resourceVersion"] = str(next(self._versions))
            elif request.method == "PATCH":
                meta["resourceVersion"] = str(next(self._versions))
        return await super()._handle(request)

    async def _replace(self, request: Any) -> aiohttp.web.StreamResponse:
        key = (request.resource, request.namespace, request.name)
        body = copy.deepcopy(request.data) if isinstance(request.data, dict) else {}
        async with self._lock:
            if key not in self._objects or self._objects[key].deleted:
                raise KubernetesObjectNotFoundError()
            obj = self._objects[key]
            stored = dict(obj.raw.get("metadata", {}))
            sent = (body.get("metadata") or {}).get("resourceVersion")
            if sent and sent != stored.get("resourceVersion"):
                self.conflicts += 1
                raise KubernetesError(
                    status=409,
                    reason="Conflict",
                    message=f'Operation cannot be fulfilled on {request.resource.plural} "{request.name}": '
                    "the object has been modified; please apply your changes to the latest version and try again",
                    details={"name": request.name, "kind": request.resource.plural},
                )
            meta = body.setdefault("metadata", {})
            for kept in ("uid", "creationTimestamp", "name", "namespace"):
                if kept in stored:
                    meta[kept] = stored[kept]
            meta["resourceVersion"] = str(next(self._versions))
            obj.create(body)
            del obj.history[:-KEEP_VERSIONS]
            await self._buses[request.resource].put({"type": "MODIFIED", "object": obj.raw})
            raw = copy.deepcopy(obj.raw)
        return aiohttp.web.json_response(raw)

    def _trim(self) -> None:
        if len(self._requests) > 2 * KEEP_REQUESTS:
            del self._requests[:-KEEP_REQUESTS]
        for payload in self._payloads:
            if len(payload._requests) > 2 * KEEP_REQUESTS:
                del payload._requests[:-KEEP_REQUESTS]
        for obj in self._objects.values():
            if len(obj.history) > 2 * KEEP_VERSIONS:
                del obj.history[:-KEEP_VERSIONS]


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class KubeServer:
    """The emulator on a free 127.0.0.1 port, served from a background thread's event loop."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.emulator: Emulator | None = None
        self.url = ""
        self._thread = threading.Thread(target=self._main, name="kube-emulator", daemon=True)
        self._ready = threading.Event()
        self._stopping: asyncio.Event | None = None
        self._error: BaseException | None = None

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_until_complete(self._serve())
        except BaseException as e:  # surfaced by __enter__
            self._error = e
            self._ready.set()
        finally:
            self.loop.close()

    async def _serve(self) -> None:
        self._stopping = asyncio.Event()
        async with Emulator() as emulator, Server(emulator) as server:
            self.emulator = emulator
            self.url = f"http://{server.host}:{server.port}"
            self._ready.set()
            await self._stopping.wait()

    def __enter__(self) -> "KubeServer":
        self._thread.start()
        if not self._ready.wait(15) or self._error is not None:
            raise RuntimeError(f"the Kubernetes emulator did not start: {self._error!r}")
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._stopping is not None
        self.loop.call_soon_threadsafe(self._stopping.set)
        self._thread.join(10)

    # -- access from test threads -------------------------------------------------------------
    def _run(self, coro: Any) -> Any:
        fut: Future[Any] = asyncio.run_coroutine_threadsafe(coro, self.loop)
        return fut.result(10)

    def api_client(self) -> Any:
        """A kubernetes ApiClient for this emulator (plain HTTP, no credentials)."""
        from kubernetes import client

        conf = client.Configuration()
        conf.host = self.url
        return client.ApiClient(conf)

    def put(self, res: str, namespace: str | None, name: str, body: dict[str, Any]) -> None:
        """Store an object as if created by someone else (kubectl apply)."""

        async def put() -> None:
            assert self.emulator is not None
            meta = body.setdefault("metadata", {})
            meta.update(name=name, resourceVersion=str(next(self.emulator._versions)))
            if namespace:
                meta["namespace"] = namespace
            async with self.emulator._lock:
                self.emulator.objects[resource(res), namespace, name] = copy.deepcopy(body)

        self._run(put())

    def get(self, res: str, namespace: str | None, name: str) -> dict[str, Any] | None:
        async def get() -> dict[str, Any] | None:
            assert self.emulator is not None
            async with self.emulator._lock:
                key = (resource(res), namespace, name)
                if key not in self.emulator.objects or self.emulator.objects[key].deleted:
                    return None
                return copy.deepcopy(self.emulator.objects[key].raw)

        return self._run(get())

    def list(self, res: str) -> list[dict[str, Any]]:
        async def items() -> list[dict[str, Any]]:
            assert self.emulator is not None
            async with self.emulator._lock:
                return [
                    copy.deepcopy(obj.raw)
                    for (r, _, _), obj in self.emulator._objects.items()
                    if r == resource(res) and not obj.deleted
                ]

        return self._run(items())


@pytest.fixture
def kube() -> Iterator[KubeServer]:
    """A fresh Kubernetes API emulator for one test."""
    with KubeServer() as server:
        yield server
