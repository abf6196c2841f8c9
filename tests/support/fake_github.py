"""A stateful fake of GitHub's REST API over real HTTP, with real Git behind it.

One loopback server answers both:

- ``/git/<owner>/<name>.git/...`` — the repositories themselves, served by the real
  `git http-backend` (HTTP Basic auth: password == token);
- ``/api/v3/...`` — the REST API as GitHub Enterprise serves it (so PyGithub is driven through
  `api_url`): repos, branches, pulls (list / create / get / update / files), review requests,
  issues, labels, comments, git refs (get / delete), statuses, rate limit.

Branch heads are read from the bare repositories, so a push shows up in the API at once.

It cannot drift from GitHub: every request PyGithub sends (path, method, query parameter names,
JSON body) and every response the fake returns (status, JSON body) is validated against the
OpenAPI subset in ../shared/testdata/github/openapi-pr-subset.json. Anything undocumented or
invalid is recorded in `drift`; tests call `assert_no_drift()` (the fixture does it at teardown).
Response objects start as a schema-valid skeleton of the documented type (required fields
only), overlaid with the fake's real state.
"""

from __future__ import annotations

import json
import re
import subprocess
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import reduce
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from jsonschema import Draft4Validator
from referencing import Registry
from referencing.jsonschema import DRAFT4

from tests.support.fake_github_app import GitHubAppIssuer
from tests.support.git_http import LoopbackService, read_body, serve_git

API_PREFIX = "/api/v3"
GIT_PREFIX = "/git"
NOW = "2026-01-01T00:00:00Z"
URI = "urn:github-pr-subset"


def denull(n: Any) -> Any:
    """OpenAPI 3.0 `nullable: true` -> plain JSON Schema (see the subset's README)."""
    if isinstance(n, list):
        return [denull(x) for x in n]
    if not isinstance(n, dict):
        return n
    n = {
        k: {p: denull(s) for p, s in v.items()} if k == "properties" else v if k in ("enum", "default") else denull(v)
        for k, v in n.items()
    }
    if n.pop("nullable", False):
        n = {**n, "type": [n["type"], "null"]} if "type" in n and "enum" not in n else {"anyOf": [n, {"type": "null"}]}
    return n


