"""The webhook debouncer, on a fake clock: a lone push is handled at once, a burst is gathered."""

from __future__ import annotations

from imagebot.agent.debounce import Debouncer


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make(leading: bool = True) -> tuple[Debouncer, Clock]:
    clock = Clock()
    return Debouncer(0.1, 5.0, clock, leading=leading), clock


def test_a_lone_push_is_due_at_once() -> None:
    d, clock = make()
    assert d.deadline() is None and d.take_due() is None
    d.add(["r/a"])
    assert d.deadline() == clock.now
    assert d.take_due() == {"r/a"}
    assert d.deadline() is None


def test_pushes_following_within_the_quiet_time_are_gathered_into_the_next_batch() -> None:
    d, clock = make()
    d.add(["r/a"])
    assert d.take_due() == {"r/a"}  # the leading edge, at once
    clock.now += 0.02
    d.add(["r/b"])
    clock.now += 0.05
    d.add(["r/c", "r/b"])
    assert d.deadline() == clock.now + 0.1  # quiet time after the last push
    clock.now += 0.09
    assert d.take_due() is None
    clock.now += 0.01
    assert d.take_due() == {"r/b", "r/c"}


def test_after_a_quiet_spell_the_next_push_is_due_at_once_again() -> None:
    d, clock = make()
    d.add(["r/a"])
    d.take_due()
    clock.now += 0.1
    d.add(["r/b"])
    assert d.take_due() == {"r/b"}


def test_a_push_while_the_leading_batch_waits_joins_it() -> None:
    d, clock = make()
    d.add(["r/a"])
    clock.now += 0.01  # the worker is still busy with a full cycle
    d.add(["r/b"])
    assert d.deadline() == clock.now - 0.01
    assert d.take_due() == {"r/a", "r/b"}


def test_a_steady_stream_fires_at_least_every_max_delay() -> None:
    d, clock = make()
    d.add(["r/a"])
    d.take_due()
    first = clock.now + 0.05
    for _ in range(200):  # a push every 50 ms: never 100 ms of quiet
        clock.now += 0.05
        d.add(["r/b"])
        if d.take_due() is not None:
            break
    assert d.deadline() is None and clock.now - first <= 5.0 + 0.05  # within one push of max_delay


def test_without_leading_every_batch_waits_for_the_quiet_time() -> None:
    d, clock = make(leading=False)
    d.add(["r/a"])
    assert d.deadline() == clock.now + 0.1
    assert d.take_due() is None
    clock.now += 0.1
    assert d.take_due() == {"r/a"}
