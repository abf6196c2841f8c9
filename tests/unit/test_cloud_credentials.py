"""`registries[].provider`: config rules, token lifetimes, and a missing cloud library (no I/O)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from imagebot.config.schema import RegistrySettings
from imagebot.errors import AuthError
from imagebot.registry import credentials
from imagebot.registry.cloud_azure import jwt_expiry
from imagebot.registry.credentials import CredentialStore, usable_until
from tests.support.cloud_fakes import unsigned_jwt


def test_provider_is_the_only_credential_source_of_its_registry() -> None:
    assert RegistrySettings(host="123456789012.dkr.ecr.eu-west-1.amazonaws.com", provider="aws").provider == "aws"
    with pytest.raises(ValidationError, match="provider: gcp logs in by itself; drop username, password_env"):
        RegistrySettings(host="europe-docker.pkg.dev", provider="gcp", username="u", password_env="P")
    with pytest.raises(ValidationError):
        RegistrySettings(host="x.azurecr.io", provider="oracle")  # type: ignore[arg-type]


@pytest.mark.parametrize(("lifetime", "kept_for"), [
    (43200, 43200 - 300),  # ECR: 12 h, dropped 5 min early
    (3600, 3600 - 300),    # GCP: 1 h
    (120, 90),             # short-lived: a quarter of its life early
])
def test_a_token_is_used_until_shortly_before_it_expires(lifetime: float, kept_for: float) -> None:
    assert usable_until(1000.0 + lifetime, now=1000.0) == pytest.approx(1000.0 + kept_for)


@pytest.mark.parametrize("expiry", [None, 999.0, 1000.0])
def test_a_token_without_a_future_expiry_is_not_kept(expiry: float | None) -> None:
    assert usable_until(expiry, now=1000.0) is None


def test_the_expiry_of_an_acr_refresh_token_is_its_jwt_exp() -> None:
    assert jwt_expiry(unsigned_jwt({"exp": 1767225600})) == 1767225600
    assert jwt_expiry("not-a-jwt") is None


def test_a_missing_cloud_library_names_the_extra_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(credentials.PROVIDERS, "aws", "imagebot_no_such_module_for_the_test")
    host = "123456789012.dkr.ecr.eu-west-1.amazonaws.com"
    store = CredentialStore({host: RegistrySettings(host=host, provider="aws")}, {})
    with pytest.raises(AuthError, match=r"pip install 'imagebot\[aws\]'") as e:
        store.get(host)
    assert not e.value.temporary


def test_ecr_region_and_account_come_from_the_host() -> None:
    from imagebot.registry.cloud_aws import registry_of

    assert registry_of("123456789012.dkr.ecr.eu-west-1.amazonaws.com", {}) == ("eu-west-1", "123456789012")
    assert registry_of("123456789012.dkr.ecr-fips.us-gov-west-1.amazonaws.com", {}) == ("us-gov-west-1", "123456789012")
    assert registry_of("123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn", {}) == ("cn-north-1", "123456789012")
    assert registry_of("mirror.example.com", {"AWS_REGION": "us-east-2"}) == ("us-east-2", None)
    with pytest.raises(AuthError, match="AWS_REGION is not set"):
        registry_of("mirror.example.com", {})
