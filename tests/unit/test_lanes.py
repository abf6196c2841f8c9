"""Lanes: the `repositories:` config form, the lanes it makes, and a round's scheduling rules
(one registry round, a concurrency bound, a per-lane deadline), with a stand-in cycle."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from imagebot.config.load import load
from imagebot.config.load import load_text
from imagebot.errors import ConfigError, DeliveryError
from imagebot.fleet import Fleet, ImageIndex
from imagebot.lanes import lanes_of
from imagebot.model import CycleResult, Discovery, Rendered
from imagebot.plan import build

FLEET = """\
delivery: {mode: pull-request, author: {name: bot}, pull_request: {labels: [deps]}}
policies: {web: {image: ghcr.io/o/web, policy: "semver:*"}}
repositories:
  - url: https://github.com/org/Apps.git
    delivery: {pull_request: {draft: true}}
  - name: platform
    url: https://github.com/org/platform.git
    branch: prod
    paths: [clusters/]
    delivery: {mode: commit, branch: staging}
    policies: {web: {image: ghcr.io/o/web, policy: "semver:^1"}}
"""


def test_each_repository_is_a_lane_inheriting_the_top_level_defaults_key_by_key() -> None:
    apps, platform = lanes_of(load_text(FLEET))
    assert (apps.name, platform.name) == ("apps", "platform")
    assert apps.config.repository.url == "https://github.com/org/Apps.git" and apps.config.repositories == ()
    pr = apps.config.delivery.pull_request
    assert apps.config.delivery.mode == "pull-request" and pr.draft and pr.labels == ("deps",)  # merged, not replaced
    assert apps.config.delivery.author.name == "bot" and apps.target == "pull requests against main"
    assert platform.config.delivery.mode == "commit" and platform.config.delivery.author.name == "bot"
    assert platform.target == "commit to staging" and platform.repository.paths == ("clusters/",)
    assert apps.config.policies["web"].policy == "semver:*" and platform.config.policies["web"].policy == "semver:^1"
    assert apps.source.kind == "registries"
    assert apps.workspace_dir(Path("/c")) == Path("/c/repos/lanes/apps")


def test_the_single_repository_form_is_one_lane_keeping_its_clone_directory() -> None:
    cfg = load_text("repository: {url: /srv/git/gitops.git}\n")
    (lane,) = lanes_of(cfg)
    assert lane.name == "gitops" and lane.config is cfg and lane.workspace_dir(Path("/c")) == Path("/c/repos")


def test_repository_option_picks_one_lane_or_names_the_known_ones() -> None:
    cfg = load_text(FLEET)
    assert [x.name for x in lanes_of(cfg, "platform")] == ["platform"]
    with pytest.raises(KeyError, match="no repository named 'nope'; the config has: apps, platform"):
        lanes_of(cfg, "nope")


@pytest.mark.parametrize("text,message", [
    ("repository: {url: /a}\nrepositories: [{url: /b}]\n", "either `repository:`"),
    ("interval: 5m\n", "either `repository:`"),
    ("repositories: [{url: /a/x.git}, {url: /b/x.git}]\n", "'x' is used twice (derived from the URL"),
    ("repositories: [{url: /a, name: x}, {url: /b, name: x}]\n", "'x' is used twice"),
    ("repositories: [{url: /a, name: Bad_Name}]\n", "repositories[0].name: Value error, 'Bad_Name'"),
    ("repositories: [{url: /a, name: members}]\n", "'members' is reserved"),
    ("repositories: [{url: /a, delivery: {mode: email}}]\n", "repositories[0].delivery.mode"),
    ("repositories: [{url: /a, policies: {p: {image: x.io/a, policy: 'semver:^^1'}}}]\n",
     "repositories[0].policies.p: "),
])
def test_bad_repositories_configs_name_the_field(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as e:
        load_text(text)
    assert any(message in p for p in e.value.problems), e.value.problems


def test_relative_local_urls_are_taken_relative_to_the_config_file(tmp_path: Path) -> None:
    (tmp_path / "a.git").mkdir()
    (tmp_path / "c.yaml").write_text("repositories: [{url: a.git}, {url: 'https://x.io/b.git'}]\n")
    a, b = lanes_of(load(tmp_path / "c.yaml"))
    assert a.repository.url == str(tmp_path / "a.git") and b.repository.url == "https://x.io/b.git"


def result_with(images: list[str], targeted: frozenset[str] | None = None) -> CycleResult:
    # The index reads each occurrence's image alone.
    disc = Discovery(tuple(SimpleNamespace(image=i) for i in images), (), 1, 1)  # type: ignore[misc]
    return CycleResult(disc, (), build((), ()), Rendered((), ()), None, (), 0.0, 0.0, images=targeted)


def test_the_image_index_routes_pushes_to_the_lanes_using_the_image() -> None:
    index = ImageIndex()
    index.record("a", result_with(["ghcr.io/o/web", "ghcr.io/o/api"]))
    index.record("b", result_with(["ghcr.io/o/db"]))
    index.record("b", result_with([], targeted=frozenset({"ghcr.io/o/db"})))  # a targeted cycle changes nothing
    assert index.lanes_for({"ghcr.io/o/web"}, ["a", "b", "c"]) == {"a", "c"}  # c: not discovered yet
    assert index.lanes_for({"ghcr.io/o/db"}, ["a", "b"]) == {"b"}


class Client:
    def __init__(self) -> None:
        self.rounds = 0

        class Stats:
            def snapshot(self) -> dict:
                return {}
        self.stats = Stats()

    def new_cycle(self, deadline: Any = None) -> None:
        self.rounds += 1


def four_lanes(**fleet: Any) -> Any:
    items = ", ".join(f"{{name: l{i}, url: /srv/l{i}.git}}" for i in range(4))
    settings = ", ".join(f"{k}: {v}" for k, v in fleet.items())
    return load_text(f"repositories: [{items}]\nfleet: {{{settings}}}\n")


def test_a_round_starts_one_registry_round_and_runs_lanes_in_parallel_up_to_the_bound() -> None:
    cfg = four_lanes(concurrency=2)
    lock, running, peak, calls = threading.Lock(), [0], [0], []

    def cycle(lane_cfg: Any, **kw: Any) -> CycleResult:
        calls.append(kw)
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        time.sleep(0.1)
        with lock:
            running[0] -= 1
        if kw["lane"] == "l3":
            raise DeliveryError("push rejected", temporary=False)
        return result_with(["ghcr.io/o/web"])

    client = Client()
    r = Fleet(cfg, lanes_of(cfg), run_cycle=cycle, registry=client).run_round()
    assert client.rounds == 1 and all(kw["new_round"] is False and kw["registry"] is client for kw in calls)
    assert peak[0] == 2
    assert [(o.lane, o.state) for o in r.outcomes] == [("l0", "ok"), ("l1", "ok"), ("l2", "ok"), ("l3", "failed")]
    assert r.outcome("l3").error == "push rejected" and r.exit_code == 3


def test_a_lane_past_its_deadline_does_not_hold_the_round_and_is_not_started_twice() -> None:
    cfg = four_lanes(concurrency=4, lane_deadline="300ms")
    release = threading.Event()
    started: list[str] = []

    def cycle(lane_cfg: Any, *, lane: str, can_write: Any, **kw: Any) -> CycleResult:
        started.append(lane)
        if lane == "l1":
            release.wait(10)  # a hanging remote
        return result_with([])

    fleet = Fleet(cfg, lanes_of(cfg), run_cycle=cycle, registry=Client(), clock=time.monotonic)
    t0 = time.monotonic()
    r = fleet.run_round(holds=lambda lane: lane != "l3")
    assert time.monotonic() - t0 < 2
    assert {o.lane: o.state for o in r.outcomes} == {"l0": "ok", "l1": "timed-out", "l2": "ok", "l3": "not-holder"}
    again = fleet.run_round(holds=lambda lane: lane != "l3")
    assert again.outcome("l1").state == "busy" and started.count("l1") == 1
    time.sleep(0.5)
    assert set(fleet.failing(0.2)) == {"l1"}
    release.set()
    fleet.lanes["l1"].thread.join(5)
    assert fleet.run_round().outcome("l1").state == "ok" and not fleet.failing(0.0)


def test_a_repositorys_rules_come_before_the_top_level_rules_and_keep_their_lines() -> None:
    cfg = load_text("""\
rules:
  - {match: {image: "ghcr.io/o/*"}, policy: "semver:*"}
repositories:
  - name: prod
    url: /srv/prod.git
    rules:
      - {match: {image: ghcr.io/o/web}, policy: patch}
  - {name: dev, url: /srv/dev.git}
""")
    prod, dev = lanes_of(cfg)
    assert [r.policy for r in prod.config.rules] == ["patch", "semver:*"]
    assert [r.line for r in prod.config.rules] == [7, 2]
    assert [r.policy for r in dev.config.rules] == ["semver:*"]
    with pytest.raises(ConfigError) as e:
        load_text("repositories:\n  - url: /a\n    rules:\n      - {policy: 'semver:^^1'}\n")
    assert any(p.startswith("repositories[0].rules[0].policy: ") and "(line 4)" in p for p in e.value.problems)
