"""Acceptance: digest updates in pull-request mode.

Found by using imagebot: with the `digest` policy (or `pin-digest` on a rebuilt tag) the tag
stays and only the digest moves, yet the title said "Update IMAGE to 1.0.0" for every digest.
A human who closed one such PR therefore blocked every later digest of that image for good:
imagebot does not reopen "the same update (same branch and title)". The title now names the
short digest, so each new digest is a new proposal.
"""

from __future__ import annotations

from pathlib import Path

from tests.integration.test_deliver_pull_requests import REPO, WEB, config, cycle, fake, token  # noqa: F401 (fixtures)
from tests.support.deliver_plans import change
from tests.support.fake_github import FakeGitHub

A, B = "sha256:" + "a" * 64, "sha256:" + "b" * 64


def test_a_closed_digest_update_does_not_block_the_next_digest(tmp_path: Path, fake: FakeGitHub) -> None:  # noqa: F811
    cfg, cache = config(fake), tmp_path / "cache"
    cycle(cfg, cache, change("apps/web.yaml", WEB, "1.0.0", f"1.0.0@{A}", policy="digest"))
    [first] = fake.open_pulls(REPO)
    assert first.title == f"Update {WEB} to 1.0.0@sha256:aaaaaaaaaaaa"
    fake.repos[REPO].pulls[1].state = "closed"  # a reviewer said no to this build

    result = cycle(cfg, cache, change("apps/web.yaml", WEB, "1.0.0", f"1.0.0@{A}", policy="digest"))
    assert fake.open_pulls(REPO) == [] and any("will not reopen" in p.message for p in result.problems)

    cycle(cfg, cache, change("apps/web.yaml", WEB, "1.0.0", f"1.0.0@{B}", policy="digest"))  # a new build
    [pr] = fake.open_pulls(REPO)
    assert pr.number == 2 and pr.title == f"Update {WEB} to 1.0.0@sha256:bbbbbbbbbbbb"
