"""Mode `pull-request`: one branch and one pull (merge) request per group, on any forge.

`PullRequestDeliverer` words each group (title, body, commit message: messages.py) and hands
the groups to the forge-neutral `Reconciler` (reconcile.py), which talks to GitHub, GitLab or
Gitea/Forgejo only through the `Forge` interface (forge/). With nothing new, a cycle only reads.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from pathlib import Path

from imagebot.config.schema import Config
from imagebot.deliver.commit_mode import NOT_LEADER
from imagebot.deliver.forge import BODY_LIMITS, Forge, connect_forge
from imagebot.deliver.grouping import Group, branch_name, group_key, groups_of
from imagebot.deliver.messages import commit_message, pull_request_body, pull_request_title
from imagebot.deliver.preview import DeliveryPreview, PlannedCommit, PlannedPullRequest
from imagebot.deliver.reconcile import NotLeader, PullRequestOutcome, Reconciler, Texts
from imagebot.deliver.workspace import GitWorkspace
from imagebot.model import Delivery, Landed, Plan, Problem, Rendered


def _marker(group: Group, pending: bool = False) -> str:
    return f"group={group.key}" + (" setup=pending" if pending else "")


class PullRequestDeliverer:
    mode = "pull-request"

    def __init__(self, cfg: Config, workspace: GitWorkspace, *, forge_factory: Callable[[], Forge] | None = None):
        self.cfg = cfg
        self.ws = workspace
        self.settings = cfg.delivery.pull_request
        self.base = cfg.repository.branch
        self._forge = forge_factory or (lambda: connect_forge(cfg, workspace.url))
        #: What the last `deliver` did to each pull request (opened / updated / unchanged / closed).
        self.outcomes: tuple[PullRequestOutcome, ...] = ()

    # --- wording ---------------------------------------------------------------------------
    def _where(self, g: Group) -> str:
        return g.key if self.settings.grouping == "per-file" else ""

    def _texts(self, plan: Plan, labels: Mapping[str, Mapping[str, str]] | None) -> Texts:
        s, d = self.settings, self.cfg.delivery
        limit = BODY_LIMITS[s.provider]

        def title(g: Group) -> str:
            return pull_request_title(s.title_template, g.changes, where=self._where(g), branch=g.branch, base=self.base, prefix=d.message_prefix)

        def body(g: Group, pending: bool) -> str:
            return pull_request_body(
                g.changes,
                marker=_marker(g, pending),
                labels=labels,
                template=s.body_template,
                limit=limit,
                forge=s.provider,
                branch=g.branch,
                base=self.base,
            )

        def message(g: Group) -> str:
            return commit_message(d.message_template, g.changes, branch=g.branch, plan_id=plan.id, where=self._where(g), prefix=d.message_prefix)

        return Texts(title, body, message)

    # --- what would be done ----------------------------------------------------------------
    def preview(
        self, plan: Plan, rendered: Rendered, *, image_labels: Mapping[str, Mapping[str, str]] | None = None
    ) -> DeliveryPreview:
        if not plan.changes:
            return DeliveryPreview(self.mode)
        groups, problems = groups_of(rendered, self.settings.grouping, self.settings.branch_prefix)
        texts = self._texts(plan, image_labels)
        prs = tuple(
            PlannedPullRequest(
                branch=g.branch,
                base=self.base,
                title=texts.title(g),
                body=texts.body(g, False),
                commit=PlannedCommit(g.branch, self.base, texts.commit_message(g), tuple(sorted(e.path for e in g.edits))),
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
        s = self.settings
        groups, split_problems = groups_of(rendered, s.grouping, s.branch_prefix)
        # Groups whose changes could not be made this cycle (a registry was down, apply refused):
        # their pull requests are kept as they are rather than closed.
        keep = {group_key(r.occurrence, s.grouping) for r in plan.skipped if r.problem is not None and r.problem.temporary}
        keep |= {group_key(r.change.occurrence, s.grouping) for r in rendered.refused}
        r = Reconciler(
            s, self.base, self.ws, self._forge, self._texts(plan, image_labels), self.cfg.delivery.author.email, can_write, keep
        )
        r.problems += split_problems
        if scope is not None and s.grouping != "per-image":
            # A targeted cycle knows only some images of a file's or the repository's group:
            # rebuilding that branch from them would drop the others' updates.
            note = f"a targeted cycle does not update pull requests grouped {s.grouping}; the next full cycle will"
            return Delivery(self.mode, problems=(*r.problems, Problem("delivery", note, temporary=True)),
                            refused=rendered.refused)
        r.in_scope = None if scope is None else {branch_name(s.branch_prefix, image) for image in scope}
        try:
            r.run(groups)
        except NotLeader:
            r.problems.append(NOT_LEADER)
        finally:
            if self.ws.branch:
                self.ws.reset_to(self.base)
        self.outcomes = tuple(r.outcomes)
        return Delivery(
            self.mode,
            branch=", ".join(g.branch for g in groups),
            commit=r.last_commit,
            pushed=r.pushed,
            attempts=1,
            problems=tuple(r.problems),
            # The typed outcome every report reads: a change landed when its branch got a commit.
            landed=tuple(Landed(c, o.branch, o.commit, o.url) for o in r.outcomes if o.commit for c in o.changes),
            outcomes=tuple(r.outcomes),
            refused=rendered.refused,
        )
