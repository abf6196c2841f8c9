"""What a delivery would do, computed without writing anything (`imagebot plan` shows it)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PlannedCommit:
    """One commit the bot would push: to `branch`, built on top of `base`."""

    branch: str
    base: str
    message: str
    files: tuple[str, ...]


@dataclass(frozen=True)
class PlannedPullRequest:
    """One pull request the bot would open or update (from `branch` into `base`)."""

    branch: str
    base: str
    title: str
    body: str
    commit: PlannedCommit
    labels: tuple[str, ...] = ()
    reviewers: tuple[str, ...] = ()
    team_reviewers: tuple[str, ...] = ()
    draft: bool = False


@dataclass(frozen=True)
class DeliveryPreview:
    mode: str  # "commit" | "pull-request"
    commits: tuple[PlannedCommit, ...] = ()
    pull_requests: tuple[PlannedPullRequest, ...] = ()
    #: Changes that cannot be delivered as planned (e.g. a file shared by two PR groups on one line).
    notes: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        return not self.commits and not self.pull_requests

    def __str__(self) -> str:
        if self.empty:
            return "Nothing to deliver."
        out: list[str] = []
        if self.mode == "commit":
            for c in self.commits:
                where = c.branch if c.branch == c.base else f"{c.branch} (created from {c.base})"
                out.append(f"Commit to {where}, files: {', '.join(c.files)}")
                out.extend("    " + line for line in c.message.splitlines())
        for pr in self.pull_requests:
            out.append(f"Pull request {pr.branch} -> {pr.base}: {pr.title}{' (draft)' if pr.draft else ''}")
            if pr.labels:
                out.append(f"    labels: {', '.join(pr.labels)}")
            if pr.reviewers or pr.team_reviewers:
                out.append(f"    reviewers: {', '.join((*pr.reviewers, *('team ' + t for t in pr.team_reviewers)))}")
            out.append(f"    files: {', '.join(pr.commit.files)}")
        out.extend(f"Note: {n}" for n in self.notes)
        return "\n".join(out)
