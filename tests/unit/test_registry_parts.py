"""The registry client's pure parts: challenges, names, budgets, platforms, credentials, cache."""

from __future__ import annotations

import email.utils
import json
import time

import pytest

from imagebot import redact
from imagebot.config.schema import RegistrySettings
from imagebot.errors import AuthError, RegistryError
from imagebot.registry.auth import Challenge, Token, TokenCache, parse_challenges, token_from_response
from imagebot.registry.budget import DOCKER_HUB_RATE, Breaker, TokenBucket, default_rate
from imagebot.registry.cache import TagCache
from imagebot.registry.credentials import CredentialStore
from imagebot.registry.manifests import Platform, index_platforms, missing_platforms
from imagebot.registry.names import api_host, split
from imagebot.registry.stats import RequestStats
from imagebot.registry.transport import _retry_after
from tests.support.registry_creds import basic_auth_entry, write_docker_config


@pytest.mark.parametrize("header,expected", [
    ('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/nginx:pull"',
     [Challenge("bearer", {"realm": "https://auth.docker.io/token", "service": "registry.docker.io",
                           "scope": "repository:library/nginx:pull"})]),
    ('Basic realm="Registry Realm"', [Challenge("basic", {"realm": "Registry Realm"})]),
    ('Bearer realm="https://r/token",scope="repository:a:pull,push",error="insufficient_scope"',
     [Challenge("bearer", {"realm": "https://r/token", "scope": "repository:a:pull,push",
                           "error": "insufficient_scope"})]),
    ('Bearer realm=https://r/t, service=svc, Basic realm="x"',
     [Challenge("bearer", {"realm": "https://r/t", "service": "svc"}), Challenge("basic", {"realm": "x"})]),
    ("", []),
])
def test_parse_challenges(header, expected):
    assert parse_challenges(header) == expected


def test_retry_after_seconds_and_dates():
    assert _retry_after("7") == 7.0
    assert _retry_after(None) is None and _retry_after("soon") is None
    later = email.utils.formatdate(time.time() + 120, usegmt=True)
    assert 110 < _retry_after(later) <= 120


@pytest.mark.parametrize("image,host,repo", [
    ("docker.io/library/nginx", "docker.io", "library/nginx"),
    ("docker.io/nginx", "docker.io", "library/nginx"),
    ("index.docker.io/bitnami/redis", "docker.io", "bitnami/redis"),
    ("nginx", "docker.io", "library/nginx"),
    ("ghcr.io/org/team/app", "ghcr.io", "org/team/app"),
    ("127.0.0.1:5000/team/app", "127.0.0.1:5000", "team/app"),
    ("localhost/app", "localhost", "app"),
])
def test_split_names(image, host, repo):
    assert split(image) == (host, repo)


def test_bad_repository_name():
    with pytest.raises(RegistryError, match="not a valid repository name"):
        split("ghcr.io/Org/App")


def test_docker_hub_api_host_and_stricter_default_rate():
    assert api_host("docker.io") == "registry-1.docker.io"
    assert api_host("ghcr.io") == "ghcr.io"
    assert default_rate("docker.io") == DOCKER_HUB_RATE
    assert default_rate("ghcr.io").requests_per_second > DOCKER_HUB_RATE.requests_per_second


def test_token_bucket_allows_a_burst_then_paces():
    now = [0.0]
    slept: list[float] = []

    def sleep(s: float) -> None:
        slept.append(s)
        now[0] += s

    bucket = TokenBucket(rate=2.0, burst=3, clock=lambda: now[0], sleep=sleep)
    for _ in range(3):
        assert bucket.take() == 0
    assert bucket.take() == pytest.approx(0.5)
    assert bucket.take() == pytest.approx(0.5)
    now[0] += 10  # idle: refills up to the burst, no more
    for _ in range(3):
        assert bucket.take() == 0
    assert bucket.take() > 0


def test_breaker_opens_after_consecutive_failures_only():
    b = Breaker(3)
    b.failure("a"); b.failure("b"); b.success(); b.failure("c"); b.failure("d")
    assert b.reason is None
    b.failure("e")
    assert b.reason == "failed 3 times in a row this cycle (last: e)"
    b.reset()
    assert b.reason is None


def test_platforms():
    assert Platform.parse("linux/arm64/v8") == Platform("linux", "arm64", "v8")
    assert Platform("linux", "arm64", "v8").covers(Platform.parse("linux/arm64"))
    assert not Platform("linux", "arm", "v6").covers(Platform.parse("linux/arm/v7"))
    with pytest.raises(ValueError, match="os/arch"):
        Platform.parse("amd64")
    index = {"manifests": [
        {"digest": "sha256:a", "platform": {"os": "linux", "architecture": "amd64"}},
        {"digest": "sha256:b", "platform": {"os": "linux", "architecture": "arm", "variant": "v7"}},
        {"digest": "sha256:c", "platform": {"os": "unknown", "architecture": "unknown"}},  # an attestation
    ]}
    have = [p for p, _ in index_platforms(index)]
    assert [str(p) for p in have] == ["linux/amd64", "linux/arm/v7"]
    assert missing_platforms(have, ("linux/amd64", "linux/arm/v7", "linux/arm64")) == ("linux/arm64",)


