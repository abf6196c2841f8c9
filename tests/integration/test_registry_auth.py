"""Registry auth against the real docker-registry: htpasswd Basic, token auth, credential sources."""

from __future__ import annotations

from pathlib import Path

import pytest

from imagebot.config.schema import RegistrySettings
from imagebot.errors import AuthError
from imagebot.registry import RegistryClient, RetryPolicy
from imagebot.registry.auth import Token
from tests.support.registry import RegistryServer, registry_available
from tests.support.registry_creds import CredentialHelper, basic_auth_entry, write_docker_config
from tests.support.token_server import TokenServer

FAST = RetryPolicy(attempts=3, backoff=0.001, max_backoff=0.01)
USER, PASSWORD = "alice", "correct-horse-battery-staple"

pytestmark = pytest.mark.skipif(not registry_available(), reason="docker-registry is not installed")


@pytest.fixture(scope="module")
def basic_registry(tmp_path_factory):
    with RegistryServer(tmp_path_factory.mktemp("basic"), htpasswd={USER: PASSWORD}) as reg:
        reg.push("team/app", "1.0.0")
        reg.push("team/app", "1.1.0")
        reg.push("team/other", "0.1")
        yield reg


@pytest.fixture(scope="module")
def token_registry(tmp_path_factory):
    """Token auth: team/public is pullable anonymously; alice may pull team/app; nobody else may."""
    tmp = tmp_path_factory.mktemp("token")
    grants = {"team/app": {"pull"}, "team/public": {"pull"}}
    tokens = TokenServer(tmp, users={"admin": ("admin-pw", {r: {"pull", "push"} for r in
                                                           ("team/app", "team/public", "team/private")}),
                                     USER: (PASSWORD, grants)},
                         anonymous={"team/public": {"pull"}},
                         refresh_tokens={"refresh-token-for-alice": grants})
    with tokens, RegistryServer(tmp, extra_config=tokens.registry_config()) as reg:
        reg.session.auth = tokens.seeding_auth("admin", "admin-pw")
        reg.digests = {r: reg.push(r, "1.0") for r in ("team/app", "team/public", "team/private")}
        reg.tokens = tokens
        yield reg


def settings(host: str, **kw: object) -> list[RegistrySettings]:
    return [RegistrySettings(host=host, insecure=True, **kw)]


def docker_config_env(tmp_path: Path, host: str, entry: dict[str, str], **extra: str) -> dict[str, str]:
    write_docker_config(tmp_path / "docker", {"auths": {host: entry}})
    return {"DOCKER_CONFIG": str(tmp_path / "docker"), **extra}


# -- Basic (htpasswd) -----------------------------------------------------------------------------
@pytest.mark.parametrize("entry", [basic_auth_entry(USER, PASSWORD), {"username": USER, "password": PASSWORD}],
                         ids=["base64-auth", "username-password"])
def test_basic_auth_with_credentials_from_docker_config(basic_registry, tmp_path, entry):
    env = docker_config_env(tmp_path, basic_registry.host, entry)
    with RegistryClient(settings(basic_registry.host), env=env, retry=FAST) as client:
        assert sorted(client.tags(f"{basic_registry.host}/team/app").tags) == ["1.0.0", "1.1.0"]
        assert client.tags(f"{basic_registry.host}/team/other").tags == ("0.1",)
        assert client.digest(f"{basic_registry.host}/team/app", "1.0.0").startswith("sha256:")
        # one challenge, then credentials are sent before being asked
        assert client.stats.count(status=401) == 1
        assert client.stats.count(kind="tags", status=200) == 2


def test_docker_config_keyed_by_url_is_found(basic_registry, tmp_path):
    env = docker_config_env(tmp_path, f"https://{basic_registry.host}", basic_auth_entry(USER, PASSWORD))
    with RegistryClient(settings(basic_registry.host), env=env, retry=FAST) as client:
        assert client.tags(f"{basic_registry.host}/team/other").tags == ("0.1",)


