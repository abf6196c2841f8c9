"""Charts from the real-world corpus move in one `imagebot run --once` (CLI, real registry, real
Git remote, the corpus's own files): a Flux OCIRepository tag, a HelmRelease chart version from an
OCI HelmRepository and one from an HTTP HelmRepository (index.yaml over HTTP), each to the newest
version EXPECTED.json names; every other byte as it was.

The corpus files carry no policy; each test appends an inline marker to the version line (the
corpus README's "add them as trailing comments"), so lines and columns stay those of INDEX.json.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import shared_path
from tests.support.cli import imagebot
from tests.support.gitrepo import git, log, make_remote, rev, show
from tests.support.realworld import Corpus, RealWorld
from tests.support.registry import OCI_INDEX, registry_available

OCI_REPOSITORY = "onedr0p/home-ops/kubernetes/apps/default/bazarr/app/ocirepository.yaml#1"
HELMRELEASE_OCI = "onedr0p/home-ops/kubernetes/main/apps/default/bazarr/app/helmrelease.yaml#1"
HELMRELEASE_HTTP = "onedr0p/home-ops/kubernetes/main/apps/cert-manager/cert-manager/app/helmrelease.yaml#1"
#: The HelmRepository objects those HelmReleases name (other files of the same snapshot).
HELM_REPOSITORIES = ("onedr0p/home-ops/kubernetes/shared/repos/helm/bjw-s.yaml",
                     "onedr0p/home-ops/kubernetes/shared/repos/helm/jetstack.yaml")
MARKER = "imagebot: semver:*"


@pytest.fixture(scope="module")
def corpus() -> Corpus:
    return Corpus(shared_path("realworld"))


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, corpus: Corpus):
    """Every chart and artifact repository of registry.json (14), seeded once for this module."""
    if not registry_available():
        pytest.skip("docker-registry is not installed (apt-get install docker-registry; `make test` does it)")
    names = {name for name, entry in corpus.repositories.items() if entry["type"] != "image"}
    with RealWorld(tmp_path_factory.mktemp("realworld"), corpus.root, only=names) as w:
        yield w


def _field(corpus: Corpus, ref_id: str) -> str:
    return next(iter(corpus.expected[ref_id]["write"]))


def test_three_chart_references_move_in_one_run(tmp_path: Path, corpus: Corpus, world: RealWorld) -> None:
    refs = (OCI_REPOSITORY, HELMRELEASE_OCI, HELMRELEASE_HTTP)
    files: dict[str, bytes] = {}
    for ref in refs:
        path = corpus.file(ref)
        files[path] = corpus.mark(corpus.read(path), ref, _field(corpus, ref), MARKER)
    for path in HELM_REPOSITORIES:
        files[path] = corpus.read(path)
    remote = make_remote(tmp_path, files)
    (tmp_path / "imagebot.yaml").write_text(
        f"repository:\n  url: {remote}\n  branch: main\n"
        "delivery:\n  mode: commit\n  branch: staging\n"
        f"cache_dir: {tmp_path / 'cache'}\n" + world.registries_yaml())
    world.helm.requests.clear()

    res = imagebot("run", "--once", cwd=tmp_path)
    assert res.code == 0, res.err + res.out

    assert len(log(remote, "staging")) == len(log(remote, "main")) + 1
    for ref in refs:
        path = corpus.file(ref)
        expected = corpus.after(files[path], ref)
        assert expected != files[path], ref  # the expectation is a change
        assert show(remote, "staging", path) == expected, ref  # that value, every other byte as it was
    for path in HELM_REPOSITORIES:
        assert show(remote, "staging", path) == files[path]

    # The HTTP repository's index was read once, through the host mapping; the OCI charts were
    # listed in the real registry (their tags lack platforms, and no platform was asked of them).
    assert world.helm.requests == ["/charts.jetstack.io/index.yaml"]
    message = git(remote, "log", "-1", "--format=%B", "staging")
    assert message.splitlines()[0] == "Update 3 charts"
    for ref in refs:
        assert corpus.expected[ref]["expected"]["tag"] in message

    # nothing newer: a second run makes no commit
    staging = rev(remote, "staging")
    again = imagebot("run", "--once", cwd=tmp_path)
    assert again.code == 0, again.err + again.out
    assert rev(remote, "staging") == staging



CHART_KINDS = ("oci_chart_ref_tag", "helmrelease_chart_version_oci", "helmrelease_chart_version_http", "oci_artifact_ref_tag")


def test_every_pinned_chart_of_the_corpus_gets_the_expected_version(tmp_path: Path, corpus: Corpus, world: RealWorld) -> None:
    """All 20 pinned chart and artifact versions of the corpus (OCIRepository tags, one with a
    digest pin; HelmRelease versions from OCI and HTTP HelmRepositories; charts through mirror
    hosts), in one run: each exactly as EXPECTED.json says, every other byte as it was."""
    refs = [i for kind in CHART_KINDS for i in corpus.ids(kind)
            if corpus.expected[i].get("write") or corpus.expected[i].get("ambiguous")]
    assert len(refs) == 20  # the others are ranges or unversioned: nothing to write (not marked, unchanged)
    files: dict[str, bytes] = {}
    for ref in refs:
        path = corpus.file(ref)
        field = "ref.tag" if "ref.tag" in corpus.refs[ref]["fields"] else "version"
        files[path] = corpus.mark(files.get(path) or corpus.read(path), ref, field, MARKER)
    for path in corpus.sources:
        if path not in files and b"kind: HelmRepository" in corpus.read(path):
            files[path] = corpus.read(path)
    assert {corpus.expected[i]["name"] for i in refs} & set(corpus.repositories) <= world.only
    remote = make_remote(tmp_path, files)
    (tmp_path / "imagebot.yaml").write_text(
        f"repository:\n  url: {remote}\n  branch: main\n"
        "delivery:\n  mode: commit\n  branch: staging\n"
        f"cache_dir: {tmp_path / 'cache'}\n" + world.registries_yaml())
    res = imagebot("run", "--once", cwd=tmp_path)
    assert res.code == 0, res.err + res.out

    for path in sorted({corpus.file(r) for r in refs}):
        expected = files[path]
        ambiguous = []
        for ref in (r for r in refs if corpus.file(r) == path):
            if corpus.expected[ref].get("ambiguous"):
                ambiguous.append(ref)
            else:
                expected = corpus.after(expected, ref)
        allowed = {"as expected": expected}
        for ref in ambiguous:  # any listed reading; a kept tag's pin may also be refreshed to the registry's
            e = corpus.expected[ref]
            readings = {}
            for base, data in allowed.items():
                readings[base] = data
                for answer in e["answers"]:
                    tag = answer["tag"] or e["current"]["tag"]
                    write = answer["write"] or {"ref.digest": "{digest}"}
                    label = f"{base}; {answer['reading']}" + ("" if answer["write"] else " (pin refreshed)")
                    readings[label] = corpus.after(data, ref, world.digest(e["name"], tag), write)
            allowed = readings
        after = show(remote, "staging", path)
        assert after in allowed.values(), (path, after.decode())
        if ambiguous:
            print(f"{path}: {next(k for k, v in allowed.items() if v == after)}")


def test_imagebot_tags_lists_chart_versions(tmp_path: Path, corpus: Corpus, world: RealWorld) -> None:
    (tmp_path / "imagebot.yaml").write_text(f"repository:\n  url: {tmp_path}\n" + world.registries_yaml())
    http = imagebot("tags", "https://charts.jetstack.io/cert-manager", cwd=tmp_path)
    assert http.code == 0, http.err
    index = corpus.root / "http-helm" / "charts.jetstack.io" / "index.yaml"
    versions = [line.split(":", 1)[1].strip() for line in index.read_text().splitlines() if line.strip().startswith("version:")]
    assert http.out.split() == versions
    oci = imagebot("tags", "oci://ghcr.io/bjw-s-labs/helm/app-template", cwd=tmp_path)
    assert oci.code == 0, oci.err
    assert sorted(oci.out.split()) == sorted(corpus.repositories["ghcr.io/bjw-s-labs/helm/app-template"]["tags"])


def test_a_chart_moves_while_an_image_still_passes_over_a_tag_missing_a_platform(tmp_path: Path, corpus: Corpus,
                                                                                 world: RealWorld) -> None:
    """Under `platforms: [linux/amd64, linux/arm64]` for ghcr.io, in the same run: the chart (no
    platform at all) moves to its newest version; the image skips 1.2.0 (amd64 only) for 1.1.0."""
    both = ("linux/amd64", "linux/arm64")
    world.registry.push("ghcr.io/example/app", "1.0.0", media_type=OCI_INDEX, platforms=both)
    world.registry.push("ghcr.io/example/app", "1.1.0", media_type=OCI_INDEX, platforms=both)
    world.registry.push("ghcr.io/example/app", "1.2.0", media_type=OCI_INDEX, platforms=("linux/amd64",))
    path = corpus.file(OCI_REPOSITORY)
    chart = corpus.mark(corpus.read(path), OCI_REPOSITORY, "ref.tag", MARKER)
    image = b"image: ghcr.io/example/app:1.0.0 # imagebot: semver:^1\n"
    remote = make_remote(tmp_path, {path: chart, "values.yaml": image})
    (tmp_path / "imagebot.yaml").write_text(
        f"repository:\n  url: {remote}\n  branch: main\ndelivery:\n  mode: commit\n  branch: staging\n"
        f"cache_dir: {tmp_path / 'cache'}\n" + world.registries_yaml(**{"ghcr.io": {"platforms": list(both)}}))
    res = imagebot("run", "--once", cwd=tmp_path)
    assert res.code == 0, res.err + res.out
    assert show(remote, "staging", path) == corpus.after(chart, OCI_REPOSITORY)
    assert show(remote, "staging", "values.yaml") == image.replace(b"1.0.0", b"1.1.0")
    assert "1.2.0 lacks linux/arm64" in res.out
