"""Cron expressions for maintenance windows: 5 fields, each minute they match is inside the window.

``* 9-16 * * mon-fri`` is 9:00-16:59 on weekdays (Renovate's `schedule` reads cron the same way).
Fields: minute hour day-of-month month day-of-week; ``*``, ``a-b``, ``a,b``, ``*/n``, ``a-b/n``;
month and weekday names (jan, mon); weekday 0 and 7 are Sunday. As in cron, when both day
fields are restricted a day matches either.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

_MONTHS = {m: i for i, m in enumerate("jan feb mar apr may jun jul aug sep oct nov dec".split(), 1)}
_DAYS = {d: i for i, d in enumerate("sun mon tue wed thu fri sat".split())}
_BOUNDS = ((0, 59, {}), (0, 23, {}), (1, 31, {}), (1, 12, _MONTHS), (0, 7, _DAYS))
_NAMES = ("minute", "hour", "day-of-month", "month", "day-of-week")


@dataclass(frozen=True)
class Cron:
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday
    any_day: bool  # day-of-month is `*`
    any_weekday: bool  # day-of-week is `*`

    def matches(self, t: datetime) -> bool:
        """Whether the minute of local time `t` is inside the window."""
        if t.minute not in self.minutes or t.hour not in self.hours or t.month not in self.months:
            return False
        weekday = (t.weekday() + 1) % 7
        day_ok, weekday_ok = t.day in self.days, weekday in self.weekdays
        if self.any_day or self.any_weekday:
            return day_ok and weekday_ok
        return day_ok or weekday_ok


def _value(text: str, names: dict[str, int], field: str) -> int:
    t = text.strip().lower()
    if t in names:
        return names[t]
    if not t.isdigit():
        raise ValueError(f"cron {field}: {text!r} is not a number{' or a name' if names else ''}")
    return int(t)


def _field(text: str, index: int) -> frozenset[int]:
    low, high, names = _BOUNDS[index]
    field = _NAMES[index]
    out: set[int] = set()
    for part in text.split(","):
        rng, _, step_text = part.partition("/")
        step = int(step_text) if step_text.isdigit() and int(step_text) > 0 else None
        if step_text and step is None:
            raise ValueError(f"cron {field}: bad step in {part!r}")
        if rng == "*":
            a, b = low, high
        elif "-" in rng:
            x, _, y = rng.partition("-")
            a, b = _value(x, names, field), _value(y, names, field)
        else:
            a = b = _value(rng, names, field)
            if step:
                b = high
        if not (low <= a <= high and low <= b <= high) or b < a:
            raise ValueError(f"cron {field}: {part!r} is outside {low}-{high}")
        out.update(range(a, b + 1, step or 1))
    if index == 4 and 7 in out:
        out = (out - {7}) | {0}
    return frozenset(out)


def parse_cron(text: str) -> Cron:
    """'* 9-16 * * mon-fri' -> Cron; raises ValueError naming the bad field."""
    parts = text.split()
    if len(parts) != 5:
        raise ValueError(f"cron {text!r}: need 5 fields (minute hour day-of-month month day-of-week)")
    sets = [_field(p, i) for i, p in enumerate(parts)]
    return Cron(*sets, any_day=parts[2] == "*", any_weekday=parts[4] == "*")
