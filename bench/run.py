"""imagebot side by side with Renovate on the same synthetic monorepo and the same real registry.

For each size (N manifest files, M registry repositories, T tags each):
  - `imagebot plan` (the clone cached, as on a laptop or CI runner that ran it before),
    once cold (empty cache) and a median of --runs;
  - `imagebot run --once` from a fresh cache (clone, decide, commit, push: a CronJob pod);
  - a warm agent: one process, one registry client, cycles back to back; the first delivers,
    the next ones find nothing to change (the warm no-change cycle);
  - Renovate 44 (`--platform=local`, lookup only) on the same files, fresh caches each run;
    its "lookup" phase (from its own timing log) and its whole run;
  - every reference where Renovate's proposal and imagebot's choice differ.
Wall time, CPU time (user + system, children included) and peak RSS come from os.wait4; the
registry requests from a recording proxy both tools go through. Prints a table and writes JSON
to bench/results/<timestamp>.json with the machine's description.

    python bench/run.py                         # all three sizes (long: see docs/performance.md)
    python bench/run.py --sizes small,medium    # (200, 20) and (2,000, 200)
    python bench/run.py --smoke --no-renovate   # the tiny size CI runs
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Self

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `python bench/run.py` as well as `python -m bench.run`
    sys.path.insert(0, str(ROOT))

from bench import renovate
from bench.compare import compare
from bench.generate import (
    DEFAULT_TAGS,
    Monorepo,
    generate,
    imagebot_config,
    repo_tags,
    seed_registry,
)
from bench.measure import CommandFailed, Sample, run, speed_probe, summarize
from bench.proxy import CountingProxy
from tests.support.gitrepo import git, make_remote
from tests.support.registry import RegistryServer, registry_available

SIZES: dict[str, tuple[int, int]] = {"small": (200, 20), "medium": (2_000, 200), "large": (10_000, 1_000)}
SMOKE = (24, 4)
SMOKE_TAGS = 12


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# -- environment ---------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    mem_kb = 0
    cpu_model = ""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cores": os.cpu_count(),
        "memory_gb": round(mem_kb / 1024 / 1024, 1),
        "cpu": cpu_model,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def clean_env(work: Path) -> dict[str, str]:
    """No user config leaks in: empty docker and git config, caches under the work dir."""
    (work / "empty-docker").mkdir(parents=True, exist_ok=True)
    (work / "empty-gitconfig").touch()
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith(("IMAGEBOT_", "GIT_"))},
        "DOCKER_CONFIG": str(work / "empty-docker"),
        "GIT_CONFIG_GLOBAL": str(work / "empty-gitconfig"),
        "GIT_CONFIG_NOSYSTEM": "1",
        "XDG_CACHE_HOME": str(work / "xdg-cache"),
        "GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "bench@example.com",
        "GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "bench@example.com",
    }


class Registry:
    """The real docker-registry with storage kept under the work dir between benchmark runs:
    repositories app-0000.. are seeded once (each one's tags depend only on its index, the tag
    count and the seed, so a larger size extends a smaller one)."""

    def __init__(self, work: Path, tags: int, seed: int):
        self.data = work / "registry-data" / f"t{tags}-s{seed}"
        self.tags, self.seed = tags, seed
        self.server = RegistryServer(work / "registry-run", extra_config={
            "storage": {"filesystem": {"rootdirectory": str(self.data)}, "delete": {"enabled": True}}})

    def __enter__(self) -> Self:
        self.data.mkdir(parents=True, exist_ok=True)
        self.server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.stop()

    def ensure(self, repos: int) -> float:
        """Seeds repositories up to `repos`; returns the seconds it took (0 when already there)."""
        marker = self.data / "seeded-repositories"
        have = int(marker.read_text()) if marker.exists() else 0
        if have >= repos:
            return 0.0
        t0 = time.monotonic()
        todo = [repo_tags_for(i, self.tags, self.seed) for i in range(have, repos)]
        if have:
            todo.insert(0, repo_tags_for(0, self.tags, self.seed))  # the blob source to mount from
        seed_registry(self.server, todo)
        marker.write_text(str(repos))
        return time.monotonic() - t0


def repo_tags_for(i: int, tags: int, seed: int):  # type: ignore[no-untyped-def]
    import random

    return repo_tags(random.Random(f"{seed}:repo:{i}:{tags}"), i, tags)


# -- one size ----------------------------------------------------------------------------------


def discard(path: Path) -> None:
    """Move `path` into the work dir's trash (a rename); :func:`empty_trash` deletes it when the
    benchmark ends. Deleting tens of thousands of files right before a timed phase slows it: on an
    ext4 without a journal (this machine's) the inode allocator passes over inodes freed in the
    last minutes, so the files created next (imagebot's cold clone: 2,000-10,000 files) took
    0.2-5 s instead of 0.2 s. Renovate reads the seed work tree in place, so only imagebot paid."""
    trash = path.parent.parent / "trash"
    trash.mkdir(exist_ok=True)
    path.rename(trash / f"{path.name}-{time.time_ns()}")


def empty_trash(work: Path) -> None:
    shutil.rmtree(work / "trash", ignore_errors=True)



class Size:
    def __init__(self, name: str, files: int, repos: int, tags: int, seed: int, work: Path, proxy: CountingProxy,
                 env: dict[str, str]):
        self.name, self.files, self.repos, self.tags, self.seed = name, files, repos, tags, seed
        self.dir = work / "sizes" / f"{files}x{repos}"
        self.proxy, self.env = proxy, env
        self.mono: Monorepo
        self.remote: Path
        self.tree: Path
        self.initial: str
        self.config: Path
        self.decisions: list[dict[str, Any]] = []  # imagebot's choice per reference (plan --json)

    def prepare(self) -> dict[str, Any]:
        if self.dir.exists():
            discard(self.dir)
        self.dir.mkdir(parents=True)
        t0 = time.monotonic()
        self.mono = generate(self.files, self.repos, self.proxy.host, seed=self.seed, tags_per_repo=self.tags)
        self.remote = make_remote(self.dir, self.mono.files)  # bare repo; its seed work tree stays
        self.tree = self.dir / "remote.git.seed"
        self.initial = git(self.remote, "rev-parse", "main").strip()
        self.config = self.dir / "imagebot.json"
        gen_s = time.monotonic() - t0
        return {"files": len(self.mono.files), "references": len(self.mono.references), "repositories": self.repos,
                "tags_per_repository": self.tags, "tags_total": self.mono.tag_count, "generate_s": round(gen_s, 2)}

    def write_config(self, cache: Path) -> None:
        self.config.write_text(json.dumps(imagebot_config(self.mono, str(self.remote), cache), indent=1))

    def reset_remote(self) -> None:
        git(self.remote, "update-ref", "refs/heads/main", self.initial)

    def imagebot(self, *args: str, out: Path | None = None) -> tuple[Sample, dict[str, Any]]:
        self.proxy.take()
        sample = run([sys.executable, "-m", "imagebot", *args, "-c", str(self.config)], cwd=ROOT, env=self.env,
                     ok_codes=(0, 1), stdout_path=out)
        return sample, self.proxy.take().as_json()

    # -- imagebot --------------------------------------------------------------------------
    def plan(self, runs: int) -> dict[str, Any]:
        cache = self.dir / "cache-plan"
        self.write_config(cache)
        cold, cold_req = self.imagebot("plan", "--json")
        try:
            self.decisions = decisions_from_plan(json.loads(cold.stdout))
        except ValueError:
            log(f"{self.name}: `imagebot plan --json` printed no JSON: {cold.stderr_tail[-300:]}")
        samples, requests = [], []
        for _ in range(runs):
            s, r = self.imagebot("plan", "--no-diff")
            samples.append(s)
            requests.append(r)
        return {
            "cold": {**summarize([cold]), "requests": cold_req},
            **summarize(samples),
            "requests": requests[-1],
            "exit_code": cold.returncode,
            "output_head": cold.stdout[:600].decode(errors="replace"),
        }

    def run_once(self, runs: int, persisted: bool = False) -> dict[str, Any]:
        """`run --once` from the initial commit each time, as a CronJob or CI job: with a fresh
        cache dir each run, or (`persisted`) with the cache dir the previous run left (a CI cache
        key, a PersistentVolume); then the first run fills it and is not counted."""
        samples, requests, commits, codes = [], [], [], []
        problems = ""
        cache = self.dir / ("cache-ci" if persisted else "cache-run")
        shutil.rmtree(cache, ignore_errors=True)
        for i in range(runs + (1 if persisted else 0)):
            self.reset_remote()
            if not persisted:
                shutil.rmtree(cache, ignore_errors=True)
            self.write_config(cache)
            s, r = self.imagebot("run", "--once")
            if persisted and i == 0:
                continue  # the job that filled the cache
            samples.append(s)
            requests.append(r)
            commits.append(int(git(self.remote, "rev-list", "--count", f"{self.initial}..main").strip()))
            codes.append(s.returncode)
            if s.returncode:
                problems = (s.stdout.decode(errors="replace")[-1500:] + s.stderr_tail)[-3000:]
        return {**summarize(samples), "requests": requests[-1], "new_commits_per_run": commits, "exit_codes": codes,
                **({"problems": problems} if problems else {})}

    def warm_cycles(self, runs: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        self.reset_remote()
        cache = self.dir / "cache-agent"
        shutil.rmtree(cache, ignore_errors=True)
        self.write_config(cache)
        out = self.dir / "cycles.json"
        self.proxy.take()
        sample = run([sys.executable, "-m", "bench.imagebot_cycles", str(self.config), "--cycles", str(runs),
                      "--proxy", self.proxy.host, "--out", str(out)], cwd=ROOT, env=self.env)
        doc = json.loads(out.read_text())
        first, warm = doc["cycles"][0], doc["cycles"][1:]
        walls = sorted(c["wall_s"] for c in warm)
        return {
            "first_cycle": first,
            "runs": len(warm),
            "wall_s": walls[len(walls) // 2] if walls else None,
            "cpu_s": sorted(c["cpu_s"] for c in warm)[len(walls) // 2] if walls else None,
            "walls": [c["wall_s"] for c in warm],
            "changes": [c["changes"] for c in warm],
            "requests": warm[-1]["requests"] if warm else None,
            "process_rss_mb": round(sample.rss_mb, 1),
            "occurrences": doc["occurrences"],
        }, doc["decisions"]

    def profile(self, top: int = 25) -> dict[str, Any]:
        """One `imagebot plan` under py-spy (wall-clock sampling, idle included, all threads):
        the share of samples in which each function is on the main thread's stack."""
        spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
        if not Path(spy).exists():
            raise CommandFailed("py-spy is not installed (pip install py-spy): no profile")
        raw = self.dir / "plan-profile.txt"
        run([spy, "record", "--idle", "-r", "100", "-f", "raw", "-o", str(raw), "--", sys.executable, "-m",
             "imagebot", "plan", "--no-diff", "-c", str(self.config)], cwd=ROOT, env=self.env, ok_codes=(0, 1))
        return {"raw": str(raw), "inclusive": profile_summary(raw, top)}

    # -- Renovate --------------------------------------------------------------------------
    def renovate(self, inst: renovate.Install, runs: int) -> tuple[dict[str, Any], renovate.Result]:
        results, requests = [], []
        for i in range(runs):
            self.proxy.take()
            results.append(renovate.run_lookup(inst, self.tree, self.proxy.host, self.dir / "renovate"))
            requests.append(self.proxy.take().as_json())
        lookups = sorted(r.splits_ms.get("lookup", 0) / 1000 for r in results)
        extracts = sorted(r.splits_ms.get("extract", 0) / 1000 for r in results)
        return {
            **summarize([r.sample for r in results]),
            "lookup_s": lookups[len(lookups) // 2],
            "extract_s": extracts[len(extracts) // 2],
            "lookups": lookups,
            "splits_ms": results[-1].splits_ms,
            "requests": requests[-1],
            "version": inst.version,
        }, results[-1]


def decisions_from_plan(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """(file, line, chosen tag or skip reason) per reference from `imagebot plan --json`."""
    out = []
    for c in doc.get("changes", []):
        new = str(c["new"])
        tag = new.split("@")[0].rsplit(":", 1)[-1] if c.get("field") == "image" else new
        out.append({"file": c["file"], "line": c["line"], "chosen": tag, "reason": c.get("reason", "")})
    for r in doc.get("unchanged", []) + doc.get("skipped", []):
        target = r.get("target") or {}
        out.append({"file": r["file"], "line": r["line"], "chosen": target.get("tag"), "reason": r.get("reason", "")})
    return out


def profile_summary(raw: Path, top: int) -> list[tuple[float, str]]:
    """Inclusive share of the main thread's samples (idle included) per function, without the
    interpreter's and click's frames. py-spy's raw lines are `frame;frame;... count`."""
    from collections import Counter

    incl: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        frames = stack.split(";")
        if not frames or "_run_module_as_main" not in frames[0]:
            continue  # a worker thread
        total += int(n)
        for f in set(frames):
            if "(<frozen" not in f and "(click/" not in f:
                incl[f] += int(n)
    return [(round(100 * k / total, 1), f) for f, k in incl.most_common(top)] if total else []


def bench_size(size: Size, args: argparse.Namespace, inst: renovate.Install | None, why_no_renovate: str) -> dict[str, Any]:
    """Every phase of one size; a phase that fails is recorded with its error and the others
    still run (a failure is a result too)."""
    out: dict[str, Any] = {"size": size.name, "N": size.files, "M": size.repos}
    log(f"{size.name}: generating {size.files} files over {size.repos} repositories")
    out["repo"] = size.prepare()

    def phase(key: str, what: str, fn: Any, *fn_args: Any) -> Any:
        before, probe = os.getloadavg()[0], speed_probe()
        log(f"{size.name}: {what} (load {before:.1f}, speed probe {probe} ms)")
        try:
            return fn(*fn_args)
        except CommandFailed as e:
            log(f"{size.name}: {what} FAILED: {str(e)[-800:]}")
            out[key] = {"error": str(e)[-3000:]}
            return None
        finally:  # the machine is shared: the 1-minute load average and the speed probe at the start and the end of each phase
            out.setdefault("load_1min", {})[key] = [round(before, 2), round(os.getloadavg()[0], 2)]
            out.setdefault("speed_probe_ms", {})[key] = [probe, speed_probe()]

    want = set(args.phases.split(","))
    if "plan" in want and (r := phase("plan", f"imagebot plan x{args.runs} (+1 cold)", size.plan, args.runs)):
        out["plan"] = r
    if args.profile and (r := phase("profile", "profiling one imagebot plan with py-spy", size.profile)):
        out["profile"] = r
    if "run" in want and (r := phase("run_once", f"imagebot run --once x{args.runs}", size.run_once, args.runs)):
        out["run_once"] = r
    if "ci" in want and (r := phase("run_ci", f"imagebot run --once x{args.runs}, cache dir kept", size.run_once,
                                    args.runs, True)):
        out["run_ci"] = r
    decisions: list[dict[str, Any]] = []
    if "warm" in want and (r := phase("warm_cycle", f"warm agent, 1 + {args.runs} cycles", size.warm_cycles,
                                      args.runs)):
        out["warm_cycle"], decisions = r
    if "renovate" not in want:
        out["renovate"] = {"skipped": "--phases"}
    elif inst is not None:
        n = args.renovate_runs or args.runs
        if (r := phase("renovate", f"Renovate x{n}", size.renovate, inst, n)) is not None:
            out["renovate"], last = r
            decisions = size.decisions or decisions
            if decisions:
                cmp = compare(size.mono.references, decisions, renovate.proposals(last.report, size.proxy.host))
                out["comparison"] = cmp.as_json()
            if "wall_s" in out.get("plan", {}):
                lookup, plan_wall = out["renovate"]["lookup_s"], out["plan"]["wall_s"]
                out["speedup_vs_renovate_lookup"] = round(lookup / plan_wall, 2) if lookup else None
                out["speedup_vs_renovate_total"] = round(out["renovate"]["wall_s"] / plan_wall, 2)
                cold = out["plan"]["cold"]["wall_s"]  # empty cache dir: clone, every registry answer
                out["cold_speedup_vs_renovate_lookup"] = round(lookup / cold, 2) if lookup else None
                out["cold_speedup_vs_renovate_total"] = round(out["renovate"]["wall_s"] / cold, 2)
    else:
        out["renovate"] = {"skipped": why_no_renovate}
    if "wall_s" in out.get("plan", {}):
        out["per_file_ms"] = round(out["plan"]["wall_s"] * 1000 / size.files, 3)
        out["cold_per_file_ms"] = round(out["plan"]["cold"]["wall_s"] * 1000 / size.files, 3)
        out["per_repository_ms"] = round(out["plan"]["wall_s"] * 1000 / size.repos, 2)
    return out


# -- reporting ---------------------------------------------------------------------------------


def _rss(ph: dict[str, Any]) -> str:
    """The largest process's peak, and the process tree's sampled sum when it is larger (imagebot
    with its parsing worker, Renovate with its children)."""
    tree = ph.get("tree_rss_mb", 0)
    return f"{ph['rss_mb']:.0f}" + (f" ({tree:.0f})" if tree > ph["rss_mb"] + 0.5 else "")


def table(results: list[dict[str, Any]]) -> str:
    head = ["size (N files, M repos)", "tool / phase", "wall s", "CPU s", "peak RSS MB (tree)", "registry req", "tag lists"]
    rows: list[list[str]] = []

    def req(r: dict[str, Any] | None) -> list[str]:
        if not r:
            return ["-", "-"]
        return [str(r["total"]), f"{r['tag_listings']} ({r['repositories_listed']} repos)"]

    def row(label: str, name: str, ph: dict[str, Any] | None, rss: str | None = None, digits: int = 2) -> None:
        if not ph:
            return
        if "error" in ph or "skipped" in ph:
            rows.append([label, name, "FAILED" if "error" in ph else "skipped", "", "", "", ""])
            return
        rows.append([label, name, f"{ph['wall_s']:.{digits}f}", f"{ph['cpu_s']:.{digits}f}",
                     rss or _rss(ph), *req(ph.get("requests"))])

    for res in results:
        label = f"{res['size']} ({res['N']:,}, {res['M']:,})"
        p = res.get("plan", {})
        if "cold" in p:
            row(label, "imagebot plan (cold cache)", p["cold"])
            label = ""
        row(label, "imagebot plan (warm: same cache dir)", p)
        row("", "imagebot run --once (fresh clone)", res.get("run_once"))
        row("", "imagebot run --once (cache dir kept, as CI)", res.get("run_ci"))
        w = res.get("warm_cycle")
        row("", "imagebot warm no-change cycle", w, f"({w['process_rss_mb']:.0f})" if w and "error" not in w else None, 3)
        rn = res.get("renovate", {})
        row("", f"Renovate {rn.get('version', '')} whole run".replace("  ", " "), rn)
        if "lookup_s" in rn:
            rows.append(["", "Renovate lookup phase", f"{rn['lookup_s']:.2f}", "", "", "", ""])
    widths = [max(len(head[i]), *(len(r[i]) for r in rows)) for i in range(len(head))]
    line = lambda cells: " | ".join(c.ljust(w) for c, w in zip(cells, widths))
    out = [line(head), "-+-".join("-" * w for w in widths), *map(line, rows), ""]
    for res in results:
        label = f"{res['size']} ({res['N']:,}, {res['M']:,})"
        extra = f"{label}: {res['repo']['references']} references, {res['repo']['tags_total']:,} tags"
        if "per_file_ms" in res:
            extra += f"; plan {res['per_file_ms']} ms per file, {res['per_repository_ms']} ms per repository"
        if res.get("speedup_vs_renovate_lookup"):
            extra += (f"; Renovate lookup / imagebot plan = {res['speedup_vs_renovate_lookup']}x warm, "
                      f"{res.get('cold_speedup_vs_renovate_lookup')}x cold (whole run {res['speedup_vs_renovate_total']}x "
                      f"warm, {res.get('cold_speedup_vs_renovate_total')}x cold)")
        if res.get("load_1min"):
            extra += "; load " + ", ".join(f"{k} {a}-{b}" for k, (a, b) in res["load_1min"].items())
        if res.get("speed_probe_ms"):
            extra += "; speed probe ms (lower: faster) " + ", ".join(f"{k} {a}-{b}" for k, (a, b) in res["speed_probe_ms"].items())
        if "comparison" in res:
            c = res["comparison"]
            extra += f"; answers agree on {c['agreed']}/{c['references']} references"
        for key in ("plan", "run_once", "run_ci", "warm_cycle", "renovate"):
            ph = res.get(key) or {}
            if "error" in ph:
                extra += f"\n  {key} FAILED: {ph['error'].strip().splitlines()[-1][:300]}"
        ro = res.get("run_once") or {}
        if ro.get("problems"):
            extra += f"\n  run --once exit codes {ro['exit_codes']}, commits {ro['new_commits_per_run']}: " + \
                     ro["problems"].strip().splitlines()[-1][:300]
        out.append(extra)
    return "\n".join(out) + "\n"


#: Issue #21's targets per size: warm `plan` wall, cold `plan` wall (None: no bound), peak RSS.
TARGETS = {"medium": (1.5, None, 150), "large": (5.0, 30.0, 300)}


def targets(res: dict[str, Any]) -> list[dict[str, Any]]:
    """The targets of issue #21 at (2,000, 200) and (10,000, 1,000); each with the measured value
    and whether it is met."""
    t = []
    warm_max, cold_max, rss_max = TARGETS[res["size"]]
    p, w = res.get("plan", {}), res.get("warm_cycle", {})
    if "wall_s" in p:
        t.append({"target": f"warm plan wall <= {warm_max} s", "value": p["wall_s"], "met": p["wall_s"] <= warm_max})
        if cold_max is not None:
            cold = p["cold"]["wall_s"]
            t.append({"target": f"cold plan wall <= {cold_max} s", "value": cold, "met": cold <= cold_max})
        # summed over imagebot's process tree (its parsing worker runs beside it on a cold plan)
        rss = max(p.get("tree_rss_mb", p["rss_mb"]), p["cold"].get("tree_rss_mb", p["cold"]["rss_mb"]))
        t.append({"target": f"plan peak RSS (process tree) <= {rss_max} MB", "value": rss, "met": rss <= rss_max})
        listings = p["requests"]["tag_listings"]
        t.append({"target": f"tag listings = {res['M']} exactly", "value": listings, "met": listings == res["M"]})
        total = p["requests"]["total"]
        t.append({"target": f"warm plan requests = the {res['M']} tag listings and nothing else", "value": total,
                  "met": total == res["M"]})
    if w.get("wall_s") is not None:
        t.append({"target": "warm no-change cycle <= 1 s", "value": w["wall_s"], "met": w["wall_s"] <= 1})
    if res.get("cold_speedup_vs_renovate_lookup"):
        s = res["cold_speedup_vs_renovate_lookup"]
        t.append({"target": "cold plan >= 10x faster than Renovate's lookup", "value": s, "met": s >= 10})
    if res.get("cold_speedup_vs_renovate_total") and res["size"] == "medium":
        s = res["cold_speedup_vs_renovate_total"]
        t.append({"target": "cold plan >= 10x faster than Renovate's whole run", "value": s, "met": s >= 10})
    return t


def linearity(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """ms per file of the large size within 20% of the medium one (cold and warm `plan`)."""
    by = {r["size"]: r for r in results}
    if "per_file_ms" not in by.get("medium", {}) or "per_file_ms" not in by.get("large", {}):
        return []
    out = []
    for key in ("per_file_ms", "cold_per_file_ms"):
        a, b = by["medium"][key], by["large"][key]
        out.append({"target": f"{key} at large within 20% of medium", "value": [a, b], "met": b <= a * 1.2})
    return out


def disagreements_text(results: list[dict[str, Any]]) -> str:
    out = []
    for res in results:
        c = res.get("comparison")
        if not c:
            continue
        out.append(f"{res['size']}: {len(c['disagreements'])} disagreement(s) imagebot vs Renovate")
        for d in c["disagreements"]:
            out.append(f"  {d['file']}:{d['line']} {d['repo']}:{d['current']} ({d['policy']}): "
                       f"imagebot {d['imagebot']} | Renovate {d['renovate']}")
    return "\n".join(out) + ("\n" if out else "")


# -- main ----------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="small,medium,large",
                    help="comma-separated: small (200, 20), medium (2,000, 200), large (10,000, 1,000), or NxM")
    ap.add_argument("--smoke", action="store_true", help=f"one tiny size {SMOKE}, {SMOKE_TAGS} tags, 1 run")
    ap.add_argument("--runs", type=int, default=5, help="runs per measurement (the median is reported)")
    ap.add_argument("--renovate-runs", type=int, default=0, help="Renovate runs per size (default: --runs)")
    ap.add_argument("--no-renovate", action="store_true", help="imagebot only")
    ap.add_argument("--phases", default="plan,run,ci,warm,renovate", help="a subset of plan,run,ci,warm,renovate")
    ap.add_argument("--profile", action="store_true",
                    help="also profile one `imagebot plan` per size with py-spy (pip install py-spy) and list the "
                         "functions where the time goes")
    ap.add_argument("--tags", type=int, default=DEFAULT_TAGS, help="tags per repository")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--work", type=Path, default=ROOT / "bench" / "work", help="scratch (registry data, repos, npm)")
    ap.add_argument("--results", type=Path, default=None,
                    help="where the JSON goes (default bench/results/, for --smoke the work dir)")
    args = ap.parse_args(argv)
    if args.smoke:
        args.runs, args.tags = min(args.runs, 1) or 1, SMOKE_TAGS
    return args


def sizes_from(args: argparse.Namespace) -> list[tuple[str, int, int]]:
    if args.smoke:
        return [("smoke", *SMOKE)]
    out = []
    for name in args.sizes.split(","):
        name = name.strip()
        if name in SIZES:
            out.append((name, *SIZES[name]))
        elif "x" in name:
            n, m = name.split("x")
            out.append((name, int(n), int(m)))
        else:
            raise SystemExit(f"unknown size {name!r}: use small, medium, large or NxM")
    return out


def compiled() -> None:
    """Byte-compile imagebot's modules first, as an installed package has them (pip compiles a wheel
    on install; the container image does too): from a source checkout with PYTHONDONTWRITEBYTECODE
    set, every measured process would otherwise compile ~150 modules from source (~0.3 s each)."""
    import compileall

    compileall.compile_dir(str(ROOT / "imagebot"), quiet=1)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not registry_available():
        print("bench: docker-registry is not installed (apt-get install docker-registry)", file=sys.stderr)
        return 2
    work: Path = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    sizes = sizes_from(args)
    compiled()
    inst: renovate.Install | None = None
    why = "--no-renovate"
    if not args.no_renovate:
        try:
            log("installing / checking Renovate (npm renovate@44 + node@24)")
            inst = renovate.install(work / "renovate")
        except (renovate.RenovateUnavailable, subprocess.CalledProcessError) as e:
            why = f"Renovate unavailable: {e}"
            print(f"bench: SKIPPING Renovate: {e}", file=sys.stderr)
    env = clean_env(work)
    results = []
    started = dt.datetime.now(dt.UTC)
    with Registry(work, args.tags, args.seed) as reg:
        seeded = reg.ensure(max(m for _, _, m in sizes))
        if seeded:
            log(f"seeded the registry in {seeded:.1f} s")
        with CountingProxy(reg.server.url) as proxy:
            try:
                for name, n, m in sizes:
                    size = Size(name, n, m, args.tags, args.seed, work, proxy, env)
                    try:
                        results.append(bench_size(size, args, inst, why))
                    except CommandFailed as e:
                        print(f"bench: {name}: {e}", file=sys.stderr)
                        return 1
            finally:
                empty_trash(work)  # after every timed phase (see discard)
    doc = {
        "started": started.isoformat(timespec="seconds"),
        "machine": machine(),
        "imagebot": _imagebot_version(),
        "commit": subprocess.run(["git", "rev-parse", "--short", "HEAD"], check=False, cwd=ROOT, capture_output=True,
                                 text=True).stdout.strip(),
        "renovate": inst.version if inst else why,
        "runs": args.runs,
        "tags_per_repository": args.tags,
        "seed": args.seed,
        "results": results,
        "targets": {**{r["size"]: targets(r) for r in results if r["size"] in TARGETS},
                    **({"linear": linearity(results)} if linearity(results) else {})},
    }
    text = table(results)
    print(text)
    dis = disagreements_text(results)
    if dis:
        print(dis)
    for size_name, ts in doc["targets"].items():
        for t in ts:
            print(f"target {size_name}: {t['target']}: {t['value']} -> {'met' if t['met'] else 'MISSED'}")
    dest_dir = args.results or (work / "results" if args.smoke else ROOT / "bench" / "results")
    dest_dir.mkdir(parents=True, exist_ok=True)
    dest = dest_dir / f"{started.strftime('%Y%m%dT%H%M%SZ')}{'-smoke' if args.smoke else ''}.json"
    dest.write_text(json.dumps(doc, indent=1) + "\n")
    print(f"results: {dest}")
    return 0


def _imagebot_version() -> str:
    from imagebot import __version__

    return __version__


if __name__ == "__main__":
    raise SystemExit(main())
