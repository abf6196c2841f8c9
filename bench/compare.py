"""imagebot's choice versus Renovate's proposal, reference by reference: an independent check of
the tag-choosing semantics.

Renovate proposes one update per bucket (each major, the newest minor, the newest patch: the
config separates them all); the answer it gives for an imagebot policy is the newest proposal
that the policy's range admits, or the current tag when none does:

- `semver:^M.0` -> proposals with major M;
- `semver:~M.m` -> proposals with major M and minor m;
- `major`       -> any proposal.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass

from bench.generate import Reference
from bench.renovate import Proposal

_CARET = re.compile(r"^semver:\^(\d+)\.0$")
_TILDE = re.compile(r"^semver:~(\d+)\.(\d+)$")


def renovate_answer(policy: str, current: str, updates: Iterable[tuple[str, int, int, int]]) -> str:
    if m := _CARET.match(policy):
        admitted = [u for u in updates if u[1] == int(m[1])]
    elif m := _TILDE.match(policy):
        admitted = [u for u in updates if (u[1], u[2]) == (int(m[1]), int(m[2]))]
    elif policy == "major":
        admitted = list(updates)
    else:
        raise ValueError(f"the comparison does not know the policy {policy!r}")
    if not admitted:
        return current
    return max(admitted, key=lambda u: u[1:])[0]


@dataclass(frozen=True)
class Disagreement:
    file: str
    line: int
    repo: str
    current: str
    policy: str
    imagebot: str
    renovate: str

    def __str__(self) -> str:
        return (f"{self.file}:{self.line} {self.repo}:{self.current} ({self.policy}): "
                f"imagebot {self.imagebot}, Renovate {self.renovate}")


@dataclass(frozen=True)
class Comparison:
    references: int
    agreed: int
    disagreements: tuple[Disagreement, ...]

    def as_json(self) -> dict[str, object]:
        return {"references": self.references, "agreed": self.agreed,
                "disagreements": [asdict(d) for d in self.disagreements]}


def compare(references: Sequence[Reference], decisions: Sequence[dict[str, object]],
            proposals: Sequence[Proposal]) -> Comparison:
    """`decisions`: imagebot's first-cycle decisions (bench.imagebot_cycles); matched to the
    generator's references by file and line. Renovate's proposals carry no line, so they are
    matched by file, repository and current tag, in order."""
    by_line = {(str(d["file"]), int(d["line"])): d for d in decisions}  # type: ignore[call-overload]
    pool: dict[tuple[str, str, str], list[Proposal]] = defaultdict(list)
    for p in proposals:
        pool[(p.file, p.repo, p.current)].append(p)
    out = []
    for ref in references:
        d = by_line.get((ref.file, ref.line))
        if d is None:
            ib = "(no decision: reference not found)"
        elif d.get("chosen"):
            ib = str(d["chosen"])
        else:
            ib = f"(skipped: {d.get('reason')})"
        queue = pool.get((ref.file, ref.repo, ref.current))
        if queue:
            prop = queue.pop(0)
            rn = renovate_answer(ref.policy, ref.current, prop.updates)
            if prop.warnings and not prop.updates:
                rn += f" ({'; '.join(prop.warnings)[:120]})"
        else:
            rn = "(not found by Renovate)"
        if ib != rn:
            out.append(Disagreement(ref.file, ref.line, ref.repo, ref.current, ref.policy, ib, rn))
    return Comparison(len(references), len(references) - len(out), tuple(out))
