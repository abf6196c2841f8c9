"""The one place that knows the order of the stages.

config -> discover -> resolve -> plan -> apply -> deliver -> report
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import tempfile
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from imagebot import apply, collector, cores, discover
from imagebot import plan as planner
from imagebot.config.paths import cache_dir
from imagebot.config.schema import Config
from imagebot.deadline import NO_DEADLINE, Deadline
from imagebot.decisions import DecisionMemo
from imagebot.deliver import GitWorkspace, make_deliverer
from imagebot.deliver.preview import DeliveryPreview
from imagebot.discover.occurrences import policy_image
from imagebot.errors import ConfigError, ImagebotError, ReferenceError_
from imagebot.lanes import REGISTRIES, CandidateSource
from imagebot.model import CycleResult, Delivery, Discovery, Plan, Problem, Refusal
from imagebot.reference import split
from imagebot.resolve import resolve
from imagebot.promote import step as promote_step
from imagebot.registry import RegistryClient
from imagebot.registry.prefetch import Prefetch
from imagebot.report import Reporter
from imagebot.report.progress import ResolveProgress

if TYPE_CHECKING:
    from imagebot.deliver.forge import Forge  # the forge client is loaded by pull-request delivery only

log = logging.getLogger(__name__)


_USABLE: set[Path] = set()


def usable_cache_dir(cfg: Config) -> Path:
    """`cache_dir`, created if needed and proven writable (once per process); a clear ConfigError
    (exit 2) otherwise, rather than a traceback from deep inside a cycle."""
    path = cache_dir(cfg)
    if path in _USABLE:
        return path
    try:
        path.mkdir(parents=True, exist_ok=True)
        # a file of its own (lanes of a round check at the same time, in threads of one process)
        fd, probe = tempfile.mkstemp(dir=path, prefix=".imagebot-probe-")
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise ConfigError(f"cache_dir {str(path)!r} is not a writable folder ({e.strerror or e}); set cache_dir "
                          f"to one imagebot may write, e.g. a volume mounted for it") from None
    _USABLE.add(path)
    return path


def lane_cache_path(cfg: Config, ws: GitWorkspace, lane: str, kind: str) -> Path:
    """A cache file of one clone and lane (`kind`: "discover" for discover's findings per file,
    "decisions" for the policy decisions, "render" for apply's proven edits): each run keeps only
    what it used and for its own scan settings, so lanes sharing a cache_dir (a fleet,
    `repositories:`, two lanes over one repository) must not share a file."""
    key = hashlib.sha256(f"{ws.root}\0{lane}".encode()).hexdigest()[:20]
    return cache_dir(cfg) / kind / f"{key}.json"


def _prefetch(cfg: Config, client: RegistryClient, source: CandidateSource,
              images: Collection[str] | None) -> Prefetch | None:
    """Tag listings started before resolve, for the registry source only (another source, e.g. a
    promotion's staging files, asks no registry for tags) and not when promotions take production's
    references out after discover (their images might be listed for nothing); a targeted cycle
    lists only its `images`."""
    if source is not REGISTRIES or cfg.promotions:
        return None
    wanted = (lambda image: True) if images is None else frozenset(images).__contains__
    return Prefetch(client.tags, workers=PREFETCH_WORKERS, wanted=wanted)


def _policy_images(cfg: Config) -> frozenset[str]:
    """The images the config's named policies are for, normalised as discover names them (a
    policy whose image does not parse is the config check's to report, not listed here)."""
    out = set()
    for name, named in cfg.policies.items():
        try:
            out.add(policy_image(name, named))
        except ReferenceError_:
            continue
    return frozenset(out)


#: Concurrent tag listings during discover (each registry's own `rate_limit.concurrency` still applies).
PREFETCH_WORKERS = 8


def new_registry_client(cfg: Config) -> RegistryClient:
    return RegistryClient(cfg.registries, cache_dir=cache_dir(cfg) / "tags", only_listed=cfg.only_listed_registries)


@collector.paused()  # its many long-lived containers are not walked again and again (see collector)
def run_cycle(
    cfg: Config,
    *,
    dry_run: bool = False,
    images: Collection[str] | None = None,
    can_write: Callable[[], bool] = lambda: True,
    registry: RegistryClient | None = None,
    reporters: Sequence[Reporter] = (),
    workspace: GitWorkspace | None = None,
    discover_cache: discover.DiscoverCache | None = None,
    cancelled: Callable[[], bool] = lambda: False,
    source: CandidateSource = REGISTRIES,
    new_round: bool = True,
    lane: str = "",
    clock: Callable[[], float] = time.time,
    forge_factory: Callable[[], Forge] | None = None,
    workloads: Callable[[str, str, str], dict | None] | None = None,
) -> CycleResult:
    """Run one cycle. Per-image and per-file trouble ends up in `problems`, never as an exception.

    Raises ImagebotError only when the cycle cannot run at all (the Git remote cannot be
    cloned or fetched, the push or the forge failed for good). `discover_cache`: a process
    that runs many cycles (the agent) keeps one, so unchanged files are not read or parsed again.

    The cycle has a deadline (`cycle_timeout`), and ends early when `cancelled()` (shutdown):
    no git command or registry request starts past it and running ones are cut off, so the
    cycle raises DeadlineExceeded between steps, before a push that had not started.
    `source`: where candidate versions come from (the lane's; registries by default).
    `new_round=False`: the caller (imagebot.fleet) started one registry round for all its lanes
    (with the round's deadline), so the client's answers are shared and this cycle's own request
    count is not separable.
    """
    started, t0 = time.time(), time.monotonic()
    deadline = Deadline(cfg.cycle_timeout_seconds, cancelled=cancelled)
    usable_cache_dir(cfg)
    log.info("cycle started: %s", "full" if images is None else "targeted at " + ", ".join(sorted(images)),
             extra={"fields": {"event": "cycle-started", "images": sorted(images) if images is not None else None}})
    own_client = registry is None
    client = registry or new_registry_client(cfg)
    if new_round or own_client:
        client.new_cycle(deadline)
    requests_before = client.stats.snapshot()
    ws: GitWorkspace | None = None
    prefetch: Prefetch | None = None
    try:
        ws = workspace or GitWorkspace(cfg, cache_dir(cfg) / "repos")
        ws.deadline = deadline
        # discover's results persist in the cache dir (one file per clone): a new process (plan, run --once,
        # an agent after a restart) neither reads nor parses the files of a commit it scanned before
        dcache = discover_cache if discover_cache is not None else discover.DiscoverCache()
        dcache.attach(lane_cache_path(cfg, ws, lane, "discover"))
        # Tag listings start before the checkout for the images the last scan found (an unchanged
        # checkout has the same), and during discover for each image as it is found.
        prefetch = _prefetch(cfg, client, source, images)
        if prefetch is not None:
            # No scan before (a new cache dir: a first run, a CI job without its cache): the images the
            # config's policies name are listed while the clone is made; those the scan does not find are
            # dropped from the queue once it ends (`keep`, below). A scan that found no image lists none.
            last = dcache.last_images()
            for image in sorted(last if last is not None else _policy_images(cfg)):
                prefetch.add(image)
        root = ws.checkout()
        revision = ws.head()
        since = _since(ws, dcache.revision, revision)
        found = discover.scan(root, paths=cfg.repository.paths, exclude=cfg.repository.exclude, policies=cfg.policies,
                              rules=cfg.rules, images=images, cache=dcache, revision=revision, since=since,
                              compat_with=cfg.compat, on_image=prefetch.add if prefetch is not None else None)
        occurrences = found.occurrences
        if prefetch is not None:  # the last scan's images this one did not find are not listed
            prefetch.keep({o.image for o in occurrences})
        if cfg.promotions:  # production's references change only by promotion
            occurrences = tuple(o for o in occurrences if not promote_step.is_production(cfg, o))
            found = Discovery(occurrences, found.problems, found.files_scanned, found.files_parsed, found.unmanaged)
        if images is not None:
            wanted = frozenset(images)
            occurrences = tuple(o for o in occurrences if o.image in wanted)
            found = Discovery(occurrences, found.problems, found.files_scanned, found.files_parsed)
        log.info("discovered %d image reference(s) with a policy in %d file(s)", len(occurrences), found.files_scanned)

        deadline.check("resolving")
        progress = ResolveProgress(client, {o.image for o in occurrences}, reporters)
        # the registry source resolves with the cycle's clock (min-age); another lane source resolves as it will
        kept = DecisionMemo(lane_cache_path(cfg, ws, lane, "decisions"))  # decisions of earlier runs
        resolutions = (resolve(occurrences, progress, now=clock, kept=kept) if source is REGISTRIES
                       else source.resolve(occurrences, progress, root))
        deadline.check("planning")  # a registry cut off by the deadline must not look like "nothing newer"
        the_plan = planner.build(resolutions, found.problems)
        render_cache = apply.RenderCache(lane_cache_path(cfg, ws, lane, "render"))  # proven edits of earlier runs
        rendered = apply.render(root, the_plan.changes, render_cache)
        problems = list(the_plan.problems) + [_refusal_problem(r) for r in rendered.refused]

        delivery: Delivery | None = None
        if not dry_run:
            deadline.check("delivering")
            deliverer = make_deliverer(cfg, ws)
            delivery = deliverer.deliver(
                the_plan,
                rendered,
                lambda new_root: apply.render(new_root, the_plan.changes, render_cache),
                can_write=can_write,
                image_labels=_labels(cfg, client, the_plan),
                scope=frozenset(images) if images is not None else None,
            )
            problems += delivery.problems
        wake_at = None
        if cfg.promotions and images is None:  # promotions run on full cycles
            deadline.check("promoting")
            promoted = promote_step.run_promotions(cfg, cache_dir(cfg) / "repos", dry_run=dry_run, can_write=can_write,
                                                   clock=clock, forge_factory=forge_factory, deadline=deadline,
                                                   workloads=workloads)
            resolutions, the_plan, rendered, delivery, wake_at = promote_step.merge(resolutions, the_plan, rendered, delivery, promoted)
            problems += [x for r in promoted for x in r.problems]
        result = CycleResult(
            discovery=found,
            resolutions=resolutions,
            plan=the_plan,
            rendered=rendered,
            delivery=delivery,
            problems=tuple(problems),
            started=started,
            duration=time.monotonic() - t0,
            dry_run=dry_run,
            images=frozenset(images) if images is not None else None,
            registry_requests=_requests_since(requests_before, client.stats.snapshot()) if new_round or own_client else (),
            lane=lane,
            wake_at=wake_at,
        )
    finally:
        if prefetch is not None:
            prefetch.close()  # drops listings not started (a cycle that ended early); resolve had what it asked
        if ws is not None:
            ws.deadline = NO_DEADLINE  # this cycle's; the drift check between cycles has its own limits
        if own_client:
            client.close()
        cores.release()  # the parsing worker of a cold scan and render, if one was started
    for reporter in reporters:
        try:
            reporter.cycle_finished(result)
        except Exception:  # a broken reporter must not hide the cycle's outcome
            log.exception("reporter %s failed", type(reporter).__name__)
    return result


_COMMIT = re.compile(r"[0-9a-f]{40}(?:[0-9a-f]{24})?")


def _since(ws: GitWorkspace, previous: object, revision: str) -> tuple[str, frozenset[str]] | None:
    """What changed since the commit of the agent's last scan, when only files' bytes did (as
    after its own commit): discover then neither walks nor stats the others."""
    if not isinstance(previous, str) or previous == revision or not _COMMIT.fullmatch(previous):
        return None  # (the revision comes from discover's store on disk too: a commit id, never an option for git)
    modified = ws.modified_between(previous, revision)
    return None if modified is None else (previous, modified)


def preview(cfg: Config, result: CycleResult, workspace: GitWorkspace | None = None) -> DeliveryPreview:
    """What `run` would deliver for a dry-run result: branch, commit message or PRs."""
    ws = workspace or GitWorkspace(cfg, cache_dir(cfg) / "repos")
    plan, rendered = promote_step.without_promotions(result.plan, result.rendered)  # they go by their own delivery
    return make_deliverer(cfg, ws).preview(plan, rendered)


def _labels(cfg: Config, client: RegistryClient, plan: Plan) -> dict[str, Mapping[str, str]]:
    """OCI labels of each new image (source links in pull-request bodies); one config blob each.

    Only pull requests show them, and a registry that cannot say is no reason to hold a change back.
    """
    if cfg.delivery.mode != "pull-request":
        return {}
    out: dict[str, Mapping[str, str]] = {}
    for change in plan.changes:
        if change.occurrence.kind != "image":  # charts and artifacts: no image labels to link
            continue
        _, tag, _ = split(change.new_ref)
        if change.new_ref in out or not tag:
            continue
        try:
            out[change.new_ref] = client.labels(change.occurrence.image, tag)
        except ImagebotError as e:
            log.info("no labels for %s: %s", change.new_ref, e)
    return out


def _refusal_problem(r: Refusal) -> Problem:
    occ = r.change.occurrence
    return Problem("edit", f"not edited: {r.reason}", occ.location, occ.subject)


def _requests_since(before: dict[tuple[str, str, str], int], after: dict[tuple[str, str, str], int]) -> tuple[tuple[str, int], ...]:
    """This cycle's registry requests as ('registry kind status', count), e.g. ('ghcr.io tags 200', 3)."""
    return tuple(sorted((" ".join(k), n - before.get(k, 0)) for k, n in after.items() if n - before.get(k, 0)))