class Spec:
    """The OpenAPI subset: routing, validation and schema-valid skeletons."""

    def __init__(self, path: Path, *, doc: dict | None = None, greedy: tuple[str, ...] = ("ref", "branch")):
        """`doc`: an already loaded (and possibly loosened) document instead of `path`'s;
        `greedy`: path parameters that may hold slashes."""
        self.raw = doc if doc is not None else json.loads(path.read_text())
        self.doc = denull(self.raw)
        self.registry = Registry().with_resource(URI, DRAFT4.create_resource(self.doc))
        self.routes: list[tuple[re.Pattern[str], str]] = []
        for template in self.doc["paths"]:
            pattern = re.sub(r"\\{(" + "|".join(greedy) + r")\\}", r"(?P<\1>.+)", re.escape(template))
            pattern = re.sub(r"\\{(\w+)\\}", r"(?P<\1>[^/]+)", pattern)
            self.routes.append((re.compile(f"^{pattern}$"), template))
        # Most specific first: literal segments beat parameters.
        self.routes.sort(key=lambda r: -len(re.sub(r"\{\w+\}", "", r[1])))

    def route(self, path: str) -> tuple[str, dict[str, str]] | None:
        for pattern, template in self.routes:
            m = pattern.match(path)
            if m:
                return template, {k: unquote(v) for k, v in m.groupdict().items()}
        return None

    def _resolve(self, node: dict) -> dict:
        while "$ref" in node:
            node = reduce(dict.__getitem__, node["$ref"][2:].split("/"), self.doc)
        return node

    def operation(self, template: str, method: str) -> dict | None:
        return self.doc["paths"][template].get(method.lower())

    def query_names(self, template: str, method: str) -> set[str]:
        op = self.operation(template, method) or {}
        return {self._resolve(p)["name"] for p in op.get("parameters", []) if self._resolve(p)["in"] == "query"}

    def request(
        self, method: str, path: str, query: dict, raw: bytes, drift: list[str], *, adapt: Callable[[str, Any], Any] = lambda t, p: p
    ) -> tuple[str, dict[str, str], Any] | None:
        """Route one request and validate it (query parameter names, JSON body, after `adapt`),
        recording what is off in `drift`: (template, path parameters, payload), or None when
        the endpoint is not documented."""
        found = self.route(path)
        if found is None or self.operation(found[0], method) is None:
            drift.append(f"undocumented endpoint {method} {path}")
            return None
        template, params = found
        unknown = set(query) - self.query_names(template, method)
        if unknown:
            drift.append(f"{method} {template}: undocumented query parameters {sorted(unknown)}")
        payload: Any = None
        if raw:
            try:
                payload = json.loads(raw)
            except ValueError:
                drift.append(f"{method} {template}: body is not JSON: {raw[:100]!r}")
        if payload is not None or (self.operation(template, method) or {}).get("requestBody", {}).get("required"):
            try:
                self.check(template, method, None, adapt(template, payload))
            except Exception as e:  # noqa: BLE001 - any validation failure is drift
                drift.append(f"request {method} {template}: {_why(e)}")
        return template, params, payload

    def check(self, template: str, method: str, status: int | None, body: Any) -> None:
        """Raise when `body` is not what the documented operation sends / returns (README's `check`)."""
        parts = ["paths", template, method.lower()]
        parts += ["requestBody"] if status is None else ["responses", str(status)]
        node = reduce(dict.__getitem__, parts, self.doc)
        if "$ref" in node:
            parts = node["$ref"][2:].split("/")
            node = reduce(dict.__getitem__, parts, self.doc)
        if "content" not in node:
            assert body in (None, b"", ""), f"{status} must have no body, got {body!r}"
            return
        ptr = "/".join(p.replace("~", "~0").replace("/", "~1") for p in parts)
        ref = f"{URI}#/{ptr}/content/application~1json/schema"
        Draft4Validator({"$ref": ref}, registry=self.registry).validate(body)

    def check_component(self, schema_name: str, body: Any) -> None:
        ref = f"{URI}#/components/schemas/{schema_name}"
        Draft4Validator({"$ref": ref}, registry=self.registry).validate(body)

    def skeleton(self, schema_name: str) -> Any:
        return self._skeleton(self.doc["components"]["schemas"][schema_name])

    def _skeleton(self, node: Any) -> Any:
        """A minimal valid instance: required properties only; null wherever null is allowed."""
        node = self._resolve(node)
        if "allOf" in node:
            out: dict = {}
            for part in node["allOf"]:
                out.update(self._skeleton(part))
            return out
        for key in ("anyOf", "oneOf"):
            if key in node:
                options = [self._resolve(o) for o in node[key]]
                if any(o.get("type") == "null" for o in options):
                    return None
                return self._skeleton(options[0])
        if "enum" in node:
            return node["enum"][0]
        types = node.get("type", "object")
        types = types if isinstance(types, list) else [types]
        if "null" in types:
            return None
        kind = types[0]
        if kind == "object":
            props = node.get("properties", {})
            return {name: self._skeleton(props.get(name, {"type": "string"})) for name in node.get("required", [])}
        if kind == "array":
            return []
        if kind == "string":
            fmt = node.get("format")
            return {"date-time": NOW, "uri": "https://fake.invalid/x", "email": "x@fake.invalid"}.get(fmt, "x")
        if kind in ("integer", "number"):
            return node.get("minimum", 1)
        if kind == "boolean":
            return False
        return None


def _why(e: Exception) -> str:
    """A validation failure with where it happened ('... at $.head.repo.owner')."""
    return f"{getattr(e, 'message', e)} at {getattr(e, 'json_path', '?')}"


class ApiError(Exception):
    def __init__(self, status: int, message: str, errors: list | None = None):
        super().__init__(message)
        self.status, self.message, self.errors = status, message, errors


@dataclass
class Pull:
    number: int
    title: str
    body: str | None
    head: str
    base: str
    draft: bool
    head_sha: str
    state: str = "open"
    merged: bool = False
    labels: list[str] = field(default_factory=list)
    reviewers: list[str] = field(default_factory=list)
    team_reviewers: list[str] = field(default_factory=list)
    closed_at: str | None = None


