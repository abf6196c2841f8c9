"""Shared fixtures: a real docker-registry, bare Git remotes, and ../shared test data."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.support.registry import RegistryServer, registry_available

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("IMAGEBOT_SHARED", ROOT.parent / "shared")).resolve()
SHARED_TESTDATA = SHARED / "testdata"


def shared_path(*parts: str) -> Path:
    """A path under ../shared/testdata; skips the test with a clear reason when it is absent."""
    p = SHARED_TESTDATA.joinpath(*parts)
    if not p.exists():
        pytest.skip(f"{p} is absent: ../shared/testdata comes with the project's workspace, not with a plain clone")
    return p


@pytest.fixture
def registry(tmp_path: Path):
    """An anonymous docker-registry on a free loopback port, stopped after the test."""
    if not registry_available():
        pytest.skip("docker-registry is not installed (apt-get install docker-registry; `make test` does it)")
    with RegistryServer(tmp_path) as reg:
        yield reg


@pytest.fixture(scope="module")
def module_registry(tmp_path_factory: pytest.TempPathFactory):
    if not registry_available():
        pytest.skip("docker-registry is not installed (apt-get install docker-registry; `make test` does it)")
    with RegistryServer(tmp_path_factory.mktemp("reg")) as reg:
        yield reg


@pytest.fixture(autouse=True)
def _collection_as_in_a_new_process(monkeypatch: pytest.MonkeyPatch):
    """A command run in this process (CliRunner) that runs one cycle and exits turns automatic
    garbage collection off for the rest of its process (imagebot.collector); here the process goes
    on with the next test, which starts as a new process would."""
    import gc

    from imagebot import collector

    monkeypatch.setattr(collector, "_for_good", False)
    yield
    gc.enable()


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """No test reads the developer's ~/.docker or git config, or writes to ~/.cache."""
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / ".docker-empty"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / ".cache"))
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(tmp_path / ".gitconfig-empty"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.delenv("IMAGEBOT_CONFIG", raising=False)
