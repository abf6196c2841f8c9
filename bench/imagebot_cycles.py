"""Cycles of a warm imagebot process, the way the agent runs them (run by bench/run.py in a child).

One registry client and the clone cache live across cycles, as in `imagebot run` (the agent):
the first cycle delivers the changes, the following ones find nothing to do: that is the warm
no-change cycle. The first cycle's decisions (file, line -> chosen tag) are written out for the
comparison with Renovate. Between cycles the recording proxy's counters are read through its
`/__bench__/take` path, so each cycle's registry requests are known exactly.

    python -m bench.imagebot_cycles CONFIG --cycles 5 --proxy 127.0.0.1:PORT --out result.json
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import sys
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from imagebot import pipeline
from imagebot.discover import DiscoverCache
from imagebot.config.load import load
from imagebot.model import CycleResult


def take(proxy: str) -> dict[str, object]:
    with urllib.request.urlopen(f"http://{proxy}/__bench__/take", timeout=10) as resp:
        return json.load(resp)


def decisions(result: CycleResult) -> list[dict[str, object]]:
    out = []
    for res in result.resolutions:
        occ = res.occurrence
        out.append({
            "file": occ.location.file, "line": occ.location.line, "field": str(occ.field),
            "image": occ.image, "current": occ.tag, "policy": occ.policy.policy,
            "chosen": res.target.tag if res.target else None, "reason": res.reason,
        })
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("config", type=Path)
    ap.add_argument("--cycles", type=int, default=5, help="no-change cycles after the first")
    ap.add_argument("--proxy", required=True, help="host:port of the recording proxy")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)

    cfg = load(args.config)
    client = pipeline.new_registry_client(cfg)
    discover_cache = DiscoverCache()  # the agent keeps one across cycles, as imagebot run does
    cycles = []
    first: CycleResult | None = None
    # BENCH_WARM_PROFILE=FILE: a cProfile of the no-change cycles (read with pstats), for
    # "where the time goes" in docs/performance.md. It slows them down: not for the figures.
    profile_to = os.environ.get("BENCH_WARM_PROFILE")
    profiler = cProfile.Profile() if profile_to else None
    take(args.proxy)
    try:
        for i in range(args.cycles + 1):
            t0, c0 = time.monotonic(), sum(os.times()[:4])
            if profiler is not None and i > 0:
                profiler.enable()
            result = pipeline.run_cycle(cfg, registry=client, discover_cache=discover_cache)
            if profiler is not None:
                profiler.disable()
            wall, cpu = time.monotonic() - t0, sum(os.times()[:4]) - c0  # git children included
            first = first or result
            d = result.delivery
            cycles.append({
                "wall_s": round(wall, 4), "cpu_s": round(cpu, 4), "changes": len(result.plan.changes),
                "commit": d.commit if d else "", "problems": [str(p) for p in result.problems][:20],
                "requests": take(args.proxy),
            })
    finally:
        client.close()
        if profiler is not None and profile_to:
            profiler.dump_stats(profile_to)
    assert first is not None
    args.out.write_text(json.dumps({"cycles": cycles, "decisions": decisions(first),
                                    "occurrences": len(first.discovery.occurrences),
                                    "files_scanned": first.discovery.files_scanned}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
