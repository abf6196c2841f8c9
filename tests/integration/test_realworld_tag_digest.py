"""Real app-template files with ``tag: X@sha256:…``, through `imagebot run --once` and a real registry.

Four files of the real-world corpus (byte for byte, ../shared/testdata/realworld), seeded into
Debian's docker-registry from registry.json (multi-arch repositories as OCI indexes). Each
file's image hosts are rewritten to the test registry (`127.0.0.1:PORT/ghcr.io/…`; corpus README
step 3) and a named marker is added after each tag (the files carry none; step 5). Then one
`run --once` commits, and each file must equal its input with exactly the tag values changed:

- Sonarr's 4-part ``4.0.19.3001@sha256:…`` -> ``5.0.0.3041@<registry digest of 5.0.0.3041>``;
- repo-wiki's double-quoted ``"3.14@sha256:…"`` -> ``"4.1@<digest>"`` (quotes kept, 2-part line),
  and its plain ``9.7.7@sha256:…`` -> ``10.0.0@<digest>``;
- qbtools' ``tag: &container v0.19.12@sha256:…``, reused by five ``<<: *container``, edited once;
- palworld's ``master@sha256:…`` held as written (``plan`` says why) beside the unpinned
  ``v1.3.1`` -> ``v2.0.0``, which gets no pin.

The digest written is checked against the registry's own answer for the chosen tag
(HEAD /v2/<name>/manifests/<tag>, Docker-Content-Digest).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import requests

from tests.conftest import shared_path
from tests.support.cli import imagebot, write_config
from tests.support.gitrepo import make_remote, show
from tests.support.registry import ALL_MANIFEST_TYPES, OCI_INDEX

#: (corpus file, the references in it by INDEX.json id suffix, the expected new tag of each or None)
FILES = {
    "onedr0p/home-ops/kubernetes/apps/default/sonarr/app/helmrelease.yaml": {1: "5.0.0.3041"},
    "joryirving/home-ops/kubernetes/apps/base/llm/repo-wiki/helmrelease.yaml": {1: "10.0.0", 2: "4.1"},
    "onedr0p/home-ops/kubernetes/main/apps/default/qbittorrent/tools/helmrelease.yaml": {2: "v1.0.0"},
    "joryirving/home-ops/kubernetes/apps/base/games/palworld/helmrelease.yaml": {1: None, 2: "v2.0.0"},
}


def _seed(registry, repositories: dict, names: set[str]) -> None:
    for name in sorted(names):
        entry = repositories[name]
        assert entry["type"] == "image"
        kw = {"media_type": OCI_INDEX, "platforms": ("linux/amd64", "linux/arm64")} if entry["multi_arch"] else {}
        for tag in entry["tags"]:
            registry.push(name, tag, labels={"tag": tag}, **kw)


def _registry_digest(registry, name: str, tag: str) -> str:
    r = requests.head(f"{registry.url}/v2/{name}/manifests/{tag}", headers={"Accept": ", ".join(ALL_MANIFEST_TYPES)}, timeout=10)
    r.raise_for_status()
    return r.headers["Docker-Content-Digest"]


@pytest.fixture(scope="module")
def corpus() -> tuple[Path, dict, dict]:
    root = shared_path("realworld")
    index = json.loads((root / "INDEX.json").read_text())
    refs = {r["id"]: r for f in index["files"] for r in f["image_refs"]}
    return root, refs, json.loads((root / "registry.json").read_text())["repositories"]


def test_app_template_tag_digest_values_move_and_are_re_pinned_byte_exact(tmp_path: Path, registry, corpus) -> None:
    root, refs, repositories = corpus
    files: dict[str, str] = {}
    expected: dict[str, list[tuple[str, str, str | None]]] = {}  # file -> (old tag value, name, new tag)
    policies: list[str] = []
    names: set[str] = set()
    for rel, wanted in FILES.items():
        lines = (root / "files" / rel).read_text().split("\n")
        for n, new_tag in wanted.items():
            ref = refs[f"{rel}#{n}"]
            name = ref["parsed"]["name_normalized"]
            names.add(name)
            repo, tag = ref["fields"]["repository"], ref["fields"]["tag"]
            policy = f"p{len(policies)}"
            policies.append(f"  {policy}:\n    image: {registry.host}/{name}\n    policy: 'semver:*'\n")
            line = lines[repo["line"] - 1]
            lines[repo["line"] - 1] = line[: repo["column"] - 1] + f"{registry.host}/{name}" + line[repo["end_column"] - 1:]
            lines[tag["line"] - 1] += f' # {{"$imagebot": "{policy}:tag"}}'
            expected.setdefault(rel, []).append((tag["raw"], name, new_tag))
        files[rel] = "\n".join(lines)
    _seed(registry, repositories, names)
    remote = make_remote(tmp_path, files)
    write_config(tmp_path / "imagebot.yaml", remote=remote, registry_host=registry.host, extra="policies:\n" + "".join(policies))

    plan = imagebot("plan", cwd=tmp_path)
    assert plan.code == 0, plan.err + plan.out
    assert re.search(r"palworld/helmrelease\.yaml:22:\d+: .*docker-palworld-dedicated-server: the current tag master is a moving name, "
                     r"never a version, so it cannot be ordered against the tags: kept master", plan.out), plan.out

    res = imagebot("run", "--once", cwd=tmp_path)
    assert res.code == 0, res.err + res.out

    pins = 0
    for rel, edits in expected.items():
        want = files[rel]
        for raw, name, new_tag in edits:
            if new_tag is None:
                continue
            old_tag, at, _ = raw.strip('"').partition("@")
            digest = _registry_digest(registry, name, new_tag)
            new_raw = raw.replace(old_tag, new_tag, 1)
            if at:
                new_raw = re.sub(r"@sha256:[0-9a-f]{64}", "@" + digest, new_raw)
                pins += 1
            assert want.count(raw) == 1, (rel, raw)
            want = want.replace(raw, new_raw)
        assert show(remote, "staging", rel).decode() == want, rel
    assert pins == 4  # every pin kept, each re-pinned to the registry's digest of the new tag
