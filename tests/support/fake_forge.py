"""What the fake GitLab and the fake Gitea share: one loopback HTTP server answering the REST
API under a prefix and Git (the real `git http-backend`) everywhere else, with every API
request and response validated against an OpenAPI subset from ../shared/testdata/.

Requests are checked against the subset as published (path, method, query parameter names,
JSON body). Responses are checked against a loosened copy — only where the published subset is
known to be wrong about what the forge sends (each subset's README, "Pitfalls"); each fake lists
its loosenings and why. Endpoints a subset lacks but a client must call are added to the
document (`supplement`) with their schema, so they are validated too, not waved through.
Anything else — an undocumented endpoint or query parameter, a body that does not validate — is
recorded in `drift`; tests call `assert_no_drift()`.
"""

from __future__ import annotations

import copy
import json
import subprocess
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.support.fake_github import ApiError, Spec, _why
from tests.support.git_http import LoopbackService, read_body, serve_git

NOW = "2026-01-01T00:00:00Z"


def nullable_properties(doc: dict, untyped: bool = False) -> dict:
    """Every property of every component may be null; `untyped`: a property typed only `string`
    (GitLab's undocumented types) may be anything, and a `$ref` may also be a list of it."""
    doc = copy.deepcopy(doc)

    def prop(s: dict) -> dict:
        if "$ref" in s:
            alts = [{"$ref": s["$ref"]}] + ([{"type": "array", "items": {"$ref": s["$ref"]}}] if untyped else [])
            return {"anyOf": [*alts, {"type": "null"}]}
        if untyped and s.get("type") == "string" and "format" not in s and "enum" not in s:
            return {}
        return dict(s, nullable=True) if "type" in s else s

    def walk(n: Any) -> None:
        if isinstance(n, list):
            for x in n:
                walk(x)
        elif isinstance(n, dict):
            for v in n.values():
                walk(v)
            if isinstance(n.get("properties"), dict):
                n["properties"] = {k: prop(v) for k, v in n["properties"].items()}

    walk(doc["components"])
    return doc


@dataclass
class Pull:
    number: int
    title: str
    body: str
    head: str
    base: str
    head_sha: str
    state: str = "open"  # open | closed | merged
    labels: list[str] = field(default_factory=list)
    reviewers: list[str] = field(default_factory=list)
    team_reviewers: list[str] = field(default_factory=list)
    comments: list[str] = field(default_factory=list)
    draft: bool = False


@dataclass
class Project:
    path: str  # "group/sub/project" or "owner/name"
    bare: Path
    default_branch: str
    id: int
    pulls: dict[int, Pull] = field(default_factory=dict)
    statuses: dict[str, list[dict]] = field(default_factory=dict)

    def git(self, *args: str, check: bool = True) -> str:
        return subprocess.run(["git", *args], cwd=self.bare, capture_output=True, text=True, check=check).stdout.strip()

    def branch_sha(self, branch: str) -> str | None:
        return self.git("rev-parse", "--verify", "-q", f"refs/heads/{branch}^{{commit}}", check=False) or None


