"""`min-age` for any policy, on a real registry: a tag built 1 minute ago is held under `min-age: 1h`
(annotation, marker option, named policy or rule), and chosen once old enough (a fake clock)."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

from imagebot import pipeline
from imagebot.config.load import load
from tests.support import gitrepo


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_min_age_holds_a_young_tag_then_chooses_it(tmp_path: Path, registry) -> None:
    now = time.time()
    for repo in ("team/a", "team/b", "team/c", "team/d"):
        registry.push(repo, "1.0.0", created=_iso(now - 30 * 86400))
        registry.push(repo, "1.1.0", created=_iso(now - 60))  # built a minute ago
    registry.push("team/d", "1.0.5", created=_iso(now - 2 * 86400))  # older, old enough
    h = registry.host
    files = {
        "a.yaml": ("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: a\n  annotations:\n"
                   "    imagebot.io/policy: semver:^1\n    imagebot.io/min-age: 1h\nspec:\n  template:\n    spec:\n"
                   f"      containers:\n        - name: a\n          image: {h}/team/a:1.0.0\n"),
        "b.yaml": f"image: {h}/team/b:1.0.0 # imagebot: semver:^1; min-age=1h\n",
        "c.yaml": f'image: {h}/team/c:1.0.0 # {{"$imagebot": "c"}}\n',
        "d.yaml": f"image: {h}/team/d:1.0.0\n",
    }
    remote = gitrepo.make_remote(tmp_path, files)
    (tmp_path / "imagebot.yaml").write_text(
        f"repository: {{url: '{remote}', branch: main}}\n"
        f"registries: [{{host: '{h}', insecure: true}}]\ncache_dir: {tmp_path / 'cache'}\n"
        f"policies:\n  c: {{image: '{h}/team/c', policy: 'semver:^1', min-age: 1h}}\n"
        f"rules:\n  - match: {{image: '{h}/team/d'}}\n    policy: semver:^1\n    min-age: 1h\n"
    )
    cfg = load(tmp_path / "imagebot.yaml")

    result = pipeline.run_cycle(cfg, dry_run=True, clock=lambda: now)
    assert not result.problems, result.problems
    held = {r.occurrence.location.file: r.reason for r in result.plan.skipped}
    for f in ("a.yaml", "b.yaml", "c.yaml"):
        assert held[f].startswith("held by min-age: 1.1.0 was built 1m") and "min-age 1h" in held[f], held
    # d: the newest tag is too young, an older one is old enough: that one is chosen, and why
    (d,) = [c for c in result.plan.changes if c.file == "d.yaml"]
    assert d.new.endswith("team/d:1.0.5") and "1.1.0 was built 1m" in d.reason

    later = pipeline.run_cycle(cfg, dry_run=True, clock=lambda: now + 3600)
    assert not later.plan.skipped
    assert sorted((c.file, c.new.rsplit(":", 1)[1]) for c in later.plan.changes) == [
        ("a.yaml", "1.1.0"), ("b.yaml", "1.1.0"), ("c.yaml", "1.1.0"), ("d.yaml", "1.1.0")]


def test_bad_min_age_is_a_policy_problem_naming_the_annotation(tmp_path: Path, registry) -> None:
    registry.push("team/a", "1.0.0")
    remote = gitrepo.make_remote(tmp_path, {"b.yaml": f"image: {registry.host}/team/a:1.0.0 # imagebot: semver:^1; min-age=1 hour\n"})
    (tmp_path / "imagebot.yaml").write_text(
        f"repository: {{url: '{remote}', branch: main}}\nregistries: [{{host: '{registry.host}', insecure: true}}]\n"
        f"cache_dir: {tmp_path / 'cache'}\n")
    result = pipeline.run_cycle(load(tmp_path / "imagebot.yaml"), dry_run=True)
    (p,) = result.problems
    assert p.kind == "policy" and "min-age" in p.message and "b.yaml" in str(p.location)
