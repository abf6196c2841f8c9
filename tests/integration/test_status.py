"""`GET /status` and `imagebot status` on a running agent (real pipeline, registry, Git remote):
for a held image the reason it is held; for an updated one where it landed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import requests

from imagebot.report.status import HELD, UPDATED
from tests.integration.test_agent_e2e import TOKEN, pytestmark, start_replica  # noqa: F401
from tests.support.cli import imagebot, write_config
from tests.support.gitrepo import make_remote
from tests.support.manifests import deployment
from tests.support.registry import RegistryServer, free_port

WEB = (deployment("web", "HOST/team/app:1.0.0").replace('"semver:^1.0"\n', '"semver:^1.0"\n    imagebot.io/policy.legacy: "semver:^1.0"\n')
       + "        - name: legacy\n          image: HOST/team/legacy:1.0.0\n")


def test_imagebot_status_names_the_reason_a_held_image_is_held(tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.setenv("IMAGEBOT_WEBHOOK_TOKEN", TOKEN)
    port = free_port()
    host = f"127.0.0.1:{port}"
    remote = make_remote(tmp_path, {"apps/web.yaml": WEB.replace("HOST", host)})
    cfg = write_config(tmp_path / "imagebot.yaml", remote=remote, registry_host=host,
                       extra="interval: 1h\nagent:\n  drift_interval: null\n")
    with RegistryServer(tmp_path, port=port) as reg:
        reg.push_tags("team/app", ["1.0.0", "1.1.0"])
        pass  # team/legacy is not in the registry: held
        replica = start_replica(cfg, free_port())
        try:
            assert replica.agent.wait_cycles(1, 30)
            doc = requests.get(f"{replica.url}/status", timeout=5).json()
            res = imagebot("status", "--url", replica.url, cwd=tmp_path)
            as_json = imagebot("status", "--url", replica.url, "--json", cwd=tmp_path)
        finally:
            replica.stop()
    refs = {r["image"].rsplit("/", 1)[1]: r for r in doc["references"]}
    assert refs["legacy"]["state"] == HELD and refs["legacy"]["latest_allowed"] is None
    assert "team/legacy: not found (404)" in refs["legacy"]["reason"], refs["legacy"]
    assert refs["app"]["state"] == UPDATED and refs["app"]["latest_allowed"] == "1.1.0" and refs["app"]["commit"]
    assert doc["last_cycle"]["changes_landed"] == 1 and doc["leader"] is True

    assert res.code == 1, res.err  # something is held
    lines = res.out.splitlines()
    held = next(i for i, line in enumerate(lines) if line.startswith("HELD") and "team/legacy:1.0.0" in line)
    assert refs["legacy"]["reason"] in lines[held + 1]
    assert "apps/web.yaml:" in lines[held]
    assert json.loads(as_json.out)["references"] == doc["references"]

    gone = imagebot("status", "--url", f"http://127.0.0.1:{free_port()}", cwd=tmp_path)
    assert gone.code == 3 and "no status from" in gone.err