class FakeForge(LoopbackService):
    """Subclasses set `api_prefix`, `name`, build `self.strict` / `self.loose` Specs and implement `_dispatch`."""

    api_prefix = "/api"
    name = "forge"

    def __init__(self, root: Path, token: str, strict: Spec, loose: Spec):
        self.root = root
        self.token = token
        self.strict, self.loose = strict, loose
        self.projects: dict[str, Project] = {}
        self.drift: list[str] = []
        self.calls: list[tuple[str, str]] = []  # (method, path) of API calls, in order
        self.git_requests: list[str] = []
        self.fail_next: dict[tuple[str, str], int] = {}  # (method, template) -> status to answer once
        self._ids = 100
        self._lock = threading.RLock()

    @property
    def api_url(self) -> str:
        return self.base + self.api_prefix

    def git_url(self, path: str) -> str:
        return f"{self.base}/{path}.git"

    def add_project(self, path: str, bare: Path, default_branch: str = "main") -> Project:
        """Serve the bare repository `bare` at `path` (moved under the fake's git root)."""
        target = self.root / "git" / f"{path}.git"
        target.parent.mkdir(parents=True, exist_ok=True)
        bare.rename(target)
        self._ids += 1
        project = Project(path, target, default_branch, self._ids)
        self.projects[path] = project
        return project

    def next_id(self) -> int:
        self._ids += 1
        return self._ids

    # --- what tests look at ----------------------------------------------------------------
    def writes(self) -> list[tuple[str, str]]:
        return [c for c in self.calls if c[0] != "GET"]

    def open_pulls(self, path: str) -> list[Pull]:
        return [p for p in self.projects[path].pulls.values() if p.state == "open"]

    def assert_no_drift(self) -> None:
        assert not self.drift, f"the fake {self.name} saw requests or sent responses outside the schema:\n" + "\n".join(self.drift)

    # --- HTTP ------------------------------------------------------------------------------
    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        url = urlsplit(h.path)
        if not url.path.startswith(self.api_prefix + "/"):
            serve_git(h, self.root / "git", h.path, self.token, self.git_requests)
            return
        raw = read_body(h)
        with self._lock:
            self.calls.append((h.command, url.path))
            status, body, headers = self._api(h, url.path, parse_qs(url.query, keep_blank_values=True), raw)
        data = b"" if body is None else json.dumps(body).encode()
        h.send_response(status)
        if data:
            h.send_header("Content-Type", "application/json")
        for k, v in headers.items():
            h.send_header(k, v)
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)

    def spec_path(self, path: str) -> str:
        """The request path as the spec writes it (GitLab's paths carry /api/v4, Gitea's do not)."""
        return path

    def authorized(self, h: BaseHTTPRequestHandler) -> bool:
        raise NotImplementedError

    def _api(self, h: BaseHTTPRequestHandler, path: str, query: dict, raw: bytes) -> tuple[int, Any, dict]:
        method = h.command
        request = self.strict.request(method, self.spec_path(path), query, raw, self.drift)
        if request is None:
            return 404, {"message": "404 Not Found"}, {}
        template, params, payload = request
        try:
            if not self.authorized(h):
                raise ApiError(401, "401 Unauthorized")
            forced = self.fail_next.pop((method, template), None)
            if forced:
                raise ApiError(forced, "injected failure")
            status, body, headers = self._dispatch(method, template, params, query, payload or {})
        except ApiError as e:
            # Error bodies have no schema in either subset (README pitfalls): checked for being documented
            # only; 401 and 5xx can come from any endpoint.
            if str(e.status) not in self.strict.operation(template, method)["responses"] and e.status != 401 and e.status < 500:
                self.drift.append(f"response {method} {template}: status {e.status} is not documented")
            return e.status, {"message": e.message}, {}
        try:
            self.loose.check(template, method, status, body)
        except KeyError:
            self.drift.append(f"response {method} {template}: status {status} is not documented")
        except Exception as e:  # noqa: BLE001
            self.drift.append(f"response {method} {template} {status}: {_why(e)}")
        return status, body, headers

    def _dispatch(self, method: str, template: str, p: dict, query: dict, body: Any) -> tuple[int, Any, dict]:
        raise NotImplementedError

    # --- shared behaviour ------------------------------------------------------------------
    def create_pull(self, project: Project, head: str, base: str, title: str, body: str, draft: bool = False) -> Pull:
        head_sha = project.branch_sha(head)
        if head_sha is None or project.branch_sha(base) is None:
            raise ApiError(422 if self.name == "Gitea" else 400, "branch does not exist")
        if any(x.state == "open" and x.head == head and x.base == base for x in project.pulls.values()):
            raise ApiError(409, "Another open merge request already exists for this source branch")
        number = len(project.pulls) + 1
        pull = Pull(number, title, body, head, base, head_sha, draft=draft)
        project.pulls[number] = pull
        return pull

    @staticmethod
    def page(items: list, query: dict, size_name: str, default: int) -> tuple[list, bool]:
        size = int(query.get(size_name, [str(default)])[0])
        page = int(query.get("page", ["1"])[0])
        return items[(page - 1) * size : page * size], len(items) > page * size
