"""A seeded synthetic GitOps monorepo and the registry content it refers to.

The same seed gives the same files, tags and policies, so a benchmark can be repeated and two
tools compared on identical input. Every image reference the generator writes is recorded as a
`Reference` (file, line, current tag, policy): the ground truth the comparison of imagebot's and
Renovate's answers is keyed on.

File kinds (by weight): Deployments with 1-3 containers (workload or per-container policy
annotations), CronJobs, multi-document files (ConfigMap + Service + Deployment/StatefulSet),
Helm values with split repository/tag fields and `# {"$imagebot": "<name>:tag"}` markers that
refer to named config policies, kustomizations with `images:` entries, and files with no image
at all (the text screen must skip them). Comments, quoting styles and blank lines vary.

    python -m bench.generate --files 200 --repos 20 --out /tmp/mono --host 127.0.0.1:5000
"""

from __future__ import annotations

import argparse
import json
import random
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tests.support.registry import RegistryServer

DEFAULT_TAGS = 40


@dataclass(frozen=True)
class RepoTags:
    """One registry repository: its name, every tag it carries, and which tags a manifest may pin."""

    name: str  # "bench/app-017"
    policy_name: str  # the named config policy markers refer to: "app-017"
    home_major: int  # the major of the named policy (`semver:^<home_major>.0`)
    tags: tuple[str, ...]
    stable: tuple[str, ...]  # plain X.Y.Z tags
    variants: tuple[str, ...]  # X.Y.Z-alpine
    two_part: tuple[str, ...]  # X.Y


@dataclass(frozen=True)
class Reference:
    """One image reference written into the repository (1-based line of the tag's value)."""

    file: str
    line: int
    repo: str  # "bench/app-017"
    current: str
    policy: str
    kind: str  # "workload", "cronjob", "multidoc", "helm", "kustomize"


@dataclass
class Monorepo:
    host: str
    seed: int
    repos: list[RepoTags]
    files: dict[str, str] = field(default_factory=dict)
    references: list[Reference] = field(default_factory=list)

    @property
    def tag_count(self) -> int:
        return sum(len(r.tags) for r in self.repos)


# -- tags --------------------------------------------------------------------------------------


def repo_tags(rng: random.Random, index: int, count: int = DEFAULT_TAGS) -> RepoTags:
    """About `count` tags: semver releases over 1-3 majors, `-alpine` variants, two-part aliases
    for some repositories, prereleases, commit hashes and `latest`."""
    majors = sorted(rng.sample(range(1, 6), k=rng.randint(1, 3)))
    stable: list[str] = []
    for major in majors:
        for minor in range(rng.randint(2, 7)):
            stable += [f"{major}.{minor}.{patch}" for patch in range(rng.randint(1, 4))]
    budget = max(len(majors) * 2, int(count * 0.55))
    if len(stable) > budget:  # keep a spread, always the first release of each major
        firsts = {f"{m}.0.0" for m in majors}
        rest = [t for t in stable if t not in firsts]
        stable = sorted(firsts | set(rng.sample(rest, budget - len(firsts))), key=_key)
    variants = sorted((f"{t}-alpine" for t in rng.sample(stable, k=min(len(stable), int(count * 0.15)))), key=_key)
    two_part: list[str] = []
    if rng.random() < 0.3:
        minors = sorted({t.rsplit(".", 1)[0] for t in stable}, key=_key)
        two_part = minors[-max(1, int(count * 0.1)) :]
    pre = set()
    for t in rng.sample(stable, k=min(len(stable), int(count * 0.1))):
        major, minor, patch = (int(p) for p in t.split("."))
        pre.add(f"{major}.{minor}.{patch + 1}-{rng.choice(['rc', 'beta', 'alpha'])}.{rng.randint(1, 12)}")
    hashes = {f"{rng.getrandbits(28):07x}" for _ in range(max(1, int(count * 0.07)))}
    tags = [*stable, *variants, *two_part, *sorted(pre), *sorted(hashes), "latest"]
    while len(tags) < count:  # top up with more commit hashes to reach exactly `count`
        h = f"{rng.getrandbits(28):07x}"
        if h not in tags:
            tags.append(h)
    return RepoTags(
        name=f"bench/app-{index:04d}",
        policy_name=f"app-{index:04d}",
        home_major=rng.choice(majors),
        tags=tuple(dict.fromkeys(tags)),
        stable=tuple(stable),
        variants=tuple(variants),
        two_part=tuple(two_part),
    )


def _key(tag: str) -> tuple[int, ...]:
    return tuple(int(p) for p in tag.split("-")[0].split("."))


