"""Lanes: the unit the agent schedules, one per repository.

A lane is a repository (url, base branch, paths, exclude) + a delivery target (a branch to
commit to, or pull requests against the base) + where candidate versions come from + its own
rules and policies. Everything after config works on a lane's *effective config*: an ordinary
single-repository :class:`Config` with the top-level defaults already merged in, so a stage
never needs to know there are other lanes. Each lane has its own workspace (clone directory),
discover cache, problems, readiness and write gate; those live with the runner (imagebot.fleet).

Candidate versions come from a :class:`CandidateSource`. Today every lane reads the registries
(:class:`RegistrySource`); staged promotion plugs in a source that proposes the value another
environment runs, without a registry lookup: it builds ``Lane(name, config, source=...)`` (the
config's repository and delivery being the production side) and adds it to the lanes a round
runs; scheduling, the registry round, the write gate and the Lease come with the lane.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from imagebot.config.schema import Config, Repository, RepositoryEntry, lane_name_from_url
from imagebot.model import Occurrence, Resolution
from imagebot.resolve import TagSource, resolve

if TYPE_CHECKING:
    from imagebot.deliver.workspace import GitWorkspace


class CandidateSource(Protocol):
    """Where a lane's candidate versions come from: one resolution per occurrence.

    `registry` is the round's shared tag source; `checkout` the lane's work tree, as discovered
    (a promotion source reads the value the other environment runs there, or from its branch).
    A source never writes: delivery stays with the lane.
    """

    kind: str

    def resolve(self, occurrences: Sequence[Occurrence], registry: TagSource, checkout: Path) -> tuple[Resolution, ...]: ...


@dataclass(frozen=True)
class RegistrySource:
    """The newest tag each occurrence's policy allows, from the registries (shared per round)."""

    kind: str = "registries"

    def resolve(self, occurrences: Sequence[Occurrence], registry: TagSource, checkout: Path) -> tuple[Resolution, ...]:
        return tuple(resolve(occurrences, registry))


REGISTRIES = RegistrySource()


@dataclass(frozen=True)
class Lane:
    name: str
    config: Config  # the effective single-repository config (defaults merged)
    source: CandidateSource = field(default=REGISTRIES, compare=False)
    #: False for the single `repository:` form: its clone keeps the directory it always had.
    keyed: bool = True

    @property
    def repository(self) -> Repository:
        assert self.config.repository is not None
        return self.config.repository

    @property
    def target(self) -> str:
        """Where changes go, for humans: 'commit to staging' or 'pull requests against main'."""
        d = self.config.delivery
        if d.mode == "pull-request":
            return f"pull requests against {self.repository.branch}"
        return f"commit to {self.config.delivery_branch}"

    def workspace_dir(self, cache_dir: Path) -> Path:
        """The lane's own clone directory: two lanes never share a work tree (same URL, other branch)."""
        base = cache_dir / "repos"
        return base / "lanes" / self.name if self.keyed else base


def workspace_for(cfg: Config, lane: Lane) -> GitWorkspace:
    """The lane's own clone (under the cache dir, keyed by the lane's name), for the pipeline's
    rounds and for the commands that only read the repository (validate, inventory, drift: the
    import is here, so that those load no pipeline, registry client or requests)."""
    from imagebot.config.paths import cache_dir
    from imagebot.deliver.workspace import GitWorkspace

    return GitWorkspace(lane.config, lane.workspace_dir(cache_dir(cfg)))


def lanes_of(cfg: Config, only: str | None = None) -> tuple[Lane, ...]:
    """The lanes of a config, in config order; `only` keeps the one of that name (None: all).

    Raises KeyError naming the known lanes when `only` names none of them.
    """
    if cfg.repository is not None:
        lanes: tuple[Lane, ...] = (Lane(lane_name_from_url(cfg.repository.url), cfg, keyed=False),)
    else:
        lanes = tuple(Lane(r.lane_name, _effective(cfg, r)) for r in cfg.repositories)
    if only is None:
        return lanes
    picked = tuple(lane for lane in lanes if lane.name == only)
    if not picked:
        raise KeyError(f"no repository named {only!r}; the config has: {', '.join(lane.name for lane in lanes)}")
    return picked


def _effective(cfg: Config, entry: RepositoryEntry) -> Config:
    repo = Repository(url=entry.url, branch=entry.branch, paths=entry.paths, exclude=entry.exclude)
    update: dict[str, object] = {
        "repository": repo,
        "repositories": (),
        "delivery": entry.delivery or cfg.delivery,
        "policies": {**cfg.policies, **entry.policies},
        "rules": (*entry.rules, *cfg.rules),  # the repository's own first: the first match governs
    }
    return cfg.model_copy(update=update)