def test_wrong_password_is_a_clear_permanent_error_without_the_password(basic_registry, tmp_path):
    wrong = "wrong-password-1234"
    env = docker_config_env(tmp_path, basic_registry.host, {"username": USER, "password": wrong})
    with RegistryClient(settings(basic_registry.host), env=env, retry=FAST) as client:
        with pytest.raises(AuthError) as e:
            client.tags(f"{basic_registry.host}/team/app")
        text = str(e.value) + repr(e.value.args)
        assert basic_registry.host in text and "rejected" in text and "docker config" in text
        assert not e.value.temporary
        assert client.stats.count(kind="tags") == 2  # the challenge and one try: no retries
    assert wrong not in str(e.value)


def test_no_credentials_says_where_it_looked(basic_registry, tmp_path):
    with RegistryClient(settings(basic_registry.host), env={"DOCKER_CONFIG": str(tmp_path)}, retry=FAST) as client:
        with pytest.raises(AuthError, match="requires credentials and none were found") as e:
            client.tags(f"{basic_registry.host}/team/app")
    assert str(tmp_path / "config.json") in str(e.value)


def test_password_from_env_and_file_settings(basic_registry, tmp_path):
    secret_file = tmp_path / "password"
    secret_file.write_text(PASSWORD + "\n")  # a mounted Secret often ends with a newline
    image = f"{basic_registry.host}/team/other"
    by_env = settings(basic_registry.host, username_env="REG_USER", password_env="REG_PASSWORD")
    with RegistryClient(by_env, env={"REG_USER": USER, "REG_PASSWORD": PASSWORD}, retry=FAST) as client:
        assert client.tags(image).tags == ("0.1",)
    by_file = settings(basic_registry.host, username=USER, password_file=str(secret_file))
    with RegistryClient(by_file, env={}, retry=FAST) as client:
        assert client.tags(image).tags == ("0.1",)
    missing = settings(basic_registry.host, username=USER, password_env="NOT_SET")
    with RegistryClient(missing, env={}, retry=FAST) as client, pytest.raises(AuthError, match="NOT_SET is not set"):
        client.tags(image)


def test_credential_helper_from_docker_config(basic_registry, tmp_path):
    helper = CredentialHelper(tmp_path / "bin", "test", {basic_registry.host: (USER, PASSWORD)})
    write_docker_config(tmp_path / "docker", {"credHelpers": {basic_registry.host: "test"}})
    env = helper.env(DOCKER_CONFIG=str(tmp_path / "docker"))
    with RegistryClient(settings(basic_registry.host), env=env, retry=FAST) as client:
        assert client.tags(f"{basic_registry.host}/team/other").tags == ("0.1",)
        client.tags(f"{basic_registry.host}/team/app")
    assert helper.asked() == [basic_registry.host]  # asked once, with the server URL on stdin


def test_creds_store_and_config_credential_helper(basic_registry, tmp_path):
    helper = CredentialHelper(tmp_path / "bin", "test", {basic_registry.host: (USER, PASSWORD)})
    write_docker_config(tmp_path / "docker", {"credsStore": "test"})
    env = helper.env(DOCKER_CONFIG=str(tmp_path / "docker"))
    with RegistryClient(settings(basic_registry.host), env=env, retry=FAST) as client:
        assert client.tags(f"{basic_registry.host}/team/other").tags == ("0.1",)
    env = helper.env(DOCKER_CONFIG=str(tmp_path / "nothing"))
    with RegistryClient(settings(basic_registry.host, credential_helper="test"), env=env, retry=FAST) as client:
        assert client.tags(f"{basic_registry.host}/team/other").tags == ("0.1",)


def test_credential_helper_without_an_entry_means_anonymous(basic_registry, tmp_path):
    helper = CredentialHelper(tmp_path / "bin", "test", {})
    env = helper.env(DOCKER_CONFIG=str(tmp_path / "nothing"))
    with RegistryClient(settings(basic_registry.host, credential_helper="test"), env=env, retry=FAST) as client:
        with pytest.raises(AuthError, match="requires credentials"):
            client.tags(f"{basic_registry.host}/team/other")


def test_missing_credential_helper_is_named(basic_registry, tmp_path):
    env = {"PATH": str(tmp_path), "DOCKER_CONFIG": str(tmp_path)}
    with RegistryClient(settings(basic_registry.host, credential_helper="absent"), env=env, retry=FAST) as client:
        with pytest.raises(AuthError, match="docker-credential-absent is not on PATH"):
            client.tags(f"{basic_registry.host}/team/other")


