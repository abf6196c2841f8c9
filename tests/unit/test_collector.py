"""imagebot.collector: automatic garbage collection off while any cycle runs, back as it was after."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from imagebot import collector


# Each test starts with collection on and leaves it on (tests/conftest.py).


def test_off_while_paused_and_back_on_after():
    with collector.paused():
        assert not gc.isenabled()
    assert gc.isenabled()


def test_left_off_when_it_was_off():
    gc.disable()
    with collector.paused():
        assert not gc.isenabled()
    assert not gc.isenabled()


def test_back_on_after_an_exception():
    with pytest.raises(RuntimeError):
        with collector.paused():
            raise RuntimeError("the cycle failed")
    assert gc.isenabled()


def test_usable_as_a_decorator_each_call_pauses():
    @collector.paused()
    def cycle() -> bool:
        return gc.isenabled()

    assert cycle() is False and gc.isenabled()
    assert cycle() is False and gc.isenabled()


def test_overlapping_cycles_on_threads_resume_after_the_last_one():
    first_in, second_in, first_out, second_may_end = (threading.Event() for _ in range(4))
    during: list[bool] = []

    def first() -> None:
        with collector.paused():
            first_in.set()
            second_in.wait(10)
        first_out.set()

    def second() -> None:
        first_in.wait(10)
        with collector.paused():
            second_in.set()
            second_may_end.wait(10)
            during.append(gc.isenabled())

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    assert first_out.wait(10)
    assert not gc.isenabled()  # the second cycle still runs
    second_may_end.set()
    for t in threads:
        t.join(10)
    assert during == [False]
    assert gc.isenabled()


def test_off_for_good_outlasts_a_pause():
    with collector.paused():
        collector.off_for_good()
    assert not gc.isenabled()


def test_resume_turns_collection_on():
    gc.disable()
    collector.resume()
    assert gc.isenabled()


def test_resume_during_a_cycle_waits_for_its_end():
    gc.disable()  # start-up
    with collector.paused():
        collector.resume()
        assert not gc.isenabled()
    assert gc.isenabled()


def test_resume_leaves_it_off_for_good():
    collector.off_for_good()
    collector.resume()
    assert not gc.isenabled()


@contextmanager
def full_collections() -> Iterator[list[int]]:
    """The full collections that start while the block runs (one entry each)."""
    seen: list[int] = []

    def count(phase: str, info: dict) -> None:
        if phase == "start" and info["generation"] == 2:
            seen.append(1)

    gc.callbacks.append(count)
    try:
        yield seen
    finally:
        gc.callbacks.remove(count)


def test_cycles_that_always_overlap_still_collect_now_and_then(monkeypatch):
    """A busy agent may never have a moment with no cycle running: a cycle that ends after the
    pause has lasted LONGEST_PAUSE collects once itself (and the pause goes on)."""
    monkeypatch.setattr(collector, "LONGEST_PAUSE", 0.0)
    with full_collections() as seen:
        with collector.paused():
            with collector.paused():
                pass  # ends while the outer cycle runs, the pause older than LONGEST_PAUSE
            assert seen == [1]
            assert not gc.isenabled()
        assert seen == [1]  # the last cycle to end turns collection on; it does not collect
    assert gc.isenabled()


@pytest.mark.parametrize("off_for_good", [False, True], ids=["short overlap", "process off for good"])
def test_no_collection_for_a_short_overlap_or_in_a_process_that_stays_off(monkeypatch, off_for_good: bool):
    if off_for_good:
        monkeypatch.setattr(collector, "LONGEST_PAUSE", 0.0)  # however long: a one-shot process never collects
        collector.off_for_good()
    with full_collections() as seen:
        with collector.paused():
            with collector.paused():
                pass
    assert seen == []
    assert gc.isenabled() is not off_for_good
