"""Gitea and Forgejo as a `Forge`: a thin adapter over their REST API (``/api/v1``) with requests.

No Gitea client on PyPI is both complete and well kept (the generated SDKs trail the server,
the hand-written ones are small one-person projects), and the handful of calls needed here are
plain JSON, so this module speaks HTTP itself: every request has a deadline, every list is read
page by page up to a bound, the token goes in ``Authorization: token …`` and nowhere else.

Gitea facts kept here: a draft is the ``WIP:`` title prefix; labels are set by id (names are
looked up, and created when missing); reviewers are usernames and team names; comments are
issue comments; the pull request of a branch is found with ``GET pulls/{base}/{head}`` (the
list has no head filter); edits answer 201; a body is capped at 65,536 characters here (Gitea
stores it as LONGTEXT and documents no limit; the cap keeps a body readable and equal to
GitHub's); git takes the token as the password with any user name.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

import requests

from imagebot.deliver.forge.base import BODY_LIMITS, MAX_PAGES, CommitStatus, NewPullRequest, PullRequest, StatusState, http_error, strip_draft
from imagebot.errors import DeliveryError

BODY_LIMIT = BODY_LIMITS["gitea"]
GIT_USERNAME = "oauth2"
DRAFT = "WIP: "
DRAFT_PREFIXES = ("WIP:", "[WIP]")
PAGE = 50  # Gitea's default MAX_RESPONSE_ITEMS
TIMEOUT = (10, 30)  # connect, read (seconds)
LABEL_COLOR = "#ededed"
_FROM_GITEA: dict[str, StatusState] = {"pending": "pending", "success": "success", "failure": "failure", "error": "error", "warning": "failure"}


class GiteaForge:
    name = "Gitea"
    body_limit = BODY_LIMIT
    noun = "pull request"
    sigil = "#"

    def __init__(self, api_url: str, token: str, repository: str, *, session: requests.Session | None = None):
        owner, _, repo = repository.partition("/")
        if not owner or not repo or "/" in repo:
            raise DeliveryError(f"Gitea: repository {repository!r} is not owner/name (delivery.pull_request.repository)")
        self.repository = repository
        self._root = f"{api_url.rstrip('/')}/repos/{quote(owner, safe='')}/{quote(repo, safe='')}"
        self._http = session or requests.Session()
        self._headers = {"Authorization": f"token {token}", "Accept": "application/json"}
        self._label_ids: dict[str, int] | None = None

    # --- HTTP ------------------------------------------------------------------------------
    def _call(self, action: str, method: str, path: str, *, json: Any = None, params: dict | None = None, missing_ok: bool = False) -> Any:
        try:
            r = self._http.request(method, self._root + path, json=json, params=params, headers=self._headers, timeout=TIMEOUT)
        except requests.RequestException as e:
            raise http_error(self.name, action, None, f"{type(e).__name__}: {e}") from None
        if missing_ok and r.status_code == 404:
            return None
        if r.status_code >= 400:
            try:
                message = r.json().get("message", "")
            except ValueError:
                message = r.text[:200]
            raise http_error(self.name, action, r.status_code, str(message))
        if not r.content:
            return None
        try:
            return r.json()
        except ValueError:
            raise http_error(self.name, action, r.status_code, "the answer is not JSON") from None

    def _pages(self, action: str, path: str, params: dict | None = None) -> list[Any]:
        out: list[Any] = []
        for page in range(1, MAX_PAGES + 1):
            chunk = self._call(action, "GET", path, params={**(params or {}), "page": page, "limit": PAGE}) or []
            out += chunk
            if len(chunk) < PAGE:
                break
        return out

    def _value(self, pr: dict[str, Any]) -> PullRequest:
        title, draft = strip_draft(pr.get("title") or "", DRAFT_PREFIXES)
        state = "merged" if pr.get("merged") else "open" if pr.get("state") == "open" else "closed"
        return PullRequest(
            number=int(pr["number"]),
            url=pr.get("html_url") or "",
            branch=pr["head"]["ref"],
            base=pr["base"]["ref"],
            title=title,
            body=pr.get("body") or "",
            state=state,  # type: ignore[arg-type]
            draft=draft,
            labels=tuple(label["name"] for label in pr.get("labels") or ()),
            reviewers=tuple(u["login"] for u in pr.get("requested_reviewers") or ()),
            team_reviewers=tuple(t["name"] for t in pr.get("requested_reviewers_teams") or ()),
        )

    def _same_repo(self, pr: dict[str, Any]) -> bool:
        head, base = pr["head"].get("repo_id"), pr["base"].get("repo_id")
        return head is None or base is None or head == base

    # --- Forge -----------------------------------------------------------------------------
    def open_pull_requests(self, prefix: str) -> list[PullRequest]:
        found = self._pages("listing pull requests", "/pulls", {"state": "open"})
        mine = [pr for pr in found if pr["head"]["ref"].startswith(prefix) and self._same_repo(pr)]
        return sorted((self._value(pr) for pr in mine), key=lambda p: p.number)

    def closed_pull_requests(self, branch: str, base: str) -> list[PullRequest]:
        path = f"/pulls/{quote(base, safe='')}/{quote(branch, safe='/')}"  # Gitea routes the head as a wildcard
        pr = self._call(f"finding the pull request of {branch}", "GET", path, missing_ok=True)
        return [self._value(pr)] if pr and pr.get("state") == "closed" and self._same_repo(pr) else []

    def create(self, new: NewPullRequest) -> PullRequest:
        data = {"head": new.branch, "base": new.base, "title": (DRAFT if new.draft else "") + new.title, "body": new.body}
        return self._value(self._call(f"opening a pull request for {new.branch}", "POST", "/pulls", json=data))

    def update(self, pr: PullRequest, *, title: str | None = None, body: str | None = None, base: str | None = None) -> PullRequest:
        data: dict[str, Any] = {}
        if title is not None:
            data["title"] = (DRAFT if pr.draft else "") + title
        if body is not None:
            data["body"] = body
        if base is not None:
            data["base"] = base
        return self._value(self._call(f"updating pull request #{pr.number}", "PATCH", f"/pulls/{pr.number}", json=data))

    def _label_id(self, name: str) -> int:
        if self._label_ids is None:
            self._label_ids = {label["name"]: label["id"] for label in self._pages("listing labels", "/labels")}
        if name not in self._label_ids:
            made = self._call(f"creating label {name}", "POST", "/labels", json={"name": name, "color": LABEL_COLOR})
            self._label_ids[name] = made["id"]
        return self._label_ids[name]

    def add_labels(self, pr: PullRequest, labels: Sequence[str]) -> None:
        ids = [self._label_id(name) for name in labels]
        self._call(f"labelling pull request #{pr.number}", "POST", f"/issues/{pr.number}/labels", json={"labels": ids})

    def request_reviewers(self, pr: PullRequest, users: Sequence[str], teams: Sequence[str]) -> None:
        data = {"reviewers": list(users), "team_reviewers": list(teams)}
        self._call(f"requesting reviewers for pull request #{pr.number}", "POST", f"/pulls/{pr.number}/requested_reviewers", json=data)

    def comments(self, pr: PullRequest) -> list[str]:
        found = self._call(f"reading comments of #{pr.number}", "GET", f"/issues/{pr.number}/comments") or []
        return [c.get("body") or "" for c in found]

    def comment(self, pr: PullRequest, body: str) -> None:
        self._call(f"commenting on #{pr.number}", "POST", f"/issues/{pr.number}/comments", json={"body": body})

    def close(self, pr: PullRequest) -> None:
        self._call(f"closing #{pr.number}", "PATCH", f"/pulls/{pr.number}", json={"state": "closed"})

    def set_status(self, status: CommitStatus) -> None:
        data = {"state": status.state, "context": status.context, "description": status.description, "target_url": status.target_url}
        self._call(f"setting status {status.context} on {status.sha[:12]}", "POST", f"/statuses/{status.sha}", json=data)

    def statuses(self, sha: str) -> list[CommitStatus]:
        found = self._pages(f"reading statuses of {sha[:12]}", f"/statuses/{sha}")
        return [
            CommitStatus(sha, s.get("context") or "", _FROM_GITEA.get(s.get("status") or "", "error"), s.get("description") or "", s.get("target_url") or "")
            for s in found
        ]
