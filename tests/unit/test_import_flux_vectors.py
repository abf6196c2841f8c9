"""`imagebot import flux` keeps Flux's decisions: each controller-level vector of Flux's
image-reflector-controller (../shared/testdata/peers/flux_policy.json, kind=pipeline: filterTags +
policy -> the selected original tag, from internal/controller/policy_test.go) is written as the
ImageRepository + ImagePolicy objects Flux would read, imported, and decided by imagebot."""

from __future__ import annotations

import json

import pytest

from imagebot.config.flux_import import FluxObject, import_flux
from imagebot.config.schema import NamedPolicy
from imagebot.errors import PolicyError
from imagebot.policy import compile_spec
from tests.conftest import shared_path

pytestmark = pytest.mark.shared


def _cases() -> list[dict]:
    try:
        data = json.loads(shared_path("peers", "flux_policy.json").read_text())
    except BaseException:  # pytest.skip from shared_path: no ../shared in a plain clone
        return []
    return [c for c in data["cases"] if c["kind"] == "pipeline"]


def _objects(case: dict) -> list[FluxObject]:
    params = dict(case["params"])
    spec: dict = {"imageRepositoryRef": {"name": "app"}, "policy": {}}
    if "filterTags" in params:
        spec["filterTags"] = params.pop("filterTags")
    if case["policy_type"]:
        spec["policy"] = {case["policy_type"]: params}
    repo = FluxObject("ImageRepository", "flux-system", "app", {"image": "ghcr.io/org/app"}, "vector")
    return [repo, FluxObject("ImagePolicy", "flux-system", "app", spec, "vector")]


@pytest.mark.parametrize("case", _cases() or [pytest.param(None, marks=pytest.mark.skip("no ../shared test data"))],
                         ids=lambda c: c["source"]["label"] if c else "none")
def test_imported_policy_decides_as_flux(case: dict) -> None:
    shared_path("peers", "flux_policy.json")
    result = import_flux(_objects(case), "https://example.com/fleet.git")
    named = (result.config.get("policies") or {}).get("flux-system:app")
    if named is None:
        assert case["expected_error"], result.notes
        return
    policy = NamedPolicy.model_validate(named)
    try:
        choice = compile_spec(policy.spec("imported")).choose(case["tags"], None)
    except PolicyError:
        assert case["expected_error"]
        return
    if case["expected_error"]:
        assert choice.chosen is None  # "no tags in database": nothing to choose, as Flux's error
    else:
        assert choice.chosen == case["expected"], choice.reason
