"""Peak memory of `imagebot plan` against hostile input, next to deploy/'s memory limit.

Three cases from issue #14, each in its own repository and process (peak RSS from os.wait4, the
largest single process of the tree, git included):

  file-50MB      a 50 MB manifest that mentions imagebot (refused by size, unparsed)
  taglist-300MB  a registry answering a tag list with 300 MB (refused past the byte cap)
  tags-1M        a registry answering 1,000,000 tags in one page (refused past the tag cap)

The registry is a small HTTP server on 127.0.0.1 written here. Each case also has a healthy
image on it, which must still be planned. Prints a table; exits 1 if a case is over the limit.

    python bench/bench_memory.py
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.measure import run  # noqa: E402

MiB = 1024 * 1024


def deploy_memory_limit() -> float:
    """The container memory limit in deploy/deployment.yaml, in MiB."""
    text = (ROOT / "deploy" / "deployment.yaml").read_text()
    limits = text[text.index("limits:"):]
    m = re.search(r"memory:\s*(\d+)(Mi|Gi)", limits)
    assert m, "no memory limit in deploy/deployment.yaml"
    return float(m.group(1)) * (1024 if m.group(2) == "Gi" else 1)


class Registry(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802
        path = self.path.split("?")[0]
        if path.rstrip("/") == "/v2":
            return self._json({})
        if path == "/v2/team/healthy/tags/list":
            return self._json({"name": "team/healthy", "tags": ["1.0.0"]})
        if path == "/v2/team/million/tags/list":
            body = json.dumps({"name": "team/million", "tags": [f"1.{i // 1000}.{i % 1000}" for i in range(1_000_000)]})
            return self._send(body.encode())
        if path == "/v2/team/huge/tags/list":
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Connection", "close")
            self.end_headers()
            piece = b'"1.0.0", ' * 100_000
            try:
                self.wfile.write(b'{"name": "team/huge", "tags": [')
                for _ in range(300 * MiB // len(piece)):
                    self.wfile.write(piece)
                self.wfile.write(b'"1.0.0"]}')
            except OSError:
                pass
            self.close_connection = True
            return None
        self._send(b'{"errors": [{"code": "NOT_FOUND"}]}', 404)
        return None

    def _json(self, doc: object) -> None:
        self._send(json.dumps(doc).encode())

    def _send(self, body: bytes, status: int = 200) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def workload(name: str, image: str) -> str:
    return (f"apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\n  annotations:\n"
            f"    imagebot.io/policy: \"semver:^1\"\nspec:\n  template:\n    spec:\n      containers:\n"
            f"        - name: app\n          image: {image}\n")


def git(cwd: Path, *args: str) -> None:
    env = {**os.environ, "GIT_AUTHOR_NAME": "b", "GIT_AUTHOR_EMAIL": "b@x", "GIT_COMMITTER_NAME": "b",
           "GIT_COMMITTER_EMAIL": "b@x"}
    subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True)


def repository(tmp: Path, name: str, files: dict[str, str]) -> Path:
    work, bare = tmp / f"{name}.work", tmp / f"{name}.git"
    git(tmp, "init", "-q", "-b", "main", str(work))
    for rel, text in files.items():
        (work / rel).parent.mkdir(parents=True, exist_ok=True)
        (work / rel).write_text(text)
    git(work, "add", "-A")
    git(work, "commit", "-q", "-m", "seed")
    git(tmp, "clone", "-q", "--bare", str(work), str(bare))
    return bare


def main() -> int:
    limit = deploy_memory_limit()
    server = ThreadingHTTPServer(("127.0.0.1", 0), Registry)
    server.daemon_threads = True
    host = f"127.0.0.1:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    healthy = {"apps/healthy.yaml": workload("healthy", f"{host}/team/healthy:1.0.0")}
    padding = "# " + "x" * 97 + "\n"
    cases = {
        "file-50MB": {**healthy, "apps/big.yaml": workload("big", f"{host}/team/healthy:1.0.0")
                      + padding * (50 * MiB // len(padding))},
        "taglist-300MB": {**healthy, "apps/huge.yaml": workload("huge", f"{host}/team/huge:1.0.0")},
        "tags-1M": {**healthy, "apps/million.yaml": workload("million", f"{host}/team/million:1.0.0")},
    }
    rows, over = [], False
    with tempfile.TemporaryDirectory(prefix="bench-memory-") as tmpdir:
        tmp = Path(tmpdir)
        for name, files in cases.items():
            remote = repository(tmp, name, files)
            cfg = tmp / f"{name}.yaml"
            cfg.write_text(f"repository: {{url: {remote}}}\ncache_dir: {tmp / name / 'cache'}\n"
                           f"registries:\n  - host: {host}\n    insecure: true\n    timeout: 120\n")
            sample = run([sys.executable, "-m", "imagebot", "plan", "--json", "-c", str(cfg)], cwd=tmp,
                         env={**os.environ, "PYTHONPATH": str(ROOT)}, ok_codes=(0, 1))
            doc = json.loads(sample.stdout)
            problems = [p["message"] for p in doc["problems"]]
            refused = next((p for p in problems if "refused" in p), "NOT REFUSED")
            healthy_ok = not any("team/healthy" in p for p in problems)
            over |= sample.rss_mb >= limit
            rows.append((name, sample.rss_mb, sample.wall, healthy_ok, refused[:90]))
    server.shutdown()
    print(f"deploy/ memory limit: {limit:.0f} MiB")
    print(f"{'case':<15}{'peak RSS':>10}{'wall':>8}  healthy  refused with")
    for name, rss, wall, ok, why in rows:
        print(f"{name:<15}{rss:>8.0f}Mi{wall:>7.1f}s  {'yes' if ok else 'NO ':<7}  {why}")
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())
