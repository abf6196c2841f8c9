"""Acceptance: pinned references (`tag@sha256:`) when the registry changes under them.

Found by using imagebot: after the deployed, pinned tag was deleted from the registry, every
cycle reported a problem (exit 1) "digest of X:1.3.0: registry H: digest of X:1.3.0: not
found (404)" although nothing was to change: the policy kept the current tag (never
downgrade), and its pin was already written. And registry errors about digests named the
digest twice.
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.support.cli import imagebot, write_config
from tests.support.gitrepo import make_remote, rev
from tests.support.registry_proxy import RegistryProxy

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  annotations:
    imagebot.io/policy: "semver:^1"
    imagebot.io/pin-digest: "true"
spec:
  template:
    spec:
      containers:
        - name: app
          image: HOST/team/app:1.3.0@DIGEST
"""


def test_a_pinned_tag_deleted_from_the_registry_stays_pinned_without_a_problem(tmp_path: Path, registry) -> None:
    digests = registry.push_tags("team/app", ["1.0.0", "1.2.0", "1.3.0"])
    text = DEPLOYMENT.replace("HOST", registry.host).replace("DIGEST", digests["1.3.0"])
    remote = make_remote(tmp_path, {"web.yaml": text})
    write_config(tmp_path / "imagebot.yaml", remote=remote, registry_host=registry.host)
    registry.delete_tag("team/app", "1.3.0")

    res = imagebot("plan", "--json", cwd=tmp_path)

    assert res.code == 0, res.err + res.out
    doc = json.loads(res.out)
    assert doc["changes"] == [] and doc["problems"] == [], doc
    (unchanged,) = doc["unchanged"]
    assert unchanged["target"] == {"tag": "1.3.0", "digest": digests["1.3.0"]}
    assert "nothing newer than 1.3.0" in unchanged["reason"]


def test_a_digest_lookup_error_names_the_digest_once(tmp_path: Path, registry) -> None:
    digests = registry.push_tags("team/app", ["1.0.0", "1.2.0"])
    with RegistryProxy(registry.url) as proxy:
        proxy.inject("500", path=r"/team/app/manifests/1\.2\.0", times=1000, method="HEAD")
        text = DEPLOYMENT.replace("HOST", proxy.host).replace("1.3.0@DIGEST", "1.0.0@" + digests["1.0.0"])
        remote = make_remote(tmp_path, {"web.yaml": text})
        write_config(tmp_path / "imagebot.yaml", remote=remote, registry_host=proxy.host)
        main = rev(remote, "main")

        res = imagebot("run", "--once", cwd=tmp_path)

    assert res.code == 1, res.err + res.out
    (line,) = [line for line in res.out.splitlines() if "team/app:1.2.0" in line and "web.yaml:13" in line]
    assert line.count(f"digest of {proxy.host}/team/app:1.2.0") == 1, line
    assert rev(remote, "main") == main
