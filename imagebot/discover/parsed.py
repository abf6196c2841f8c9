"""One parsed manifest file as the format modules see it, and what they return."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from ruamel.yaml.nodes import Node

from imagebot.config.schema import NamedPolicy
from imagebot.model import Location, Occurrence, Problem


@dataclass(frozen=True)
class ParsedFile:
    """A YAML file read by discover: repo-relative `path`, its text (BOM removed) and documents."""

    path: str
    text: str
    docs: list[Node]
    policies: Mapping[str, NamedPolicy]
    #: Other tools' configuration read as it is (config `compat:`): "argocd-image-updater", "keel".
    compat: frozenset[str] = frozenset()
    #: Argo CD Image Updater `ImageUpdater` resources of the repository (compat_argocd_crd.Rule).
    argocd_updaters: tuple[object, ...] = ()

    def location(self, node: Node) -> Location:
        """Where a value token starts (1-based line and column)."""
        return Location(self.path, int(node.start_mark.line) + 1, int(node.start_mark.column) + 1)


@dataclass
class Found:
    """What a format module found in one file. `claimed` holds the (line, column) of every value
    it took charge of, so that a later format does not report the same scalar twice."""

    occurrences: list[Occurrence] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    claimed: set[tuple[int, int]] = field(default_factory=set)

    def add(self, other: Found) -> None:
        self.occurrences += other.occurrences
        self.problems += other.problems
        self.claimed |= other.claimed
