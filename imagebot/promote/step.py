"""The promotion step of a cycle: for each `promotions:` entry, read both environments, decide with
`PromotionSource`, render production's edits and deliver them (a pull request by default) on the
production branch, apart from the main delivery (its own branch prefix, so neither reconciler
closes the other's pull requests).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from imagebot import apply, discover
from imagebot.config.promotions import Promotion
from imagebot.config.schema import Config, Rule
from imagebot.deadline import Deadline
from imagebot.deliver import GitWorkspace, make_deliverer
from imagebot.errors import ImagebotError
from imagebot.model import Change, CycleResult, Delivery, Discovery, Occurrence, Plan, Problem, Rendered, Resolution

if TYPE_CHECKING:  # loaded by the first promotion: a cycle without any needs none of them (start-up time)
    from imagebot.deliver.forge import Forge
    from imagebot.deliver.forge.base import CommitStatus
    from imagebot.promote.source import Workloads

log = logging.getLogger(__name__)


class ForgeChecks:
    """Commit statuses / checks of staging commits through the configured forge."""

    def __init__(self, forge: Callable[[], Forge]):
        self._factory, self._forge = forge, None

    def checks(self, commit: str) -> Sequence[CommitStatus]:
        if self._forge is None:
            self._forge = self._factory()
        return self._forge.statuses(commit)


def environment_config(cfg: Config, branch: str, mode: str = "commit", prefix: str | None = None, title: str | None = None) -> Config:
    """The config of one environment's branch: the clone resets to it, delivery writes to it (pull requests under
    `prefix`, titled `title` unless the config has a title template)."""
    pr = cfg.delivery.pull_request
    if prefix is not None:
        pr = pr.model_copy(update={"branch_prefix": prefix, "title_template": pr.title_template or title})
    delivery = cfg.delivery.model_copy(update={"mode": mode, "branch": branch, "pull_request": pr})
    return cfg.model_copy(update={"repository": cfg.repository.model_copy(update={"branch": branch}), "delivery": delivery})


#: Governs every reference the config's rules leave unmanaged, so each comes with all its fields (a kustomize
#: entry's newTag and digest, a Helm map's tag) as a policy would see them; a rule `policy: ignore` still wins.
_EVERY_REFERENCE = Rule(policy="promote")


def _scan(cfg: Config, root: Path, env_path: str | None) -> Discovery:
    return discover.scan(root, paths=(env_path,) if env_path else cfg.repository.paths, exclude=cfg.repository.exclude,
                         policies=cfg.policies, rules=(*cfg.rules, _EVERY_REFERENCE))


def is_production(cfg: Config, occ: Occurrence) -> bool:
    """Whether a reference of the main cycle's checkout lies in a promotion's target folder: only promotions change it.
    (A target branch is never the main cycle's: the config refuses `to.branch` = `repository.branch`.)"""
    return any(p.to.path is not None and occ.location.file.startswith(p.to.path + "/") for p in cfg.promotions)


def run_promotion(
    cfg: Config, p: Promotion, cache: Path, *, dry_run: bool = False, can_write: Callable[[], bool] = lambda: True,
    clock: Callable[[], float] = time.time, forge_factory: Callable[[], Forge] | None = None, deadline: Deadline | None = None,
    workloads: Workloads | None = None,
) -> CycleResult:
    """One promotion as a cycle over production: its discovery is production's references, its `wake_at`
    when a held reference's gate opens by itself."""
    from imagebot.deliver.forge import connect_forge
    from imagebot.promote.history import GitHistory
    from imagebot.promote.pairing import pair
    from imagebot.promote.source import PromotionSource

    started, t0 = time.time(), time.monotonic()
    staging_branch = p.from_.branch or cfg.repository.branch
    production_branch = p.to.branch or cfg.repository.branch
    scfg = environment_config(cfg, staging_branch)
    pcfg = environment_config(cfg, production_branch, p.delivery.mode, p.branch_prefix, f"Promote to {p.name}: {{summary}}")
    sws = GitWorkspace(scfg, cache)
    if deadline is not None:  # the cycle's: git and forge calls stop with it
        sws.deadline = deadline
    staging = _scan(cfg, sws.checkout(), p.from_.path).occurrences
    pws = GitWorkspace(pcfg, cache)
    if deadline is not None:
        pws.deadline = deadline
    proot = pws.checkout()
    production = _scan(cfg, proot, p.to.path)
    pairs, unpaired = pair(staging, p.from_.path or "", production.occurrences, p.to.path or "", {m.from_: m.to for m in p.paths})
    forge = forge_factory or (lambda: connect_forge(pcfg, pws.url))
    source = PromotionSource(p, pairs, unpaired, GitHistory(sws, staging_branch), ForgeChecks(forge), clock, workloads)
    resolutions = source.resolve()
    plan = source.plan(resolutions)
    rendered = apply.render(proot, plan.changes)
    problems = list(plan.problems) + [Problem("edit", f"not edited: {r.reason}", r.change.occurrence.location,
                                              r.change.occurrence.subject) for r in rendered.refused]
    delivery = None
    if not dry_run:
        deliverer = make_deliverer(pcfg, pws, forge_factory=forge_factory)
        delivery = deliverer.deliver(plan, rendered, lambda new_root: apply.render(new_root, plan.changes), can_write=can_write)
        problems += delivery.problems
    for r in plan.skipped:
        log.info("%s: %s", r.occurrence.location, r.reason, extra={"fields": {"event": "promotion-held", "promotion": p.name}})
    return CycleResult(production, resolutions, plan, rendered, delivery, tuple(problems), started, time.monotonic() - t0,
                       dry_run=dry_run, wake_at=source.wake_at)


def run_promotions(cfg: Config, cache: Path, **kw: object) -> tuple[CycleResult, ...]:
    """Every promotion; one that cannot run (its branch missing, the remote down) is a problem, not the end."""
    out = []
    for p in cfg.promotions:
        started = time.time()
        try:
            out.append(run_promotion(cfg, p, cache, **kw))  # type: ignore[arg-type]
        except ImagebotError as e:
            log.warning("promotion %s: %s", p.name, e)
            problem = Problem("promotion", f"promotion {p.name}: {e}", subject=p.name, temporary=e.temporary)
            out.append(CycleResult(Discovery(()), (), Plan(()), Rendered(()), None, (problem,), started, time.time() - started,
                                   dry_run=bool(kw.get("dry_run"))))
    return tuple(out)


def merge(
    resolutions: tuple[Resolution, ...], plan: Plan, rendered: Rendered, delivery: Delivery | None,
    promoted: Sequence[CycleResult],
) -> tuple[tuple[Resolution, ...], Plan, Rendered, Delivery | None, float | None]:
    """The main cycle's values with the promotions' added: one plan, one delivery for every report."""
    for r in promoted:
        resolutions += r.resolutions
        plan = Plan(plan.changes + r.plan.changes, plan.skipped + r.plan.skipped, plan.unchanged + r.plan.unchanged,
                    plan.problems + r.plan.problems)
        rendered = Rendered(rendered.edits + r.rendered.edits, rendered.refused + r.rendered.refused)
        if delivery is not None and r.delivery is not None:
            d = r.delivery
            delivery = replace(
                delivery, pull_requests=delivery.pull_requests + d.pull_requests,
                closed_pull_requests=delivery.closed_pull_requests + d.closed_pull_requests, pushed=delivery.pushed or d.pushed,
                problems=delivery.problems + d.problems, landed=delivery.landed + d.landed, outcomes=delivery.outcomes + d.outcomes,
                refused=delivery.refused + d.refused)
    wakes = [r.wake_at for r in promoted if r.wake_at is not None]
    return resolutions, plan, rendered, delivery, (min(wakes) if wakes else None)


def without_promotions(plan: Plan, rendered: Rendered) -> tuple[Plan, Rendered]:
    """The main delivery's part of a merged plan (for its preview)."""
    def promoted(change: Change) -> bool:
        return change.occurrence.policy.origin == "promotion"

    return (replace(plan, changes=tuple(c for c in plan.changes if not promoted(c))),
            replace(rendered, edits=tuple(e for e in rendered.edits if not any(promoted(c) for c in e.changes)),
                    refused=tuple(r for r in rendered.refused if not promoted(r.change))))
