"""Acceptance: an inline marker on a field that holds only a tag.

Found by using imagebot: ``newTag: 1.0.0 # imagebot: semver:^1`` in a kustomization (the
natural thing to write; docs/manifests.md says an entry is governed "by a marker on one of its
fields") was read as the image reference ``1.0.0`` = ``docker.io/library/1.0.0``: imagebot asked
Docker Hub for its tags and reported a connection failure. A marker on the entry's ``name``
would even have rewritten the match key to ``app:1.2.3``. In Helm values,
``tag: 1.0.0 # imagebot: semver:^1`` had the same fate.

Now an inline marker on any field of a kustomization ``images:`` entry governs the entry as a
config policy would (newTag and digest, image from newName or name); elsewhere, a value that
is a bare tag is reported with a pointer to named policies instead of being looked up.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from imagebot.discover import scan
from imagebot.model import FieldKind

KUSTOMIZATION = """\
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
images:
  - name: app
    newName: ghcr.io/org/app
    newTag: 1.0.0{tag_marker}
    digest: sha256:{digest}
  - name: nginx{name_marker}
    newTag: "1.25"
"""
DIGEST = "a" * 64


def _write(root: Path, name: str, text: str) -> None:
    (root / name).write_text(text)


def test_inline_marker_on_newtag_governs_the_kustomization_entry(tmp_path: Path) -> None:
    _write(tmp_path, "kustomization.yaml", KUSTOMIZATION.format(
        tag_marker=" # imagebot: semver:^1; pin-digest", digest=DIGEST, name_marker=" # imagebot: minor"))
    found = scan(tmp_path)
    assert found.problems == ()
    by_field = {(o.image, o.field): o for o in found.occurrences}
    assert set(by_field) == {
        ("ghcr.io/org/app", FieldKind.TAG), ("ghcr.io/org/app", FieldKind.DIGEST),
        ("docker.io/library/nginx", FieldKind.TAG),
    }
    tag, digest = by_field["ghcr.io/org/app", FieldKind.TAG], by_field["ghcr.io/org/app", FieldKind.DIGEST]
    assert (tag.tag, tag.digest, tag.value, tag.location.line) == ("1.0.0", "sha256:" + DIGEST, "1.0.0", 6)
    assert (digest.tag, digest.digest, digest.location.line) == ("1.0.0", "sha256:" + DIGEST, 7)
    assert tag.group == digest.group != ""
    assert tag.policy.policy == "semver:^1" and tag.policy.pin_digest and "kustomization.yaml:6 marker" in tag.policy.source
    nginx = by_field["docker.io/library/nginx", FieldKind.TAG]
    assert (nginx.value, nginx.tag, nginx.location.line, nginx.policy.policy) == ("1.25", "1.25", 9, "minor")


def test_inline_marker_on_a_bare_tag_elsewhere_is_a_problem_not_a_docker_hub_lookup(tmp_path: Path) -> None:
    _write(tmp_path, "values.yaml", "image:\n  repository: ghcr.io/org/app\n  tag: 1.0.0 # imagebot: semver:^1\n"
                                    "other: v2.3 # imagebot: minor\nfine: nginx:1.25 # imagebot: minor\n"
                                    "moving: latest # imagebot: semver:^1\nbuild: a1b2c3d # imagebot: semver:^1\nplain: nginx # imagebot: minor\n")
    found = scan(tmp_path)
    # The tag of a Helm image map (repository beside it) is governed with its map (see test_image_maps.py).
    assert [o.value for o in found.occurrences] == ["1.0.0", "nginx:1.25", "nginx"]
    assert found.occurrences[0].image == "ghcr.io/org/app" and found.occurrences[0].field is FieldKind.TAG
    problems = sorted(found.problems, key=lambda p: p.location.line)
    assert [str(p.location) for p in problems] == ["values.yaml:4:8", "values.yaml:6:9", "values.yaml:7:8"]
    for p in problems:
        assert "looks like a tag" in p.message and '"$imagebot"' in p.message, p.message


@pytest.mark.parametrize("marker", [" # imagebot: semver:^1", ' # {"$imagebot": "app:tag"}'])
def test_a_second_marker_in_the_entry_is_not_counted_twice(tmp_path: Path, marker: str) -> None:
    text = ("images:\n  - name: ghcr.io/org/app # imagebot: semver:^1\n"
            f"    newTag: 1.0.0{marker}\n")
    _write(tmp_path, "kustomization.yaml", text)
    found = scan(tmp_path, policies={})
    tags = [o for o in found.occurrences if o.field is FieldKind.TAG]
    assert len(tags) + len(found.problems) >= 1
    assert len(tags) <= 1, found.occurrences
