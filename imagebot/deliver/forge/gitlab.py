"""GitLab (gitlab.com or self-hosted, projects in groups and subgroups) as a `Forge`, with python-gitlab.

GitLab facts kept here: a merge request is ``!iid``; a draft is the ``Draft:`` title prefix;
labels are strings (created on first use); reviewers are user ids, looked up by username among
the project's members (GitLab has no team reviewers); comments are notes (system notes are
skipped); closing is ``state_event=close``; a description holds at most 1,048,576 characters;
git takes a token with the user name ``oauth2``. Commit statuses use GitLab's names (``failed``,
``running``, ``canceled``), mapped to the neutral four.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import gitlab
import requests
from gitlab.exceptions import GitlabError

from imagebot.deliver.forge.base import BODY_LIMITS, MAX_PAGES, CommitStatus, NewPullRequest, PullRequest, StatusState, http_error, strip_draft
from imagebot.errors import DeliveryError

T = TypeVar("T")

BODY_LIMIT = BODY_LIMITS["gitlab"]
GIT_USERNAME = "oauth2"
DRAFT = "Draft: "
DRAFT_PREFIXES = ("Draft:", "[Draft]", "(Draft)", "WIP:", "[WIP]")
_TO_GITLAB = {"pending": "pending", "success": "success", "failure": "failed", "error": "failed"}
_FROM_GITLAB: dict[str, StatusState] = {
    "pending": "pending", "running": "pending", "created": "pending", "manual": "pending", "scheduled": "pending",
    "success": "success", "failed": "failure", "canceled": "error", "skipped": "error",
}


def connect(api_url: str, token: str) -> gitlab.Gitlab:
    """A python-gitlab client for `api_url` (``https://HOST[/PATH]/api/v4`` or the bare instance URL)."""
    base = api_url.rstrip("/").removesuffix("/api/v4")
    return gitlab.Gitlab(base, private_token=token, timeout=30, retry_transient_errors=False, per_page=100)


class GitLabForge:
    name = "GitLab"
    body_limit = BODY_LIMIT
    noun = "merge request"
    sigil = "!"

    def __init__(self, client: Callable[[], gitlab.Gitlab], project: str):
        self._client = client
        self.project_path = project
        self._project: Any = None
        self._user_ids: dict[str, int] = {}

    def _api(self, action: str, call: Callable[[], T]) -> T:
        try:
            return call()
        except GitlabError as e:
            raise http_error(self.name, action, e.response_code, str(e.error_message or "")) from None
        except requests.RequestException as e:
            raise http_error(self.name, action, None, f"{type(e).__name__}: {e}") from None

    @property
    def project(self) -> Any:
        if self._project is None:  # lazy: no request until the first call
            self._project = self._client().projects.get(self.project_path, lazy=True)
        return self._project

    def _value(self, mr: dict[str, Any]) -> PullRequest:
        title, prefixed = strip_draft(mr.get("title") or "", DRAFT_PREFIXES)
        state = {"opened": "open", "merged": "merged"}.get(mr.get("state", ""), "closed")
        return PullRequest(
            number=int(mr["iid"]),
            url=mr.get("web_url") or "",
            branch=mr["source_branch"],
            base=mr["target_branch"],
            title=title,
            body=mr.get("description") or "",
            state=state,  # type: ignore[arg-type]
            draft=bool(mr.get("draft") or prefixed),
            labels=tuple(mr.get("labels") or ()),
            reviewers=tuple(u["username"] for u in mr.get("reviewers") or ()),
        )

    def _list(self, action: str, **filters: Any) -> list[dict[str, Any]]:
        def read() -> list[dict[str, Any]]:
            out = []
            for i, mr in enumerate(self.project.mergerequests.list(iterator=True, **filters)):
                if i >= MAX_PAGES * 100:
                    break
                out.append(mr.asdict())
            return out

        return self._api(action, read)

    # --- Forge -----------------------------------------------------------------------------
    def open_pull_requests(self, prefix: str) -> list[PullRequest]:
        found = self._list("listing merge requests", state="opened")
        mine = [mr for mr in found if mr["source_branch"].startswith(prefix) and mr.get("source_project_id") == mr.get("project_id")]
        return sorted((self._value(mr) for mr in mine), key=lambda p: p.number)

    def closed_pull_requests(self, branch: str, base: str) -> list[PullRequest]:
        found = self._list("listing closed merge requests", state="closed", source_branch=branch)
        return [self._value(mr) for mr in found if mr.get("source_project_id") == mr.get("project_id")]

    def _put(self, pr: PullRequest, action: str, data: dict[str, Any]) -> dict[str, Any]:
        return self._api(f"{action} !{pr.number}", lambda: self.project.mergerequests.update(pr.number, data))

    def create(self, new: NewPullRequest) -> PullRequest:
        data = {
            "source_branch": new.branch,
            "target_branch": new.base,
            "title": (DRAFT if new.draft else "") + new.title,
            "description": new.body,
            "remove_source_branch": True,
        }
        mr = self._api(f"opening a merge request for {new.branch}", lambda: self.project.mergerequests.create(data))
        return self._value(mr.asdict())

    def update(self, pr: PullRequest, *, title: str | None = None, body: str | None = None, base: str | None = None) -> PullRequest:
        data: dict[str, Any] = {}
        if title is not None:
            data["title"] = (DRAFT if pr.draft else "") + title
        if body is not None:
            data["description"] = body
        if base is not None:
            data["target_branch"] = base
        return self._value(self._put(pr, "updating", data))

    def add_labels(self, pr: PullRequest, labels: Sequence[str]) -> None:
        self._put(pr, "labelling", {"add_labels": list(labels)})

    def _user_id(self, username: str) -> int:
        if username not in self._user_ids:
            found = self._api(f"looking up reviewer {username}", lambda: self.project.users.list(search=username, get_all=False))
            exact = [u for u in found if u.username == username]
            if not exact:
                raise DeliveryError(f"GitLab: reviewer {username!r} is not a member of {self.project_path} (delivery.pull_request.reviewers)")
            self._user_ids[username] = exact[0].id
        return self._user_ids[username]

    def request_reviewers(self, pr: PullRequest, users: Sequence[str], teams: Sequence[str]) -> None:
        if teams:
            raise DeliveryError("GitLab has no team reviewers: list users in delivery.pull_request.reviewers instead")
        # reviewer_ids replaces the set: keep those already there.
        ids = [self._user_id(u) for u in (*pr.reviewers, *users)]
        self._put(pr, "requesting reviewers for", {"reviewer_ids": ids})

    def _mr(self, pr: PullRequest) -> Any:
        return self.project.mergerequests.get(pr.number, lazy=True)

    def comments(self, pr: PullRequest) -> list[str]:
        notes = self._api(f"reading notes of !{pr.number}", lambda: self._mr(pr).notes.list(get_all=False, per_page=100))
        return [n.body or "" for n in notes if not getattr(n, "system", False)]

    def comment(self, pr: PullRequest, body: str) -> None:
        self._api(f"commenting on !{pr.number}", lambda: self._mr(pr).notes.create({"body": body}))

    def close(self, pr: PullRequest) -> None:
        self._put(pr, "closing", {"state_event": "close"})

    def set_status(self, status: CommitStatus) -> None:
        data = {"state": _TO_GITLAB[status.state], "name": status.context, "description": status.description}
        if status.target_url:
            data["target_url"] = status.target_url
        commit = self.project.commits.get(status.sha, lazy=True)
        self._api(f"setting status {status.context} on {status.sha[:12]}", lambda: commit.statuses.create(data))

    def statuses(self, sha: str) -> list[CommitStatus]:
        commit = self.project.commits.get(sha, lazy=True)
        found = self._api(f"reading statuses of {sha[:12]}", lambda: commit.statuses.list(get_all=False, per_page=100))
        return [
            CommitStatus(sha, s.name, _FROM_GITLAB.get(s.status, "error"), getattr(s, "description", None) or "", getattr(s, "target_url", None) or "")
            for s in found
        ]
