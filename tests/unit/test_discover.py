"""discover: what each format finds, the Occurrence it reports, and the problems it names."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from imagebot.config.schema import NamedPolicy
from imagebot.discover import scan
from imagebot.discover.markers import InlineMarker, MarkerError, NamedMarker, parse
from imagebot.discover.rewrite import new_value
from imagebot.model import FieldKind, Location, PolicySpec


def write(root: Path, files: dict[str, str | bytes]) -> Path:
    for name, text in files.items():
        p = root / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(text if isinstance(text, bytes) else text.encode())
    return root


@pytest.mark.parametrize(
    ("comment", "expected"),
    [
        (" imagebot: semver:^1.4", InlineMarker("semver:^1.4", {})),
        (" imagebot: semver:>=1.0 <2; tag-filter=^v(?P<v>.*)$; extract=$v; prerelease; pin-digest=false",
         InlineMarker("semver:>=1.0 <2", {"tag-filter": "^v(?P<v>.*)$", "extract": "$v", "prerelease": True, "pin-digest": False})),
        (' {"$imagebot": "app"}', NamedMarker("$imagebot", "app", FieldKind.IMAGE)),
        (' {"$imagebot": "app:tag"}', NamedMarker("$imagebot", "app", FieldKind.TAG)),
        ('{"$imagebot":"team:app:digest"}  ', NamedMarker("$imagebot", "team:app", FieldKind.DIGEST)),
        (' {"$imagepolicy": "flux-system:podinfo"}', NamedMarker("$imagepolicy", "flux-system:podinfo", FieldKind.IMAGE)),
        (' {"$imagepolicy": "flux-system:podinfo:name"}', NamedMarker("$imagepolicy", "flux-system:podinfo", FieldKind.NAME)),
        (" the app image", None),
        (" see the imagebot docs", None),
    ],
)
def test_marker_syntax(comment: str, expected: object):
    assert parse(comment) == expected


@pytest.mark.parametrize(
    ("comment", "message"),
    [
        (" imagebot:", "names no policy"),
        (" imagebot: semver:^1; colour=blue", "unknown option 'colour'"),
        (" imagebot: semver:^1; tag-filter", "needs a value"),
        (" imagebot: semver:^1; prerelease=maybe", "true or false"),
        (' {"$imagebot": app}', "not valid JSON"),
        (' {"$imagebot": "app", "x": 1}', "one key"),
        (' {"$imagebot": ""}', "needs a policy name"),
        (' {"$imagepolicy": "podinfo"}', "<namespace>:<name>"),
        (' {"$imagebot": "app::tag"}', "empty part"),
    ],
)
def test_malformed_markers(comment: str, message: str):
    with pytest.raises(MarkerError, match=message):
        parse(comment)


DEPLOY = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  annotations:
    imagebot.io/policy: semver:^1
    imagebot.io/policy.b: minor
    imagebot.io/tag-filter: ^1\\.
    imagebot.io/pin-digest.b: "true"
    imagebot.io/prerelease: "true"
spec:
  template:
    spec:
      containers:
      - name: a
        image: "nginx:1.0"
      - name: b
        image: ghcr.io/org/b:2.0@sha256:{d}
      initContainers:
      - name: c
        image: busybox
""".replace("{d}", "a" * 64)


def test_workload_occurrences_carry_everything_the_later_stages_need(tmp_path: Path):
    found = scan(write(tmp_path, {"apps/web.yaml": DEPLOY}))
    assert found.problems == ()
    by_name = {o.subject: o for o in found.occurrences}
    assert set(by_name) == {"Deployment/web container a", "Deployment/web container b", "Deployment/web initContainer c"}
    a = by_name["Deployment/web container a"]
    assert (a.location, a.document, a.field, a.value, a.image, a.tag, a.digest, a.path, a.group) == (
        Location("apps/web.yaml", 16, 16), 0, FieldKind.IMAGE, "nginx:1.0", "docker.io/library/nginx", "1.0", None,
        "spec.template.spec.containers[0].image", "",
    )
    assert a.policy == PolicySpec("semver:^1", tag_filter="^1\\.", prerelease=True,
                                  source="apps/web.yaml:6 annotation imagebot.io/policy, "
                                         "apps/web.yaml:8 annotation imagebot.io/tag-filter, "
                                         "apps/web.yaml:10 annotation imagebot.io/prerelease")
    b = by_name["Deployment/web container b"]
    assert (b.image, b.tag, b.digest) == ("ghcr.io/org/b", "2.0", "sha256:" + "a" * 64)
    assert b.policy == PolicySpec("minor", tag_filter="^1\\.", prerelease=True, pin_digest=True,
                                  source="apps/web.yaml:7 annotation imagebot.io/policy.b, "
                                         "apps/web.yaml:8 annotation imagebot.io/tag-filter, "
                                         "apps/web.yaml:10 annotation imagebot.io/prerelease, "
                                         "apps/web.yaml:9 annotation imagebot.io/pin-digest.b")
    c = by_name["Deployment/web initContainer c"]
    assert (c.tag, c.path) == (None, "spec.template.spec.initContainers[0].image")


