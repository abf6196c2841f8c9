"""A fleet round: 50 repositories x 200 files on one agent, and the same split over 3 replicas.

A real docker-registry holding IMAGES image repositories (TAGS tags each) and REPOS bare Git
remotes of FILES manifests each (a fifth of them workloads with an update policy, the images
shared across the repositories). Each agent is a child process running the real fleet rounds
(`imagebot.fleet.Fleet`, the real pipeline): round 1 clones every lane, decides, commits and
pushes; rounds 2.. are warm no-change rounds. Wall time per round, CPU, peak RSS of the agent
process (git children apart) and the registry requests come from the child itself.

"3 replicas" runs three such agents at once, each with the third of the lanes that Lease
sharding gives it (ceil(50 / 3) = 17, 17, 16); the round's wall time is the slowest replica's.
(Which lanes a replica holds is decided by the Leases in a cluster; tests/integration/
test_fleet_shards.py covers that. Here the split is fixed so the figures repeat.)

    python -m bench.bench_fleet [--repos 50] [--files 200] [--rounds 3] [--concurrency 4]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

IMAGES = 100
TAGS = 20
POLICY_EVERY = 5  # one file in five is a workload with a policy; the rest are other manifests

def seed(work: Path, repos: int, files: int) -> tuple[Any, Path]:
    from bench.bench_webhook import FILLER  # the same filler manifests as the webhook benchmark
    from tests.support.gitrepo import make_remote
    from tests.support.manifests import deployment
    from tests.support.registry import RegistryServer

    reg = RegistryServer(work / "reg").start()
    for j in range(IMAGES):
        reg.push_tags_bulk(f"team/img{j}", [f"1.{t}.0" for t in range(TAGS)], mount_from="team/img0" if j else None)
    items = []
    for r in range(repos):
        content = {}
        for f in range(files):
            if f % POLICY_EVERY == 0:
                image = f"{reg.host}/team/img{(r * 7 + f) % IMAGES}:1.0.0"
                content[f"apps/svc-{f}.yaml"] = deployment(f"svc-{f}", image, "semver:^1.0")
            else:
                content[f"config/settings-{f}.yaml"] = FILLER.format(i=f)
        remote = make_remote(work, content, name=f"repo-{r:02d}.git")
        items.append(f"  - {{name: repo-{r:02d}, url: {remote}}}")
    cfg = work / "imagebot.yaml"
    cfg.write_text("repositories:\n" + "\n".join(items) + "\ndelivery: {mode: commit}\n"
                   f"registries: [{{host: '{reg.host}', insecure: true}}]\n")
    return reg, cfg


def child(config: str, cache: str, only: list[str] | None, rounds: int, concurrency: int) -> None:
    """One agent process: `rounds` fleet rounds over its lanes; prints one JSON line."""
    from imagebot import pipeline
    from imagebot.config.load import load
    from imagebot.fleet import Fleet
    from imagebot.lanes import lanes_of

    cfg = load(config)
    cfg = cfg.model_copy(update={"cache_dir": cache, "fleet": cfg.fleet.model_copy(update={"concurrency": concurrency})})
    lanes = [x for x in lanes_of(cfg) if only is None or x.name in only]
    client = pipeline.new_registry_client(cfg)
    fleet = Fleet(cfg, lanes, registry=client)
    out = []
    for _ in range(rounds):
        t0, c0 = time.monotonic(), sum(os.times()[:4])
        r = fleet.run_round()
        states: dict[str, int] = {}
        for o in r.outcomes:
            states[o.state] = states.get(o.state, 0) + 1
        out.append({
            "wall_s": round(time.monotonic() - t0, 3), "cpu_s": round(sum(os.times()[:4]) - c0, 3), "lanes": states,
            "changes": sum(len(x.plan.changes) for x in r.results),
            "commits": sum(1 for x in r.results if x.delivery and x.delivery.commit),
            "tag_lists": sum(n for k, n in r.registry_requests if k.split()[1] == "tags"),
            "registry_requests": sum(n for _, n in r.registry_requests),
        })
    client.close()
    print(json.dumps({"lanes": len(lanes), "rounds": out,
                      "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}))


def agents(cfg: Path, work: Path, shares: list[list[str] | None], rounds: int, concurrency: int) -> list[dict[str, Any]]:
    procs = []
    for i, share in enumerate(shares):
        args = [sys.executable, "-m", "bench.bench_fleet", "--child", str(cfg), "--cache", str(work / f"cache-{len(shares)}-{i}"),
                "--rounds", str(rounds), "--concurrency", str(concurrency)]
        if share is not None:
            args += ["--only", ",".join(share)]
        procs.append(subprocess.Popen(args, cwd=ROOT, stdout=subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(ROOT)}))
    results = []
    for p in procs:
        out, _ = p.communicate(timeout=3600)
        if p.returncode:
            raise SystemExit(f"agent exited {p.returncode}")
        results.append(json.loads(out.decode().strip().splitlines()[-1]))
    return results


def reset_remotes(work: Path, repos: int) -> None:
    """Put every remote's main back on its seed commit, so the 3-replica run has the same work to do."""
    for r in range(repos):
        remote = work / f"repo-{r:02d}.git"
        seed_commit = subprocess.run(["git", "rev-list", "--max-parents=0", "main"], cwd=remote, check=True,
                                     capture_output=True, text=True).stdout.split()[0]
        subprocess.run(["git", "update-ref", "refs/heads/main", seed_commit], cwd=remote, check=True)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repos", type=int, default=50)
    ap.add_argument("--files", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--concurrency", type=int, default=4)
    ap.add_argument("--child")
    ap.add_argument("--cache")
    ap.add_argument("--only")
    args = ap.parse_args()
    if args.child:
        child(args.child, args.cache, args.only.split(",") if args.only else None, args.rounds, args.concurrency)
        return 0
    with tempfile.TemporaryDirectory(prefix="imagebot-bench-fleet-") as tmp:
        work = Path(tmp)
        t0 = time.monotonic()
        reg, cfg = seed(work, args.repos, args.files)
        print(f"seeded {args.repos} repositories x {args.files} files, {IMAGES} images x {TAGS} tags "
              f"in {time.monotonic() - t0:.1f}s", file=sys.stderr)
        try:
            names = [f"repo-{r:02d}" for r in range(args.repos)]
            one = agents(cfg, work, [None], args.rounds, args.concurrency)
            reset_remotes(work, args.repos)
            three = agents(cfg, work, [names[i::3] for i in range(3)], args.rounds, args.concurrency)
        finally:
            reg.stop()
    report = {"repos": args.repos, "files": args.files, "images": IMAGES, "tags": TAGS, "concurrency": args.concurrency,
              "cpus": os.cpu_count(), "one_agent": one[0], "three_replicas": three}
    print(json.dumps(report, indent=2))
    print(table(report), file=sys.stderr)
    return 0


def table(r: dict[str, Any]) -> str:
    lines = ["| setup | round | wall s | CPU s (agent + git) | peak RSS MB | lanes | commits | tag lists |",
             "|---|---|---:|---:|---:|---:|---:|---:|"]
    one = r["one_agent"]
    for i, x in enumerate(one["rounds"]):
        lines.append(f"| 1 agent | {'cold' if i == 0 else f'warm {i}'} | {x['wall_s']} | {x['cpu_s']} | "
                     f"{one['peak_rss_mb']} | {one['lanes']} | {x['commits']} | {x['tag_lists']} |")
    for i in range(len(one["rounds"])):
        rows = [rep["rounds"][i] for rep in r["three_replicas"]]
        lines.append(f"| 3 replicas | {'cold' if i == 0 else f'warm {i}'} | {max(x['wall_s'] for x in rows)} (slowest) | "
                     f"{round(sum(x['cpu_s'] for x in rows), 2)} (sum) | "
                     f"{max(rep['peak_rss_mb'] for rep in r['three_replicas'])} (each, max) | "
                     f"{'/'.join(str(rep['lanes']) for rep in r['three_replicas'])} | {sum(x['commits'] for x in rows)} | "
                     f"{'/'.join(str(x['tag_lists']) for x in rows)} |")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
