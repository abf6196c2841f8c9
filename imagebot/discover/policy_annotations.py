"""Workload annotations -> one PolicySpec per container.

``imagebot.io/policy`` applies to every container, ``imagebot.io/policy.<container>`` to one
(and wins). The options ``imagebot.io/<option>[.<container>]`` (tag-filter, extract, exclude,
prerelease, pin-digest) follow the same rule. The policy string is not compiled here: a bad one
is reported by the policy stage, naming the `source` recorded in the PolicySpec.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from ruamel.yaml.nodes import MappingNode, Node, ScalarNode

from imagebot.discover.markers import OPTIONS, MarkerError, parse_flag
from imagebot.discover.yamltree import style
from imagebot.model import Location, PolicySpec, Problem

PREFIX = "imagebot.io/"
_KEYS = ("policy", *OPTIONS)


@dataclass
class _Entry:
    value: str
    key: str
    line: int


@dataclass
class Annotations:
    """The imagebot annotations of one workload, per container name ("" = all containers)."""

    by_container: dict[str, dict[str, _Entry]] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)

    def policy_for(self, file: str, container: str) -> PolicySpec | None:
        """The container's policy, or None when no policy annotation covers it."""
        own, common = self.by_container.get(container, {}), self.by_container.get("", {})
        policy = own.get("policy") or common.get("policy")
        if policy is None:
            return None
        options: dict[str, object] = {}
        used = [policy]
        for name, is_flag in OPTIONS.items():
            entry = own.get(name) or common.get(name)
            if entry is not None:
                options[name.replace("-", "_")] = parse_flag(entry.value, entry.key) if is_flag else entry.value
                used.append(entry)
        # Every annotation that shaped the policy: a bad tag-filter must point at its own line.
        return PolicySpec(
            policy=policy.value,
            source=", ".join(f"{file}:{e.line} annotation {e.key}" for e in used),
            origin="annotation",
            **options,  # type: ignore[arg-type]
        )

    def check_containers(self, file: str, subject: str, names: Iterable[str]) -> list[Problem]:
        """Problems for annotations naming a container the workload does not have, or options
        that no policy covers (they would silently do nothing)."""
        known = set(names)
        out: list[Problem] = []
        for container, entries in self.by_container.items():
            for name, entry in entries.items():
                where = Location(file, entry.line)
                if container and container not in known:
                    have = ", ".join(sorted(known)) or "none"
                    out.append(Problem("annotation", f"{entry.key}: no container named {container!r} (containers: {have})", where, subject))
                elif name != "policy" and "policy" not in entries and "policy" not in self.by_container.get("", {}):
                    out.append(Problem("annotation", f"{entry.key} is set but no imagebot.io/policy covers it", where, subject))
        return out


def read(file: str, subject: str, maps: Iterable[Node | None]) -> Annotations:
    """Gather imagebot annotations from annotation mappings (later mappings win)."""
    result = Annotations()
    for node in maps:
        if node is None:
            continue
        if not isinstance(node, MappingNode):
            result.problems.append(Problem("annotation", "metadata.annotations is not a mapping", Location(file, node.start_mark.line + 1), subject))
            continue
        for k, v in node.value:
            if not isinstance(k, ScalarNode) or not str(k.value).startswith(PREFIX):
                continue
            _one(result, file, subject, str(k.value), v)
    return result


def _one(result: Annotations, file: str, subject: str, key: str, v: Node) -> None:
    line = int(v.start_mark.line) + 1
    where = Location(file, line)
    option, _, container = key[len(PREFIX) :].partition(".")
    if option not in _KEYS:
        result.problems.append(Problem("annotation", f"unknown annotation {key!r} (known: {', '.join(PREFIX + k for k in _KEYS)}, each with an optional .<container>)", where, subject))
        return
    if key.endswith(".") or (container and not container.replace("-", "").isalnum()):
        result.problems.append(Problem("annotation", f"{key!r}: {container!r} is not a container name", where, subject))
        return
    if not isinstance(v, ScalarNode) or style(v) in ("|", ">"):
        result.problems.append(Problem("annotation", f"{key} must be a one-line string", where, subject))
        return
    value = str(v.value).strip()
    if not value:
        result.problems.append(Problem("annotation", f"{key} is empty", where, subject))
        return
    if OPTIONS.get(option, False):
        try:
            parse_flag(value, key)
        except MarkerError as exc:
            result.problems.append(Problem("annotation", str(exc), where, subject))
            return
    result.by_container.setdefault(container, {})[option] = _Entry(value, key, line)
