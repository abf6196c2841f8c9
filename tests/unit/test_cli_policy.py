"""`imagebot policy test`, as users run it: exit codes, stdout/stderr, --explain, --json, files, stdin."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from imagebot.cli import main


def run(*args: str, stdin: str | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["policy", "test", *args], input=stdin)
    return result.exit_code, result.stdout, result.stderr


# (arguments, exit code, stdout, stderr fragment)
CASES = [
    (["--policy", "semver:^1.0", "1.0.0", "1.5.0", "2.0.0"], 0, "1.5.0\n", ""),
    (["--policy", "semver:^1", "--current", "1.25.3-alpine", "1.27.1-alpine", "1.27.1", "1.28.0-bookworm"], 0, "1.27.1-alpine\n", ""),
    (["--policy", "minor", "--current", "1.5.0", "1.4.0", "2.0.0"], 0, "1.5.0\n", ""),
    (["--policy", "semver:^3", "1.0.0", "2.0.0"], 1, "", "no tag is allowed by semver:^3"),
    (["--policy", "minor", "1.0.0"], 1, "", "relative to the current version tag"),
    (["--policy", "numerical", "--tag-filter", r"^b-(\d+)$", "--extract", "$1", "b-9", "b-10", "c-99"], 0, "b-10\n", ""),
    (["--policy", "semver:*", "--exclude", "rc", "1.0.0", "1.1.0-rc.1"], 0, "1.0.0\n", ""),
    (["--policy", "semver:^1", "--prerelease", "1.0.0", "1.1.0-rc.1"], 0, "1.1.0-rc.1\n", ""),
    (["--policy", "semver:nope", "1.0.0"], 2, "", "invalid semver constraint 'nope'"),
    (["--policy", "sever:^1", "1.0.0"], 2, "", "unknown policy 'sever:^1'"),
    (["--policy", "semver:*", "--tag-filter", "(unclosed", "1.0.0"], 2, "", "invalid tag-filter regular expression '(unclosed'"),
    (["--policy", "semver:*", "--tag-filter", "(a)", "--extract", "$name", "a"], 2, "", "no group named 'name'"),
    (["--policy", "semver:*"], 2, "", "no tags"),
    # version-like current tags: no downgrade, no variant switch (issue #12)
    (["--policy", "semver:>=3.12 <3.14", "--current", "3.13.0rc2-slim", "3.12.7-slim", "3.12.7", "3.13.0rc3-slim"], 0, "3.13.0rc3-slim\n", ""),
    (["--policy", "semver:<=1.2.3", "--current", "1.2.2.0", "1.2.3.9", "1.2.3.0"], 0, "1.2.3.0\n", ""),
    (["--policy", "semver:*", "--current", "4.0.19.3001", "4.0.19.300", "4.0.20.3021", "5.0.1"], 0, "4.0.20.3021\n", ""),
    (["--policy", "semver:*", "--current", "1.0b1", "0.9", "1.0b2"], 0, "1.0b2\n", ""),
    # the current value may carry its pin; the policy runs on the tag
    (["--policy", "semver:*", "--current", "1.6.0@sha256:" + "0" * 64, "1.5.0", "1.6.0", "2.0.0"], 0, "2.0.0\n", ""),
    # a current tag that cannot be ordered is held, and stderr says why
    (["--policy", "semver:*", "--current", "master", "1.0.0", "1.1.0"], 0, "master\n", "the current tag master is a moving name"),
    (["--policy", "semver:*", "--current", "rocm-6.4.4", "7.0.0", "rocm-7.0.0"], 0, "rocm-6.4.4\n", "cannot be ordered"),
]


@pytest.mark.parametrize(("args", "code", "out", "err"), CASES, ids=lambda v: " ".join(v)[:50] if isinstance(v, list) else None)
def test_policy_test(args: list[str], code: int, out: str, err: str) -> None:
    got_code, got_out, got_err = run(*args)
    assert (got_code, got_out) == (code, out), got_err
    assert err in got_err


def test_json() -> None:
    code, out, _ = run("--policy", "semver:^1.0", "--json", "1.0.0", "1.5.0", "2.0.0", "x")
    assert code == 0
    data = json.loads(out)
    assert data["chosen"] == "1.5.0"
    assert data["candidates"] == ["1.5.0", "1.0.0"]
    assert data["rejected"] == [
        {"tag": "2.0.0", "reason": '"2.0.0" does not have same major version as "1.0"'},
        {"tag": "x", "reason": "not a semantic version (invalid semantic version)"},
    ]
    assert data["reason"].startswith("1.5.0: best of 2 tag(s)")


def test_json_when_nothing_qualifies_exits_1() -> None:
    code, out, _ = run("--policy", "semver:^9", "--json", "1.0.0")
    assert code == 1
    assert json.loads(out)["chosen"] is None


def test_explain_lists_every_tag_on_stderr() -> None:
    code, out, err = run("--policy", "semver:^1", "--current", "1.2.0", "--explain", "1.2.0", "1.3.0", "0.9.0", "1.3.0.sig", "latest")
    assert (code, out) == (0, "1.3.0\n")
    lines = err.splitlines()
    assert lines[0].split() == ["1.2.0", "candidate", "#2", "(current)"]
    assert lines[1].split() == ["1.3.0", "chosen"]
    assert "older than the current tag 1.2.0 (never downgrade)" in lines[2]
    assert "cosign" in lines[3]
    assert "moving name" in lines[4]
    assert lines[5].startswith("reason: 1.3.0: best of 2 tag(s)")


def test_tags_file_and_stdin(tmp_path: Path) -> None:
    listing = tmp_path / "tags.txt"
    listing.write_text("# crane ls output\n1.0.0\n\n  1.2.0  \n2.0.0\n")
    assert run("--policy", "semver:^1", "--tags-file", str(listing))[:2] == (0, "1.2.0\n")
    assert run("--policy", "semver:^1", "--tags-file", "-", stdin="1.0.0\n1.1.0\n")[:2] == (0, "1.1.0\n")
    code, _, err = run("--policy", "semver:^1", "--tags-file", str(listing), "1.0.0")
    assert code == 2 and "one of them" in err
    code, _, err = run("--policy", "semver:^1", "--tags-file", str(tmp_path / "missing"))
    assert code == 2 and "missing" in err


def test_hostile_tags_are_printed_safely() -> None:
    hostile = ["1.0.0", "$(rm -rf ~)", "1.0.1;reboot", "ünïcødé", "\x1b[31mred", "9" * 200, "a" * 129, "`id`", "1.0.2|sh"]
    code, out, err = run("--policy", "semver:^1", "--explain", *hostile)
    assert (code, out) == (0, "1.0.0\n")
    assert "\x1b" not in err and "'\\x1b[31mred'" in err
    assert "ünïcødé" in err
    code, out, _ = run("--policy", "alphabetical", "--json", *hostile)
    assert json.loads(out)["chosen"] == "ünïcødé"


def test_the_installed_command_reads_stdin() -> None:
    """The real process: exit code and streams as a shell script sees them."""
    proc = subprocess.run(
        [sys.executable, "-m", "imagebot", "policy", "test", "--policy", "patch", "--current", "1.4.0", "--tags-file", "-"],
        input="1.4.1\n1.5.0\n1.4.2-rc.1\n", capture_output=True, text=True, timeout=60,
    )
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "1.4.1\n", "")
