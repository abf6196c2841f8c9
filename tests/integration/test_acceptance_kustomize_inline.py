"""Acceptance, end to end: `newTag: ... # imagebot: semver:^1; pin-digest` in a kustomization.

Through the CLI against a real registry and a real bare Git remote: the entry's newTag moves
and its digest becomes exactly the digest the registry stores for the new tag; nothing else in
the file changes, and Docker Hub is never asked about an image called `1.0.0`.
"""

from __future__ import annotations

from pathlib import Path

from tests.support.cli import imagebot, write_config
from tests.support.gitrepo import make_remote, show

KUSTOMIZATION = """\
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources: [deployment.yaml]
images:
  - name: app
    newName: HOST/team/app
    newTag: 1.0.0 # imagebot: semver:^1; pin-digest
    digest: sha256:OLD
"""


def test_inline_marker_on_newtag_updates_tag_and_digest(tmp_path: Path, registry) -> None:
    digests = registry.push_tags("team/app", ["1.0.0", "1.2.0", "2.0.0"])
    text = KUSTOMIZATION.replace("HOST", registry.host).replace("OLD", digests["1.0.0"].removeprefix("sha256:"))
    remote = make_remote(tmp_path, {"apps/kustomization.yaml": text, "apps/deployment.yaml": "kind: Deployment\n"})
    write_config(tmp_path / "imagebot.yaml", remote=remote, registry_host=registry.host)

    res = imagebot("run", "--once", cwd=tmp_path)

    assert res.code == 0, res.err + res.out
    assert "docker.io" not in res.err + res.out
    after = show(remote, "staging", "apps/kustomization.yaml").decode()
    assert after == text.replace("newTag: 1.0.0", "newTag: 1.2.0").replace(digests["1.0.0"], digests["1.2.0"])
