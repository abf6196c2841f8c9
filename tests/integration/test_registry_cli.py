"""`imagebot tags IMAGE` as a user runs it, against the real registry."""

from __future__ import annotations

import json

from tests.support.cli import imagebot, write_config
from tests.support.registry import RegistryServer
from tests.support.registry_creds import write_docker_config


def test_lists_tags_with_a_config(registry, tmp_path):
    registry.push_tags("team/app", ["1.0.0", "1.1.0"])
    config = write_config(tmp_path / "imagebot.yaml", remote=tmp_path / "remote.git", registry_host=registry.host)
    r = imagebot("tags", f"{registry.host}/team/app:1.0.0", "-c", str(config), cwd=tmp_path)
    assert r.code == 0, r.err
    assert sorted(r.out.split()) == ["1.0.0", "1.1.0"]


def test_json_output_and_no_config(registry, tmp_path):
    registry.push("tools/busybox", "1.36")
    r = imagebot("tags", f"{registry.host}/tools/busybox", "--json", cwd=tmp_path, env={"DOCKER_CONFIG": str(tmp_path)})
    assert r.code == 0, r.err
    doc = json.loads(r.out)
    assert doc == {"image": f"{registry.host}/tools/busybox", "tags": ["1.36"], "stale_age": None, "requests": 1}


def test_a_wrong_password_exits_1_naming_the_registry(tmp_path):
    password = "cli-wrong-password-42"
    with RegistryServer(tmp_path, htpasswd={"alice": "right-password"}) as reg:
        reg.push("team/app", "1.0")
        write_docker_config(tmp_path / "docker", {"auths": {reg.host: {"username": "alice", "password": password}}})
        r = imagebot("tags", f"{reg.host}/team/app", "--log-level", "debug", cwd=tmp_path,
                     env={"DOCKER_CONFIG": str(tmp_path / "docker")})
    assert r.code == 1
    assert f"registry {reg.host}" in r.err and "rejected" in r.err
    assert password not in r.err + r.out


def test_a_bad_image_reference_is_a_usage_error(tmp_path):
    r = imagebot("tags", "Not A Reference", cwd=tmp_path)
    assert r.code == 2 and "invalid reference format" in r.err


def test_policy_test_reads_tags_from_a_live_registry(registry, tmp_path) -> None:
    """`imagebot policy test --image` lists the image's tags and takes its tag as --current."""
    from tests.support.cli import imagebot

    registry.push_tags("team/live", ["1.0.0", "1.4.0", "2.0.0", "1.5.0-rc.1"])
    res = imagebot("policy", "test", "--policy", "semver:^1", "--image", f"{registry.host}/team/live:1.0.0", cwd=tmp_path)
    assert (res.code, res.out) == (0, "1.4.0\n"), res.err
    res = imagebot("policy", "test", "--policy", "major", "--image", f"{registry.host}/team/live:2.0.0", cwd=tmp_path)
    assert (res.code, res.out) == (0, "2.0.0\n"), res.err  # nothing newer: the current tag stays
    res = imagebot("policy", "test", "--policy", "major", "--image", f"{registry.host}/team/live", "1.0", cwd=tmp_path)
    assert res.code == 2 and "one of them" in res.err
