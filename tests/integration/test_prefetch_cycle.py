"""Tag listings start while discover is still reading files (imagebot.registry.prefetch wired
into the pipeline): on a real registry and a real Git remote, listings are made on the prefetch
threads before discover returns, every image is listed exactly once per cycle, and the decisions
are those of a cycle whose listings all came from the resolve stage."""

from __future__ import annotations

import threading
from pathlib import Path

from imagebot import discover, pipeline
from imagebot.config.load import load
from imagebot.registry import RegistryClient
from tests.support.cli import write_config
from tests.support.gitrepo import make_remote
from tests.support.manifests import deployment

IMAGES = 6


def setup(tmp_path: Path, registry) -> Path:
    for j in range(IMAGES):
        registry.push_tags(f"team/app{j}", ["1.0.0", "1.1.0", "2.0.0"])
    files = {f"apps/svc-{i}.yaml": deployment(f"svc-{i}", f"{registry.host}/team/app{i % IMAGES}:1.0.0")
             for i in range(3 * IMAGES)}
    remote = make_remote(tmp_path, files)
    return write_config(tmp_path / "imagebot.yaml", remote=remote, registry_host=registry.host)


def test_listings_start_during_discover_and_each_image_is_listed_once(tmp_path, registry, monkeypatch):
    cfg = load(setup(tmp_path, registry))
    client = pipeline.new_registry_client(cfg)
    listed: list[tuple[str, str]] = []
    lock = threading.Lock()
    scanning = threading.Event()
    real_scan, real_list = discover.scan, RegistryClient._list_tags

    def list_tags(self, image):  # the request itself: made once per image per cycle
        with lock:
            listed.append((image, threading.current_thread().name if scanning.is_set() else "after discover"))
        return real_list(self, image)

    def scan(*args, **kwargs):
        scanning.set()
        try:
            return real_scan(*args, **kwargs)
        finally:
            # let the prefetch threads that were started catch up before discover "returns"
            for _ in range(200):
                with lock:
                    if len(listed) >= IMAGES:
                        break
                threading.Event().wait(0.01)
            scanning.clear()

    monkeypatch.setattr(RegistryClient, "_list_tags", list_tags)
    monkeypatch.setattr(pipeline.discover, "scan", scan)
    result = pipeline.run_cycle(cfg, dry_run=True, registry=client)
    client.close()
    images = [image for image, _ in listed]
    assert sorted(images) == sorted(f"{registry.host}/team/app{j}" for j in range(IMAGES))  # once each
    assert all(when.startswith("prefetch") for _, when in listed), listed  # all made while discover ran
    assert len(result.plan.changes) == 3 * IMAGES
    assert {c.new_ref for c in result.plan.changes} == {f"{registry.host}/team/app{j}:1.1.0" for j in range(IMAGES)}


def test_the_next_cycle_starts_the_last_scans_listings_before_the_checkout(tmp_path, registry, monkeypatch):
    """A new process (plan, run --once) knows from discover's store which images the last scan
    found, and lists their tags while the checkout is fetched; still once per image."""
    cfg = load(setup(tmp_path, registry))
    first = pipeline.run_cycle(cfg, dry_run=True)  # fills discover's store in the cache dir
    listed = _listings_before_or_after_discover(monkeypatch, IMAGES)
    again = pipeline.run_cycle(cfg, dry_run=True)  # a new client, a new DiscoverCache: as a new process
    assert sorted(image for image, _ in listed) == sorted(f"{registry.host}/team/app{j}" for j in range(IMAGES))
    assert all(when == "before discover" for _, when in listed), listed
    assert [c.new for c in again.plan.changes] == [c.new for c in first.plan.changes]


