"""Acceptance: a config with a typo *and* a bad named policy lists both, each with its line.

Found by using imagebot: with a schema error present, a bad named policy was not reported at
all (the user fixed the typo, ran again, and only then learned about the policy); and a bad
policy named no line, unlike every other bad field.
"""

from __future__ import annotations

import pytest

from imagebot.config import load_text
from imagebot.errors import EXIT_USAGE, ConfigError

CONFIG = """\
repository:
  url: /x
registries:
  - host: ghcr.io
    pasword_env: TOKEN
policies:
  web: {image: ghcr.io/x/web, polcy: "semver:^1"}
  api: {image: ghcr.io/x/api, policy: "semver:^1", tag-filter: "^(v"}
  ok: {image: ghcr.io/x/ok, policy: "newest"}
  fine: {image: ghcr.io/x/fine, policy: "minor"}
"""


def test_every_bad_field_and_policy_is_listed_with_its_line() -> None:
    with pytest.raises(ConfigError) as e:
        load_text(CONFIG, "imagebot.yaml")
    assert e.value.exit_code == EXIT_USAGE
    problems = e.value.problems
    assert "registries[0].pasword_env: unknown field (line 5)" in problems
    assert "policies.web.polcy: unknown field (line 7)" in problems
    assert any(p.startswith("policies.api: invalid tag-filter regular expression") and p.endswith("(line 8)") for p in problems), problems
    assert any(p.startswith("policies.ok: unknown policy 'newest'") and p.endswith("(line 9)") for p in problems), problems
    assert not any("fine" in p for p in problems)
    assert str(e.value).startswith(f"imagebot.yaml: {len(problems)} invalid field(s)")


def test_bad_policy_alone_names_its_line() -> None:
    with pytest.raises(ConfigError) as e:
        load_text('repository: {url: /x}\npolicies:\n  api: {image: ghcr.io/o/api, policy: "semver:^^1"}\n', "c.yaml")
    (problem,) = e.value.problems
    assert problem.startswith("policies.api: policy 'semver:^^1': invalid semver constraint") and problem.endswith("(line 3)")


@pytest.mark.parametrize(
    ("host", "hint"),
    [
        ("https://ghcr.io", "without the scheme"),
        ("http://127.0.0.1:5000", "insecure: true"),
        ("ghcr.io/org", "without a path"),
        ("ghcr.io/", "without a path"),
    ],
)
def test_a_registry_host_with_a_scheme_or_path_is_a_config_error(host: str, hint: str) -> None:
    """Found by using imagebot: `host: https://ghcr.io` was accepted and then matched no image,
    so its credentials were silently never used (the registry answered 401 to anonymous)."""
    with pytest.raises(ConfigError) as e:
        load_text(f"repository: {{url: /x}}\nregistries:\n  - host: {host}\n    username: bot\n", "c.yaml")
    (problem,) = e.value.problems
    assert problem.startswith("registries[0].host:") and hint in problem and problem.endswith("(line 3)"), problem


def test_plain_hosts_are_accepted() -> None:
    cfg = load_text("repository: {url: /x}\nregistries: [{host: ghcr.io}, {host: '127.0.0.1:5000'}, {host: localhost}, {host: '[::1]:5000'}]\n")
    assert [r.host for r in cfg.registries] == ["ghcr.io", "127.0.0.1:5000", "localhost", "[::1]:5000"]
