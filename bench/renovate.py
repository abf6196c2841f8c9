"""Renovate, run the way a user would for lookups only, on the same repository and registry.

Renovate 44 needs Node 24 (the system Node 20 crashes on it), so both come from npm into a
cache folder under bench/work/ (gitignored): `npm install renovate@44 node@24`. Renovate runs
with `--platform=local` (no forge, nothing written), `--report-type=file`; the report lists
every dependency with the updates Renovate proposes, and the debug log's "Repository timing
splits" gives the time of its lookup phase alone.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from bench.measure import Sample, run

VERSION = "44"
NODE_VERSION = "24"


class RenovateUnavailable(RuntimeError):
    """npm is missing or the install failed: the Renovate half of the benchmark is skipped."""


@dataclass(frozen=True)
class Install:
    node: Path
    script: Path
    version: str


def install(cache: Path) -> Install:
    """Renovate and Node from npm into `cache` (once; later calls reuse it)."""
    node = cache / "node_modules" / ".bin" / "node"
    script = cache / "node_modules" / "renovate" / "dist" / "renovate.js"
    if not (node.exists() and script.exists()):
        npm = shutil.which("npm")
        if not npm:
            raise RenovateUnavailable("npm is not installed, so Renovate cannot be installed (apt-get install npm)")
        cache.mkdir(parents=True, exist_ok=True)
        if not (cache / "package.json").exists():
            (cache / "package.json").write_text('{"name": "imagebot-bench-renovate", "private": true}\n')
        proc = subprocess.run(
            [npm, "install", "--no-audit", "--no-fund", f"renovate@{VERSION}", f"node@{NODE_VERSION}"],
            cwd=cache, capture_output=True, text=True, check=False,
        )
        if proc.returncode != 0 or not (node.exists() and script.exists()):
            raise RenovateUnavailable(f"npm install renovate@{VERSION} node@{NODE_VERSION} failed:\n{proc.stderr[-2000:]}")
    version = subprocess.run([str(node), str(script), "--version"], capture_output=True, text=True, check=True)
    return Install(node, script, version.stdout.strip())


def config(host: str) -> dict[str, object]:
    """Lookup-only config for the generated repository: the kubernetes manager on every YAML file,
    helm-values and kustomize on their default file names; the local registry over plain HTTP.
    Updates are kept apart per major, minor and patch so that each imagebot policy's answer can
    be read off Renovate's proposals."""
    return {
        "onboarding": False,
        "requireConfig": "optional",
        "enabledManagers": ["kubernetes", "helm-values", "kustomize"],
        "kubernetes": {"managerFilePatterns": ["/\\.ya?ml$/"]},
        "hostRules": [{"matchHost": host, "insecureRegistry": True}],
        "separateMajorMinor": True,
        "separateMultipleMajor": True,
        "separateMinorPatch": True,
        "prHourlyLimit": 0,
        "prConcurrentLimit": 0,
    }


@dataclass(frozen=True)
class Result:
    sample: Sample
    splits_ms: dict[str, int]  # init, extract, lookup, ... from the debug log
    report: dict[str, object]


def run_lookup(inst: Install, repo_dir: Path, host: str, work: Path) -> Result:
    """One Renovate run on `repo_dir` with fresh caches (a cold lookup, like imagebot's cycle)."""
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    cfg = work / "config.json"
    cfg.write_text(json.dumps(config(host), indent=1))
    report = work / "report.json"
    log = work / "renovate.log"
    env = {
        "PATH": f"{inst.node.parent}:{os.environ.get('PATH', '/usr/bin:/bin')}",
        "HOME": str(work / "home"),
        "LOG_LEVEL": "debug",
        "LOG_FORMAT": "json",
        "RENOVATE_CONFIG_FILE": str(cfg),
        "RENOVATE_BASE_DIR": str(work / "base"),
        "RENOVATE_CACHE_DIR": str(work / "cache"),
        "GIT_CONFIG_NOSYSTEM": "1",
    }
    sample = run(
        [str(inst.node), str(inst.script), "--platform=local", "--report-type=file", f"--report-path={report}"],
        cwd=repo_dir, env=env, stdout_path=log,
    )
    return Result(sample, timing_splits(log), json.loads(report.read_text()))


def timing_splits(log: Path) -> dict[str, int]:
    splits: dict[str, int] = {}
    with open(log, encoding="utf-8", errors="replace") as f:
        for line in f:
            if "Repository timing splits" in line:
                entry = json.loads(line)
                splits = {**entry.get("splits", {}), "total": entry.get("total", 0)}
    return splits


@dataclass(frozen=True)
class Proposal:
    file: str
    repo: str  # repository path without the host: "bench/app-0017"
    current: str
    #: (version, major, minor, patch) of each proposed update (per bucket)
    updates: tuple[tuple[str, int, int, int], ...]
    warnings: tuple[str, ...] = ()


def proposals(report: dict[str, object], host: str) -> list[Proposal]:
    """Every docker dependency of the report, in the report's order (file by file)."""
    out: list[Proposal] = []
    repos = report.get("repositories", {})
    for repo_report in repos.values():  # type: ignore[union-attr]
        for files in repo_report.get("packageFiles", {}).values():
            for pf in files:
                for dep in pf.get("deps", []):
                    if dep.get("datasource") != "docker":
                        continue
                    name = dep.get("packageName") or dep.get("depName") or ""
                    ups = tuple(
                        (u.get("newValue") or u.get("newVersion"), u.get("newMajor") or 0, u.get("newMinor") or 0,
                         u.get("newPatch") or 0)
                        for u in dep.get("updates", [])
                        if u.get("updateType") not in ("digest", "pin", "pinDigest", "rollback")
                    )
                    warns = tuple(str(w.get("message", w)) for w in dep.get("warnings", []) if isinstance(w, dict))
                    if dep.get("skipReason"):
                        warns += (f"skipped: {dep['skipReason']}",)
                    out.append(Proposal(pf["packageFile"], name.removeprefix(host + "/"), str(dep.get("currentValue")),
                                        ups, warns))
    return out
