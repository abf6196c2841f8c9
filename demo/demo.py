#!/usr/bin/env python3
"""imagebot in one minute, on this machine only.

Starts a real container registry (Debian's docker-registry) on 127.0.0.1, pushes a few tags of
two sample images, creates a Git repository of commented Kubernetes manifests, then runs
`imagebot plan` and `imagebot run --once`, and shows the commit imagebot pushed to `staging`.
Everything it starts is stopped at the end; its files live in ./.demo/ (deleted at the start).
Run it with `make demo` (which sets up a venv first).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.gitrepo import git, make_remote  # noqa: E402  (the same helpers the tests use)
from tests.support.registry import RegistryServer  # noqa: E402

WORK = ROOT / ".demo"


def manifests(host: str) -> dict[str, str]:
    return {
        "apps/web/deployment.yaml": textwrap.dedent(f"""\
            # The web front end. imagebot keeps it on the newest 1.x release.
            apiVersion: apps/v1
            kind: Deployment
            metadata:
              name: web
              annotations:
                imagebot.io/policy.web: "semver:^1.0"   # container `web`: any 1.x, never 2.0
            spec:
              replicas: 2
              template:
                spec:
                  containers:
                    - name: web
                      image: "{host}/demo/web:1.0.0"    # quoted on purpose: quotes stay
                      ports:
                        - containerPort: 8080
                    - name: metrics-sidecar     # no policy for this container: left alone
                      image: {host}/demo/exporter:0.9
            """),
        "apps/worker/cronjob.yaml": textwrap.dedent(f"""\
            apiVersion: batch/v1
            kind: CronJob
            metadata:
              name: nightly-report
              annotations:
                # Same variant (-alpine), newest minor of 3.x:
                imagebot.io/policy.report: "minor"
            spec:
              schedule: "0 3 * * *"
              jobTemplate:
                spec:
                  template:
                    spec:
                      restartPolicy: OnFailure
                      containers:
                        - name: report
                          image: {host}/demo/worker:3.1.0-alpine
            """),
    }


def step(title: str) -> None:
    print(f"\n\033[1m==> {title}\033[0m", flush=True)


def imagebot(*args: str, check: bool = True) -> int:
    cmd = [sys.executable, "-m", "imagebot", *args]
    print("$ imagebot " + " ".join(args), flush=True)
    rc = subprocess.run(cmd, cwd=WORK, env={**__import__("os").environ, "PYTHONPATH": str(ROOT)}).returncode
    if check and rc not in (0,):
        raise SystemExit(f"imagebot {' '.join(args)} exited with {rc}")
    return rc


def main() -> int:
    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir()
    step("Starting a container registry on 127.0.0.1")
    with RegistryServer(WORK) as reg:
        print(f"registry at http://{reg.host}")
        tags = {
            "demo/web": ["1.0.0", "1.1.0", "1.2.3", "1.10.0", "2.0.0", "2.1.0-rc.1", "latest"],
            "demo/worker": ["3.1.0-alpine", "3.1.0", "3.2.0-alpine", "3.2.0", "3.3.0", "4.0.0-alpine"],
            "demo/exporter": ["0.9", "1.0"],
        }
        for repo, ts in tags.items():
            reg.push_tags(repo, ts)
            print(f"pushed {repo}: {' '.join(ts)}")

        step("Creating a GitOps repository of manifests (branch main)")
        remote = make_remote(WORK, manifests(reg.host), name="gitops.git")
        print(f"bare repository at {remote}")
        (WORK / "imagebot.yaml").write_text(textwrap.dedent(f"""\
            repository:
              url: {remote}
              branch: main
              paths: [apps/]
            delivery:
              mode: commit
              branch: staging
            registries:
              - host: {reg.host}
                insecure: true
            cache_dir: {WORK / "cache"}
            """))
        print((WORK / "imagebot.yaml").read_text())

        step("imagebot plan — a dry run: every decision, and the exact diff")
        imagebot("plan")

        step("imagebot run --once — commit the change to the staging branch")
        imagebot("run", "--once")

        step("What landed on staging (git show staging)")
        print(git(remote, "show", "--stat", "--patch", "--format=commit %H%nAuthor: %an <%ae>%n%n    %B", "staging"))

        step("Run again: nothing new, so no commit")
        imagebot("run", "--once")
        count = git(remote, "rev-list", "--count", "main..staging").strip()
        print(f"commits on staging ahead of main: {count}")
    step("Stopped the registry. Files are in ./.demo/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
