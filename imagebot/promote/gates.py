"""The gates a promotion must pass, as pure functions of facts and the time (table-testable).

Each gate returns None when it holds, or a `Hold`: why not, and when to look again (None when
only an outside event can change it, e.g. a check finishing).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from imagebot.config.cron import parse_cron
from imagebot.config.promotions import Window
from imagebot.deliver.forge.base import CommitStatus
from imagebot.policy.tags import DockerTag

#: How far ahead the next window opening is searched (minutes are stepped through).
WINDOW_HORIZON = timedelta(days=14)


@dataclass(frozen=True)
class Introduced:
    """The staging commit that put the value there: its sha and committer time (Unix seconds).
    `exact` False: the clone's history ends at this commit, so the value was there at the latest then."""

    commit: str
    time: float
    exact: bool = True


@dataclass(frozen=True)
class Hold:
    gate: str  # soak | checks | window | rollback | digest | history
    reason: str
    until: float | None = None  # when the gate may open by itself (Unix seconds)


def when(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def span(seconds: float) -> str:
    """3725 -> '1h2m5s'; 0 -> '0s'."""
    s = max(0, int(seconds))
    d, s = divmod(s, 86400)
    h, s = divmod(s, 3600)
    m, s = divmod(s, 60)
    out = (f"{d}d" if d else "") + (f"{h}h" if h else "") + (f"{m}m" if m else "") + (f"{s}s" if s or not (d or h or m) else "")
    return out


def soak(introduced: Introduced, soak_seconds: float, now: float) -> Hold | None:
    ends = introduced.time + soak_seconds
    if now >= ends:
        return None
    return Hold("soak", f"soaking since {when(introduced.time)} (commit {introduced.commit[:12]}): "
                f"{span(now - introduced.time)} of {span(soak_seconds)}, until {when(ends)}", ends)


def latest_checks(statuses: Sequence[CommitStatus]) -> tuple[CommitStatus, ...]:
    """The newest status of each context (forges list newest first), in context order."""
    seen: dict[str, CommitStatus] = {}
    for c in statuses:
        seen.setdefault(c.context, c)
    return tuple(seen[k] for k in sorted(seen))


def checks(statuses: Sequence[CommitStatus], commit: str) -> Hold | None:
    """All checks on the commit green, and at least one reported."""
    latest = latest_checks(statuses)
    if not latest:
        return Hold("checks", f"no checks reported on staging commit {commit[:12]} yet")
    bad = [c for c in latest if c.state in ("failure", "error")]
    if bad:
        return Hold("checks", "checks failed on staging commit " + commit[:12] + ": "
                    + ", ".join(f"{c.context} {c.state}" + (f" ({c.target_url})" if c.target_url else "") for c in bad))
    waiting = [c for c in latest if c.state != "success"]
    if waiting:
        return Hold("checks", f"checks pending on staging commit {commit[:12]}: " + ", ".join(c.context for c in waiting))
    return None


def _blacked_out(windows: Sequence[Window], now: datetime) -> Window | None:
    for w in windows:
        if w.blackout is not None:
            first, last = w.days()
            day: date = now.astimezone(ZoneInfo(w.timezone)).date()
            if first <= day <= last:
                return w
    return None


def window_open(windows: Sequence[Window], now: datetime) -> bool:
    """Inside a cron window (or there are none) and in no blackout."""
    if _blacked_out(windows, now) is not None:
        return False
    crons = [w for w in windows if w.cron is not None]
    return not crons or any(parse_cron(w.cron).matches(now.astimezone(ZoneInfo(w.timezone))) for w in crons)  # type: ignore[arg-type]


def next_opening(windows: Sequence[Window], now: datetime) -> datetime | None:
    """The first minute from `now` on when the windows are open (None beyond the horizon)."""
    t = now.replace(second=0, microsecond=0) + timedelta(minutes=1)
    end = now + WINDOW_HORIZON
    while t <= end:
        if window_open(windows, t):
            return t
        t += timedelta(minutes=1)
    return None


def window(windows: Sequence[Window], now: float) -> Hold | None:
    at = datetime.fromtimestamp(now, UTC)
    if window_open(windows, at):
        return None
    opens = next_opening(windows, at)
    blackout = _blacked_out(windows, at)
    why = f"blackout {blackout.blackout} ({blackout.timezone})" if blackout else "outside the maintenance windows (" + "; ".join(
        f"{w.cron} {w.timezone}" for w in windows if w.cron) + ")"
    until = opens.timestamp() if opens else None
    return Hold("window", why + (f", next opening {when(until)}" if until else ", no opening in the next 14 days"), until)


def rollback(staging_tag: str | None, production_tag: str | None, allowed: bool) -> Hold | None:
    """A staging value older than production's (both versions) is a rollback: held unless allowed.
    Tags that are not versions cannot be ordered; staging's history orders them (it runs the newer)."""
    if allowed or not staging_tag or not production_tag:
        return None
    a, b = DockerTag.parse(staging_tag), DockerTag.parse(production_tag)
    if a is None or b is None or a.key >= b.key:
        return None
    return Hold("rollback", f"staging runs {staging_tag}, older than production's {production_tag}: a rollback "
                "(set allow-rollback: true to promote it)")


#: Where the pod template and the rollout counts are, by workload kind.
_ROLLOUT = {
    "Deployment": ("replicas", "updatedReplicas", "availableReplicas"),
    "StatefulSet": ("replicas", "updatedReplicas", "availableReplicas"),
    "DaemonSet": ("desiredNumberScheduled", "updatedNumberScheduled", "numberAvailable"),
}


def healthy(live: dict | None, workload: str, namespace: str, container: str, tag: str | None, digest: str | None) -> Hold | None:
    """The staging workload runs the value (its digest, or its tag when unpinned) and its rollout is complete."""
    kind = workload.split("/", 1)[0]
    where = f"{workload} in namespace {namespace}"
    if kind not in _ROLLOUT:
        return Hold("healthy", f"{where}: the healthy gate reads Deployments, StatefulSets and DaemonSets only")
    if live is None:
        return Hold("healthy", f"{where} is not in the staging cluster")
    pod = ((live.get("spec") or {}).get("template") or {}).get("spec") or {}
    image = next((c.get("image") for c in pod.get("containers") or () if isinstance(c, dict) and c.get("name") == container), None)
    if not isinstance(image, str):
        return Hold("healthy", f"{where} has no container {container} in the cluster")
    runs = image.endswith("@" + digest) if digest else image.split("@")[0].rsplit(":", 1)[-1] == tag
    if not runs:
        return Hold("healthy", f"{where} container {container} runs {image} in the cluster, not staging's {tag}")
    status, spec = live.get("status") or {}, live.get("spec") or {}
    want_key, updated_key, available_key = _ROLLOUT[kind]
    want = (status if kind == "DaemonSet" else spec).get(want_key, 1)
    updated, available = status.get(updated_key, 0), status.get(available_key, 0)
    generation, observed = (live.get("metadata") or {}).get("generation", 0), status.get("observedGeneration", 0)
    if observed < generation or updated < want or available < want:
        return Hold("healthy", f"{where}: rollout not complete ({updated}/{want} updated, {available}/{want} available, "
                    f"generation {observed}/{generation} observed)")
    return None
