"""Mode `pull-request`: one branch and one pull request per group, with a full lifecycle.

Each cycle reconciles GitHub with the plan, so every step is idempotent and a crash after any
of them converges on the next cycle:

1. each group's branch ``<prefix><key>`` is built from `repository.branch` + the group's edits;
   it is pushed only when its files differ from what the branch already holds (force, but only
   with a lease on the sha the bot saw, and only on a branch whose tip the bot authored);
2. the open PR for that branch is found (never a second one opened), created if missing (its
   body carries a "setup pending" marker until labels and reviewers are set), and its title,
   body and base are edited only when they differ;
3. open PRs on the bot's branches that the plan no longer needs are closed with a comment and
   their branch deleted; bot branches without a PR and without a group (a crash left them) are
   deleted. A group whose image was skipped for a temporary reason (registry down) is kept.

With nothing new, a cycle only reads: no push, no API write.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Mapping
from pathlib import Path
from typing import Any

import github
import requests
from github import GithubException

from imagebot.config.schema import Config
from imagebot.deliver.commit_mode import NOT_LEADER
from imagebot.deliver.files import write_edits
from imagebot.deliver.github_client import api_error, connect, repository_name
from imagebot.deliver.grouping import Group, branch_name, group_key, groups_of
from imagebot.deliver.messages import commit_message, pull_request_body, summary
from imagebot.deliver.preview import DeliveryPreview, PlannedCommit, PlannedPullRequest
from imagebot.deliver.workspace import GitWorkspace
from imagebot.errors import DeliveryError
from imagebot.model import Delivery, Landed, Plan, Problem, PullRequestAction, PullRequestOutcome, Rendered

log = logging.getLogger(__name__)

CLOSED_MARKER = "<!-- imagebot:closed -->"
WORK_BRANCH = "imagebot-work"


class _NotLeader(Exception):
    """Raised inside a cycle to stop before the next write."""


def _marker(group: Group, pending: bool = False) -> str:
    return f"group={group.key}" + (" setup=pending" if pending else "")


class PullRequestDeliverer:
    mode = "pull-request"

    def __init__(self, cfg: Config, workspace: GitWorkspace, *, github_factory: Callable[[Config], github.Github] | None = None):
        self.cfg = cfg
        self.ws = workspace
        self.settings = cfg.delivery.pull_request
        self.base = cfg.repository.branch
        self.repo_name = repository_name(cfg, workspace.url)
        self._factory = github_factory or connect

    # --- what would be done ----------------------------------------------------------------
    def _title(self, g: Group) -> str:
        return summary(g.changes, g.key if self.settings.grouping == "per-file" else "")

    def _body(self, g: Group, labels: Mapping[str, Mapping[str, str]] | None, pending: bool = False) -> str:
        return pull_request_body(g.changes, marker=_marker(g, pending), labels=labels)

    def _message(self, g: Group, plan: Plan) -> str:
        where = g.key if self.settings.grouping == "per-file" else ""
        return commit_message(self.cfg.delivery.message_template, g.changes, branch=g.branch, plan_id=plan.id, where=where)

    def preview(
        self, plan: Plan, rendered: Rendered, *, image_labels: Mapping[str, Mapping[str, str]] | None = None
    ) -> DeliveryPreview:
        if not plan.changes:
            return DeliveryPreview(self.mode)
        groups, problems = groups_of(rendered, self.settings.grouping, self.settings.branch_prefix)
        prs = tuple(
            PlannedPullRequest(
                branch=g.branch,
                base=self.base,
                title=self._title(g),
                body=self._body(g, image_labels),
                commit=PlannedCommit(g.branch, self.base, self._message(g, plan), tuple(sorted(e.path for e in g.edits))),
                labels=self.settings.labels,
                reviewers=self.settings.reviewers,
                team_reviewers=self.settings.team_reviewers,
                draft=self.settings.draft,
            )
            for g in groups
        )
        return DeliveryPreview(self.mode, pull_requests=prs, notes=tuple(str(p) for p in problems))

    # --- doing it --------------------------------------------------------------------------
    def deliver(
        self,
        plan: Plan,
        rendered: Rendered,
        rerender: Callable[[Path], Rendered],
        can_write: Callable[[], bool] = lambda: True,
        *,
        image_labels: Mapping[str, Mapping[str, str]] | None = None,
        scope: Collection[str] | None = None,
    ) -> Delivery:
        """Reconcile the bot's branches and pull requests with `plan` (rerender is not needed:
        every group's branch is built afresh on the base the edits were rendered from)."""
        groups, split_problems = groups_of(rendered, self.settings.grouping, self.settings.branch_prefix)
        cycle = _Cycle(self, plan, rendered, groups, can_write, image_labels)
        cycle.problems += split_problems
        if scope is not None and self.settings.grouping != "per-image":
            # A targeted cycle knows only some images of a file's or the repository's group:
            # rebuilding that branch from them would drop the others' updates.
            note = f"a targeted cycle does not update pull requests grouped {self.settings.grouping}; the next full cycle will"
            return Delivery(self.mode, problems=(*cycle.problems, Problem("delivery", note, temporary=True)),
                            refused=rendered.refused)
        cycle.in_scope = None if scope is None else {branch_name(self.settings.branch_prefix, image) for image in scope}
        try:
            cycle.run()
        except _NotLeader:
            cycle.problems.append(NOT_LEADER)
        finally:
            if self.ws.branch:
                self.ws.reset_to(self.base)
        return Delivery(
            self.mode,
            branch=", ".join(g.branch for g in groups),
            commit=cycle.last_commit,
            pushed=cycle.pushed,
            attempts=1,
            problems=tuple(cycle.problems),
            landed=tuple(cycle.landed),
            outcomes=tuple(cycle.outcomes),
            refused=rendered.refused,
        )


