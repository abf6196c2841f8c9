"""The checks gate reads a staging commit's statuses through each forge's adapter (GitLab, Gitea
fakes here; GitHub in test_e2e_promotion.py): the newest state of each context decides."""

from __future__ import annotations

from imagebot.deliver.forge import connect_forge
from imagebot.deliver.forge.base import CommitStatus
from imagebot.promote import gates
from imagebot.promote.step import ForgeChecks
from tests.integration.test_deliver_forges import PROJECT, config, forge  # noqa: F401  (the fixture)
from tests.support.fake_forge import FakeForge


def test_checks_gate_through_gitlab_and_gitea(forge: FakeForge) -> None:  # noqa: F811
    cfg = config(forge)
    adapter = connect_forge(cfg, cfg.repository.url)
    sha = forge.projects[PROJECT[forge.kind]].branch_sha("main")
    reader = ForgeChecks(lambda: connect_forge(cfg, cfg.repository.url))
    hold = gates.checks(reader.checks(sha), sha)
    assert hold is not None and "no checks reported" in hold.reason
    adapter.set_status(CommitStatus(sha, "ci/e2e", "failure", "red", "https://ci.example/1"))
    adapter.set_status(CommitStatus(sha, "ci/lint", "success", "ok"))
    hold = gates.checks(reader.checks(sha), sha)
    assert hold is not None and "ci/e2e failure (https://ci.example/1)" in hold.reason
    adapter.set_status(CommitStatus(sha, "ci/e2e", "success", "green again", "https://ci.example/2"))
    assert gates.checks(reader.checks(sha), sha) is None
    assert reader.checks(sha) == adapter.statuses(sha)  # the gates read the forge's own values, nothing restated
    assert [c.context for c in gates.latest_checks(reader.checks(sha))] == ["ci/e2e", "ci/lint"]