def _major(tag: str) -> int:
    return int(tag.split(".")[0])


# -- files -------------------------------------------------------------------------------------


class _Lines:
    """A file under construction; `mark()` remembers the 1-based number of the next line."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def add(self, *lines: str) -> None:
        self.lines.extend(lines)

    def mark(self) -> int:
        return len(self.lines) + 1

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


class _Builder:
    def __init__(self, host: str, repos: list[RepoTags], rng: random.Random):
        self.host, self.repos, self.rng = host, repos, rng
        self._order = list(range(len(repos)))
        rng.shuffle(self._order)  # the first pass uses every repository once: each is looked up
        self.references: list[Reference] = []

    def next_repo(self) -> RepoTags:
        if self._order:
            return self.repos[self._order.pop()]
        return self.rng.choice(self.repos)

    def image(self, repo: RepoTags, tag: str) -> str:
        return f"{self.host}/{repo.name}:{tag}"

    def pick_annotated(self, repo: RepoTags) -> tuple[str, str]:
        """A current tag and an annotation policy for a workload container."""
        rng = self.rng
        roll = rng.random()
        if roll < 0.15 and repo.variants:
            current = rng.choice(repo.variants)
        elif roll < 0.3 and repo.two_part:
            current = rng.choice(repo.two_part)
        else:
            current = rng.choice(repo.stable)
        major, minor = current.split("-")[0].split(".")[:2]
        roll = rng.random()
        policy = f"semver:^{major}.0" if roll < 0.65 else f"semver:~{major}.{minor}" if roll < 0.85 else "major"
        return current, policy

    def pick_marked(self, repo: RepoTags) -> str:
        """A current tag within the named policy's major (markers use `semver:^<home>.0`)."""
        home = [t for t in repo.stable if _major(t) == repo.home_major]
        home_var = [t for t in repo.variants if _major(t) == repo.home_major]
        if home_var and self.rng.random() < 0.15:
            return self.rng.choice(home_var)
        return self.rng.choice(home)

    def ref(self, path: str, line: int, repo: RepoTags, current: str, policy: str, kind: str) -> None:
        self.references.append(Reference(path, line, repo.name, current, policy, kind))

    # -- kinds -----------------------------------------------------------------------------

    def _quoted(self, value: str) -> str:
        style = self.rng.random()
        return f'"{value}"' if style < 0.2 else f"'{value}'" if style < 0.3 else value

    def _containers(self, f: _Lines, path: str, indent: str, count: int, kind: str) -> list[tuple[str, str]]:
        """Writes a `containers:` list; returns (container name, policy) pairs."""
        out = []
        f.add(f"{indent}containers:")
        for c in range(count):
            repo = self.next_repo()
            current, policy = self.pick_annotated(repo)
            name = "app" if c == 0 else f"side{c}"
            f.add(f"{indent}  - name: {name}")
            if self.rng.random() < 0.2:
                f.add(f"{indent}    # bumped by the release pipeline; do not edit by hand")
            self.ref(path, f.mark(), repo, current, policy, kind)
            comment = "  # pinned" if self.rng.random() < 0.15 else ""
            f.add(f"{indent}    image: {self._quoted(self.image(repo, current))}{comment}")
            f.add(
                f"{indent}    ports:",
                f"{indent}      - containerPort: {8000 + c}",
                f"{indent}    resources:",
                f"{indent}      limits: {{cpu: 500m, memory: 256Mi}}",
            )
            out.append((name, policy))
        return out

    @staticmethod
    def _annotations(f: _Lines, at: int, indent: str, pairs: list[tuple[str, str]]) -> None:
        """Insert the policy annotations at line index `at`: one for the workload when all
        containers share a policy, else one per container."""
        policies = {p for _, p in pairs}
        if len(policies) == 1:
            lines = [f'{indent}  imagebot.io/policy: "{policies.pop()}"']
        else:
            lines = [f'{indent}  imagebot.io/policy.{n}: "{p}"' for n, p in pairs]
        f.lines[at:at] = [f"{indent}annotations:", *lines]

    def _shift(self, path: str, since: int, at: int, by: int) -> None:
        """References recorded after index `since` whose line is past `at` move down by `by` lines."""
        self.references[since:] = [
            Reference(r.file, r.line + by, r.repo, r.current, r.policy, r.kind) if r.line > at else r
            for r in self.references[since:]
        ]

    def deployment(self, f: _Lines, path: str, name: str, kind: str = "Deployment", tag: str = "workload") -> None:
        f.add("apiVersion: apps/v1", f"kind: {kind}", "metadata:", f"  name: {name}", "  labels:",
              f"    app.kubernetes.io/name: {name}")
        at, since = len(f.lines), len(self.references)
        f.add("spec:", f"  replicas: {self.rng.randint(1, 5)}", "  selector:", "    matchLabels:",
              f"      app.kubernetes.io/name: {name}", "  template:", "    metadata:", "      labels:",
              f"        app.kubernetes.io/name: {name}", "    spec:")
        if self.rng.random() < 0.3:
            f.add("", "      # the main container first, sidecars after")
        pairs = self._containers(f, path, "      ", self.rng.choice([1, 1, 1, 2, 2, 3]), tag)
        self._annotations(f, at, "  ", pairs)
        self._shift(path, since, at, 1 + (1 if len({p for _, p in pairs}) == 1 else len(pairs)))

    def cronjob(self, f: _Lines, path: str, name: str) -> None:
        f.add("apiVersion: batch/v1", "kind: CronJob", "metadata:", f"  name: {name}")
        at, since = len(f.lines), len(self.references)
        f.add("spec:", f'  schedule: "{self.rng.randint(0, 59)} */6 * * *"', "  jobTemplate:", "    spec:",
              "      template:", "        spec:", "          restartPolicy: OnFailure")
        pairs = self._containers(f, path, "          ", 1, "cronjob")
        self._annotations(f, at, "  ", pairs)
        self._shift(path, since, at, 2)

    def file_workload(self, path: str, i: int) -> str:
        f = _Lines()
        f.add(f"# {path}: generated by bench/generate.py", "---")
        self.deployment(f, path, f"svc-{i:05d}")
        return f.text()

    def file_cronjob(self, path: str, i: int) -> str:
        f = _Lines()
        f.add("# nightly job")
        self.cronjob(f, path, f"job-{i:05d}")
        return f.text()

    def file_multidoc(self, path: str, i: int) -> str:
        f = _Lines()
        f.add("apiVersion: v1", "kind: ConfigMap", "metadata:", f"  name: cfg-{i:05d}", "data:",
              "  LOG_LEVEL: info", '  FEATURE_FLAGS: "a,b,c"', "---", "# the service in front of it",
              "apiVersion: v1", "kind: Service", "metadata:", f"  name: svc-{i:05d}", "spec:", "  ports:",
              "    - port: 80", "      targetPort: 8000", "---")
        self.deployment(f, path, f"svc-{i:05d}", kind=self.rng.choice(["Deployment", "StatefulSet"]), tag="multidoc")
        if self.rng.random() < 0.3:
            f.add("---")
            self.cronjob(f, path, f"job-{i:05d}")
        return f.text()

    def file_helm(self, path: str, i: int) -> str:
        f = _Lines()
        f.add(f"# Default values for chart-{i:05d}.", "# This is a YAML-formatted file.", "", "replicaCount: 1", "")
        for block in ["image"] + (["sidecar"] if self.rng.random() < 0.3 else []):
            repo = self.next_repo()
            current = self.pick_marked(repo)
            pol = repo.policy_name
            indent = "  " if block == "image" else "    "
            if block == "sidecar":
                f.add("sidecar:", "  enabled: true", "  image:")
            else:
                f.add("image:")
            f.add(f'{indent}repository: {self.host}/{repo.name} # {{"$imagebot": "{pol}:name"}}')
            self.ref(path, f.mark(), repo, current, f"semver:^{repo.home_major}.0", "helm")
            f.add(f'{indent}tag: "{current}" # {{"$imagebot": "{pol}:tag"}}', f"{indent}pullPolicy: IfNotPresent", "")
        f.add("service:", "  type: ClusterIP", "  port: 80", "", "resources: {}", "nodeSelector: {}")
        return f.text()

    def file_kustomize(self, path: str, i: int) -> str:
        f = _Lines()
        f.add("apiVersion: kustomize.config.k8s.io/v1beta1", "kind: Kustomization", f"namespace: team-{i % 17}",
              "resources:", "  - ../../base", "  - service.yaml", "images:")
        for _ in range(self.rng.choice([1, 1, 2])):
            repo = self.next_repo()
            current = self.pick_marked(repo)
            f.add(f"  - name: {self.host}/{repo.name}")
            self.ref(path, f.mark(), repo, current, f"semver:^{repo.home_major}.0", "kustomize")
            f.add(f'    newTag: {current} # {{"$imagebot": "{repo.policy_name}:tag"}}')
        return f.text()

    def file_plain(self, path: str, i: int) -> str:
        return (f"# no image here\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings-{i:05d}\n"
                f"data:\n  greeting: hello\n  retries: \"{i % 7}\"\n")


