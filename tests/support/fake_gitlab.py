"""A stateful fake of GitLab's REST API (v4) over real HTTP, with real Git behind it.

Projects live at any depth (``group/sub/project``), their repositories at
``/<path>.git`` (the real `git http-backend`, password == token), the API under ``/api/v4``
as on a self-hosted instance: projects (by URL-encoded path), merge requests (list with
state/source_branch filters and pagination, create, get, update incl. ``state_event``,
``add_labels``, ``reviewer_ids``), notes, project members (reviewer lookup), commit statuses.

Validated against ../shared/testdata/gitlab/openapi-mr-subset.json (see fake_forge.py).
Loosenings, each because the published subset is wrong about real GitLab (its README):
- responses: properties may be null (pitfall 3: nothing is `nullable`, GitLab sends null for
  `closed_at`, `merged_by`, `milestone`…); properties typed only `string` may be any JSON
  (pitfall 1: `labels` are arrays, `draft` booleans, `source_project_id` integers); a `$ref`
  property may be a list of it (pitfall 2: `reviewers`, `assignees` are lists);
- supplement: ``GET/POST /projects/{id}/merge_requests/{iid}/notes`` are not in the v2 spec
  (README: the Notes API is not mounted before the OpenAPI documentation); they are added with
  the request body and a `Note` schema written from GitLab's Notes API documentation
  (id, body, author, system, noteable_type, noteable_iid, created_at).
Requests are validated strictly, as published.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any
from urllib.parse import quote

from tests.support.fake_forge import NOW, FakeForge, Project, Pull, nullable_properties
from tests.support.fake_github import ApiError, Spec

API = "/api/v4"
NOTES = "/api/v4/projects/{id}/merge_requests/{merge_request_iid}/notes"
NOTE_SCHEMA = {
    "type": "object",
    "required": ["id", "body", "author", "system", "noteable_type"],
    "properties": {
        "id": {"type": "integer"},
        "body": {"type": "string"},
        "author": {"$ref": "#/components/schemas/API_Entities_UserBasic"},
        "system": {"type": "boolean"},
        "noteable_type": {"type": "string"},
        "noteable_iid": {"type": "integer"},
        "created_at": {"type": "string", "format": "date-time"},
    },
}


def _params(*names: str) -> list[dict]:
    out = [{"in": "path", "name": "id", "required": True, "schema": {"type": "string"}},
           {"in": "path", "name": "merge_request_iid", "required": True, "schema": {"type": "integer"}}]
    return out + [{"in": "query", "name": n, "schema": {"type": "string"}} for n in names]


def supplemented(doc: dict) -> dict:
    doc = copy.deepcopy(doc)
    doc["components"]["schemas"]["Supplement_Note"] = NOTE_SCHEMA
    note = {"$ref": "#/components/schemas/Supplement_Note"}
    doc["paths"][NOTES] = {
        "get": {
            "parameters": _params("sort", "order_by", "page", "per_page"),
            "responses": {"200": {"description": "notes", "content": {"application/json": {"schema": {"type": "array", "items": note}}}},
                          "404": {"description": "Not found"}},
        },
        "post": {
            "parameters": _params(),
            "requestBody": {"required": True, "content": {"application/json": {"schema": {
                "type": "object", "required": ["body"], "additionalProperties": False,
                "properties": {"body": {"type": "string"}, "internal": {"type": "boolean"}, "created_at": {"type": "string"}}}}}},
            "responses": {"201": {"description": "note", "content": {"application/json": {"schema": note}}},
                          "400": {"description": "Bad request"}, "404": {"description": "Not found"}},
        },
    }
    return doc


class FakeGitLab(FakeForge):
    api_prefix = API
    name = "GitLab"

    def __init__(self, root: Path, spec_path: Path, token: str, *, bot: str = "imagebot", members: tuple[str, ...] = ()):
        doc = supplemented(json.loads(spec_path.read_text()))
        super().__init__(root, token, Spec(spec_path, doc=doc), Spec(spec_path, doc=nullable_properties(doc, untyped=True)))
        self.bot = bot
        self.members = {name: 500 + i for i, name in enumerate((bot, *members))}

    def authorized(self, h: Any) -> bool:
        return h.headers.get("PRIVATE-TOKEN") == self.token or h.headers.get("Authorization") == f"Bearer {self.token}"

    # --- JSON shapes -----------------------------------------------------------------------
    def user(self, name: str) -> dict:
        return {"id": self.members.get(name, 999), "username": name, "name": name, "state": "active",
                "locked": False, "avatar_url": None, "web_url": f"{self.base}/{name}"}

    def mr_json(self, project: Project, pull: Pull) -> dict:
        state = {"open": "opened"}.get(pull.state, pull.state)
        return {
            "id": 9000 + pull.number, "iid": pull.number, "project_id": project.id,
            "title": ("Draft: " if pull.draft else "") + pull.title, "description": pull.body,
            "state": state, "created_at": NOW, "updated_at": NOW,
            "merged_by": None, "merged_at": None, "closed_by": self.user(self.bot) if state == "closed" else None,
            "closed_at": NOW if state == "closed" else None,
            "target_branch": pull.base, "source_branch": pull.head,
            "source_project_id": project.id, "target_project_id": project.id,
            "author": self.user(self.bot), "assignees": [], "assignee": None,
            "reviewers": [self.user(r) for r in pull.reviewers],
            "labels": list(pull.labels), "draft": pull.draft, "work_in_progress": pull.draft,
            "milestone": None, "sha": project.branch_sha(pull.head) or pull.head_sha,
            "user_notes_count": len(pull.comments), "upvotes": 0, "downvotes": 0,
            "web_url": f"{self.base}/{project.path}/-/merge_requests/{pull.number}",
            "references": {"short": f"!{pull.number}", "relative": f"!{pull.number}", "full": f"{project.path}!{pull.number}"},
        }

    def note_json(self, pull: Pull, i: int, body: str) -> dict:
        return {"id": 7000 + pull.number * 100 + i, "body": body, "author": self.user(self.bot), "system": False,
                "noteable_type": "MergeRequest", "noteable_iid": pull.number, "created_at": NOW}

    # --- the API ---------------------------------------------------------------------------
    def _project(self, p: dict) -> Project:
        ref = p["id"]
        for project in self.projects.values():
            if ref in (project.path, str(project.id)):
                return project
        raise ApiError(404, "404 Project Not Found")

    def _pull(self, project: Project, p: dict) -> Pull:
        pull = project.pulls.get(int(p["merge_request_iid"]))
        if pull is None:
            raise ApiError(404, "404 Not found")
        return pull

    def _dispatch(self, method: str, template: str, p: dict, query: dict, body: Any) -> tuple[int, Any, dict]:
        project = self._project(p)
        op = (method, template.removeprefix("/api/v4/projects/{id}"))
        if op == ("GET", ""):
            return 200, {"id": project.id, "path_with_namespace": project.path, "name": project.path.rsplit("/", 1)[-1],
                         "default_branch": project.default_branch, "web_url": f"{self.base}/{project.path}"}, {}
        if op == ("GET", "/merge_requests"):
            state = query.get("state", ["all"])[0]
            pulls = sorted(project.pulls.values(), key=lambda x: -x.number)
            if state != "all":
                pulls = [x for x in pulls if {"open": "opened"}.get(x.state, x.state) == state]
            if "source_branch" in query:
                pulls = [x for x in pulls if x.head == query["source_branch"][0]]
            chunk, more = self.page(pulls, query, "per_page", 20)
            headers = {}
            if more:
                args = "&".join(f"{k}={quote(v[0])}" for k, v in query.items() if k != "page")
                page = int(query.get("page", ["1"])[0])
                headers["Link"] = f'<{self.api_url}/projects/{project.id}/merge_requests?{args}&page={page + 1}>; rel="next"'
            return 200, [self.mr_json(project, x) for x in chunk], headers
        if op == ("POST", "/merge_requests"):
            title, draft = body["title"], False
            if title.startswith("Draft: "):
                title, draft = title[7:], True
            pull = self.create_pull(project, body["source_branch"], body["target_branch"], title, body.get("description", ""), draft)
            return 201, self.mr_json(project, pull), {}
        if op[1].startswith("/merge_requests/{merge_request_iid}"):
            return self._mr_op(project, self._pull(project, p), op, body)
        if op == ("GET", "/users"):
            search = query.get("search", [""])[0]
            return 200, [self.user(n) for n in self.members if search in n], {}
        if op == ("POST", "/statuses/{sha}"):
            status = {"id": self.next_id(), "sha": p["sha"], "status": body["state"], "name": body.get("name") or body.get("context") or "default",
                      "description": body.get("description"), "target_url": body.get("target_url"), "created_at": NOW,
                      "author": self.user(self.bot), "allow_failure": False, "ref": None}
            project.statuses.setdefault(p["sha"], []).insert(0, status)
            return 200, status, {}  # the subset documents 200 for this POST
        if op == ("GET", "/repository/commits/{sha}/statuses"):
            return 200, project.statuses.get(p["sha"], []), {}
        raise ApiError(404, "404 Not found")

    def _mr_op(self, project: Project, pull: Pull, op: tuple[str, str], body: dict) -> tuple[int, Any, dict]:
        if op == ("GET", "/merge_requests/{merge_request_iid}"):
            return 200, self.mr_json(project, pull), {}
        if op == ("PUT", "/merge_requests/{merge_request_iid}"):
            if "title" in body:
                pull.title, pull.draft = (body["title"][7:], True) if body["title"].startswith("Draft: ") else (body["title"], False)
            pull.body = body.get("description", pull.body)
            if "target_branch" in body:
                if project.branch_sha(body["target_branch"]) is None:
                    raise ApiError(400, "target branch does not exist")
                pull.base = body["target_branch"]
            for label in body.get("add_labels", []):
                if label not in pull.labels:
                    pull.labels.append(label)
            if "reviewer_ids" in body:
                by_id = {v: k for k, v in self.members.items()}
                pull.reviewers = [by_id[i] for i in body["reviewer_ids"] if i in by_id]
            if body.get("state_event") == "close" and pull.state == "open":
                pull.state = "closed"
            if body.get("state_event") == "reopen" and pull.state == "closed":
                pull.state = "open"
            return 200, self.mr_json(project, pull), {}
        if op[1] == "/merge_requests/{merge_request_iid}/notes":
            if op[0] == "POST":
                pull.comments.append(body["body"])
                return 201, self.note_json(pull, len(pull.comments), body["body"]), {}
            return 200, [self.note_json(pull, i + 1, b) for i, b in enumerate(pull.comments)], {}
        raise ApiError(404, "404 Not found")
