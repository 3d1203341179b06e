"""Property tests for recurrence: any stored input is a pattern or a ValidationError, and the
sends of any pattern obey docs/design.md §3 (ascending, after `after`, local time kept, count
honoured).
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from itertools import islice, pairwise
from typing import Any

from dateutil.rrule import rrulestr
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from campaign_desktop.domain.errors import ValidationError
from campaign_desktop.domain.recurrence import (
    RecurrencePattern,
    next_occurrence_after,
    occurrences,
)
from campaign_desktop.domain.timezones import US_ZONES, get_zone, to_local, to_utc

FAST = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# The US zones plus zones with unusual transitions: 30-minute DST (Lord Howe), DST at midnight
# (Havana, Santiago), a +12:45 zone (Chatham), a whole skipped day (Apia, December 2011).
ZONES = (
    *US_ZONES,
    "UTC",
    "Europe/London",
    "Australia/Lord_Howe",
    "America/Havana",
    "America/Santiago",
    "Pacific/Chatham",
    "Pacific/Apia",
    "Asia/Kolkata",
)
KEYS = (
    "type",
    "interval",
    "days_of_week",
    "day_of_month",
    "short_month",
    "weekday",
    "week_of_month",
    "end_date",
    "count",
)

json_like = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=12)
    | st.sampled_from(["daily", "weekly", "monthly", "yearly", "skip", "last_day", "2027-06-30"]),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text(max_size=12) | st.sampled_from(KEYS), children, max_size=4)
    ),
    max_leaves=12,
)

# Values near the valid ones (and past their edges) for each real key, or anything at all.
near_values: dict[str, st.SearchStrategy[Any]] = {
    "type": st.sampled_from(["daily", "weekly", "monthly", "yearly", "Daily", ""]),
    "interval": st.integers(-2, 1002) | st.booleans() | st.floats(0, 5),
    "days_of_week": st.lists(st.integers(-1, 7) | st.booleans(), max_size=8)
    | st.tuples(st.integers(0, 6)),
    "day_of_month": st.integers(-1, 33),
    "short_month": st.sampled_from(["skip", "last_day", "last", None]),
    "weekday": st.integers(-1, 7),
    "week_of_month": st.integers(-2, 5),
    "end_date": st.dates().map(date.isoformat) | st.dates() | st.datetimes() | st.text(max_size=12),
    "count": st.integers(-2, 10**9) | st.booleans(),
}
stored_dicts = st.fixed_dictionaries(
    {}, optional={key: values | json_like for key, values in near_values.items()}
)


def merged(known: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    return {**known, **extra}


stored_inputs = (
    json_like
    | stored_dicts
    | st.builds(merged, stored_dicts, st.dictionaries(st.text(max_size=12), json_like, max_size=1))
)


@st.composite
def patterns(draw: st.DrawFn) -> RecurrencePattern:
    """Any valid pattern, built the way the schedule dialog would."""
    kind = draw(st.sampled_from(["daily", "weekly", "monthly", "yearly"]))
    values: dict[str, Any] = {"type": kind}
    values["interval"] = draw(st.sampled_from([1, 1, 1, 2, 3]) | st.integers(1, 14))
    if kind == "weekly" and draw(st.booleans()):
        values["days_of_week"] = sorted(draw(st.sets(st.integers(0, 6), min_size=1)))
    if kind == "monthly":
        how = draw(st.sampled_from(["first send's day", "day", "weekday"]))
        if how == "day":
            values["day_of_month"] = draw(st.integers(1, 31) | st.integers(28, 31))
        elif how == "weekday":
            values["weekday"] = draw(st.integers(0, 6))
            values["week_of_month"] = draw(st.sampled_from([1, 2, 3, 4, -1]))
    if kind in ("monthly", "yearly"):
        values["short_month"] = draw(st.sampled_from(["skip", "last_day"]))
    if draw(st.booleans()):
        values["count"] = draw(st.integers(1, 40))
    if draw(st.booleans()):
        values["end_date"] = draw(st.dates(date(2020, 1, 1), date(2032, 12, 31))).isoformat()
    return RecurrencePattern.from_dict(values)


first_sends = st.datetimes(datetime(2010, 1, 1), datetime(2030, 12, 31)).map(
    lambda moment: moment.replace(second=0, microsecond=0)
) | st.datetimes(datetime(2026, 3, 1), datetime(2026, 11, 30)).map(  # around US transitions
    lambda moment: moment.replace(minute=moment.minute // 15 * 15, second=0, microsecond=0)
)
zones = st.sampled_from(ZONES)


def reference_sends(
    pattern: RecurrencePattern, first: datetime, tz: str, after: datetime | None, limit: int
) -> list[datetime]:
    """The sends straight from dateutil: the exported RRULE iterated from the first send."""
    zone = get_zone(tz)
    rule = rrulestr(pattern.to_rrule(first), dtstart=first)
    found: list[datetime] = []
    for local in rule:
        instant = to_utc(local, zone)
        if found and instant <= found[-1]:
            continue  # a day the zone skipped: the same instant as the next day's send
        if after is None or instant > after:
            found.append(instant)
        if len(found) == limit:
            break
    return found


def intended_local(send: datetime, first: datetime, tz: str) -> datetime:
    """The wall-clock rule instance a send stands for (a gap moves it later on the clock)."""
    zone = get_zone(tz)
    day = to_local(send, zone).date()
    for candidate in (day, day - timedelta(days=1)):
        local = datetime.combine(candidate, first.time())
        if to_utc(local, zone) == send:
            return local
    raise AssertionError(f"{send} is no instance of {first.time()} in {tz}")


@FAST
@given(stored_inputs)
def test_any_stored_input_is_a_pattern_or_a_validation_error(stored: object) -> None:
    try:
        pattern = RecurrencePattern.from_dict(stored)
    except ValidationError as error:
        assert error.field
        assert error.message
        return
    assert RecurrencePattern.from_dict(json.loads(json.dumps(pattern.to_dict()))) == pattern
    assert pattern.to_rrule().startswith(f"FREQ={pattern.type.upper()}")
    assert pattern.describe(datetime(2027, 1, 31, 9), "UTC").startswith("Every ")


@FAST
@given(patterns())
def test_to_dict_round_trips_every_valid_pattern(pattern: RecurrencePattern) -> None:
    stored = json.loads(json.dumps(pattern.to_dict()))
    assert RecurrencePattern.from_dict(stored) == pattern


@FAST
@given(
    patterns(),
    first_sends,
    zones,
    st.none() | st.integers(-3 * 24, 3 * 365 * 24),
    st.integers(1, 12),
)
def test_sends_match_dateutil_from_the_first_send_strictly_after_after(
    pattern: RecurrencePattern, first: datetime, tz: str, hours_after: int | None, limit: int
) -> None:
    after = None
    if hours_after is not None:
        after = first.replace(tzinfo=UTC) + timedelta(hours=hours_after, minutes=hours_after % 7)
    sends = occurrences(pattern, first, tz, after=after, limit=limit)
    assert sends == reference_sends(pattern, first, tz, after, limit)
    assert len(sends) <= limit
    assert all(earlier < later for earlier, later in pairwise(sends))
    assert all(send.tzinfo is UTC for send in sends)
    if after is not None:
        assert all(send > after for send in sends)
        assert next_occurrence_after(pattern, first, tz, after) == (sends[0] if sends else None)


@FAST
@given(patterns(), first_sends, zones)
def test_sends_keep_the_local_time_except_where_the_clock_skips_it(
    pattern: RecurrencePattern, first: datetime, tz: str
) -> None:
    sends = occurrences(pattern, first, tz, limit=15)
    zone = get_zone(tz)
    intended = [intended_local(send, first, tz) for send in sends]
    # One send per intended local date, in order; the wall time only moves in a gap.
    assert all(a.date() < b.date() for a, b in pairwise(intended))
    for send, local in zip(sends, intended, strict=True):
        if to_local(send, zone).time() != first.time():
            assert to_local(to_utc(local, zone), zone) != local  # `local` is in a gap
    if sends:
        assert intended[0] >= first


@FAST
@given(patterns(), first_sends, zones)
def test_count_is_honoured(pattern: RecurrencePattern, first: datetime, tz: str) -> None:
    if pattern.count is None:
        return
    sends = occurrences(pattern, first, tz, limit=pattern.count + 5)
    assert len(sends) <= pattern.count
    # "last_day" patterns send in every period; Apia's skipped day merges two sends into one.
    if pattern.end_date is None and pattern.short_month == "last_day" and tz != "Pacific/Apia":
        assert len(sends) == pattern.count
    if sends:
        later = occurrences(pattern, first, tz, after=sends[len(sends) // 2], limit=99)
        assert later == sends[len(sends) // 2 + 1 :]


@FAST
@given(patterns(), first_sends, zones)
def test_end_date_is_the_last_local_date_with_a_send(
    pattern: RecurrencePattern, first: datetime, tz: str
) -> None:
    if pattern.end_date is None:
        return
    sends = occurrences(pattern, first, tz, limit=50)
    assert all(intended_local(send, first, tz).date() <= pattern.end_date for send in sends)


def test_reference_helper_agrees_with_a_known_example() -> None:
    # Guards the property tests' own oracle.
    pattern = RecurrencePattern("daily")
    got = reference_sends(pattern, datetime(2026, 3, 7, 2, 15), "America/Denver", None, 3)
    assert [send.strftime("%d %H:%M") for send in got] == ["07 09:15", "08 09:15", "09 08:15"]
    assert list(islice(rrulestr("FREQ=DAILY", dtstart=datetime(2026, 1, 1)), 1)) == [
        datetime(2026, 1, 1)
    ]