def test_workloads_without_policy_and_unknown_kinds_are_left_alone(tmp_path: Path):
    files = {
        "plain.yaml": DEPLOY.replace("imagebot.io/", "example.com/"),
        "cm.yaml": "kind: ConfigMap\nmetadata:\n  annotations: {imagebot.io/policy: minor}\ndata: {image: nginx:1}\n",
        "notes.txt": "imagebot.io/policy: minor\n",
    }
    found = scan(write(tmp_path, files))
    assert found.occurrences == ()
    # an imagebot annotation on a kind that is not a workload would do nothing: it is reported
    assert [(str(p.location), p.subject) for p in found.problems] == [("cm.yaml:3", "ConfigMap/?")]
    assert (found.files_scanned, found.files_parsed) == (2, 1)


def test_a_marker_on_the_image_wins_over_the_annotation(tmp_path: Path):
    text = DEPLOY.replace('"nginx:1.0"', '"nginx:1.0" # imagebot: digest')
    found = scan(write(tmp_path, {"d.yaml": text}))
    a = [o for o in found.occurrences if o.value == "nginx:1.0"]
    assert [o.policy.policy for o in a] == ["digest"] and a[0].policy.source == "d.yaml:16 marker"


def test_split_fields_share_a_group_and_know_each_other(tmp_path: Path):
    values = """\
image:
  registry: ghcr.io
  repository: org/app # {"$imagebot": "app:name"}
  tag: "1.2" # {"$imagebot": "app:tag"}
  digest: "" # {"$imagebot": "app:digest"}
"""
    policies = {"app": NamedPolicy.model_validate({"image": "ghcr.io/org/app", "policy": "semver:^1", "pin-digest": True})}
    found = scan(write(tmp_path, {"values.yaml": values}), policies=policies)
    assert found.problems == ()
    occ = {o.field: o for o in found.occurrences}
    assert set(occ) == {FieldKind.NAME, FieldKind.TAG, FieldKind.DIGEST}
    assert {o.group for o in occ.values()} == {"values.yaml#0:image:app"}
    assert {(o.image, o.tag, o.digest) for o in occ.values()} == {("ghcr.io/org/app", "1.2", None)}
    assert occ[FieldKind.TAG].location == Location("values.yaml", 4, 8)
    assert occ[FieldKind.TAG].policy.pin_digest and occ[FieldKind.TAG].policy.source == "values.yaml:4 marker $imagebot app"


def test_validate_problems_name_file_and_line_and_the_rest_still_scans(tmp_path: Path):
    files = {
        "a-bad.yaml": "# imagebot: the annotated file a user broke\na: [\n",
        "a-bad-unscreened.yaml": "a: [\n",
        "b-good.yaml": DEPLOY,
        "c-bad-annotation.yaml": DEPLOY.replace("imagebot.io/prerelease", "imagebot.io/prerelase"),
        "d-bad-marker.yaml": "image: nginx:1 # imagebot: semver:^1; bogus=1\n",
        "e-unknown-policy.yaml": 'image: nginx:1 # {"$imagepolicy": "ns:missing"}\n',
        "f-not-utf8.yaml": b"image: nginx:1 # imagebot: minor \xff\n",
        "g-bad-ref.yaml": "image: NGINX:1 # imagebot: minor\n",
        "h-orphan-option.yaml": DEPLOY.replace("imagebot.io/policy: semver:^1", "imagebot.io/policy.zz: semver:^1"),
    }
    found = scan(write(tmp_path, files))
    problems = {(p.kind, str(p.location)) for p in found.problems}
    assert problems == {
        ("yaml", "a-bad.yaml:3"),
        ("annotation", "c-bad-annotation.yaml:10"),
        ("marker", "d-bad-marker.yaml:1"),
        ("marker", "e-unknown-policy.yaml:1"),
        ("yaml", "f-not-utf8.yaml"),
        ("reference", "g-bad-ref.yaml:1:8"),
        ("annotation", "h-orphan-option.yaml:6"),  # policy.zz: no such container
        ("annotation", "h-orphan-option.yaml:8"),  # tag-filter with no policy for a
        ("annotation", "h-orphan-option.yaml:10"),  # prerelease with no policy for a
    }, "\n".join(map(str, found.problems))
    assert len([o for o in found.occurrences if o.location.file == "b-good.yaml"]) == 3
    assert len([o for o in found.occurrences if o.location.file == "c-bad-annotation.yaml"]) == 3
    # parse_all (for `imagebot validate`): every manifest is parsed, not only the screened ones
    everything = scan(tmp_path, parse_all=True)
    assert {(p.kind, str(p.location)) for p in everything.problems} == problems | {("yaml", "a-bad-unscreened.yaml:2")}