_KINDS: list[tuple[str, float]] = [
    ("workload", 0.38), ("cronjob", 0.12), ("multidoc", 0.15), ("helm", 0.15), ("kustomize", 0.1), ("plain", 0.1),
]


def _path(kind: str, i: int) -> str:
    team = f"team-{i % 23:02d}"
    return {
        "workload": f"apps/{team}/svc-{i:05d}/deployment.yaml",
        "cronjob": f"apps/{team}/job-{i:05d}/cronjob.yaml",
        "multidoc": f"apps/{team}/svc-{i:05d}/all.yaml",
        "helm": f"charts/chart-{i:05d}/values.yaml",
        "kustomize": f"overlays/{team}/ov-{i:05d}/kustomization.yaml",
        "plain": f"apps/{team}/settings-{i:05d}/configmap.yaml",
    }[kind]


def generate(files: int, repos: int, host: str, *, seed: int = 1, tags_per_repo: int = DEFAULT_TAGS) -> Monorepo:
    """The monorepo's files and references (in memory); every repository is referenced at least
    once when `files` leaves room for it."""
    rng = random.Random(f"{seed}:{files}:{repos}:{tags_per_repo}")
    all_repos = [repo_tags(random.Random(f"{seed}:repo:{i}:{tags_per_repo}"), i, tags_per_repo) for i in range(repos)]
    b = _Builder(host, all_repos, rng)
    mono = Monorepo(host=host, seed=seed, repos=all_repos)
    kinds = [k for k, _ in _KINDS]
    weights = [w for _, w in _KINDS]
    for i in range(files):
        kind = rng.choices(kinds, weights)[0]
        if kind == "plain" and b._order:  # while repositories are still unreferenced, write images
            kind = "workload"
        path = _path(kind, i)
        write: Callable[[str, int], str] = getattr(b, f"file_{kind}")
        mono.files[path] = write(path, i)
    mono.references = b.references
    return mono


