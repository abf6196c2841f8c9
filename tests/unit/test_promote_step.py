"""The promotion step returns what a cycle returns (`CycleResult`): production's discovery, the plan,
the problems and when to wake, so the pipeline and every report read one type. Real bare Git remotes,
no forge (checks: none) and no registry (a promotion never asks one)."""

from __future__ import annotations

from pathlib import Path

from imagebot.config.schema import Config
from imagebot.model import CycleResult
from imagebot.promote import step
from tests.support import gitrepo

IMG = "registry.example/team/web"
D1, D2 = "sha256:" + "1" * 64, "sha256:" + "2" * 64


def deployment(image: str) -> str:
    return ("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  template:\n    spec:\n"
            f"      containers:\n        - name: app\n          image: {image}\n")


def config(url: str, cache: Path, soak: str) -> Config:
    return Config.model_validate({
        "repository": {"url": url, "branch": "main"}, "cache_dir": str(cache),
        "promotions": [{"name": "production", "from": {"path": "overlays/staging"}, "to": {"path": "overlays/production"},
                        "soak": soak, "checks": "none"}]})


def test_a_promotion_returns_a_cycle_result(tmp_path: Path) -> None:
    remote = gitrepo.make_remote(tmp_path, {"overlays/staging/web.yaml": deployment(f"{IMG}:1.2.0@{D2}"),
                                            "overlays/production/web.yaml": deployment(f"{IMG}:1.1.0@{D1}")})
    (held,) = step.run_promotions(config(str(remote), tmp_path / "cache", "9999h"), tmp_path / "repos", dry_run=True)
    assert isinstance(held, CycleResult) and held.dry_run and held.delivery is None and not held.problems
    assert [o.location.file for o in held.discovery.occurrences] == ["overlays/production/web.yaml"]
    assert held.plan.changes == () and "held by soak" in held.plan.skipped[0].reason and held.wake_at is not None

    (done,) = step.run_promotions(config(str(remote), tmp_path / "cache", "0s"), tmp_path / "repos", dry_run=True)
    (change,) = done.plan.changes
    assert change.new == f"{IMG}:1.2.0@{D2}" and done.wake_at is None and done.exit_code == 0


def test_a_promotion_that_cannot_run_is_a_cycle_result_with_its_problem(tmp_path: Path) -> None:
    (r,) = step.run_promotions(config(str(tmp_path / "missing.git"), tmp_path / "cache", "1h"), tmp_path / "repos", dry_run=True)
    assert isinstance(r, CycleResult) and r.dry_run and r.discovery.occurrences == ()
    (problem,) = r.problems
    assert problem.kind == "promotion" and problem.message.startswith("promotion production: ") and r.exit_code != 0
