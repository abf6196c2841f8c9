"""A `Forge` held in memory: the reconciler's contract without HTTP. Records every write."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from imagebot.deliver.forge.base import CommitStatus, NewPullRequest, PullRequest


class MemoryForge:
    name = "Memory"
    body_limit = 65_536
    noun = "pull request"
    sigil = "#"

    def __init__(self) -> None:
        self.pulls: dict[int, PullRequest] = {}
        self.comments_of: dict[int, list[str]] = {}
        self.status_list: list[CommitStatus] = []
        self.writes: list[str] = []

    def _put(self, pr: PullRequest) -> PullRequest:
        self.pulls[pr.number] = pr
        return pr

    def open_pull_requests(self, prefix: str) -> list[PullRequest]:
        return [p for p in sorted(self.pulls.values(), key=lambda p: p.number) if p.state == "open" and p.branch.startswith(prefix)]

    def closed_pull_requests(self, branch: str, base: str) -> list[PullRequest]:
        return [p for p in self.pulls.values() if p.state != "open" and p.branch == branch]

    def create(self, new: NewPullRequest) -> PullRequest:
        if any(p.state == "open" and p.branch == new.branch for p in self.pulls.values()):
            raise AssertionError(f"a second open pull request for {new.branch}")
        self.writes.append(f"create {new.branch}")
        number = len(self.pulls) + 1
        return self._put(PullRequest(number, f"memory://{number}", new.branch, new.base, new.title, new.body, "open", new.draft))

    def update(self, pr: PullRequest, *, title: str | None = None, body: str | None = None, base: str | None = None) -> PullRequest:
        self.writes.append(f"update #{pr.number}")
        old = self.pulls[pr.number]
        return self._put(replace(old, title=title or old.title, body=body if body is not None else old.body, base=base or old.base))

    def add_labels(self, pr: PullRequest, labels: Sequence[str]) -> None:
        self.writes.append(f"labels #{pr.number}")
        old = self.pulls[pr.number]
        self._put(replace(old, labels=tuple(dict.fromkeys((*old.labels, *labels)))))

    def request_reviewers(self, pr: PullRequest, users: Sequence[str], teams: Sequence[str]) -> None:
        self.writes.append(f"reviewers #{pr.number}")
        old = self.pulls[pr.number]
        self._put(replace(old, reviewers=(*old.reviewers, *users), team_reviewers=(*old.team_reviewers, *teams)))

    def comments(self, pr: PullRequest) -> list[str]:
        return list(self.comments_of.get(pr.number, []))

    def comment(self, pr: PullRequest, body: str) -> None:
        self.writes.append(f"comment #{pr.number}")
        self.comments_of.setdefault(pr.number, []).append(body)

    def close(self, pr: PullRequest) -> None:
        self.writes.append(f"close #{pr.number}")
        self._put(replace(self.pulls[pr.number], state="closed"))

    def set_status(self, status: CommitStatus) -> None:
        self.writes.append(f"status {status.context}")
        self.status_list.insert(0, status)

    def statuses(self, sha: str) -> list[CommitStatus]:
        return [s for s in self.status_list if s.sha == sha]
