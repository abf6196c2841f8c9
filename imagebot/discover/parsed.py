"""One parsed manifest file as the format modules see it, and what they return."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from ruamel.yaml.nodes import Node

from imagebot.discover.configured import ConfiguredPolicy
from imagebot.model import Location, Occurrence, PolicySpec, Problem


@dataclass(frozen=True)
class ParsedFile:
    """A YAML file read by discover: repo-relative `path`, its text (BOM removed) and documents."""

    path: str
    text: str
    docs: list[Node]
    policies: Mapping[str, ConfiguredPolicy]
    #: Other tools' configuration read as it is (config `compat:`): "argocd-image-updater", "keel".
    compat: frozenset[str] = frozenset()
    #: Argo CD Image Updater `ImageUpdater` resources of the repository (compat_argocd_crd.Rule).
    argocd_updaters: tuple[object, ...] = ()
    #: Find every reference, also those no annotation or marker governs (as Candidates): config
    #: rules may govern them, and `imagebot inventory` lists them.
    everything: bool = False

    def location(self, node: Node) -> Location:
        """Where a value token starts (1-based line and column)."""
        return Location(self.path, int(node.start_mark.line) + 1, int(node.start_mark.column) + 1)


@dataclass(frozen=True)
class Candidate:
    """A reference found without an annotation or marker: config rules may govern it.

    `reference` describes the whole reference (for a Helm image map: at its repository field),
    with the policy UNMANAGED; `build(spec)` makes the occurrences to edit under a policy (the
    map's tag and digest fields), or Problems saying why it cannot carry that policy.
    `updatable` is False for a reference with neither a tag nor a digest: no rule adds one.
    `positions`: the (line, column) of the values it stands for. A candidate is dropped when any
    of them is governed (claimed) by any format, or listed by a candidate of an earlier format
    (discover.scan_file): so formats list candidates without claiming.
    """

    reference: Occurrence
    build: Callable[[PolicySpec], list[Occurrence | Problem]]
    updatable: bool = True
    positions: frozenset[tuple[int, int]] = frozenset()


@dataclass
class Found:
    """What a format module found in one file. `claimed` holds the (line, column) of every value
    it governs, so that a later format does not report the same scalar twice; `candidates`, the
    references it found that nothing governs (when `ParsedFile.everything`): they claim nothing."""

    occurrences: list[Occurrence] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    claimed: set[tuple[int, int]] = field(default_factory=set)
    candidates: list[Candidate] = field(default_factory=list)

    def add(self, other: Found) -> None:
        self.occurrences += other.occurrences
        self.problems += other.problems
        self.claimed |= other.claimed
        self.candidates += other.candidates

    def take(self, results: list[Occurrence | Problem]) -> None:
        """Sort results into occurrences (claiming their values) and problems."""
        for r in results:
            if isinstance(r, Problem):
                self.problems.append(r)
            else:
                self.occurrences.append(r)
                self.claimed.add((r.location.line, r.location.column))
