"""Pair staging references with production references: the same workload in both environments.

A container is the same workload when kind/name and container match (and the namespace, when both
environments write the same one or it alone is ambiguous); any other reference (Helm image maps,
kustomize images entries, custom resources) is the same when its path in the document, the
document's index and its file name relative to the environment root match. An explicit path map
(`paths:`) says which staging file is which production file.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from imagebot.model import Occurrence


@dataclass(frozen=True)
class Pair:
    staging: Occurrence
    production: Occurrence
    identity: str  # what matched, for messages


@dataclass(frozen=True)
class Unpaired:
    occurrence: Occurrence  # a production reference
    reason: str
    ambiguous: bool = False  # more than one staging reference matches


def relative(file: str, root: str) -> str | None:
    """`file` relative to the environment root `root` ("" = the repository), or None outside it."""
    if not root:
        return file
    prefix = root.rstrip("/") + "/"
    return file[len(prefix):] if file.startswith(prefix) else None


def _keys(occ: Occurrence, rel: str) -> tuple[tuple[str, ...], ...]:
    """Identity keys, most precise first."""
    if occ.workload and occ.container:
        return (("workload", occ.workload, occ.namespace, occ.container, occ.field.value),
                ("workload", occ.workload, "*", occ.container, occ.field.value))
    return (("path", rel, str(occ.document), occ.path),)


def _label(key: tuple[str, ...]) -> str:
    if key[0] == "workload":
        _, workload, ns, container, _field = key
        return f"{workload}{'' if ns in ('', '*') else ' in ' + ns} container {container}"
    return f"{key[1]} {key[3]}"


def pair(
    staging: Iterable[Occurrence], staging_root: str, production: Iterable[Occurrence], production_root: str,
    path_map: Mapping[str, str] = {},
) -> tuple[tuple[Pair, ...], tuple[Unpaired, ...]]:
    """Production references with their staging counterpart; those without one (or with two) apart."""
    index: dict[tuple[str, ...], list[Occurrence]] = defaultdict(list)
    for occ in staging:
        rel = relative(occ.location.file, staging_root)
        if rel is None:
            continue
        rel = path_map.get(rel, rel)
        for key in _keys(occ, rel):
            index[key].append(occ)
    pairs: list[Pair] = []
    unpaired: list[Unpaired] = []
    for occ in production:
        rel = relative(occ.location.file, production_root)
        if rel is None:
            continue
        for key in _keys(occ, rel):
            found = _distinct(index.get(key, ()))
            if len(found) == 1:
                pairs.append(Pair(found[0], occ, _label(key)))
                break
            if len(found) > 1:
                unpaired.append(Unpaired(occ, f"{len(found)} staging references match {_label(key)}: "
                                              f"{', '.join(str(o.location) for o in found)}; pair them with `paths:`", True))
                break
        else:
            unpaired.append(Unpaired(occ, "no staging reference for this workload"))
    return tuple(pairs), tuple(unpaired)


def _distinct(found: Sequence[Occurrence]) -> list[Occurrence]:
    return list({(o.location, o.document): o for o in found}.values())