@dataclass
class Comment:
    id: int
    issue: int
    body: str


@dataclass
class Repo:
    owner: str
    name: str
    bare: Path
    default_branch: str
    pulls: dict[int, Pull] = field(default_factory=dict)
    comments: dict[int, Comment] = field(default_factory=dict)
    statuses: dict[str, list[dict]] = field(default_factory=dict)

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}"

    def git(self, *args: str, check: bool = True) -> str:
        return subprocess.run(["git", *args], cwd=self.bare, capture_output=True, text=True, check=check).stdout.strip()

    def branch_sha(self, branch: str) -> str | None:
        return self.git("rev-parse", "--verify", "-q", f"refs/heads/{branch}^{{commit}}", check=False) or None


class FakeGitHub(LoopbackService):
    """Start with `with FakeGitHub(root, spec_path, token) as gh:`; add repositories with `add_repo`."""

    def __init__(self, root: Path, spec_path: Path, token: str):
        self.root = root
        self.spec = Spec(spec_path)
        self.token = token
        self.repos: dict[str, Repo] = {}
        self.drift: list[str] = []
        self.calls: list[tuple[str, str]] = []  # (method, path) of API calls, in order
        self.git_requests: list[str] = []
        self.seen_headers: list[str] = []  # every request header value, to prove no secret leaks into others
        self._ids = 1000
        self._lock = threading.RLock()
        self.fail_next: dict[tuple[str, str], int] = {}  # (method, template) -> status to answer once
        self.git_failures = 0  # answer this many Git requests with 503
        #: GitHub App authentication (tests/support/fake_github_app.py): installation tokens it
        #: issued are accepted for the API and as the Git password.
        self.app: GitHubAppIssuer | None = None

    @property
    def api_url(self) -> str:
        return self.base + API_PREFIX

    def git_url(self, full_name: str) -> str:
        return f"{self.base}{GIT_PREFIX}/{full_name}.git"

    def add_repo(self, full_name: str, bare: Path, default_branch: str = "main") -> Repo:
        """Serve the bare repository `bare` as `full_name` (it is moved under the fake's git root)."""
        owner, name = full_name.split("/")
        target = self.root / "git" / owner / f"{name}.git"
        target.parent.mkdir(parents=True, exist_ok=True)
        bare.rename(target)
        repo = Repo(owner, name, target, default_branch)
        self.repos[full_name] = repo
        return repo

    # --- what tests look at ----------------------------------------------------------------
    def writes(self) -> list[tuple[str, str]]:
        return [c for c in self.calls if c[0] != "GET"]

    def open_pulls(self, full_name: str) -> list[Pull]:
        return [p for p in self.repos[full_name].pulls.values() if p.state == "open"]

    def assert_no_drift(self) -> None:
        assert not self.drift, "the fake GitHub saw requests or sent responses outside the schema:\n" + "\n".join(self.drift)

    # --- HTTP ------------------------------------------------------------------------------
    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        self.seen_headers.extend(f"{k}: {v}" for k, v in h.headers.items())
        url = urlsplit(h.path)
        if url.path.startswith(GIT_PREFIX + "/"):
            with self._lock:
                fail, self.git_failures = self.git_failures > 0, max(0, self.git_failures - 1)
            if fail:
                read_body(h)
                self.git_requests.append(f"{h.command} {url.path[len(GIT_PREFIX):]} -> 503")
                self._send(h, 503, None)
                return
            token = self.app.git_password(h, self.token) if self.app else self.token
            serve_git(h, self.root / "git", h.path[len(GIT_PREFIX) :], token, self.git_requests)
            return
        if not url.path.startswith(API_PREFIX + "/"):
            self._send(h, 404, {"message": "Not Found"})
            return
        path = url.path[len(API_PREFIX) :]
        raw = read_body(h)
        if self.app and self.app.handles(h.command, path):  # not in the OpenAPI subset: checked by the issuer
            with self._lock:
                self.calls.append((h.command, path))
            status, body = self.app.issue(h.command, path, h.headers.get("Authorization", ""))
            self._send(h, status, body)
            return
        with self._lock:
            self.calls.append((h.command, path))
            status, body, headers = self._api(h, path, parse_qs(url.query, keep_blank_values=True), raw)
        self._send(h, status, body, headers)

    def _api(self, h: BaseHTTPRequestHandler, path: str, query: dict, raw: bytes) -> tuple[int, Any, dict]:
        method = h.command

        def labels_list(template: str, payload: Any) -> Any:
            # The schema lists only {"labels": [...]} though GitHub accepts the bare array PyGithub sends.
            return {"labels": payload} if isinstance(payload, list) and template.endswith("/labels") else payload

        request = self.spec.request(method, path, query, raw, self.drift, adapt=labels_list)
        if request is None:
            return 404, {"message": "Not Found", "documentation_url": "https://docs.github.com/rest"}, {}
        template, params, payload = request
        auth = h.headers.get("Authorization", "")
        try:
            if auth not in (f"token {self.token}", f"Bearer {self.token}") and not (self.app and self.app.api_authorized(auth)):
                raise ApiError(401, "Bad credentials")
            forced = self.fail_next.pop((method, template), None)
            if forced:
                raise ApiError(forced, "injected failure")
            status, body, headers = self._dispatch(method, template, params, query, payload)
        except ApiError as e:
            status, headers = e.status, {}
            body = {"message": e.message, "documentation_url": "https://docs.github.com/rest"}
            if e.errors is not None:
                body["errors"] = e.errors
        try:
            if status == 401 and "401" not in self.spec.operation(template, method)["responses"]:
                # GitHub answers any endpoint with 401 for bad credentials; the subset lists it on a few.
                self.spec.check_component("basic-error", body)
            else:
                self.spec.check(template, method, status, body)
        except KeyError:
            self.drift.append(f"response {method} {template}: status {status} is not documented")
        except Exception as e:  # noqa: BLE001
            self.drift.append(f"response {method} {template} {status}: {_why(e)}")
        return status, body, headers

    def _send(self, h: BaseHTTPRequestHandler, status: int, body: Any, headers: dict | None = None) -> None:
        data = b"" if body is None else json.dumps(body).encode()
        h.send_response(status)
        if data:
            h.send_header("Content-Type", "application/json; charset=utf-8")
        for k, v in (headers or {}).items():
            h.send_header(k, v)
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)

    # --- the API ---------------------------------------------------------------------------
    def _repo(self, params: dict) -> Repo:
        repo = self.repos.get(f"{params['owner']}/{params['repo']}")
        if repo is None:
            raise ApiError(404, "Not Found")
        return repo

    def _next_id(self) -> int:
        self._ids += 1
        return self._ids

    def _dispatch(self, method: str, template: str, p: dict, query: dict, body: Any) -> tuple[int, Any, dict]:
        if template == "/rate_limit":
            core = {"limit": 5000, "remaining": 4999, "reset": 1767225600, "used": 1}
            return 200, {"resources": {"core": core}, "rate": core}, {}
        repo = self._repo(p)
        key = (method, template.removeprefix("/repos/{owner}/{repo}"))
        if key == ("GET", ""):
            return 200, self._repo_json(repo, full=True), {}
        if key == ("GET", "/branches/{branch}"):
            return 200, self._branch_json(repo, p["branch"]), {}
        if key == ("GET", "/pulls"):
            return self._list_pulls(repo, query)
        if key == ("POST", "/pulls"):
            return 201, self._create_pull(repo, body or {}), {}
        if key[1].startswith("/pulls/{pull_number}") or key[1].startswith("/issues/{issue_number}"):
            number = int(p.get("pull_number") or p.get("issue_number"))
            pull = repo.pulls.get(number)
            if pull is None:
                raise ApiError(404, "Not Found")
            return self._pull_op(repo, pull, key, body or {})
        if key == ("PATCH", "/issues/comments/{comment_id}"):
            comment = repo.comments.get(int(p["comment_id"]))
            if comment is None:
                raise ApiError(404, "Not Found")
            comment.body = body["body"]
            return 200, self._comment_json(repo, comment), {}
        if key == ("GET", "/git/ref/{ref}"):
            return 200, self._ref_json(repo, p["ref"]), {}
        if key == ("DELETE", "/git/refs/{ref}"):
            ref = p["ref"]
            if not ref.startswith("heads/") or repo.branch_sha(ref[6:]) is None:
                raise ApiError(422, "Reference does not exist")
            if ref[6:] == repo.default_branch:
                raise ApiError(422, "Cannot delete the default branch")
            repo.git("update-ref", "-d", f"refs/{ref}")
            return 204, None, {}
        if key == ("GET", "/commits/{ref}"):
            sha = repo.branch_sha(p["ref"]) or (p["ref"] if repo.git("cat-file", "-t", p["ref"], check=False) == "commit" else None)
            if sha is None:
                raise ApiError(404, "No commit found for SHA")
            commit = self.spec.skeleton("commit")
            commit.update({"sha": sha, "url": f"{self.api_url}/repos/{repo.full_name}/commits/{sha}"})
            return 200, commit, {}
        if key == ("GET", "/commits/{ref}/status"):
            sha = repo.branch_sha(p["ref"]) or p["ref"]
            return 200, self._combined_status(repo, sha), {}
        if key == ("POST", "/statuses/{sha}"):
            status = {**self.spec.skeleton("status"), "id": self._next_id(), "state": body["state"], "context": body.get("context", "default")}
            status.update({"description": body.get("description"), "target_url": body.get("target_url"), "created_at": NOW, "updated_at": NOW})
            repo.statuses.setdefault(p["sha"], []).append(status)
            return 201, status, {}
        raise ApiError(404, "Not Found")  # documented but not modelled: a test would see the 404

    def _list_pulls(self, repo: Repo, query: dict) -> tuple[int, Any, dict]:
        state = query.get("state", ["open"])[0]
        pulls = sorted(repo.pulls.values(), key=lambda x: -x.number)
        if state != "all":
            pulls = [x for x in pulls if x.state == state]
        if "head" in query:
            owner, _, branch = query["head"][0].partition(":")
            pulls = [x for x in pulls if owner == repo.owner and x.head == branch]
        if "base" in query:
            pulls = [x for x in pulls if x.base == query["base"][0]]
        per_page = int(query.get("per_page", ["30"])[0])
        page = int(query.get("page", ["1"])[0])
        chunk = pulls[(page - 1) * per_page : page * per_page]
        headers = {}
        if len(pulls) > page * per_page:
            args = "&".join(f"{k}={v[0]}" for k, v in query.items() if k != "page")
            headers["Link"] = f'<{self.api_url}/repos/{repo.full_name}/pulls?{args}&page={page + 1}>; rel="next"'
        return 200, [self._pull_json(repo, x, simple=True) for x in chunk], headers

    def _create_pull(self, repo: Repo, body: dict) -> Any:
        head = body["head"].split(":", 1)[-1]
        base = body["base"]
        errors = []
        head_sha = repo.branch_sha(head)
        if head_sha is None:
            errors.append({"resource": "PullRequest", "field": "head", "code": "invalid"})
        if repo.branch_sha(base) is None:
            errors.append({"resource": "PullRequest", "field": "base", "code": "invalid"})
        if errors:
            raise ApiError(422, "Validation Failed", errors)
        if any(x.state == "open" and x.head == head and x.base == base for x in repo.pulls.values()):
            raise ApiError(
                422, "Validation Failed", [{"resource": "PullRequest", "code": "custom", "message": f"A pull request already exists for {repo.owner}:{head}."}]
            )
        number = len(repo.pulls) + 1
        pull = Pull(number, body["title"], body.get("body"), head, base, bool(body.get("draft")), head_sha or "")
        repo.pulls[number] = pull
        return self._pull_json(repo, pull)

    def _pull_op(self, repo: Repo, pull: Pull, key: tuple[str, str], body: dict) -> tuple[int, Any, dict]:
        op = key[1].replace("{issue_number}", "{n}").replace("{pull_number}", "{n}")
        if key[0] == "GET" and op == "/pulls/{n}":
            return 200, self._pull_json(repo, pull), {}
        if key[0] == "GET" and op == "/issues/{n}":
            return 200, self._issue_json(repo, pull), {}
        if key[0] == "PATCH" and op == "/pulls/{n}":
            if "base" in body and repo.branch_sha(body["base"]) is None:
                raise ApiError(422, "Validation Failed", [{"resource": "PullRequest", "field": "base", "code": "invalid"}])
            pull.title = body.get("title", pull.title)
            pull.body = body.get("body", pull.body)
            pull.base = body.get("base", pull.base)
            if body.get("state") in ("open", "closed") and body["state"] != pull.state:
                pull.state = body["state"]
                pull.closed_at = NOW if pull.state == "closed" else None
            return 200, self._pull_json(repo, pull), {}
        if key[0] == "GET" and op == "/pulls/{n}/files":
            return 200, self._files_json(repo, pull), {}
        if key[0] == "POST" and op == "/pulls/{n}/requested_reviewers":
            for login in body.get("reviewers", []):
                if login not in pull.reviewers:
                    pull.reviewers.append(login)
            for slug in body.get("team_reviewers", []):
                if slug not in pull.team_reviewers:
                    pull.team_reviewers.append(slug)
            return 201, self._pull_json(repo, pull, simple=True), {}
        if op == "/issues/{n}/labels":
            if key[0] == "POST":
                names = body if isinstance(body, list) else body.get("labels", [])
                for name in names:
                    name = name if isinstance(name, str) else name["name"]
                    if name not in pull.labels:
                        pull.labels.append(name)
            return 200, [self._label_json(repo, n) for n in pull.labels], {}
        if op == "/issues/{n}/comments":
            if key[0] == "POST":
                comment = Comment(self._next_id(), pull.number, body["body"])
                repo.comments[comment.id] = comment
                return 201, self._comment_json(repo, comment), {}
            return 200, [self._comment_json(repo, c) for c in repo.comments.values() if c.issue == pull.number], {}
        raise ApiError(404, "Not Found")

    # --- JSON shapes (skeleton + real state) -----------------------------------------------
    def _user(self, login: str = "imagebot") -> dict:
        u = self.spec.skeleton("simple-user")
        u.update({"login": login, "id": abs(hash(login)) % 100000, "type": "User", "url": f"{self.api_url}/users/{login}"})
        u["html_url"] = f"{self.base}/{login}"
        return u

    def _repo_json(self, repo: Repo, full: bool = False) -> dict:
        r = self.spec.skeleton("full-repository" if full else "repository")
        api = f"{self.api_url}/repos/{repo.full_name}"
        r.update(
            {
                "id": abs(hash(repo.full_name)) % 100000,
                "name": repo.name,
                "full_name": repo.full_name,
                "owner": self._user(repo.owner),
                "private": False,
                "url": api,
                "html_url": f"{self.base}/{repo.full_name}",
                "clone_url": self.git_url(repo.full_name),
                "default_branch": repo.default_branch,
                "pulls_url": api + "/pulls{/number}",
                "issues_url": api + "/issues{/number}",
            }
        )
        return r

    def _branch_json(self, repo: Repo, branch: str) -> dict:
        sha = repo.branch_sha(branch)
        if sha is None:
            raise ApiError(404, "Branch not found")
        b = self.spec.skeleton("branch-with-protection")
        commit = self.spec.skeleton("commit")
        commit.update({"sha": sha, "url": f"{self.api_url}/repos/{repo.full_name}/commits/{sha}"})
        b.update({"name": branch, "commit": commit, "protected": False})
        return b

    def _ref_json(self, repo: Repo, ref: str) -> dict:
        sha = repo.branch_sha(ref[6:]) if ref.startswith("heads/") else None
        if sha is None:
            raise ApiError(404, "Not Found")
        url = f"{self.api_url}/repos/{repo.full_name}/git/refs/{ref}"
        return {"ref": f"refs/{ref}", "node_id": "REF_" + sha[:8], "url": url, "object": {"type": "commit", "sha": sha, "url": url}}

    def _label_json(self, repo: Repo, name: str) -> dict:
        return {
            "id": abs(hash(name)) % 100000,
            "node_id": "LA_" + name,
            "url": f"{self.api_url}/repos/{repo.full_name}/labels/{name}",
            "name": name,
            "description": "",
            "color": "ededed",
            "default": False,
        }

    def _comment_json(self, repo: Repo, c: Comment) -> dict:
        j = self.spec.skeleton("issue-comment")
        api = f"{self.api_url}/repos/{repo.full_name}"
        j.update(
            {
                "id": c.id,
                "body": c.body,
                "user": self._user(),
                "url": f"{api}/issues/comments/{c.id}",
                "issue_url": f"{api}/issues/{c.issue}",
                "html_url": f"{self.base}/{repo.full_name}/pull/{c.issue}#issuecomment-{c.id}",
            }
        )
        return j

    def _team(self, slug: str, simple: bool) -> dict:
        t = self.spec.skeleton("team-simple" if simple else "team")
        t.update({"slug": slug, "name": slug, "id": abs(hash(slug)) % 100000, "type": "organization"})
        return t

    def _pull_json(self, repo: Repo, pull: Pull, simple: bool = False) -> dict:
        j = self.spec.skeleton("pull-request-simple" if simple else "pull-request")
        api = f"{self.api_url}/repos/{repo.full_name}"
        html = f"{self.base}/{repo.full_name}/pull/{pull.number}"
        head_sha = repo.branch_sha(pull.head) or pull.head_sha
        if pull.state == "open":
            pull.head_sha = head_sha
        base_sha = repo.branch_sha(pull.base) or ""
        side = lambda ref, sha: {  # noqa: E731
            "label": f"{repo.owner}:{ref}",
            "ref": ref,
            "sha": sha,
            "user": self._user(repo.owner),
            "repo": self._repo_json(repo),
        }
        j.update(
            {
                "id": 5000 + pull.number,
                "number": pull.number,
                "state": pull.state,
                "title": pull.title,
                "body": pull.body,
                "draft": pull.draft,
                "url": f"{api}/pulls/{pull.number}",
                "html_url": html,
                "issue_url": f"{api}/issues/{pull.number}",
                "comments_url": f"{api}/issues/{pull.number}/comments",
                "head": side(pull.head, pull.head_sha),
                "base": side(pull.base, base_sha),
                "user": self._user(),
                "labels": [self._label_json(repo, n) for n in pull.labels],
                "requested_reviewers": [self._user(r) for r in pull.reviewers],
                "requested_teams": [self._team(t, simple=not simple) for t in pull.team_reviewers],
                "closed_at": pull.closed_at,
                "created_at": NOW,
                "updated_at": NOW,
                "author_association": "NONE",
            }
        )
        if not simple:
            j.update({"merged": pull.merged, "comments": sum(c.issue == pull.number for c in repo.comments.values())})
        return j

    def _issue_json(self, repo: Repo, pull: Pull) -> dict:
        j = self.spec.skeleton("issue")
        api = f"{self.api_url}/repos/{repo.full_name}"
        j.update(
            {
                "id": 5000 + pull.number,
                "number": pull.number,
                "state": pull.state,
                "title": pull.title,
                "body": pull.body,
                "url": f"{api}/issues/{pull.number}",
                "html_url": f"{self.base}/{repo.full_name}/pull/{pull.number}",
                "labels": [self._label_json(repo, n) for n in pull.labels],
                "user": self._user(),
            }
        )
        return j

    def _files_json(self, repo: Repo, pull: Pull) -> list[dict]:
        out = repo.git("diff", "--name-status", f"refs/heads/{pull.base}...{pull.head_sha}", check=False)
        files = []
        for line in out.splitlines():
            status, _, name = line.partition("\t")
            f = self.spec.skeleton("diff-entry")
            f.update({"filename": name, "status": {"A": "added", "D": "removed"}.get(status[:1], "modified"), "sha": "0" * 40})
            files.append(f)
        return files

    def _combined_status(self, repo: Repo, sha: str) -> dict:
        j = self.spec.skeleton("combined-commit-status")
        statuses = repo.statuses.get(sha, [])
        j.update(
            {
                "sha": sha,
                "state": statuses[-1]["state"] if statuses else "pending",
                "statuses": [{**self.spec.skeleton("simple-commit-status"), **{k: s[k] for k in ("id", "state", "context", "description", "target_url")}} for s in statuses],
                "total_count": len(statuses),
                "repository": self._repo_json(repo),
            }
        )
        return j
