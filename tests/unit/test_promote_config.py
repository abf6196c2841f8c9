"""`promotions:` in the config: the contract's shape, and bad input named by field."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from imagebot.config.schema import Config

BASE = {"name": "production", "from": {"path": "overlays/staging"}, "to": {"path": "overlays/production"}}


def cfg(*promotions: dict) -> Config:
    return Config.model_validate({"repository": {"url": "/x"}, "promotions": list(promotions)})


def test_contract_shape_and_defaults() -> None:
    (p,) = cfg({**BASE, "soak": "2d", "checks": "none", "windows": [{"cron": "* 9-16 * * mon-fri", "timezone": "Europe/Berlin"}],
                "delivery": {"mode": "commit"}}).promotions
    assert (p.from_.path, p.to.path, p.soak_seconds, p.checks, p.delivery.mode) == ("overlays/staging", "overlays/production", 172800.0, "none", "commit")
    (d,) = cfg({"name": "prod", "from": {"branch": "staging"}, "to": {"branch": "production"}}).promotions
    assert (d.checks, d.delivery.mode, d.pin, d.allow_rollback, d.branch_prefix) == ("required", "pull-request", True, False, "imagebot-promote-prod/")


@pytest.mark.parametrize(
    ("item", "says"),
    [
        ({**BASE, "from": {"path": "a", "branch": "b"}}, "exactly one of path or branch"),
        ({**BASE, "to": {"path": "../prod"}}, "without '..'"),
        ({**BASE, "to": {"branch": "bad..name"}}, "not a valid branch name"),
        ({**BASE, "to": BASE["from"]}, "same environment"),
        ({**BASE, "soak": "1 day"}, "not a duration"),
        ({**BASE, "checks": "maybe"}, "checks"),
        ({**BASE, "windows": [{"cron": "* 25 * * *"}]}, "cron hour"),
        ({**BASE, "windows": [{"cron": "* * * * *", "timezone": "Nowhere/City"}]}, "IANA time zone"),
        ({**BASE, "windows": [{"blackout": "2026-13-01"}]}, "YYYY-MM-DD"),
    ],
)
def test_bad_promotions_are_named(item: dict, says: str) -> None:
    with pytest.raises(ValidationError) as e:
        cfg(item)
    assert says in str(e.value)


def test_names_are_unique() -> None:
    with pytest.raises(ValidationError, match="listed twice"):
        cfg(BASE, {**BASE, "to": {"branch": "main"}})


def test_production_branch_is_not_where_the_policies_write() -> None:
    with pytest.raises(ValidationError, match="set repository.branch to the staging branch"):
        Config.model_validate({"repository": {"url": "/x", "branch": "main"},
                               "promotions": [{"name": "p", "from": {"branch": "staging"}, "to": {"branch": "main"}}]})