def test_token_response_forms_and_expiry():
    t = token_from_response({"token": "tok-abcdef", "expires_in": 300}, now=100.0)
    assert t == Token("tok-abcdef", 395.0)  # refreshed 5 s early
    assert token_from_response({"access_token": "tok-ghijkl"}, now=0.0).expires_at == 55.0
    assert token_from_response({"token": "tok-short", "expires_in": 4}, now=0.0).expires_at == 3.0
    assert token_from_response({"nothing": 1}) is None
    assert redact.redact("x tok-abcdef y") == "x *** y"
    cache = TokenCache()
    cache.put("s", Token("old-token", time.monotonic() - 1))
    assert cache.get("s") is None
    cache.put("s", Token("new-token", time.monotonic() + 100))
    assert cache.get("s").value == "new-token"


@pytest.mark.parametrize("entry,user,password,identity", [
    (basic_auth_entry("u1", "pass-one"), "u1", "pass-one", None),
    ({"username": "u2", "password": "pass-two"}, "u2", "pass-two", None),
    ({"identitytoken": "ident-three"}, None, None, "ident-three"),
])
def test_docker_config_auths(tmp_path, entry, user, password, identity):
    write_docker_config(tmp_path, {"auths": {"https://index.docker.io/v1/": entry}})
    creds = CredentialStore({}, {"DOCKER_CONFIG": str(tmp_path)}).get("docker.io")
    assert (creds.username, creds.password, creds.identity_token) == (user, password, identity)
    assert "pass" not in repr(creds) and "ident" not in repr(creds)
    assert redact.redact(f"[{password or identity}]") == "[***]"


def test_home_docker_config_is_the_fallback(tmp_path):
    write_docker_config(tmp_path / ".docker", {"auths": {"ghcr.io": basic_auth_entry("me", "home-secret")}})
    creds = CredentialStore({}, {"HOME": str(tmp_path)}).get("ghcr.io")
    assert creds.password == "home-secret" and str(tmp_path / ".docker" / "config.json") in creds.source


def test_settings_win_over_docker_config(tmp_path):
    write_docker_config(tmp_path, {"auths": {"ghcr.io": basic_auth_entry("docker", "docker-pw")}})
    s = {"ghcr.io": RegistrySettings(host="ghcr.io", username="cfg", password_env="PW")}
    creds = CredentialStore(s, {"DOCKER_CONFIG": str(tmp_path), "PW": "cfg-pw"}).get("ghcr.io")
    assert (creds.username, creds.password, creds.source) == ("cfg", "cfg-pw", "env PW")


def test_broken_auth_entry_is_an_error_without_the_secret(tmp_path):
    write_docker_config(tmp_path, {"auths": {"ghcr.io": {"auth": "not*base64"}}})
    with pytest.raises(AuthError, match="not base64 of user:password") as e:
        CredentialStore({}, {"DOCKER_CONFIG": str(tmp_path)}).get("ghcr.io")
    assert "not*base64" not in str(e.value)


def test_unreadable_docker_config_is_ignored(tmp_path, caplog):
    (tmp_path / "config.json").write_text("{not json")
    assert CredentialStore({}, {"DOCKER_CONFIG": str(tmp_path)}).get("ghcr.io") is None
    assert "ignoring docker config" in caplog.text


def test_tag_cache_round_trip_and_corruption(tmp_path):
    cache = TagCache(tmp_path)
    assert cache.load("ghcr.io/a") is None
    cache.store("ghcr.io/a", ("1", "2"), fetched_at=time.time() - 30)
    got = cache.load("ghcr.io/a")
    assert got.tags == ("1", "2") and 29 <= got.age() < 40
    assert cache.load("ghcr.io/b") is None
    (path,) = tmp_path.glob("*.json")
    assert json.loads(path.read_text())["image"] == "ghcr.io/a"
    path.write_text("{trunc")
    assert cache.load("ghcr.io/a") is None
    assert not list(tmp_path.glob(".tags-*"))  # no temp files left behind


def test_request_stats_filters():
    s = RequestStats()
    s.record("r1", "tags", 200)
    s.record("r1", "tags", 401)
    s.record("r2", "manifest", "timeout")
    assert s.count() == 3 and s.count("r1") == 2 and s.count(kind="tags", status=200) == 1
    assert s.count(status="timeout") == 1
    assert sorted(s.snapshot())  # mixed statuses still sort


def test_tag_cache_confirms_an_unchanged_list_without_rewriting_it(tmp_path):
    cache = TagCache(tmp_path)
    cache.store("ghcr.io/a", ("1", "2"), fetched_at=time.time() - 300)
    (path,) = tmp_path.glob("*.json")
    inode, written = path.stat().st_ino, path.read_bytes()
    assert cache.load("ghcr.io/a").age() >= 299
    cache.store("ghcr.io/a", ("1", "2"))  # listed again, same tags: confirmed
    assert path.stat().st_ino == inode and path.read_bytes() == written  # not rewritten
    assert cache.load("ghcr.io/a").age() < 5  # but fresh
    cache.store("ghcr.io/a", ("1", "2", "3"))  # a new tag: written
    assert cache.load("ghcr.io/a").tags == ("1", "2", "3")
    path.write_text('{"image": "ghcr.io/other", "tags": ["1", "2", "3"], "fetched_at": 0}')
    cache.store("ghcr.io/a", ("1", "2", "3"))  # a foreign file is never merely confirmed
    assert json.loads(path.read_text())["image"] == "ghcr.io/a"
