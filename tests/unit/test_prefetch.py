"""Tag listings started while discover runs (imagebot.registry.prefetch): once per image, bounded,
errors left to the later call, nothing new started after close."""

from __future__ import annotations

import threading
import time

from imagebot.registry.prefetch import Prefetch


def test_each_image_is_fetched_once_whatever_how_often_it_is_found():
    calls: list[str] = []
    lock = threading.Lock()

    def fetch(image: str) -> None:
        with lock:
            calls.append(image)

    with Prefetch(fetch, workers=3) as p:
        for image in ["a", "b", "a", "c", "b", "a"]:
            p.add(image)
        assert p.images == {"a", "b", "c"}
        deadline = time.monotonic() + 10
        while len(calls) < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
    assert sorted(calls) == ["a", "b", "c"]


def test_no_more_than_workers_run_at_once():
    running = peak = 0
    lock = threading.Lock()
    done = threading.Event()

    def fetch(image: str) -> None:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        time.sleep(0.02)
        with lock:
            running -= 1
            if image == "i19":
                done.set()

    with Prefetch(fetch, workers=4) as p:
        for i in range(20):
            p.add(f"i{i}")
        assert done.wait(10)
    assert 1 <= peak <= 4


def test_an_error_is_counted_and_left_to_the_later_call():
    finished = threading.Event()

    def fetch(image: str) -> None:
        if image == "bad":
            raise RuntimeError("registry says no")
        finished.set()

    p = Prefetch(fetch, workers=1)
    p.add("bad")
    p.add("good")
    assert finished.wait(10)
    p.close()
    assert p.failed == 1


def test_unwanted_images_are_not_fetched():
    seen: list[str] = []
    with Prefetch(seen.append, workers=1, wanted=lambda image: image.startswith("keep/")) as p:
        p.add("keep/a")
        p.add("drop/b")
        assert p.images == {"keep/a"}


def test_close_starts_nothing_new_and_does_not_wait_for_the_running_call():
    release = threading.Event()
    started: list[str] = []

    def fetch(image: str) -> None:
        started.append(image)
        release.wait(10)

    p = Prefetch(fetch, workers=1)
    p.add("slow")
    for i in range(5):
        p.add(f"queued{i}")
    deadline = time.monotonic() + 10
    while not started and time.monotonic() < deadline:
        time.sleep(0.01)
    t0 = time.monotonic()
    p.close()
    assert time.monotonic() - t0 < 1  # the running call is not waited for
    p.add("after-close")
    release.set()
    time.sleep(0.1)
    assert started == ["slow"]  # the queued ones were dropped, nothing added after close
    assert "after-close" not in p.images


def test_keep_drops_queued_listings_of_images_the_scan_no_longer_found():
    """The last scan's images are listed before the checkout; those this scan did not find (a
    registry that moved) are dropped from the queue, the running one finishes, the rest stay."""
    release = threading.Event()
    started: list[str] = []
    lock = threading.Lock()

    def fetch(image: str) -> None:
        with lock:
            started.append(image)
        assert release.wait(10)

    p = Prefetch(fetch, workers=1)
    for image in ["old/a", "old/b", "new/c", "old/d"]:
        p.add(image)
    deadline = time.monotonic() + 10
    while not started and time.monotonic() < deadline:
        time.sleep(0.01)
    assert p.keep({"new/c"}) == 2  # old/b and old/d had not started; old/a runs
    assert p.images == {"old/a", "new/c"}
    release.set()
    while len(started) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    p.close()
    assert started == ["old/a", "new/c"]