def test_listings_of_images_the_scan_no_longer_finds_are_dropped(tmp_path, registry, monkeypatch):
    """The last scan's images are listed before the checkout; one this scan did not find (its
    files were removed, its registry moved) is dropped from the queue once discover ends, not
    listed for nothing ahead of the images resolve waits for."""
    import json

    from imagebot.config.paths import cache_dir

    cfg = load(setup(tmp_path, registry))
    first = pipeline.run_cycle(cfg, dry_run=True)
    gone = f"{registry.host}/zzz/gone"  # sorts last: queued behind the others
    (side,) = (cache_dir(cfg) / "discover").glob("*.images.json")
    data = json.loads(side.read_text())
    data["scan"]["images"].append(gone)
    side.write_text(json.dumps(data))

    listed, kept = _one_worker_held_until_keep(monkeypatch)
    again = pipeline.run_cycle(cfg, dry_run=True)
    assert kept.is_set()
    assert gone not in listed
    assert sorted(listed) == sorted(f"{registry.host}/team/app{j}" for j in range(IMAGES))  # once each
    assert [c.new for c in again.plan.changes] == [c.new for c in first.plan.changes]


def test_no_garbage_collection_runs_during_a_cycle(tmp_path, registry, monkeypatch):
    """imagebot.collector: the cycle's long-lived containers are not walked by the collector while
    it runs; collection is on again (as it was) once the cycle has ended, also when it failed."""
    import gc

    cfg = load(setup(tmp_path, registry))
    seen: list[bool] = []
    real_scan = discover.scan

    def scan(*args, **kwargs):
        seen.append(gc.isenabled())
        return real_scan(*args, **kwargs)

    monkeypatch.setattr(pipeline.discover, "scan", scan)
    assert gc.isenabled()
    result = pipeline.run_cycle(cfg, dry_run=True)
    assert seen == [False] and gc.isenabled()
    assert len(result.plan.changes) == 3 * IMAGES

    def broken(*args, **kwargs):
        seen.append(gc.isenabled())
        raise OSError("disk gone")

    monkeypatch.setattr(pipeline.discover, "scan", broken)
    try:
        pipeline.run_cycle(cfg, dry_run=True)
    except Exception:
        pass
    assert seen == [False, False] and gc.isenabled()



def _with_policies(tmp_path: Path, registry) -> tuple[Path, str]:
    """setup()'s files, with a config policy per image (and one for an image no file uses, one
    whose image does not parse); no inline policies needed. Returns (config, the unused image)."""
    for j in range(IMAGES):
        registry.push_tags(f"team/app{j}", ["1.0.0", "1.1.0", "2.0.0"])
    files = {f"apps/svc-{i}.yaml": deployment(f"svc-{i}", f"{registry.host}/team/app{i % IMAGES}:1.0.0")
             for i in range(3 * IMAGES)}
    unused = f"{registry.host}/zzz/unused"  # sorts last: queued behind the others
    policies = "".join(f"  app{j}: {{image: '{registry.host}/team/app{j}', policy: 'semver:^1'}}\n" for j in range(IMAGES))
    policies += f"  unused: {{image: '{unused}', policy: 'semver:^1'}}\n  bad: {{image: 'Not An Image', policy: 'semver:^1'}}\n"
    return write_config(tmp_path / "imagebot.yaml", remote=make_remote(tmp_path, files), registry_host=registry.host,
                        extra="policies:\n" + policies), unused


def test_a_first_cycle_lists_the_images_config_policies_name_while_the_clone_is_made(tmp_path, registry, monkeypatch):
    """No scan before (a new cache dir: a first run, a CI job without its cache): the images the
    config's policies name are listed before discover starts, each once; the decisions are the same."""
    config, unused = _with_policies(tmp_path, registry)
    cfg = load(config)
    listed = _listings_before_or_after_discover(monkeypatch, IMAGES + 1)
    result = pipeline.run_cycle(cfg, dry_run=True)
    used = sorted(f"{registry.host}/team/app{j}" for j in range(IMAGES))
    assert sorted(image for image, _ in listed if image != unused) == used, listed  # once each
    assert all(when == "before discover" for _, when in listed), listed
    assert {c.new_ref for c in result.plan.changes} == {f"{registry.host}/team/app{j}:1.1.0" for j in range(IMAGES)}