def test_paths_exclude_git_and_symlinks(tmp_path: Path):
    marked = "image: nginx:1 # imagebot: minor\n"
    root = write(tmp_path / "repo", {"apps/a.yaml": marked, "apps/vendor/b.yml": marked, ".git/c.yaml": marked,
                                    "other/d.yaml": marked, "apps/Kustomization": marked, "apps/e.json": marked})
    os.symlink(root / "other", root / "apps" / "link")
    os.symlink(root / "other" / "d.yaml", root / "apps" / "f.yaml")
    files = sorted(o.location.file for o in scan(root, paths=["apps"], exclude=["apps/vendor"]).occurrences)
    assert files == ["apps/Kustomization", "apps/a.yaml"]
    assert len(scan(root).occurrences) == 4
    assert len(scan(root, exclude=["*.yml", "other"]).occurrences) == 2
    assert len(scan(root, paths=["other/d.yaml", "other"]).occurrences) == 1
    missing = scan(root, paths=["nope"])
    assert [p.kind for p in missing.problems] == ["config"] and "'nope'" in missing.problems[0].message


def test_kustomization_policy_problems(tmp_path: Path):
    kust = "images:\n- name: nginx\n- name: app\n  newName: ghcr.io/org/app\n  newTag: v1\n"
    policies = {
        "n": NamedPolicy(image="nginx", policy="minor"),
        "a1": NamedPolicy(image="ghcr.io/org/app", policy="minor"),
        "a2": NamedPolicy(image="ghcr.io/org/app:", policy="minor"),  # unusable image: matches nothing
    }
    found = scan(write(tmp_path, {"kustomization.yml": kust}), policies=policies)
    assert found.occurrences[0].field is FieldKind.TAG and len(found.occurrences) == 1
    assert [(p.kind, str(p.location)) for p in found.problems] == [("manifest", "kustomization.yml:2")]
    policies["a3"] = NamedPolicy(image="ghcr.io/org/app", policy="major")
    found = scan(tmp_path, policies=policies)
    assert any("a1, a3 all claim" in p.message for p in found.problems)


@pytest.mark.parametrize(
    ("field", "value", "image", "tag", "digest", "expected"),
    [
        (FieldKind.IMAGE, "nginx:1.2", "docker.io/library/nginx", "1.3", None, "nginx:1.3"),
        (FieldKind.IMAGE, "localhost:5000/a:1", "localhost:5000/a", "2", "sha256:" + "b" * 64, "localhost:5000/a:2@sha256:" + "b" * 64),
        (FieldKind.IMAGE, "image:v1", "index.repo.fake/updated", "v2", None, "index.repo.fake/updated:v2"),
        (FieldKind.IMAGE, "old/app:v1", "docker.io/library/nginx", "v2", None, "nginx:v2"),
        (FieldKind.NAME, "org/app", "ghcr.io/org/app", "v2", None, "ghcr.io/org/app"),
        (FieldKind.NAME, "nginx", "docker.io/library/nginx", "v2", None, "nginx"),
        (FieldKind.TAG, "v1", "ghcr.io/org/app", "v2", None, "v2"),
        (FieldKind.DIGEST, "", "ghcr.io/org/app", "v2", "sha256:" + "c" * 64, "sha256:" + "c" * 64),
    ],
)
def test_new_value(field: FieldKind, value: str, image: str, tag: str, digest: str | None, expected: str):
    from imagebot.model import Occurrence

    occ = Occurrence(Location("f", 1, 1), 0, field, value, image, None, None, PolicySpec("minor"), "s")
    assert new_value(occ, tag, digest) == expected


def test_ten_thousand_files_scan_in_seconds(tmp_path: Path):
    """The text screen: only the 50 files that mention imagebot are parsed."""
    plain = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c{i}\ndata:\n  key: value\n" * 3
    for d in range(100):
        folder = tmp_path / f"team{d}"
        folder.mkdir()
        for i in range(100):
            text = DEPLOY if (d * 100 + i) % 200 == 0 else plain.replace("{i}", str(i))
            (folder / f"m{i}.yaml").write_text(text)
    start = time.perf_counter()
    found = scan(tmp_path)
    elapsed = time.perf_counter() - start
    assert (found.files_scanned, found.files_parsed, len(found.occurrences)) == (10_000, 50, 150)
    assert elapsed < 10, f"{elapsed:.1f}s"
