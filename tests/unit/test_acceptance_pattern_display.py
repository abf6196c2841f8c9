"""Acceptance: regular expressions are shown as the user wrote them.

Found by using imagebot: `imagebot.io/tag-filter: "^(1\\\\."` (the pattern ``^(1\\.``) was
reported as ``'^(1\\\\.'`` - Python's repr doubles every backslash, so the message showed a
pattern the user never wrote. Patterns nearly always contain backslashes.
"""

from __future__ import annotations

import pytest

from imagebot.errors import PolicyError
from imagebot.model import PolicySpec
from imagebot.policy import compile_spec


def test_a_bad_pattern_is_quoted_as_written() -> None:
    with pytest.raises(PolicyError) as err:
        compile_spec(PolicySpec("semver:^1", tag_filter=r"^(1\."))
    assert r"invalid tag-filter regular expression '^(1\.' at position" in str(err.value)


def test_rejection_reasons_quote_patterns_as_written() -> None:
    policy = compile_spec(PolicySpec("semver:*", tag_filter=r"^1\.\d+\.\d+$", exclude=r"\.0$"))
    choice = policy.choose(["1.1.0", "1.2.3", "v2"], None)
    reasons = {r.tag: r.reason for r in choice.rejected}
    assert reasons["1.1.0"] == r"matches exclude '\.0$'"
    assert reasons["v2"] == r"does not match tag-filter '^1\.\d+\.\d+$'"


def test_unprintable_characters_stay_visible() -> None:
    with pytest.raises(PolicyError) as err:
        compile_spec(PolicySpec("semver:^1", tag_filter="(\t"))
    assert r"'(\t'" in str(err.value)
