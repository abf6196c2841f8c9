"""Hostile input: odd tags never crash a policy or get chosen by accident; bad regexes cannot hang."""

from __future__ import annotations

import time

import pytest

from imagebot.model import PolicySpec
from imagebot.policy import compile_spec
from imagebot.policy import filters

HOSTILE = [
    "ünïcødé",
    "１.２.３",  # full-width digits are not digits of a version
    "1.2.3\u200b",  # zero-width space
    "٣.٤.٥",  # Arabic-Indic digits
    "9" * 200,
    "1." * 100 + "1",
    "v" + "1" * 128,
    "$(reboot)",
    "1.0.0;rm -rf /",
    "`id`",
    "1.0.0|sh",
    "1.0.0\n2.0.0",
    "1.0.0 ",
    "",
    "\x00",
    "-1.0.0",
    "1.0.0-" + "a" * 300,
    "99999999999999999999999.0.0",  # beyond uint64: Masterminds refuses
]


@pytest.mark.parametrize("policy", ["semver:*", "semver:>=0.0.0-0", "major", "minor", "patch", "alphabetical", "numerical", "digest"])
@pytest.mark.parametrize("current", [None, "1.0.0", "1.0", "ünïcødé", "1.0.0-alpine"])
def test_hostile_tags_never_crash_or_win_a_version_policy(policy: str, current: str | None) -> None:
    choice = compile_spec(PolicySpec(policy)).choose([*HOSTILE, "1.0.0", "1.0", "1.0.0-alpine"], current)
    assert len(choice.candidates) + len(choice.rejected) >= len(set(HOSTILE))
    if policy.startswith(("semver", "major", "minor", "patch")) and choice.chosen is not None:
        assert choice.chosen in ("1.0.0", "1.0", "1.0.0-alpine", current)
    for r in choice.rejected:
        assert r.reason and "\n" not in r.reason


@pytest.mark.parametrize("pattern", [r"(a+)+$", r"^(a|a)+$", r"^(a|aa)+$", r"(x+x+)+y"])
def test_catastrophic_tag_filter_cannot_hang(pattern: str) -> None:
    tags = ["a" * 40 + "!", "x" * 40, *[f"1.0.{i}" for i in range(50)], *["a" * (30 + i) + "!" for i in range(50)]]
    policy = compile_spec(PolicySpec("semver:*", tag_filter=pattern))
    started = time.monotonic()
    choice = policy.choose(tags, None)
    elapsed = time.monotonic() - started
    assert elapsed < filters.TOTAL_TIMEOUT + 0.5
    assert choice.chosen is None or choice.chosen in tags


def test_a_timed_out_tag_is_rejected_with_the_reason() -> None:
    policy = compile_spec(PolicySpec("alphabetical", tag_filter=r"^(a|a)+$"))
    choice = policy.choose(["a" * 40 + "!", "aaa"], None)
    assert choice.chosen == "aaa"
    (slow,) = [r for r in choice.rejected if r.tag.endswith("!")]
    assert "took longer than" in slow.reason or "budget" in slow.reason


def test_a_timeout_is_not_remembered_as_a_verdict() -> None:
    """Filter outcomes are remembered across decisions; a timeout is not an outcome."""
    policy = compile_spec(PolicySpec("alphabetical", tag_filter=r"^(b|b)+$"))
    for _ in range(2):
        choice = policy.choose(["b" * 40 + "!", "bbb"], None)
        (slow,) = [r for r in choice.rejected if r.tag.endswith("!")]
        assert "took longer than" in slow.reason or "budget" in slow.reason


def test_catastrophic_exclude_cannot_hang() -> None:
    """Once the time budget is spent, the remaining tags are rejected, visibly, not waited for."""
    filters._memos.clear()  # outcomes remembered from another test would not need the budget
    policy = compile_spec(PolicySpec("semver:*", exclude=r"^(a|a)+$"))
    tags = ["1.0.0", *[f"{'a' * (40 + i)}!" for i in range(100)], "1.0.1"]
    started = time.monotonic()
    choice = policy.choose(tags, None)
    assert time.monotonic() - started < filters.TOTAL_TIMEOUT + 0.5
    assert choice.chosen == "1.0.0"
    assert any(r.tag == "1.0.1" and "budget was spent" in r.reason for r in choice.rejected)
    assert "timed out" in choice.reason and choice.timed_out
    assert not policy.choose(["1.0.0", "1.0.1"], None).timed_out


def test_a_current_tag_whose_reading_timed_out_makes_the_decision_not_final() -> None:
    filters._memos.clear()
    policy = compile_spec(PolicySpec("alphabetical", tag_filter=r"^(b|b)+$"))
    slow = "b" * 40 + "!"
    choice = policy.choose(["bbb", slow], slow)
    assert choice.timed_out
    assert not policy.choose(["bbb", "bbbb"], "bbb").timed_out


def test_many_tags_are_quick() -> None:
    tags = [f"{i // 1000}.{i // 10 % 100}.{i % 10}" for i in range(20_000)]
    started = time.process_time()
    choice = compile_spec(PolicySpec("semver:^5")).choose(tags, "5.0.0")
    assert choice.chosen == "5.99.9"
    assert time.process_time() - started < 2.0  # generous: CI machines are shared
