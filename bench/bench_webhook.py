"""Webhook -> commit latency of the agent (target: p50 <= 300 ms on a 2,000-file repository).

A real docker-registry, a real bare Git remote holding FILES manifests (a tenth of them
workloads with an update policy, over 20 image repositories), and the real agent (`serve`,
the real pipeline) in this process. Each round pushes a new tag of one repository, then POSTs
the authenticated `generic` webhook; the latency runs from the POST to the end of the cycle
that pushed the commit (the push to the remote included). Prints the figures; not a test.

    python -m bench.bench_webhook [--files 2000] [--rounds 30] [--debounce 100ms] [--no-leading]

Each round is one lone push, so with `leading` (the default) its cycle starts at once; with
--no-leading every cycle first waits the debounce.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from imagebot import pipeline  # noqa: E402
from imagebot.agent.serve import serve  # noqa: E402
from imagebot.config.load import load  # noqa: E402
from tests.support.gitrepo import make_remote, show  # noqa: E402
from tests.support.manifests import deployment  # noqa: E402
from tests.support.registry import RegistryServer, free_port  # noqa: E402

TOKEN = "bench-webhook-token-0123456789"
REPOS = 20
FILLER = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings-{i}
data:
  key: "value {i}"
"""


def tree(files: int, host: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for i in range(files):
        if i % 10 == 0:
            out[f"apps/team{i % 37}/svc-{i}.yaml"] = deployment(f"svc-{i}", f"{host}/team/app{(i // 10) % REPOS}:1.0.0")
        else:
            out[f"config/team{i % 37}/settings-{i}.yaml"] = FILLER.format(i=i)
    return out


class Timed:
    """pipeline.run_cycle, noting when each pushing cycle ended."""

    def __init__(self) -> None:
        self.pushed = threading.Condition()
        self.ends: list[float] = []
        self.durations: list[float] = []

    def __call__(self, cfg: Any, **kw: Any) -> Any:
        result = pipeline.run_cycle(cfg, **kw)
        if result.delivery is not None and result.delivery.pushed:
            with self.pushed:
                self.ends.append(time.perf_counter())
                self.durations.append(result.duration)
                self.pushed.notify_all()
        return result


class Stages:
    """Wall time of the cycle's stages, by wrapping the functions the pipeline calls (the
    benchmark's own instrumentation; the agent is unchanged)."""

    WRAPPED = (
        ("imagebot.pipeline", "discover", "scan", "discover"),
        ("imagebot.pipeline", None, "resolve", "resolve (registry)"),
        ("imagebot.pipeline", "apply", "render", "render + proof"),
        ("imagebot.deliver.workspace", "GitWorkspace", "checkout", "git sync (ls-remote, reset)"),
        ("imagebot.deliver.commit_mode", None, "write_edits", "write files"),
        ("imagebot.deliver.workspace", "GitWorkspace", "commit", "git commit"),
        ("imagebot.deliver.workspace", "GitWorkspace", "push", "git push"),
    )

    def __init__(self) -> None:
        import importlib

        self.times: dict[str, list[float]] = {}
        for module, owner, name, label in self.WRAPPED:
            target = importlib.import_module(module)
            if owner is not None:
                target = getattr(target, owner)
            setattr(target, name, self._timed(getattr(target, name), label))

    def _timed(self, fn: Any, label: str) -> Any:
        def timed(*a: Any, **kw: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return fn(*a, **kw)
            finally:
                self.times.setdefault(label, []).append(time.perf_counter() - t0)
        return timed

    def report(self, skip_first: int = 1) -> str:
        parts = [f"{label} {statistics.median(v[skip_first:]) * 1000:.0f}"
                 for label, v in self.times.items() if len(v) > skip_first]
        return "  stages, p50 ms: " + ", ".join(parts)


def post(url: str, body: dict[str, str]) -> None:
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                 headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        assert resp.status == 202, resp.status


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--files", type=int, default=2000)
    ap.add_argument("--rounds", type=int, default=30)
    ap.add_argument("--debounce", default="100ms")
    ap.add_argument("--no-leading", action="store_true", help="wait the debounce before every cycle")
    args = ap.parse_args(argv)
    os.environ["IMAGEBOT_WEBHOOK_TOKEN"] = TOKEN
    stages = Stages()

    with tempfile.TemporaryDirectory() as tmp_, RegistryServer(Path(tmp_)) as reg:
        tmp = Path(tmp_)
        for r in range(REPOS):
            reg.push(f"team/app{r}", "1.0.0")
        remote = make_remote(tmp, tree(args.files, reg.host))
        cfg_path = tmp / "imagebot.yaml"
        cfg_path.write_text(json.dumps({
            "repository": {"url": str(remote)}, "delivery": {"mode": "commit", "branch": "staging"},
            "registries": [{"host": reg.host, "insecure": True,
                            # A round every ~0.25 s is far more pushes than a registry sees; under
                            # the default 10 req/s budget the rounds would wait on each other.
                            "rate_limit": {"requests_per_second": 1000, "burst": 1000}}], "cache_dir": str(tmp / "cache"), "interval": "1h",
            "agent": {"drift_interval": None, "webhooks": {"debounce": args.debounce, "leading": not args.no_leading,
                                                    "rate_limit": 100, "burst": 100}},
        }))
        timed = Timed()
        port = free_port()
        ready = threading.Event()
        agents: list[Any] = []
        t = threading.Thread(target=serve, args=(load(cfg_path),), kwargs={
            "listen": f"127.0.0.1:{port}", "run_cycle": timed, "install_signals": False,
            "on_started": lambda agent, server: (agents.append(agent), ready.set())})
        t.start()
        ready.wait(30)
        agent = agents[0]
        agent.wait_cycles(1, 120)  # the start-up full cycle (clone, first scan)
        first_full = agent.last_result.duration if agent.last_result else float("nan")

        latencies: list[float] = []
        try:
            for n in range(args.rounds):
                repo = f"team/app{n % REPOS}"
                tag = f"1.{n + 1}.0"
                reg.push(repo, tag)
                with timed.pushed:
                    before = len(timed.ends)
                t0 = time.perf_counter()
                post(f"http://127.0.0.1:{port}/hooks/generic", {"image": f"{reg.host}/{repo}", "tag": tag})
                with timed.pushed:
                    if not timed.pushed.wait_for(lambda: len(timed.ends) > before, 60):
                        raise SystemExit(f"round {n}: no commit within 60 s")
                    latencies.append(timed.ends[before] - t0)
        finally:
            agent.stop()
            t.join(60)
        last_file = next(p for p, text in tree(args.files, reg.host).items() if f"team/app{(args.rounds - 1) % REPOS}:" in text)
        assert f":1.{args.rounds}.0" in show(remote, "staging", last_file).decode(), "the last update is on the remote"

    ms = sorted(x * 1000 for x in latencies)
    p99 = ms[min(len(ms) - 1, round(0.99 * (len(ms) - 1)))]
    print(f"webhook -> commit on a {args.files}-file repository ({args.files // 10} workloads with a policy, "
          f"{REPOS} image repositories), debounce {args.debounce}{' (no leading edge)' if args.no_leading else ''}, "
          f"{len(ms)} rounds")
    print(f"  p50 {statistics.median(ms):7.1f} ms   p99 {p99:7.1f} ms   min {ms[0]:7.1f} ms   max {ms[-1]:7.1f} ms")
    cycle_ms = sorted(d * 1000 for d in timed.durations)
    print(f"  of which the targeted cycle itself: p50 {statistics.median(cycle_ms):7.1f} ms "
          f"(the rest: debounce if any, queueing, HTTP)")
    print(stages.report())
    print(f"  (start-up full cycle: {first_full * 1000:.0f} ms)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