class _Cycle:
    """One reconciliation; holds what it learned and did."""

    def __init__(
        self,
        d: PullRequestDeliverer,
        plan: Plan,
        rendered: Rendered,
        groups: list[Group],
        can_write: Callable[[], bool],
        labels: Mapping[str, Mapping[str, str]] | None,
    ):
        self.d = d
        self.ws = d.ws
        self.settings = d.settings
        self.plan = plan
        self.groups = groups
        self.can_write = can_write
        self.labels = labels
        self.problems: list[Problem] = []
        #: What this reconciliation did to each pull request, and the changes it pushed.
        self.outcomes: list[PullRequestOutcome] = []
        self.landed: list[Landed] = []
        self.pushed = False
        self.last_commit = ""
        # Groups whose changes could not be made this cycle (a registry was down, apply refused):
        # their pull requests are kept as they are rather than closed.
        grouping = self.settings.grouping
        self.keep = {group_key(r.occurrence, grouping) for r in plan.skipped if r.problem is not None and r.problem.temporary}
        self.keep |= {group_key(r.change.occurrence, grouping) for r in rendered.refused}
        #: Branches a targeted cycle may close or delete (None: all of the bot's branches).
        self.in_scope: set[str] | None = None

    def _write(self) -> None:
        if not self.can_write():
            raise _NotLeader

    def _api(self, action: str, call: Callable[[], Any]) -> Any:
        try:
            return call()
        except (GithubException, requests.RequestException) as e:
            raise api_error(action, e) from None

    def _owned(self, sha: str) -> bool:
        """The bot owns a branch under its prefix whose tip commit it authored."""
        return self.ws.author_email(sha) == self.d.cfg.delivery.author.email

    def run(self) -> None:
        prefix = self.settings.branch_prefix
        remote = self.ws.remote_branches(prefix)
        gh = self.d._factory(self.d.cfg)
        repo = self._api(f"reading {self.d.repo_name}", lambda: gh.get_repo(self.d.repo_name))
        open_prs: dict[str, Any] = {}
        for pr in self._api("listing pull requests", lambda: list(repo.get_pulls(state="open"))):
            head_repo = pr.head.repo
            if not pr.head.ref.startswith(prefix) or head_repo is None or head_repo.full_name != repo.full_name:
                continue
            if pr.head.ref in open_prs:  # two open PRs for one branch (another base): keep one
                keep, extra = sorted((open_prs[pr.head.ref], pr), key=lambda p: (p.base.ref != self.d.base, p.number))
                open_prs[pr.head.ref] = keep
                self._close(extra, f"it duplicates #{keep.number}", remote, delete_branch=False)
                continue
            open_prs[pr.head.ref] = pr
        wanted = {g.branch for g in self.groups}
        for g in self.groups:
            try:
                self._deliver_group(g, repo, open_prs.get(g.branch), remote.get(g.branch))
            except DeliveryError as e:
                self.problems.append(Problem("delivery", str(e), subject=g.branch, temporary=e.temporary))
        kept = {branch_name(prefix, k) for k in self.keep}
        if self.in_scope is not None:
            kept |= (set(open_prs) | set(remote)) - self.in_scope
        for branch, pr in sorted(open_prs.items()):
            if branch in wanted or branch in kept:
                continue
            try:
                self._close(pr, "its update is no longer needed: the base branch already has it, or the policy no longer asks for it", remote)
            except DeliveryError as e:
                self.problems.append(Problem("delivery", str(e), subject=branch, temporary=e.temporary))
        for branch, sha in sorted(remote.items()):
            if branch in wanted or branch in kept or branch in open_prs or not self._owned(sha):
                continue
            self._write()
            log.info("deleting orphan branch %s", branch)
            self.ws.delete_branch(branch, sha)

    def _deliver_group(self, g: Group, repo: Any, pr: Any, branch_sha: str | None) -> None:
        pushed_sha, pushed_changes = "", ()
        opened = edited = False
        up_to_date = branch_sha is not None and all(self.ws.file_at(branch_sha, e.path) == e.after for e in g.edits)
        if not up_to_date:
            if branch_sha is not None and not self._owned(branch_sha):
                self.problems.append(
                    Problem("delivery", f"branch {g.branch} has commits by someone else; imagebot leaves it alone", subject=g.branch)
                )
                return
            base_sha = self.ws.remote_sha(self.d.base)
            if base_sha is None:
                raise DeliveryError(f"branch {self.d.base!r} vanished from the remote", temporary=True)
            self.ws.start_from(base_sha, WORK_BRANCH)
            written, problems = write_edits(self.ws.root, g.edits)
            self.problems += problems
            sha = self.ws.commit(written, self.d._message(g, self.plan))
            if sha is None:
                return
            self._write()
            result = self.ws.push(g.branch, lease=branch_sha or "")
            if not result.ok:
                raise DeliveryError(f"branch {g.branch} moved while pushing ({result.summary}); retrying next cycle", temporary=True)
            self.pushed, self.last_commit = True, sha
            pushed_sha = sha
            pushed_changes = tuple(c for e in g.edits if e.path in written for c in e.changes)
            log.info("pushed %s to %s", sha[:12], g.branch)
        title, body = self.d._title(g), self.d._body(g, self.labels)
        if pr is None:
            rejected = self._closed_by_a_human(repo, g.branch, title)
            if rejected is not None:
                self.problems.append(
                    Problem(
                        "delivery",
                        f"pull request #{rejected.number} for this update was closed without merging; imagebot will not "
                        "reopen it (a newer tag opens a new one)",
                        subject=g.branch,
                    )
                )
                return
            self._write()
            pending = self.d._body(g, self.labels, pending=True)
            pr = self._api(
                f"opening a pull request for {g.branch}",
                lambda: repo.create_pull(base=self.d.base, head=g.branch, title=title, body=pending, draft=self.settings.draft),
            )
            opened = True
            log.info("opened pull request #%d for %s", pr.number, g.branch)
        if "setup=pending" in (pr.body or ""):
            edited = self._setup(pr) or edited
        changes = {}
        if pr.title != title:
            changes["title"] = title
        if (pr.body or "") != body:
            changes["body"] = body
        if pr.base.ref != self.d.base:
            changes["base"] = self.d.base
        if changes:
            self._write()
            self._api(f"updating pull request #{pr.number}", lambda: pr.edit(**changes))
            edited = True
        action = (PullRequestAction.OPENED if opened else PullRequestAction.UPDATED if pushed_sha or edited
                  else PullRequestAction.UNCHANGED)
        self.outcomes.append(PullRequestOutcome(pr.html_url, g.branch, action, g.changes, pushed_sha))
        self.landed += [Landed(c, g.branch, pushed_sha, pr.html_url) for c in pushed_changes]

    def _closed_by_a_human(self, repo: Any, branch: str, title: str) -> Any:
        """A closed, unmerged PR for the same update (same branch and title) that the bot did not close."""
        owner = repo.full_name.split("/")[0]
        closed = self._api("listing closed pull requests", lambda: list(repo.get_pulls(state="closed", head=f"{owner}:{branch}")))
        for pr in closed:
            if pr.title != title or pr.merged_at is not None:
                continue
            comments = self._api(f"reading comments of #{pr.number}", lambda: list(pr.get_issue_comments()))
            if not any(CLOSED_MARKER in (c.body or "") for c in comments):
                return pr
        return None

    def _setup(self, pr: Any) -> bool:
        """Labels and reviewers of a new pull request (redone until its body says setup is done); whether it wrote."""
        have = {label.name for label in pr.labels}
        missing = [name for name in self.settings.labels if name not in have]
        if missing:
            self._write()
            self._api(f"labelling pull request #{pr.number}", lambda: pr.add_to_labels(*missing))
        requested = {u.login for u in pr.requested_reviewers}
        teams = {t.slug for t in pr.requested_teams}
        users = [r for r in self.settings.reviewers if r not in requested]
        team_slugs = [t for t in self.settings.team_reviewers if t not in teams]
        if users or team_slugs:
            self._write()
            self._api(
                f"requesting reviewers for pull request #{pr.number}",
                lambda: pr.create_review_request(reviewers=users, team_reviewers=team_slugs),
            )
        return bool(missing or users or team_slugs)

    def _close(self, pr: Any, why: str, remote: dict[str, str], *, delete_branch: bool = True) -> None:
        comments = self._api(f"reading comments of #{pr.number}", lambda: list(pr.get_issue_comments()))
        if not any(CLOSED_MARKER in (c.body or "") for c in comments):
            self._write()
            self._api(
                f"commenting on #{pr.number}",
                lambda: pr.create_issue_comment(f"imagebot closes this pull request: {why}.\n\n{CLOSED_MARKER}\n"),
            )
        self._write()
        self._api(f"closing #{pr.number}", lambda: pr.edit(state="closed"))
        self.outcomes.append(PullRequestOutcome(pr.html_url, pr.head.ref, PullRequestAction.CLOSED))
        log.info("closed pull request #%d (%s)", pr.number, why)
        sha = remote.get(pr.head.ref)
        if delete_branch and sha and self._owned(sha):
            self._write()
            self.ws.delete_branch(pr.head.ref, sha)
            remote.pop(pr.head.ref, None)
