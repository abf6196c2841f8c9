"""The forge-neutral pull-request reconciler: one branch and one pull request per group.

Each cycle reconciles the forge with the plan, so every step is idempotent and a crash after any
of them converges on the next cycle:

1. each group's branch ``<prefix><key>`` is built from the base branch + the group's edits;
   it is pushed only when its files differ from what the branch already holds (force, but only
   with a lease on the sha the bot saw, and only on a branch whose tip the bot authored);
2. the open pull request for that branch is found (never a second one opened), created if
   missing (its body carries a "setup pending" marker until labels and reviewers are set), and
   its title, body and base are edited only when they differ;
3. open pull requests on the bot's branches that the plan no longer needs are closed with a
   comment and their branch deleted (over git, with a lease on the sha the bot saw); bot
   branches without a pull request and without a group (a crash left them) are deleted. A group
   whose image was skipped for a temporary reason (registry down) is kept.

A pull request closed without merging and without the bot's closing comment was closed by a
human: the same update (same branch and title) is not proposed again.

Branch names changed with issue #14 (distinct names for keys that used to flatten alike). A
group whose new branch has no pull request, while the bot's open pull request sits on the
group's legacy name (a branch the bot authored, claimed by no other group), *adopts* it: the
group is delivered to the legacy branch, so the pull request keeps its review, discussion and
number; the next update after it is merged or closed uses the new name. Nothing is closed and
reopened, and no two names are kept in step.

With nothing new, a cycle only reads: no push, no API write. The forge is reached only through
`Forge` (imagebot.deliver.forge.base); what happened comes back as frozen `PullRequestOutcome`s.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

from imagebot.config.schema import PullRequestSettings
from imagebot.deliver.files import write_edits
from imagebot.deliver.forge.base import Deadlined, Forge, NewPullRequest, PullRequest
from imagebot.deliver.grouping import Group, branch_name, legacy_branch_name
from imagebot.deliver.workspace import GitWorkspace
from imagebot.errors import DeliveryError
from imagebot.model import Problem, PullRequestAction, PullRequestOutcome

log = logging.getLogger(__name__)

CLOSED_MARKER = "<!-- imagebot:closed -->"
PENDING = "setup=pending"
WORK_BRANCH = "imagebot-work"
NO_LONGER_NEEDED = "its update is no longer needed: the base branch already has it, or the policy no longer asks for it"

Action = Literal["opened", "updated", "unchanged", "closed"]  # PullRequestAction's values


class NotLeader(Exception):
    """Raised inside a cycle to stop before the next write."""


class _NotOurs(Exception):
    """The group's branch carries someone else's commits: the group is left alone this cycle."""


@dataclass(frozen=True)
class Texts:
    """How the reconciler words a group: supplied by the deliverer (messages.py renders them)."""

    title: Callable[[Group], str]
    body: Callable[[Group, bool], str]  # (group, setup pending?)
    commit_message: Callable[[Group], str]


@dataclass
class Reconciler:
    """One reconciliation of the bot's branches and pull requests with a cycle's groups."""

    settings: PullRequestSettings
    base: str
    ws: GitWorkspace
    forge: Callable[[], Forge]
    texts: Texts
    author_email: str
    can_write: Callable[[], bool] = lambda: True
    #: Group keys whose pull requests are kept as they are (their images could not be looked at).
    keep: set[str] = field(default_factory=set)
    #: Branches a targeted cycle may close or delete (None: all of the bot's branches).
    in_scope: set[str] | None = None
    outcomes: list[PullRequestOutcome] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    pushed: bool = False
    last_commit: str = ""
    #: Legacy branch (open PR, not adoptable) -> the new branches of the groups that claim it.
    superseded: dict[str, list[str]] = field(default_factory=dict)

    # --- helpers ---------------------------------------------------------------------------
    def _write(self) -> None:
        if not self.can_write():
            raise NotLeader

    def _owned(self, sha: str) -> bool:
        """The bot owns a branch under its prefix whose tip commit it authored."""
        return self.ws.author_email(sha) == self.author_email

    def _problem(self, branch: str, e: DeliveryError) -> None:
        self.problems.append(Problem("delivery", str(e), subject=branch, temporary=e.temporary))

    # --- the cycle -------------------------------------------------------------------------
    def run(self, groups: Sequence[Group]) -> None:
        prefix = self.settings.branch_prefix
        remote = self.ws.remote_branches(prefix)
        forge: Forge = Deadlined(self.forge(), self.ws.deadline)  # type: ignore[assignment]
        open_prs: dict[str, PullRequest] = {}
        for pr in forge.open_pull_requests(prefix):
            if pr.branch in open_prs:  # two open PRs for one branch (another base): keep one
                keep, extra = sorted((open_prs[pr.branch], pr), key=lambda p: (p.base != self.base, p.number))
                open_prs[pr.branch] = keep
                try:  # housekeeping: a failure is a problem, never the end of the cycle
                    self._close(forge, extra, f"it duplicates {forge.sigil}{keep.number}", remote, delete_branch=False)
                except DeliveryError as e:
                    self._problem(pr.branch, e)
                continue
            open_prs[pr.branch] = pr
        groups = self._adopt_legacy(groups, open_prs, remote)
        wanted = {g.branch for g in groups}
        for g in groups:
            try:
                self._deliver_group(forge, g, open_prs.get(g.branch), remote.get(g.branch))
            except DeliveryError as e:
                self._problem(g.branch, e)
        kept = {branch_name(prefix, k) for k in self.keep} | {legacy_branch_name(prefix, k) for k in self.keep}
        if self.in_scope is not None:
            kept |= (set(open_prs) | set(remote)) - self.in_scope
        for branch, pr in sorted(open_prs.items()):
            if branch in wanted or branch in kept:
                continue
            try:
                self._close(forge, pr, self._why_unneeded(branch), remote)
            except DeliveryError as e:
                self._problem(branch, e)
        for branch, sha in sorted(remote.items()):
            if branch in wanted or branch in kept or branch in open_prs or not self._owned(sha):
                continue
            self._write()
            log.info("deleting orphan branch %s", branch)
            try:  # housekeeping: a protected or vanished branch is a problem, never the end of the cycle
                self.ws.delete_branch(branch, sha)
            except DeliveryError as e:
                self.problems.append(Problem("delivery", f"orphan branch not deleted: {e}", subject=branch,
                                             temporary=e.temporary))

    def _adopt_legacy(self, groups: Sequence[Group], open_prs: dict[str, PullRequest],
                      remote: dict[str, str]) -> list[Group]:
        """Groups whose open pull request is still on the branch name before issue #14 keep
        delivering there (see the module doc); every other group keeps its own branch."""
        prefix = self.settings.branch_prefix
        own = {g.branch for g in groups}
        claims = Counter(legacy_branch_name(prefix, g.key) for g in groups)
        out = []
        for g in groups:
            legacy = legacy_branch_name(prefix, g.key)
            sha = remote.get(legacy)
            if (legacy != g.branch and g.branch not in open_prs and legacy in open_prs and legacy not in own
                    and claims[legacy] == 1 and sha is not None and self._owned(sha)):
                log.info("%s: delivering to %s, where its open pull request #%d is (the name before issue #14)",
                         g.key, legacy, open_prs[legacy].number)
                g = replace(g, branch=legacy)
            elif legacy != g.branch and legacy in open_prs and legacy not in own:
                self.superseded.setdefault(legacy, []).append(g.branch)
            out.append(g)
        return out

    def _why_unneeded(self, branch: str) -> str:
        """A legacy branch's PR that could not be adopted links the PR(s) that took over its update."""
        urls = [o.url for o in self.outcomes
                if o.branch in self.superseded.get(branch, ()) and o.action is not PullRequestAction.CLOSED and o.url]
        if urls:
            return f"it is superseded by {', '.join(urls)} (imagebot names this update's branch differently now)"
        return NO_LONGER_NEEDED

    def _push(self, g: Group, branch_sha: str | None) -> str | None:
        """Build and push the group's branch when it does not hold the edits yet; the new sha, or
        None when nothing was pushed. Raises _NotOurs for a branch with someone else's commits."""
        if branch_sha is not None and all(self.ws.file_at(branch_sha, e.path) == e.after for e in g.edits):
            return None
        if branch_sha is not None and not self._owned(branch_sha):
            self.problems.append(Problem("delivery", f"branch {g.branch} has commits by someone else; imagebot leaves it alone", subject=g.branch))
            raise _NotOurs
        base_sha = self.ws.remote_sha(self.base)
        if base_sha is None:
            raise DeliveryError(f"branch {self.base!r} vanished from the remote", temporary=True)
        self.ws.start_from(base_sha, WORK_BRANCH)
        written, problems = write_edits(self.ws.root, g.edits)
        self.problems += problems
        sha = self.ws.commit(written, self.texts.commit_message(g))
        if sha is None:
            return None
        self._write()
        result = self.ws.push(g.branch, lease=branch_sha or "")
        if not result.ok:
            raise DeliveryError(f"branch {g.branch} moved while pushing ({result.summary}); retrying next cycle", temporary=True)
        self.pushed, self.last_commit = True, sha
        log.info("pushed %s to %s", sha[:12], g.branch)
        return sha

    def _deliver_group(self, forge: Forge, g: Group, pr: PullRequest | None, branch_sha: str | None) -> None:
        try:
            pushed = self._push(g, branch_sha)
        except _NotOurs:
            return
        title, body = self.texts.title(g), self.texts.body(g, False)
        action: Action = "unchanged" if pushed is None else "updated"
        if pr is None:
            rejected = self._closed_by_a_human(forge, g.branch, title)
            if rejected is not None:
                self.problems.append(
                    Problem(
                        "delivery",
                        f"{forge.noun} {forge.sigil}{rejected.number} for this update was closed without merging; imagebot will not "
                        "reopen it (a newer tag opens a new one)",
                        subject=g.branch,
                    )
                )
                return
            self._write()
            new = NewPullRequest(g.branch, self.base, title, self.texts.body(g, True), draft=self.settings.draft)
            pr = forge.create(new)
            action = "opened"
            log.info("opened %s %s%d for %s", forge.noun, forge.sigil, pr.number, g.branch)
        if PENDING in pr.body:
            self._setup(forge, pr)
        edits = {
            "title": title if pr.title != title else None,
            "body": body if pr.body != body else None,
            "base": self.base if pr.base != self.base else None,
        }
        if any(v is not None for v in edits.values()):
            self._write()
            pr = forge.update(pr, **edits)
            action = "opened" if action == "opened" else "updated"
        self.outcomes.append(
            PullRequestOutcome(pr.url, g.branch, PullRequestAction(action), g.changes, pushed or "", pr.number,
                               tuple(sorted(e.path for e in g.edits)))
        )

    def _closed_by_a_human(self, forge: Forge, branch: str, title: str) -> PullRequest | None:
        """A closed, unmerged PR for the same update (same branch and title) that the bot did not close."""
        for pr in forge.closed_pull_requests(branch, self.base):
            if pr.title != title or pr.state == "merged":
                continue
            if not any(CLOSED_MARKER in c for c in forge.comments(pr)):
                return pr
        return None

    def _setup(self, forge: Forge, pr: PullRequest) -> None:
        """Labels and reviewers of a new pull request (redone until its body says setup is done)."""
        missing = [name for name in self.settings.labels if name not in pr.labels]
        if missing:
            self._write()
            forge.add_labels(pr, missing)
        users = [r for r in self.settings.reviewers if r not in pr.reviewers]
        teams = [t for t in self.settings.team_reviewers if t not in pr.team_reviewers]
        if users or teams:
            self._write()
            forge.request_reviewers(pr, users, teams)

    def _close(self, forge: Forge, pr: PullRequest, why: str, remote: dict[str, str], *, delete_branch: bool = True) -> None:
        if not any(CLOSED_MARKER in c for c in forge.comments(pr)):
            self._write()
            forge.comment(pr, f"imagebot closes this {forge.noun}: {why}.\n\n{CLOSED_MARKER}\n")
        self._write()
        forge.close(pr)
        self.outcomes.append(PullRequestOutcome(pr.url, pr.branch, PullRequestAction.CLOSED, number=pr.number))
        log.info("closed %s %s%d (%s)", forge.noun, forge.sigil, pr.number, why)
        sha = remote.get(pr.branch)
        if delete_branch and sha and self._owned(sha):
            self._write()
            self.ws.delete_branch(pr.branch, sha)
            remote.pop(pr.branch, None)
