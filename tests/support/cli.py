"""Run the real `imagebot` command line in a subprocess, as a user would."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Result:
    code: int
    out: str
    err: str


def imagebot(*args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 120, input: str | None = None) -> Result:
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    p = subprocess.run(
        [sys.executable, "-m", "imagebot", *args],
        cwd=cwd, env=full_env, capture_output=True, text=True, timeout=timeout, input=input,
    )
    return Result(p.returncode, p.stdout, p.stderr)


def write_config(path: Path, *, remote: Path, registry_host: str, delivery_branch: str | None = "staging",
                 paths: tuple[str, ...] = (), extra: str = "") -> Path:
    lines = [
        "repository:",
        f"  url: {remote}",
        "  branch: main",
    ]
    if paths:
        lines.append(f"  paths: [{', '.join(paths)}]")
    lines += ["delivery:", "  mode: commit"]
    if delivery_branch:
        lines.append(f"  branch: {delivery_branch}")
    lines += ["registries:", f"  - host: {registry_host}", "    insecure: true", f"cache_dir: {path.parent / 'cache'}"]
    path.write_text("\n".join(lines) + "\n" + extra)
    return path