# -- token auth -----------------------------------------------------------------------------------
def test_token_auth_anonymous_pull(token_registry):
    reg = token_registry
    with RegistryClient(settings(reg.host), env={}, retry=FAST) as client:
        assert client.tags(f"{reg.host}/team/public").tags == ("1.0",)
        assert client.digest(f"{reg.host}/team/public", "1.0") == reg.digests["team/public"]
        assert client.labels(f"{reg.host}/team/public", "1.0")["imagebot.test/tag"] == "1.0"
        # one token for the scope, reused by the listing, HEAD, manifest GET and blob GET
        assert client.stats.count(kind="token") == 1
        assert client.stats.count(status=401) == 1


def test_token_auth_with_credentials_from_docker_config(token_registry, tmp_path):
    reg = token_registry
    env = docker_config_env(tmp_path, reg.host, basic_auth_entry(USER, PASSWORD))
    before = len(reg.tokens.requests)
    with RegistryClient(settings(reg.host), env=env, retry=FAST) as client:
        assert client.tags(f"{reg.host}/team/app").tags == ("1.0",)
        assert client.digest(f"{reg.host}/team/app", "1.0") == reg.digests["team/app"]
        assert client.tags(f"{reg.host}/team/public").tags == ("1.0",)
        # a token per repository scope; the second one asked for without a 401 first
        assert client.stats.count(kind="token") == 2
        assert client.stats.count(status=401) == 1
    asked = reg.tokens.requests[before:]
    assert [r["account"] for r in asked] == [USER, USER]
    assert [r["scope"] for r in asked] == ["repository:team/app:pull", "repository:team/public:pull"]


def test_token_auth_with_an_identity_token(token_registry, tmp_path):
    reg = token_registry
    env = docker_config_env(tmp_path, reg.host, {"identitytoken": "refresh-token-for-alice"})
    with RegistryClient(settings(reg.host), env=env, retry=FAST) as client:
        assert client.tags(f"{reg.host}/team/app").tags == ("1.0",)
    assert reg.tokens.requests[-1]["grant_type"] == "refresh_token"


def test_insufficient_scope_is_a_clear_auth_error(token_registry, tmp_path):
    reg = token_registry
    env = docker_config_env(tmp_path, reg.host, basic_auth_entry(USER, PASSWORD))
    with RegistryClient(settings(reg.host), env=env, retry=FAST) as client:
        assert client.tags(f"{reg.host}/team/app").tags == ("1.0",)
        with pytest.raises(AuthError) as e:
            client.tags(f"{reg.host}/team/private")
        assert "insufficient_scope" in str(e.value) and "team/private" in str(e.value)
        assert reg.host in str(e.value) and not e.value.temporary
        # the denial does not spoil the other repository's token
        assert client.digest(f"{reg.host}/team/app", "1.0") == reg.digests["team/app"]


def test_a_token_the_registry_no_longer_accepts_is_replaced(token_registry):
    reg = token_registry
    with RegistryClient(settings(reg.host), env={}, retry=FAST) as client:
        assert client.tags(f"{reg.host}/team/public").tags == ("1.0",)
        # the cached token is revoked (or the registry restarted with a new key): 401 invalid_token
        client.registry(reg.host).tokens.put("repository:team/public:pull", Token("revoked-token", 1e12))
        assert client.digest(f"{reg.host}/team/public", "1.0") == reg.digests["team/public"]
        assert client.stats.count(kind="token") == 2


def test_anonymous_pull_of_a_private_repository_is_denied(token_registry):
    reg = token_registry
    with RegistryClient(settings(reg.host), env={}, retry=FAST) as client:
        with pytest.raises(AuthError, match="anonymously"):
            client.tags(f"{reg.host}/team/private")


def test_token_service_rejecting_credentials(token_registry, tmp_path):
    reg = token_registry
    wrong = "not-alices-password"
    env = docker_config_env(tmp_path, reg.host, basic_auth_entry(USER, wrong))
    with RegistryClient(settings(reg.host), env=env, retry=FAST) as client:
        with pytest.raises(AuthError, match="token service .* rejected the credentials from docker config") as e:
            client.tags(f"{reg.host}/team/app")
    assert wrong not in str(e.value) and reg.host in str(e.value)