def test_a_first_cycle_drops_the_listing_of_a_policy_image_no_file_uses(tmp_path, registry, monkeypatch):
    """A policy for an image no file uses: its listing, queued before the clone, is dropped once
    discover ends if it has not started (one prefetch worker, held until then)."""
    config, unused = _with_policies(tmp_path, registry)
    cfg = load(config)
    listed, kept = _one_worker_held_until_keep(monkeypatch)
    result = pipeline.run_cycle(cfg, dry_run=True)
    assert kept.is_set()
    assert unused not in listed
    assert sorted(listed) == sorted(f"{registry.host}/team/app{j}" for j in range(IMAGES))  # once each
    assert len(result.plan.changes) == 3 * IMAGES


def test_a_cycle_after_a_scan_that_found_no_image_lists_nothing_ahead(tmp_path, registry, monkeypatch):
    """The config's images are a first cycle's hint only: once a scan has found that no file refers
    to them, the next cycle (a new process, from discover's store) lists nothing for them."""
    registry.push_tags("team/app0", ["1.0.0", "1.1.0"])
    files = {"apps/settings.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\ndata: {a: b}\n"}
    policies = f"policies:\n  app0: {{image: '{registry.host}/team/app0', policy: 'semver:^1'}}\n"
    cfg = load(write_config(tmp_path / "imagebot.yaml", remote=make_remote(tmp_path, files), registry_host=registry.host,
                            extra=policies))
    listed: list[str] = []
    real_list = RegistryClient._list_tags

    def list_tags(self, image):
        listed.append(image)
        return real_list(self, image)

    monkeypatch.setattr(RegistryClient, "_list_tags", list_tags)
    first = pipeline.run_cycle(cfg, dry_run=True)
    assert first.discovery.occurrences == () and len(listed) <= 1  # the first cycle's hint (dropped if not started)
    listed.clear()
    again = pipeline.run_cycle(cfg, dry_run=True)  # a new client, a new DiscoverCache: as a new process
    assert again.discovery.occurrences == () and listed == []


def _one_worker_held_until_keep(monkeypatch) -> tuple[list[str], threading.Event]:
    """One prefetch worker whose listings wait until discover has ended (`Prefetch.keep` called),
    so that what is queued behind the first listing is still queued then. Returns (the images
    listed, in order; the event set once `keep` ran)."""
    from imagebot.registry.prefetch import Prefetch

    listed: list[str] = []
    kept = threading.Event()
    real_list, real_keep = RegistryClient._list_tags, Prefetch.keep

    def list_tags(self, image):
        kept.wait(30)
        listed.append(image)
        return real_list(self, image)

    def keep(self, images):
        try:
            return real_keep(self, images)
        finally:
            kept.set()

    monkeypatch.setattr(pipeline, "PREFETCH_WORKERS", 1)
    monkeypatch.setattr(RegistryClient, "_list_tags", list_tags)
    monkeypatch.setattr(Prefetch, "keep", keep)
    return listed, kept


def _listings_before_or_after_discover(monkeypatch, expected: int) -> list[tuple[str, str]]:
    """Each tag listing recorded as (image, "before discover" or "during discover or later"); the
    checkout waits (bounded) for `expected` listings started before it, so that they are made."""
    from imagebot.deliver import GitWorkspace

    listed: list[tuple[str, str]] = []
    lock = threading.Lock()
    scanning = threading.Event()
    real_checkout, real_list, real_scan = GitWorkspace.checkout, RegistryClient._list_tags, discover.scan

    def list_tags(self, image):
        with lock:
            listed.append((image, "during discover or later" if scanning.is_set() else "before discover"))
        return real_list(self, image)

    def checkout(self):
        for _ in range(300):
            with lock:
                if len(listed) >= expected:
                    break
            threading.Event().wait(0.01)
        return real_checkout(self)

    def scan(*args, **kwargs):
        scanning.set()
        return real_scan(*args, **kwargs)

    monkeypatch.setattr(RegistryClient, "_list_tags", list_tags)
    monkeypatch.setattr(GitWorkspace, "checkout", checkout)
    monkeypatch.setattr(pipeline.discover, "scan", scan)
    return listed
