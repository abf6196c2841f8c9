"""Config policies and rules as a scan reads them: frozen values of discover's own.

The config's pydantic models stay in the process that loaded the config. A cold scan hands its
settings to the parsing worker (:mod:`imagebot.cores`), a fresh interpreter: given the models,
it had to import pydantic and the whole config schema before it could unpickle them, which was
half of what the worker spent before its first file. These values carry what discover reads of
a policy or a rule (the image, the policy and its options, the rule's match, its line) and
pickle without pydantic.

:func:`policies_of` and :func:`rules_of` take the config's models (or values already converted)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from imagebot.model import IGNORE, PolicySpec

__all__ = ["IGNORE", "ConfiguredMatch", "ConfiguredPolicy", "ConfiguredRule", "policies_of", "rules_of"]


@dataclass(frozen=True, slots=True)
class ConfiguredPolicy:
    """A config policy (an entry of `policies:`), named by markers and kustomization entries."""

    image: str
    #: The policy as every stage after discover reads it, declared nowhere yet (`source` "").
    template: PolicySpec

    def spec(self, source: str = "") -> PolicySpec:
        """The policy as declared at `source` (for messages: "apps/web.yaml:7 marker ...")."""
        return _at(self.template, source)


@dataclass(frozen=True, slots=True)
class ConfiguredMatch:
    """What a rule applies to (config `rules[].match`); None: any."""

    image: str | None = None
    path: str | None = None
    kind: str | tuple[str, ...] | None = None
    workload: str | None = None
    namespace: str | None = None
    container: str | None = None


@dataclass(frozen=True, slots=True)
class ConfiguredRule:
    """A config rule: the policy of the references its match fits that nothing else governs."""

    match: ConfiguredMatch
    policy: str
    #: The rule's line in the config file, for messages; None when not loaded from a file.
    line: int | None
    template: PolicySpec

    def spec(self, source: str = "") -> PolicySpec:
        return _at(self.template, source)


def _at(t: PolicySpec, source: str) -> PolicySpec:
    """`t` declared at `source`: built directly, as the config's models build it (once per
    reference a config policy governs; `dataclasses.replace` costs several times as much).
    tests/unit/test_discover_configured.py compares every field with the models' specs."""
    return PolicySpec(t.policy, t.tag_filter, t.extract, t.exclude, t.prerelease, t.pin_digest, source,
                      origin=t.origin, min_age=t.min_age)


def policies_of(policies: Mapping[str, Any]) -> dict[str, ConfiguredPolicy]:
    """Config `policies` (NamedPolicy models, or values converted before) as a scan reads them."""
    return {name: p if isinstance(p, ConfiguredPolicy) else ConfiguredPolicy(p.image, p.spec(""))
            for name, p in policies.items()}


def rules_of(rules: Sequence[Any]) -> tuple[ConfiguredRule, ...]:
    """Config `rules` (Rule models, or values converted before) as a scan reads them, in order."""
    out = []
    for r in rules:
        if not isinstance(r, ConfiguredRule):
            m = r.match
            r = ConfiguredRule(ConfiguredMatch(m.image, m.path, m.kind, m.workload, m.namespace, m.container),
                               r.policy, r.line, r.spec(""))
        out.append(r)
    return tuple(out)
