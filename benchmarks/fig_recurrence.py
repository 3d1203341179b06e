"""Next-run computation: `next_occurrence_after` for 100,000 mixed patterns vs bare dateutil,
and for the worst single pattern, one that can never send again."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from dateutil.rrule import DAILY, MONTHLY, WEEKLY, YEARLY, rrule, weekdays

from benchmarks import data
from benchmarks.harness import Bench, Row, Target, emit_note, emit_row, median, stopwatch
from campaign_desktop.domain import recurrence
from campaign_desktop.domain.recurrence import RecurrencePattern, next_occurrence_after

_FREQS = {"daily": DAILY, "weekly": WEEKLY, "monthly": MONTHLY, "yearly": YEARLY}


def bare_next(pattern: dict[str, Any], first: datetime, tz: str, now: datetime) -> datetime | None:
    """What dateutil alone does for the same pattern: an rrule on the local wall clock, `after`
    the local "now", then to UTC (no DST rule, no short-month rule, no validation)."""
    kwargs: dict[str, Any] = {"interval": pattern.get("interval", 1), "dtstart": first}
    if pattern.get("days_of_week"):
        kwargs["byweekday"] = pattern["days_of_week"]
    if pattern.get("day_of_month"):
        kwargs["bymonthday"] = pattern["day_of_month"]
    if pattern.get("weekday") is not None:
        kwargs["byweekday"] = weekdays[pattern["weekday"]](pattern["week_of_month"])
    if pattern.get("count"):
        kwargs["count"] = pattern["count"]
    elif pattern.get("end_date"):
        kwargs["until"] = datetime.fromisoformat(pattern["end_date"]).replace(hour=23, minute=59)
    zone = ZoneInfo(tz)
    local = rrule(_FREQS[pattern["type"]], **kwargs).after(  # type: ignore[arg-type]
        now.astimezone(zone).replace(tzinfo=None)
    )
    return None if local is None else local.replace(tzinfo=zone).astimezone(UTC)


def next_run(bench: Bench) -> None:
    n = bench.sizes.patterns
    now = datetime.now(UTC)
    schedules = data.random_schedules(n, now)
    ours: list[float] = []
    parse: list[float] = []
    bare: list[float] = []
    # dateutil alone walks every occurrence from the first send (~4x the app's time): a
    # tenth of the patterns, scaled up, keeps the suite's time in bounds.
    step = 10 if n >= 10_000 else 1
    sample = schedules[::step]
    for _ in range(bench.sizes.repeats):
        with stopwatch() as elapsed:
            for s in sample:
                bare_next(s.pattern, s.first_local, s.timezone, now)
        bare.append(elapsed() * n / len(sample))
        with stopwatch() as elapsed:
            patterns = [RecurrencePattern.from_dict(s.pattern) for s in schedules]
            parsed = elapsed()
            results = [
                next_occurrence_after(p, s.first_local, s.timezone, now)
                for p, s in zip(patterns, schedules, strict=True)
            ]
        ours.append(elapsed())
        parse.append(parsed)
    ended = sum(1 for r in results if r is None)
    emit_row(
        Row(
            key="next-run",
            figure=f"next-run computation, {n:,} mixed patterns",
            unit="s",
            ours=median(ours),
            baseline=median(bare),
            target=Target("max", 3, "≤ 3 s"),
        )
    )
    kinds: dict[str, int] = {}
    for s in schedules:
        kinds[s.pattern["type"]] = kinds.get(s.pattern["type"], 0) + 1
    emit_note(
        f"next run: {n:,} patterns ({kinds}; ~15% with a count, ~15% with an end date) "
        "in 12 time zones, first sends up to two years back, next occurrence after now; "
        f"{ended:,} series already over. App = `RecurrencePattern.from_dict` (validation, "
        f"{median(parse):.2f} s of the total) + `next_occurrence_after`, as the scheduler "
        "advances a campaign. Bare = a dateutil `rrule(...).after(now)` on the local wall "
        "clock + conversion to UTC, without the app's DST, short-month and end rules"
        + (f", timed on every {step}th pattern and scaled up {step} times." if step > 1 else ".")
    )
    _never_again(bench, now)


def _never_again(bench: Bench, now: datetime) -> None:
    """The worst single pattern: every 12 months from February on day 31, skipping months
    without one. It can never send again; the app must say so after at most one 400-year
    Gregorian cycle of periods. (This was a time bound in tests/domain/test_recurrence.py,
    which now counts the periods looked at instead.)"""
    pattern = RecurrencePattern.from_dict(
        {"type": "monthly", "interval": 12, "day_of_month": 31, "short_month": "skip"}
    )
    first = datetime(2027, 2, 1, 9)  # a wall-clock time, as the app stores it
    bare_pattern = {"type": "monthly", "interval": 12, "day_of_month": 31}
    ours: list[float] = []
    bare: list[float] = []
    for _ in range(bench.sizes.repeats):
        # Cold, as after a start: what a period holds is worked out once and cached.
        for cached in (recurrence._plan, recurrence._period_sends, recurrence._period_dates):
            cached.cache_clear()
        with stopwatch() as elapsed:
            found = next_occurrence_after(pattern, first, "UTC", now)
        ours.append(elapsed())
        with stopwatch() as elapsed:
            bare_found = bare_next(bare_pattern, first, "UTC", now)
        bare.append(elapsed())
    assert found is None and bare_found is None
    emit_row(
        Row(
            key="next-run-never",
            figure="next-run of a pattern that never sends again (31 Feb, yearly)",
            unit="s",
            ours=median(ours),
            baseline=median(bare),
            target=Target("max", 0.5, "≤ 0.5 s"),
        )
    )
    emit_note(
        "never again: `next_occurrence_after` for every 12 months on day 31 from February "
        "(short months skipped), cold caches, answered None; bare = dateutil's `rrule(MONTHLY, "
        "interval=12, bymonthday=31).after(now)`, which walks to the year 9999 before it "
        "gives up."
    )
