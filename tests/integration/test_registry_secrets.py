"""Secrets never leave the client: not in logs (even at debug level, even unredacted), exception
texts, request stats, or the tag cache on disk."""

from __future__ import annotations

import base64
import logging
from pathlib import Path

import pytest

from imagebot.config.schema import RegistrySettings
from imagebot.errors import RegistryError
from imagebot.registry import RegistryClient, RetryPolicy
from tests.support.registry import RegistryServer, registry_available
from tests.support.registry_creds import CredentialHelper, basic_auth_entry, write_docker_config
from tests.support.registry_proxy import RegistryProxy
from tests.support.token_server import TokenServer

pytestmark = pytest.mark.skipif(not registry_available(), reason="docker-registry is not installed")
FAST = RetryPolicy(attempts=2, backoff=0.001, max_backoff=0.01)
PASSWORD = "planted-password-7f3a91"
ENV_PASSWORD = "planted-env-secret-c0ffee"
HELPER_SECRET = "planted-helper-secret-d00d"
REFRESH = "planted-refresh-token-beef"


class RawRecords(logging.Handler):
    """Every record's final text, before any redaction: we must not log secrets in the first place."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.texts: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.texts.append(record.getMessage())
        if record.exc_info:
            self.texts.append(logging.Formatter().formatException(record.exc_info))


@pytest.fixture
def raw_log():
    handler = RawRecords()
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield handler
    root.removeHandler(handler)
    root.setLevel(old_level)


def forms(secret: str, user: str = "alice") -> list[str]:
    return [secret, base64.b64encode(f"{user}:{secret}".encode()).decode(), base64.b64encode(secret.encode()).decode()]


def test_planted_secrets_appear_nowhere(tmp_path: Path, raw_log: RawRecords):
    tokens = TokenServer(tmp_path, users={"admin": ("admin-pw", {"t/app": {"pull", "push"}}),
                                          "alice": (PASSWORD, {"t/app": {"pull"}})},
                         refresh_tokens={REFRESH: {"t/app": {"pull"}}})
    cache = tmp_path / "cache"
    errors: list[BaseException] = []
    with tokens, RegistryServer(tmp_path, extra_config=tokens.registry_config()) as token_reg, \
            RegistryServer(tmp_path, htpasswd={"alice": PASSWORD}) as basic_reg, \
            RegistryServer(tmp_path, htpasswd={"bob": ENV_PASSWORD}) as env_reg, \
            RegistryServer(tmp_path, htpasswd={"carol": HELPER_SECRET}) as helper_reg, \
            RegistryProxy(basic_reg.url) as proxy:
        token_reg.session.auth = tokens.seeding_auth("admin", "admin-pw")
        for reg in (token_reg, basic_reg, env_reg, helper_reg):
            reg.push("t/app", "1.0", labels={"org.opencontainers.image.source": "https://example.com/app"})
        helper = CredentialHelper(tmp_path / "bin", "test", {helper_reg.host: ("carol", HELPER_SECRET)})
        write_docker_config(tmp_path / "docker", {
            "auths": {token_reg.host: basic_auth_entry("alice", PASSWORD),
                      basic_reg.host: basic_auth_entry("alice", PASSWORD),
                      proxy.host: basic_auth_entry("alice", PASSWORD)},
            "credHelpers": {helper_reg.host: "test"},
        })
        env = helper.env(DOCKER_CONFIG=str(tmp_path / "docker"), BOB_PASSWORD=ENV_PASSWORD)
        settings = [RegistrySettings(host=h, insecure=True) for h in (token_reg.host, basic_reg.host, helper_reg.host,
                                                                      proxy.host)]
        settings.append(RegistrySettings(host=env_reg.host, insecure=True, username="bob", password_env="BOB_PASSWORD"))
        with RegistryClient(settings, env=env, retry=FAST, cache_dir=cache) as client:
            for reg in (token_reg, basic_reg, env_reg, helper_reg, proxy):
                image = f"{reg.host}/t/app"
                assert client.tags(image).tags == ("1.0",)
                assert client.digest(image, "1.0").startswith("sha256:")
                assert client.labels(image, "1.0")["org.opencontainers.image.source"]
            # failures: the registry behind the proxy goes down (stale list), and a wrong password
            client.new_cycle()
            proxy.inject("503", path="/tags/list", times=100)
            assert client.tags(f"{proxy.host}/t/app").stale_age is not None
            try:
                client.digest(f"{proxy.host}/t/app", "2.0")
            except RegistryError as e:
                errors.append(e)
            stats = repr(client.stats)
        write_docker_config(tmp_path / "docker", {"auths": {basic_reg.host: {"username": "alice",
                                                                              "password": PASSWORD + "x"}}})
        with RegistryClient(settings, env=env, retry=FAST) as client:
            try:
                client.tags(f"{basic_reg.host}/t/app")
            except RegistryError as e:
                errors.append(e)
        write_docker_config(tmp_path / "docker", {"auths": {token_reg.host: {"identitytoken": REFRESH}}})
        with RegistryClient(settings, env=env, retry=FAST) as client:
            assert client.tags(f"{token_reg.host}/t/app").tags == ("1.0",)
        issued = list(tokens.issued)

    assert len(errors) == 2 and issued
    secrets = [s for p in (PASSWORD, PASSWORD + "x", ENV_PASSWORD, HELPER_SECRET, REFRESH) for s in forms(p)] + issued
    places = {
        "logs": "\n".join(raw_log.texts),
        "exceptions": "\n".join(f"{e}\n{e!r}\n{e.args}" for e in errors),
        "stats": stats,
        "cache": "\n".join(p.read_text() for p in cache.rglob("*") if p.is_file()),
    }
    assert places["cache"] and places["logs"]
    assert any("GET /v2/t/app/tags/list" in t for t in raw_log.texts)  # debug logging really was on
    for where, text in places.items():
        leaked = [s[:12] + "…" for s in secrets if s in text]
        assert not leaked, f"secrets found in {where}: {leaked}"
