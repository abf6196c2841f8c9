"""The delivery outcome is one typed value, and every consumer reads it: `--json`, the text
summary, metrics and the log lines agree on what landed.

Pull-request mode against the fake GitHub and a real registry: the first cycle opens a pull
request; six quiet cycles after it write nothing, so `imagebot_images_updated_total` stays where
it was. A change apply refuses (a value with an anchor) is never counted, listed or logged as
updated.
"""

from __future__ import annotations

import logging
import secrets
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from imagebot import pipeline
from imagebot.config.load import load
from imagebot.model import PullRequestAction
from imagebot.report.log import LogReporter
from imagebot.report.metrics import Metrics, MetricsReporter
from imagebot.report.summary import as_json, text
from tests.conftest import shared_path
from tests.support import gitrepo
from tests.support.fake_github import FakeGitHub
from tests.support.manifests import deployment

REPO = "acme/gitops"
# A value with an anchor: apply refuses to edit it (its alias would change too).
ANCHORED = deployment("db", "&img {host}/team/db:1.0.0", "semver:^1") + "        - name: b\n          image: *img\n"


def updated_total(metrics: Metrics) -> float:
    body, _ = metrics.exposition()
    return next(s.value for f in text_string_to_metric_families(body.decode()) for s in f.samples
                if s.name == "imagebot_images_updated_total")


@pytest.fixture
def world(tmp_path: Path, registry, monkeypatch: pytest.MonkeyPatch):
    token = "ghp_" + secrets.token_hex(18)
    monkeypatch.setenv("TEST_GH_TOKEN", token)
    registry.push_tags("team/web", ["1.0.0", "1.1.0"])
    registry.push_tags("team/db", ["1.0.0", "1.3.0"])
    remote = gitrepo.make_remote(tmp_path, {"apps/web.yaml": deployment("web", f"{registry.host}/team/web:1.0.0", "semver:^1"),
                                            "apps/db.yaml": ANCHORED.format(host=registry.host)})
    with FakeGitHub(tmp_path / "fake", shared_path("github", "openapi-pr-subset.json"), token) as gh:
        gh.add_repo(REPO, remote)
        (tmp_path / "imagebot.yaml").write_text(
            f"repository: {{url: '{gh.git_url(REPO)}', branch: main}}\n"
            "delivery:\n  mode: pull-request\n  pull_request:\n"
            f"    api_url: {gh.api_url}\n    repository: {REPO}\n    token_env: TEST_GH_TOKEN\n    throttle: false\n"
            f"registries: [{{host: '{registry.host}', insecure: true}}]\ncache_dir: {tmp_path / 'cache'}\n"
        )
        yield load(tmp_path / "imagebot.yaml"), gh, registry


def test_pull_request_mode_six_quiet_cycles_count_nothing_and_a_refused_edit_never_counts(
        world, caplog: pytest.LogCaptureFixture) -> None:
    cfg, gh, registry = world
    metrics = Metrics()
    reporters = [MetricsReporter(metrics), LogReporter()]
    caplog.set_level(logging.INFO, logger="imagebot.cycle")

    first = pipeline.run_cycle(cfg, reporters=reporters)
    d = first.delivery
    assert d is not None
    assert len(first.plan.changes) == 2  # web (deliverable) and db (refused: anchored value)
    assert [x.change.occurrence.image for x in d.landed] == [f"{registry.host}/team/web"]
    assert [r.change.occurrence.image for r in d.refused] == [f"{registry.host}/team/db"]
    [opened] = d.outcomes
    assert opened.action is PullRequestAction.OPENED and opened.commit
    assert updated_total(metrics) == 1
    doc = as_json(first)
    assert [p["action"] for p in doc["delivery"]["pull_requests"]] == ["opened"]
    assert isinstance(doc["delivery"]["branches"], list) and doc["delivery"]["branches"] == [opened.branch]
    assert [x["new_ref"] for x in doc["delivery"]["landed"]] == [f"{registry.host}/team/web:1.1.0"]
    assert all(set(r) == {"registry", "kind", "status", "count"} for r in doc["registry_requests"])
    assert doc["registry_requests"], "the cycle listed tags: its requests are counted"
    assert doc["counts"]["landed"] == 1 and doc["counts"]["changes"] == 2
    summary = text(first, diff=False)
    assert "Changes (1):" in summary and "team/db" not in summary.split("Refused")[0]
    assert "Refused (1" in summary
    updated_lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("updated ")]
    assert len(updated_lines) == 1 and "team/web" in updated_lines[0]

    writes = len(gh.writes())
    caplog.clear()
    for _ in range(6):
        quiet = pipeline.run_cycle(cfg, reporters=reporters)
        assert quiet.delivery is not None and quiet.delivery.landed == ()
        assert [o.action for o in quiet.delivery.outcomes] == [PullRequestAction.UNCHANGED]
        assert as_json(quiet)["delivery"]["pull_requests"][0]["action"] == "unchanged"
        assert "Already proposed in open pull requests (1)" in text(quiet, diff=False)
    assert updated_total(metrics) == 1, "quiet cycles wrote nothing and must count nothing"
    assert len(gh.writes()) == writes
    assert not [r for r in caplog.records if r.getMessage().startswith("updated ")]