# -- output ------------------------------------------------------------------------------------


def write_tree(mono: Monorepo, root: Path) -> None:
    for rel, text in mono.files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)


def imagebot_config(mono: Monorepo, repo_url: str, cache_dir: Path) -> dict[str, object]:
    """The imagebot config for the monorepo: one named policy per repository (for markers).

    The registry is local, so its request rate limit is lifted (imagebot's default of 10 req/s
    is meant for public registries; Renovate has no default limit either)."""
    return {
        "repository": {"url": repo_url, "branch": "main"},
        "delivery": {"mode": "commit", "branch": "main", "author": {"name": "bench", "email": "bench@example.com"}},
        "registries": [{
            "host": mono.host, "insecure": True,
            "rate_limit": {"requests_per_second": 10000, "burst": 10000, "concurrency": 8},
        }],
        "policies": {
            r.policy_name: {"image": f"{mono.host}/{r.name}", "policy": f"semver:^{r.home_major}.0"} for r in mono.repos
        },
        "cache_dir": str(cache_dir),
    }


def seed_registry(reg: RegistryServer, repos: list[RepoTags], *, workers: int = 8) -> None:
    """Push every tag of every repository into a running registry over its HTTP API, fast: the
    blobs go into the first repository once and are mounted into the others; then one manifest
    PUT per tag, from `workers` threads each with its own keep-alive session."""
    import requests

    first, rest = repos[0], repos[1:]
    reg.push_tags_bulk(first.name, first.tags)
    local = threading.local()

    def one(r: RepoTags) -> None:
        if not hasattr(local, "session"):
            local.session = requests.Session()
        reg.push_tags_bulk(r.name, r.tags, mount_from=first.name, session=local.session)

    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(one, rest))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--files", type=int, default=200)
    ap.add_argument("--repos", type=int, default=20)
    ap.add_argument("--tags", type=int, default=DEFAULT_TAGS, help="tags per repository")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--host", default="127.0.0.1:5000", help="registry host:port written into image references")
    ap.add_argument("--out", type=Path, required=True, help="directory to write the files into")
    args = ap.parse_args(argv)
    mono = generate(args.files, args.repos, args.host, seed=args.seed, tags_per_repo=args.tags)
    write_tree(mono, args.out)
    (args.out.parent / (args.out.name + ".references.json")).write_text(json.dumps([asdict(r) for r in mono.references], indent=1))
    print(f"{len(mono.files)} files, {len(mono.references)} references, {len(mono.repos)} repositories, "
          f"{mono.tag_count} tags -> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
