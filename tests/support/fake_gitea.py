"""A stateful fake of the Gitea / Forgejo REST API (``/api/v1``) over real HTTP, with real Git behind it.

Repositories are served at ``/<owner>/<name>.git`` (the real `git http-backend`, password ==
token), the API under ``/api/v1``: repos, pulls (list with state and pagination, create, get,
get by base/head, edit incl. state), requested reviewers, labels (list, create; add to an issue
by id), issue comments, commit statuses, the current user.

Validated against ../shared/testdata/gitea/openapi-pr-subset.json (see fake_forge.py).
Loosenings, each because the published subset is wrong about real Gitea (its README):
- responses: any property may be null (pitfall 1: no `nullable`, Go pointers arrive as null —
  `milestone`, `merged_at`, `closed_at`, `merged_by`, `assignee`…);
- supplement: ``GET /repos/{owner}/{repo}/issues/{index}/comments`` (issueGetComments, in every
  Gitea and Forgejo since 1.x) was not cut into the subset; it is added answering an array of
  the subset's own `Comment` schema, with its documented `since`/`before` query parameters.
Requests are validated strictly, as published; tokens must come as ``Authorization: token …``.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from tests.support.fake_forge import NOW, FakeForge, Project, Pull, nullable_properties
from tests.support.fake_github import ApiError, Spec

API = "/api/v1"
COMMENTS = "/repos/{owner}/{repo}/issues/{index}/comments"


def supplemented(doc: dict) -> dict:
    doc = copy.deepcopy(doc)
    path_params = [{"in": "path", "name": n, "required": True, "schema": {"type": "string"}} for n in ("owner", "repo")]
    path_params.append({"in": "path", "name": "index", "required": True, "schema": {"type": "integer", "format": "int64"}})
    query = [{"in": "query", "name": n, "schema": {"type": "string", "format": "date-time"}} for n in ("since", "before")]
    doc["paths"][COMMENTS]["get"] = {
        "operationId": "issueGetComments",
        "parameters": path_params + query,
        "responses": {
            "200": {"description": "CommentList", "content": {"application/json": {"schema": {"type": "array", "items": {"$ref": "#/components/schemas/Comment"}}}}},
            "404": {"$ref": "#/components/responses/notFound"},
        },
    }
    return doc


class FakeGitea(FakeForge):
    api_prefix = API
    name = "Gitea"

    def __init__(self, root: Path, spec_path: Path, token: str, *, bot: str = "imagebot", users: tuple[str, ...] = ()):
        doc = supplemented(json.loads(spec_path.read_text()))
        greedy = ("ref", "branch", "head")
        super().__init__(root, token, Spec(spec_path, doc=doc, greedy=greedy), Spec(spec_path, doc=nullable_properties(doc), greedy=greedy))
        self.bot = bot
        self.users = {bot, *users}
        self.labels: dict[str, dict[str, int]] = {}  # project path -> name -> id

    def spec_path(self, path: str) -> str:
        return path.removeprefix(API)

    def authorized(self, h: Any) -> bool:
        return h.headers.get("Authorization") == f"token {self.token}"

    # --- JSON shapes -----------------------------------------------------------------------
    def user(self, login: str) -> dict:
        return {"id": 300 + sorted(self.users | {login}).index(login), "login": login, "username": login, "full_name": login,
                "email": f"{login}@fake.invalid", "avatar_url": "", "is_admin": False}

    def label_json(self, project: Project, name: str) -> dict:
        i = self.labels.setdefault(project.path, {})[name]
        return {"id": i, "name": name, "color": "ededed", "description": "", "exclusive": False, "is_archived": False,
                "url": f"{self.api_url}/repos/{project.path}/labels/{i}"}

    def repo_json(self, project: Project) -> dict:
        owner, name = project.path.split("/")
        return {"id": project.id, "name": name, "full_name": project.path, "owner": self.user(owner), "private": False,
                "default_branch": project.default_branch, "html_url": f"{self.base}/{project.path}", "clone_url": self.git_url(project.path)}

    def pr_json(self, project: Project, pull: Pull) -> dict:
        def side(ref: str, sha: str) -> dict:
            return {"label": ref, "ref": ref, "sha": sha, "repo_id": project.id, "repo": self.repo_json(project)}

        head_sha = project.branch_sha(pull.head) or pull.head_sha
        closed = pull.state != "open"
        return {
            "id": 8000 + pull.number, "number": pull.number, "user": self.user(self.bot),
            "title": ("WIP: " if pull.draft else "") + pull.title, "body": pull.body,
            "state": "closed" if closed else "open", "merged": pull.state == "merged",
            "merged_at": NOW if pull.state == "merged" else None, "merged_by": None, "closed_at": NOW if closed else None,
            "labels": [self.label_json(project, n) for n in pull.labels], "milestone": None, "assignee": None, "assignees": None,
            "requested_reviewers": [self.user(r) for r in pull.reviewers], "comments": len(pull.comments),
            "html_url": f"{self.base}/{project.path}/pulls/{pull.number}", "url": f"{self.base}/{project.path}/pulls/{pull.number}",
            "head": side(pull.head, head_sha), "base": side(pull.base, project.branch_sha(pull.base) or ""),
            "mergeable": True, "created_at": NOW, "updated_at": NOW, "due_date": None, "is_locked": False,
        }

    def comment_json(self, project: Project, pull: Pull, i: int, body: str) -> dict:
        return {"id": 6000 + pull.number * 100 + i, "body": body, "user": self.user(self.bot), "created_at": NOW, "updated_at": NOW,
                "html_url": f"{self.base}/{project.path}/pulls/{pull.number}#issuecomment-{i}",
                "issue_url": f"{self.base}/{project.path}/issues/{pull.number}", "pull_request_url": f"{self.base}/{project.path}/pulls/{pull.number}",
                "original_author": "", "original_author_id": 0, "assets": []}

    # --- the API ---------------------------------------------------------------------------
    def _dispatch(self, method: str, template: str, p: dict, query: dict, body: Any) -> tuple[int, Any, dict]:
        if template == "/user":
            return 200, self.user(self.bot), {}
        project = self.projects.get(f"{p['owner']}/{p['repo']}")
        if project is None:
            raise ApiError(404, "The target couldn't be found.")
        op = (method, template.removeprefix("/repos/{owner}/{repo}"))
        if op == ("GET", ""):
            return 200, self.repo_json(project), {}
        if op == ("GET", "/pulls"):
            state = query.get("state", ["open"])[0]
            pulls = sorted(project.pulls.values(), key=lambda x: -x.number)
            if state != "all":
                pulls = [x for x in pulls if (x.state == "open") == (state == "open")]
            chunk, _ = self.page(pulls, query, "limit", 30)
            return 200, [self.pr_json(project, x) for x in chunk], {"X-Total-Count": str(len(pulls))}
        if op == ("POST", "/pulls"):
            title, draft = body["title"], False
            if title.startswith("WIP: "):
                title, draft = title[5:], True
            pull = self.create_pull(project, body["head"], body["base"], title, body.get("body", ""), draft)
            return 201, self.pr_json(project, pull), {}
        if op == ("GET", "/pulls/{base}/{head}"):
            found = [x for x in project.pulls.values() if x.base == p["base"] and x.head == p["head"]]
            if not found:
                raise ApiError(404, "The target couldn't be found.")
            return 200, self.pr_json(project, max(found, key=lambda x: x.number)), {}
        if op == ("GET", "/labels"):
            names = list(self.labels.get(project.path, {}))
            chunk, _ = self.page(names, query, "limit", 30)
            return 200, [self.label_json(project, n) for n in chunk], {}
        if op == ("POST", "/labels"):
            known = self.labels.setdefault(project.path, {})
            if body["name"] in known:
                raise ApiError(422, "label exists")
            known[body["name"]] = self.next_id()
            return 201, self.label_json(project, body["name"]), {}
        if op == ("POST", "/statuses/{sha}"):
            status = {"id": self.next_id(), "status": body.get("state", "pending"), "context": body.get("context", "default"),
                      "description": body.get("description", ""), "target_url": body.get("target_url", ""),
                      "created_at": NOW, "updated_at": NOW, "creator": self.user(self.bot), "url": ""}
            project.statuses.setdefault(p["sha"], []).insert(0, status)
            return 201, status, {}
        if op == ("GET", "/statuses/{sha}"):
            chunk, _ = self.page(project.statuses.get(p["sha"], []), query, "limit", 30)
            return 200, chunk, {}
        if "index" in p:
            pull = project.pulls.get(int(p["index"]))
            if pull is None:
                raise ApiError(404, "The target couldn't be found.")
            return self._pull_op(project, pull, op, body)
        raise ApiError(404, "The target couldn't be found.")

    def _pull_op(self, project: Project, pull: Pull, op: tuple[str, str], body: dict) -> tuple[int, Any, dict]:
        if op == ("GET", "/pulls/{index}"):
            return 200, self.pr_json(project, pull), {}
        if op == ("PATCH", "/pulls/{index}"):
            if "title" in body:
                pull.title, pull.draft = (body["title"][5:], True) if body["title"].startswith("WIP: ") else (body["title"], False)
            pull.body = body.get("body", pull.body)
            if "base" in body:
                if project.branch_sha(body["base"]) is None:
                    raise ApiError(422, "base branch does not exist")
                pull.base = body["base"]
            if body.get("state") in ("open", "closed") and pull.state != "merged":
                pull.state = body["state"]
            return 201, self.pr_json(project, pull), {}
        if op == ("POST", "/pulls/{index}/requested_reviewers"):
            for login in body.get("reviewers", []):
                if login not in self.users:
                    raise ApiError(422, f"user {login} does not exist")
                if login not in pull.reviewers:
                    pull.reviewers.append(login)
            return 201, [{"id": self.next_id(), "state": "REQUEST_REVIEW", "user": self.user(r), "body": ""} for r in pull.reviewers], {}
        if op == ("POST", "/issues/{index}/labels"):
            by_id = {i: n for n, i in self.labels.get(project.path, {}).items()}
            for i in body.get("labels", []):
                if i not in by_id:
                    raise ApiError(404, f"label {i} does not exist")
                if by_id[i] not in pull.labels:
                    pull.labels.append(by_id[i])
            return 200, [self.label_json(project, n) for n in pull.labels], {}
        if op == ("GET", "/issues/{index}/labels"):
            return 200, [self.label_json(project, n) for n in pull.labels], {}
        if op == ("POST", "/issues/{index}/comments"):
            pull.comments.append(body["body"])
            return 201, self.comment_json(project, pull, len(pull.comments), body["body"]), {}
        if op == ("GET", "/issues/{index}/comments"):
            return 200, [self.comment_json(project, pull, i + 1, b) for i, b in enumerate(pull.comments)], {}
        raise ApiError(404, "The target couldn't be found.")
