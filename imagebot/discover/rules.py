"""Config rules -> the policy of every reference no annotation or marker governs.

Rules are tried in order; the first whose `match` fits a reference governs it (``policy:
ignore`` leaves it alone and stops there). A reference with neither a tag nor a digest is never
governed by a rule: a rule does not add a tag where none was written.
"""

from __future__ import annotations

from collections.abc import Sequence

from imagebot.config.patterns import compile_pattern
from imagebot.discover.configured import IGNORE, ConfiguredRule
from imagebot.discover.kinds import reference_kind
from imagebot.discover.parsed import Candidate, Found
from imagebot.model import Occurrence

_TEXT_KEYS = ("workload", "namespace", "container")


def matches(rule: ConfiguredRule, ref: Occurrence) -> bool:
    """Whether every key of the rule's match fits the reference."""
    m = rule.match
    if m.kind is not None and reference_kind(ref) not in ((m.kind,) if isinstance(m.kind, str) else m.kind):
        return False
    if m.image is not None and not compile_pattern(m.image, True)(ref.image):
        return False
    if m.path is not None and not compile_pattern(m.path)(ref.location.file):
        return False
    for key in _TEXT_KEYS:
        pattern = getattr(m, key)
        if pattern is not None and not compile_pattern(pattern)(getattr(ref, key)):
            return False
    return True


def first_rule(rules: Sequence[ConfiguredRule], ref: Occurrence) -> int | None:
    """The index of the first rule matching the reference, or None."""
    return next((i for i, rule in enumerate(rules) if matches(rule, ref)), None)


def describe(rules: Sequence[ConfiguredRule], index: int) -> str:
    line = rules[index].line
    return f"config rule {index + 1}" + (f" (line {line})" if line else "")


def govern(found: Found, rules: Sequence[ConfiguredRule]) -> list[Occurrence]:
    """Give each candidate of `found` the policy of its first matching rule (its occurrences and
    problems go into `found`); return the references left unmanaged."""
    unmanaged: list[Occurrence] = []
    for cand in found.candidates:
        index = first_rule(rules, cand.reference) if cand.updatable else None
        if index is None or rules[index].policy.strip().lower() == IGNORE:
            unmanaged.append(cand.reference)
            continue
        found.take(_build(cand, rules, index))
    found.candidates = []
    return unmanaged


def _build(cand: Candidate, rules: Sequence[ConfiguredRule], index: int) -> list:
    ref = cand.reference
    return cand.build(rules[index].spec(f"{describe(rules, index)} for {ref.location}"))
