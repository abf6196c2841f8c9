"""Benchmark (not a test): 100,000 tags through semver policies, with and without a current tag.

Run: /work/venv/bin/python bench/bench_policy.py [N]
"""

from __future__ import annotations

import random
import sys
import time

from imagebot.model import PolicySpec
from imagebot.policy import compile_spec


def make_tags(n: int, seed: int = 3) -> list[str]:
    """A registry-like mix: releases, variants, prereleases, two-part tags, hashes, noise."""
    rng = random.Random(seed)
    tags: list[str] = []
    while len(tags) < n:
        major, minor, patch = rng.randrange(0, 5), rng.randrange(0, 40), rng.randrange(0, 60)
        kind = rng.random()
        if kind < 0.45:
            tags.append(f"{major}.{minor}.{patch}")
        elif kind < 0.60:
            tags.append(f"{major}.{minor}.{patch}-alpine")
        elif kind < 0.70:
            tags.append(f"v{major}.{minor}.{patch}-rc.{rng.randrange(1, 20)}")
        elif kind < 0.80:
            tags.append(f"{major}.{minor}")
        elif kind < 0.90:
            tags.append(f"{rng.getrandbits(28):07x}")
        else:
            tags.append(f"sha256-{rng.getrandbits(256):064x}.sig")
    return tags


def measure(label: str, policy: str, tags: list[str], current: str | None, **options: object) -> float:
    compiled = compile_spec(PolicySpec(policy, **options))  # type: ignore[arg-type]
    started = time.perf_counter()
    choice = compiled.choose(tags, current)
    elapsed = time.perf_counter() - started
    print(f"{label:<48} {elapsed * 1000:8.1f} ms  chosen={choice.chosen!s:<16} "
          f"candidates={len(choice.candidates):<6} rejected={len(choice.rejected)}")
    return elapsed


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    tags = make_tags(n)
    print(f"{n} tags ({len(set(tags))} distinct), Python {sys.version.split()[0]}")
    worst = max(
        measure("semver:^1.2 (Masterminds, no current tag)", "semver:^1.2", tags, None),
        measure("semver:>=1.0.0 <3 (Docker semantics, current)", "semver:>=1.0.0 <3", tags, "1.2.3"),
        measure("semver:^1 with a variant (current -alpine)", "semver:^1", tags, "1.2.3-alpine"),
        measure("minor (current 2.1.0)", "minor", tags, "2.1.0"),
        measure("semver:* with tag-filter + extract", "semver:*", tags, None, tag_filter=r"^v?(\d.*)$", extract="$1"),
    )
    print(f"slowest: {worst * 1000:.1f} ms for {n} tags")


if __name__ == "__main__":
    main()
