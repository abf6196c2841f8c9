"""GitHub (and GitHub Enterprise through `api_url`) as a `Forge`, with PyGithub.

GitHub facts kept here: drafts are a flag, labels are names (created on first use), reviewers
are logins and team slugs, comments on a pull request are issue comments, a body holds at most
65,536 characters, git takes the token with the user name ``x-access-token``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import github
import requests
from github import GithubException

from imagebot.config.schema import Config
from imagebot.deliver.forge.base import BODY_LIMITS, MAX_PAGES, CommitStatus, NewPullRequest, PullRequest, PullRequestState
from imagebot.deliver.github_client import api_error, connect

T = TypeVar("T")

BODY_LIMIT = BODY_LIMITS["github"]
GIT_USERNAME = "x-access-token"


class GitHubForge:
    name = "GitHub"
    body_limit = BODY_LIMIT
    noun = "pull request"
    sigil = "#"

    def __init__(self, cfg: Config, repository: str, *, root: str | None = None, client: Callable[..., github.Github] = connect):
        self._cfg = cfg
        self.repository = repository
        self._root = root
        self._client = client
        self._repo: Any = None
        self._pulls: dict[int, Any] = {}  # number -> PyGithub object, to act on what was listed

    def _api(self, action: str, call: Callable[[], T]) -> T:
        try:
            return call()
        except (GithubException, requests.RequestException) as e:
            raise api_error(action, e) from None

    @property
    def repo(self) -> Any:
        if self._repo is None:
            gh = self._client(self._cfg, base_url=self._root)
            self._repo = self._api(f"reading {self.repository}", lambda: gh.get_repo(self.repository))
        return self._repo

    def _value(self, pr: Any) -> PullRequest:
        self._pulls[pr.number] = pr
        state: PullRequestState = "open" if pr.state == "open" else "merged" if pr.merged_at is not None else "closed"
        return PullRequest(
            number=pr.number,
            url=pr.html_url,
            branch=pr.head.ref,
            base=pr.base.ref,
            title=pr.title,
            body=pr.body or "",
            state=state,
            draft=bool(pr.draft),
            labels=tuple(label.name for label in pr.labels),
            reviewers=tuple(u.login for u in pr.requested_reviewers),
            team_reviewers=tuple(t.slug for t in pr.requested_teams),
        )

    def _pull(self, pr: PullRequest) -> Any:
        found = self._pulls.get(pr.number)
        if found is None:
            found = self._api(f"reading pull request #{pr.number}", lambda: self.repo.get_pull(pr.number))
            self._pulls[pr.number] = found
        return found

    def _listed(self, action: str, paginated: Any) -> list[Any]:
        def read() -> list[Any]:
            out = []
            for i, item in enumerate(paginated):
                if i >= MAX_PAGES * 30:
                    break
                out.append(item)
            return out

        return self._api(action, read)

    # --- Forge -----------------------------------------------------------------------------
    def open_pull_requests(self, prefix: str) -> list[PullRequest]:
        repo = self.repo
        out = []
        for pr in self._listed("listing pull requests", repo.get_pulls(state="open")):
            head_repo = pr.head.repo
            if pr.head.ref.startswith(prefix) and head_repo is not None and head_repo.full_name == repo.full_name:
                out.append(self._value(pr))
        return sorted(out, key=lambda p: p.number)

    def closed_pull_requests(self, branch: str, base: str) -> list[PullRequest]:
        repo = self.repo
        owner = repo.full_name.split("/")[0]
        found = self._listed("listing closed pull requests", repo.get_pulls(state="closed", head=f"{owner}:{branch}"))
        return [self._value(pr) for pr in found]

    def create(self, new: NewPullRequest) -> PullRequest:
        pr = self._api(
            f"opening a pull request for {new.branch}",
            lambda: self.repo.create_pull(base=new.base, head=new.branch, title=new.title, body=new.body, draft=new.draft),
        )
        return self._value(pr)

    def update(self, pr: PullRequest, *, title: str | None = None, body: str | None = None, base: str | None = None) -> PullRequest:
        fields = {k: v for k, v in (("title", title), ("body", body), ("base", base)) if v is not None}
        obj = self._pull(pr)
        self._api(f"updating pull request #{pr.number}", lambda: obj.edit(**fields))
        return self._value(obj)

    def add_labels(self, pr: PullRequest, labels: Sequence[str]) -> None:
        obj = self._pull(pr)
        self._api(f"labelling pull request #{pr.number}", lambda: obj.add_to_labels(*labels))

    def request_reviewers(self, pr: PullRequest, users: Sequence[str], teams: Sequence[str]) -> None:
        obj = self._pull(pr)
        self._api(
            f"requesting reviewers for pull request #{pr.number}",
            lambda: obj.create_review_request(reviewers=list(users), team_reviewers=list(teams)),
        )

    def comments(self, pr: PullRequest) -> list[str]:
        obj = self._pull(pr)
        return [c.body or "" for c in self._listed(f"reading comments of #{pr.number}", obj.get_issue_comments())]

    def comment(self, pr: PullRequest, body: str) -> None:
        obj = self._pull(pr)
        self._api(f"commenting on #{pr.number}", lambda: obj.create_issue_comment(body))

    def close(self, pr: PullRequest) -> None:
        obj = self._pull(pr)
        self._api(f"closing #{pr.number}", lambda: obj.edit(state="closed"))

    def set_status(self, status: CommitStatus) -> None:
        commit = self._api(f"reading commit {status.sha[:12]}", lambda: self.repo.get_commit(status.sha))
        extra = {"target_url": status.target_url} if status.target_url else {}
        self._api(
            f"setting status {status.context} on {status.sha[:12]}",
            lambda: commit.create_status(state=status.state, description=status.description, context=status.context, **extra),
        )

    def statuses(self, sha: str) -> list[CommitStatus]:
        commit = self._api(f"reading commit {sha[:12]}", lambda: self.repo.get_commit(sha))
        combined = self._api(f"reading statuses of {sha[:12]}", commit.get_combined_status)
        return [CommitStatus(sha, s.context, s.state, s.description or "", s.target_url or "") for s in combined.statuses]
