"""Mode `commit`: push the edits as one commit to the delivery branch.

The bot builds on the delivery branch when it exists (human commits there are kept) and
creates it from `repository.branch` otherwise. It never forces: when the remote moved during
the push (non-fast-forward, or a ref-lock failure) it fetches, resets onto the new head,
asks the pipeline to render the edits again on that content (`rerender`; an edit a human
made obsolete is skipped with a reason) and pushes again, a bounded number of times.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Mapping
from pathlib import Path

from imagebot.config.schema import Config
from imagebot.deliver.files import write_edits
from imagebot.deliver.messages import commit_message
from imagebot.deliver.preview import DeliveryPreview, PlannedCommit
from imagebot.deliver.workspace import GitWorkspace
from imagebot.errors import PushRejected
from imagebot.model import Delivery, FileEdit, Landed, Plan, Problem, Refusal, Rendered

log = logging.getLogger(__name__)

NOT_LEADER = Problem("delivery", "not the leader any more: stopped before pushing", temporary=True)


def effective_edits(rendered: Rendered) -> list[FileEdit]:
    return [e for e in rendered.edits if e.before != e.after]


class CommitDeliverer:
    mode = "commit"

    def __init__(self, cfg: Config, workspace: GitWorkspace):
        self.cfg = cfg
        self.ws = workspace
        self.branch = cfg.delivery_branch

    def _base(self) -> str:
        """The branch the commit goes on top of: the delivery branch if it exists, else repository.branch."""
        return self.branch if self.branch in self.ws.known_heads() else self.cfg.repository.branch

    def _message(self, edits: list[FileEdit], plan: Plan) -> str:
        changes = [c for e in edits for c in e.changes]
        d = self.cfg.delivery
        return commit_message(d.message_template, changes, branch=self.branch, plan_id=plan.id, prefix=d.message_prefix)

    def preview(
        self, plan: Plan, rendered: Rendered, *, image_labels: Mapping[str, Mapping[str, str]] | None = None
    ) -> DeliveryPreview:
        edits = effective_edits(rendered)
        if not plan.changes or not edits:
            return DeliveryPreview(self.mode)
        commit = PlannedCommit(self.branch, self._base(), self._message(edits, plan), tuple(sorted(e.path for e in edits)))
        return DeliveryPreview(self.mode, commits=(commit,))

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
        problems: list[Problem] = []
        if not plan.changes or not effective_edits(rendered):
            return Delivery(self.mode, branch=self.branch, refused=rendered.refused)
        already_refused = {r.change for r in rendered.refused}
        refused: list[Refusal] = list(rendered.refused)
        max_attempts = self.cfg.delivery.max_push_attempts
        for attempt in range(1, max_attempts + 1):
            edits = effective_edits(rendered)
            written, write_problems = write_edits(self.ws.root, edits)
            problems += write_problems
            done = [e for e in edits if e.path in written]
            sha = self.ws.commit(written, self._message(done, plan)) if done else None
            if sha is None:
                log.info("nothing left to commit to %s (attempt %d)", self.branch, attempt)
                return Delivery(self.mode, branch=self.branch, attempts=attempt, problems=tuple(problems), refused=tuple(refused))
            if not can_write():
                return Delivery(self.mode, branch=self.branch, attempts=attempt, problems=(*problems, NOT_LEADER),
                                refused=tuple(refused))
            result = self.ws.push(self.branch)
            if result.ok:
                log.info("pushed %s to %s (attempt %d)", sha[:12], self.branch, attempt)
                landed = tuple(Landed(c, self.branch, sha) for e in done for c in e.changes)
                return Delivery(self.mode, branch=self.branch, commit=sha, pushed=True, attempts=attempt,
                                problems=tuple(problems), landed=landed, refused=tuple(refused))
            if attempt == max_attempts:
                break
            # The remote moved under us: start again from its new head and redo the edits there.
            self.ws.refresh()
            self.ws.reset_to(self._base())
            rendered = rerender(self.ws.root)
            for refusal in rendered.refused:
                if refusal.change not in already_refused:
                    already_refused.add(refusal.change)
                    refused.append(refusal)
                    c = refusal.change
                    problems.append(
                        Problem("edit", f"skipped after the branch moved: {refusal.reason}", c.occurrence.location, c.occurrence.subject)
                    )
        raise PushRejected(
            f"push to {self.branch!r} rejected {max_attempts} times (the remote keeps moving: {result.summary}); "
            "delivery.max_push_attempts bounds the retries"
        )
