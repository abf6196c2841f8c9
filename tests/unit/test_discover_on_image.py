"""scan(on_image=...): each image an occurrence refers to is told once, as soon as discover knows
it (parsed or from the cache), before the scan returns - so its tag listing can start early."""

from __future__ import annotations

from pathlib import Path

from imagebot.discover import DiscoverCache, scan
from tests.unit.test_discover_cache import FILES, HOST, POLICIES, write
from tests.unit.test_discover_charts import HELM_REPOSITORIES, helmrelease


def told(root: Path, **kw) -> tuple[list[str], object]:
    seen: list[str] = []
    found = scan(root, on_image=seen.append, **kw)
    return seen, found


def test_every_image_is_told_once_and_only_those_found(tmp_path: Path):
    write(tmp_path, FILES)
    seen, found = told(tmp_path, policies=POLICIES, exclude=["vendor"])
    assert sorted(seen) == sorted({o.image for o in found.occurrences})
    assert len(seen) == len(set(seen)) and f"{HOST}/team/alpha" in seen  # two files refer to alpha: told once


def test_images_are_told_during_the_scan_and_from_the_cache_too(tmp_path: Path):
    write(tmp_path, FILES)
    cache = DiscoverCache(path=tmp_path / "store.json")
    returned: list[bool] = []
    during: list[str] = []
    scan(tmp_path, policies=POLICIES, on_image=lambda image: during.append(image) if not returned else None)
    returned.append(True)
    first, found = told(tmp_path, policies=POLICIES, cache=cache, revision="c1")
    assert sorted(during) == sorted(first)
    again, _ = told(tmp_path, policies=POLICIES, cache=DiscoverCache(path=tmp_path / "store.json"), revision="c1")
    assert sorted(again) == sorted(first) == sorted({o.image for o in found.occurrences})


def test_a_targeted_scan_tells_only_the_images_asked_for(tmp_path: Path):
    write(tmp_path, FILES)
    seen, _ = told(tmp_path, policies=POLICIES, images=[f"{HOST}/team/alpha"])
    assert seen == [f"{HOST}/team/alpha"]


def test_charts_are_told_by_the_name_their_helmrepository_gives(tmp_path: Path):
    write(tmp_path, {"repos/helm.yaml": HELM_REPOSITORIES,
                     "apps/cm.yaml": helmrelease("cert-manager", "v1.16.2", "jetstack")})
    seen, _ = told(tmp_path)
    assert seen == ["https://charts.jetstack.io/cert-manager"]


def test_unmanaged_references_are_not_told(tmp_path: Path):
    write(tmp_path, {"a.yaml": "kind: Pod\nspec:\n  containers:\n    - name: c\n      image: r.example/x:1.0\n"})
    seen, found = told(tmp_path, everything=True)
    assert seen == [] and found.unmanaged
