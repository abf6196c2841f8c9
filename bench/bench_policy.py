"""Benchmark (not a test): 100,000 tags through semver policies, with and without a current tag.

Run: python -m bench.bench_policy [N tags] [runs]
"""

from __future__ import annotations

import os
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
        major, minor, patch = rng.randrange(0, 10), rng.randrange(0, 100), rng.randrange(0, 100)
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


def measure(label: str, policy: str, tags: list[str], current: str | None, runs: int, **options: object) -> float:
    """CPU time of one decision, best of `runs`: cold (first sight of these tags, parse caches
    empty) and warm (an agent's next cycle). Best-of, because a shared machine only adds noise.
    A decision is what a cycle uses: the chosen tag, the candidates and the one-line reason with
    its counts; the reason for each rejected tag is written only when read (`+reasons`: what
    `policy test --explain` / `--json` add)."""
    compiled = compile_spec(PolicySpec(policy, **options))  # type: ignore[arg-type]
    cold, warm, explain = [], [], []
    for _ in range(runs):
        clear_caches()
        for times in (cold, warm):
            cpu = time.process_time()
            choice = compiled.choose(tags, current)
            times.append(time.process_time() - cpu)
        cpu = time.process_time()
        reasons = [r.reason for r in choice.rejected]  # what --explain and --json add
        explain.append(time.process_time() - cpu)
    print(f"{label:<48} cold {min(cold) * 1000:5.0f} ms  warm {min(warm) * 1000:5.0f} ms  "
          f"+reasons {min(explain) * 1000:4.0f} ms  chosen={choice.chosen!s:<15} "
          f"candidates={len(choice.candidates)} rejected={len(reasons)}")
    return min(cold)


def measure_listings(images: int, tags_each: int, runs: int) -> None:
    """Decisions as resolve makes them at scale: many workloads per image, each under one of a few
    policies with its own current tag. One TagView per listing, shared by every decision about
    it, against a plain list per decision (what a caller without a view pays). Cold caches."""
    from imagebot.policy.view import TagView

    rng = random.Random(5)
    listings = [[t for t in make_tags(tags_each * 2, seed=i) if not t.endswith(".sig")][:tags_each] for i in range(images)]
    policies = [compile_spec(PolicySpec(p)) for p in ("semver:^1.0", "semver:^3.0", "semver:>=1.0 <5", "major", "minor", "patch")]
    asked = [(i, rng.choice(policies), rng.choice(listings[i])) for i in range(images) for _ in range(11)]
    for label, shared in (("a plain list per decision", False), ("one TagView per listing", True)):
        best = float("inf")
        for _ in range(runs):
            clear_caches()
            views: dict[int, object] = {}
            cpu = time.process_time()
            for i, policy, current in asked:
                tags = (views.get(i) or views.setdefault(i, TagView(listings[i]))) if shared else listings[i]
                policy.choose(tags, current)  # type: ignore[arg-type]
            best = min(best, time.process_time() - cpu)
        print(f"{len(asked)} decisions over {images} listings of {tags_each} tags, {label:<26} {best * 1000:6.0f} ms")


def clear_caches() -> None:
    from imagebot.policy import filters, semver, tags

    semver._parsed.clear()
    tags._parsed.clear()
    tags._semvers.clear()
    filters._memos.clear()


def calibrate() -> float:
    """CPU seconds of a plain 10-million-step Python loop: says how fast this machine is right now."""
    started = time.process_time()
    total = 0
    for i in range(10_000_000):
        total += i
    return time.process_time() - started


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    tags = make_tags(n)
    load = os.getloadavg()[0]
    print(f"{n} tags ({len(set(tags))} distinct), CPU time best of {runs}, Python {sys.version.split()[0]}, "
          f"{os.cpu_count()} CPUs, load average {load:.1f} (numbers are only comparable on a quiet machine)")
    worst = max(
        measure("semver:^1.2 (Masterminds, no current tag)", "semver:^1.2", tags, None, runs),
        measure("semver:>=1.0.0 <3 (Docker semantics, current)", "semver:>=1.0.0 <3", tags, "1.2.3", runs),
        measure("semver:^1 with a variant (current -alpine)", "semver:^1", tags, "1.2.3-alpine", runs),
        measure("minor (current 2.1.0)", "minor", tags, "2.1.0", runs),
        measure("semver:* with tag-filter + extract", "semver:*", tags, None, runs, tag_filter=r"^v?(\d.*)$", extract="$1"),
    )
    print(f"slowest cold decision: {worst * 1000:.0f} ms CPU for {n} tags")
    measure_listings(200, 40, runs)
    print(f"machine speed: a 10M-step Python loop took {calibrate():.2f} s CPU (about 0.4 s on a current laptop)")


if __name__ == "__main__":
    main()
