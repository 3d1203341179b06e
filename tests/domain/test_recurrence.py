"""Tests for campaign_desktop.domain.recurrence: patterns, occurrences, RRULE, wording, .ics.

Expected sends are written out as exact UTC times; docs/design.md §3 is the specification.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta, timezone
from datetime import time as dt_time
from itertools import islice
from typing import Any

import pytest
from dateutil.rrule import rrule, rrulestr

from campaign_desktop.domain import recurrence
from campaign_desktop.domain.errors import ValidationError
from campaign_desktop.domain.recurrence import (
    MAX_INTERVAL,
    RecurrencePattern,
    describe_once,
    next_occurrence_after,
    occurrences,
    validate_schedule,
)
from campaign_desktop.domain.timezones import US_ZONES, get_zone, to_local

P = RecurrencePattern
NY = "America/New_York"


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def stamps(sends: list[datetime]) -> list[str]:
    """Sends as compact UTC strings, e.g. "2026-03-07T14:00Z"."""
    assert all(send.utcoffset() == timedelta(0) for send in sends)
    return [send.strftime("%Y-%m-%dT%H:%MZ") for send in sends]


def local_dates(sends: list[datetime], tz: str) -> list[str]:
    return [to_local(send, get_zone(tz)).strftime("%Y-%m-%d") for send in sends]


def local_times(sends: list[datetime], tz: str) -> list[str]:
    return [to_local(send, get_zone(tz)).strftime("%Y-%m-%d %H:%M") for send in sends]


# --- the examples of docs/design.md §3 ---------------------------------------------------


def test_daily_0800_chicago_keeps_0800_across_the_spring_forward() -> None:
    sends = occurrences(P("daily"), datetime(2026, 3, 7, 8, 0), "America/Chicago", limit=3)
    assert stamps(sends) == ["2026-03-07T14:00Z", "2026-03-08T13:00Z", "2026-03-09T13:00Z"]


def test_daily_0215_denver_sends_on_the_gap_day_with_the_offset_before_the_gap() -> None:
    sends = occurrences(P("daily"), datetime(2026, 3, 7, 2, 15), "America/Denver", limit=3)
    assert stamps(sends) == ["2026-03-07T09:15Z", "2026-03-08T09:15Z", "2026-03-09T08:15Z"]


def test_daily_0115_los_angeles_sends_once_in_the_repeated_hour() -> None:
    sends = occurrences(P("daily"), datetime(2026, 10, 31, 1, 15), "America/Los_Angeles", limit=3)
    assert stamps(sends) == ["2026-10-31T08:15Z", "2026-11-01T08:15Z", "2026-11-02T09:15Z"]


def test_monthly_day_31_last_day_london_sends_on_the_30th_in_september() -> None:
    pattern = P("monthly", day_of_month=31, short_month="last_day")
    sends = occurrences(pattern, datetime(2026, 8, 31, 12, 0), "Europe/London", limit=3)
    assert stamps(sends) == ["2026-08-31T11:00Z", "2026-09-30T11:00Z", "2026-10-31T12:00Z"]


def test_monthly_first_monday_new_york() -> None:
    pattern = P("monthly", weekday=0, week_of_month=1)
    sends = occurrences(pattern, datetime(2026, 12, 7, 9, 0), NY, limit=3)
    assert stamps(sends) == ["2026-12-07T14:00Z", "2027-01-04T14:00Z", "2027-02-01T14:00Z"]


# --- every US zone across both 2026 transitions --------------------------------------------------

# (zone, daily 09:00 UTC times for 7, 8, 9 March and 31 Oct, 1, 2 November 2026)
US_DAILY_0900 = [
    ("America/New_York", ["14", "13", "13"], ["13", "14", "14"]),
    ("America/Chicago", ["15", "14", "14"], ["14", "15", "15"]),
    ("America/Denver", ["16", "15", "15"], ["15", "16", "16"]),
    ("America/Phoenix", ["16", "16", "16"], ["16", "16", "16"]),
    ("America/Los_Angeles", ["17", "16", "16"], ["16", "17", "17"]),
    ("America/Anchorage", ["18", "17", "17"], ["17", "18", "18"]),
    ("Pacific/Honolulu", ["19", "19", "19"], ["19", "19", "19"]),
]


@pytest.mark.parametrize(("tz", "march", "november"), US_DAILY_0900)
def test_daily_0900_stays_0900_local_in_every_us_zone_across_both_transitions(
    tz: str, march: list[str], november: list[str]
) -> None:
    spring = occurrences(P("daily"), datetime(2026, 3, 7, 9), tz, limit=3)
    fall = occurrences(P("daily"), datetime(2026, 10, 31, 9), tz, limit=3)
    assert stamps(spring) == [
        f"2026-03-{d:02d}T{h}:00Z" for d, h in zip((7, 8, 9), march, strict=True)
    ]
    assert stamps(fall) == [
        f"2026-{m}T{h}:00Z" for m, h in zip(("10-31", "11-01", "11-02"), november, strict=True)
    ]
    assert {t[-5:] for t in local_times(spring + fall, tz)} == {"09:00"}


# The wall time 02:30 on 8 March 2026 does not exist where clocks spring forward.
US_GAP_0230 = [
    ("America/New_York", "07:30", "03:30"),
    ("America/Chicago", "08:30", "03:30"),
    ("America/Denver", "09:30", "03:30"),
    ("America/Phoenix", "09:30", "02:30"),
    ("America/Los_Angeles", "10:30", "03:30"),
    ("America/Anchorage", "11:30", "03:30"),
    ("Pacific/Honolulu", "12:30", "02:30"),
]


@pytest.mark.parametrize(("tz", "gap_utc", "gap_local"), US_GAP_0230)
def test_daily_0230_still_sends_on_the_spring_forward_day_in_every_us_zone(
    tz: str, gap_utc: str, gap_local: str
) -> None:
    sends = occurrences(P("daily"), datetime(2026, 3, 7, 2, 30), tz, limit=3)
    assert local_dates(sends, tz) == ["2026-03-07", "2026-03-08", "2026-03-09"]
    assert stamps(sends)[1] == f"2026-03-08T{gap_utc}Z"
    assert local_times(sends, tz)[1] == f"2026-03-08 {gap_local}"
    assert [t[-5:] for t in local_times(sends, tz)][::2] == ["02:30", "02:30"]


@pytest.mark.parametrize("tz", US_ZONES)
def test_daily_0130_sends_exactly_once_on_the_fall_back_day_in_every_us_zone(tz: str) -> None:
    sends = occurrences(P("daily"), datetime(2026, 10, 30, 1, 30), tz, limit=4)
    assert local_times(sends, tz) == [
        "2026-10-30 01:30",
        "2026-10-31 01:30",
        "2026-11-01 01:30",
        "2026-11-02 01:30",
    ]
    first_pass = to_local(sends[2], get_zone(tz))
    assert first_pass.fold == 0  # the first 01:30, not the repeated one


def test_weekly_monday_0900_new_york_follows_the_clock_change() -> None:
    sends = occurrences(P("weekly"), datetime(2026, 3, 2, 9), NY, limit=3)
    assert stamps(sends) == ["2026-03-02T14:00Z", "2026-03-09T13:00Z", "2026-03-16T13:00Z"]


def test_monthly_sends_keep_local_time_across_european_transitions() -> None:
    sends = occurrences(P("monthly"), datetime(2026, 2, 15, 10), "Europe/London", limit=3)
    assert stamps(sends) == ["2026-02-15T10:00Z", "2026-03-15T10:00Z", "2026-04-15T09:00Z"]


def test_a_zone_that_skipped_a_whole_day_still_never_sends_twice_at_once() -> None:
    # Samoa jumped from 29 to 31 December 2011; 30 Dec 09:00 (read at UTC-10) equals 31 Dec 09:00.
    sends = occurrences(P("daily"), datetime(2011, 12, 28, 9), "Pacific/Apia", limit=4)
    assert stamps(sends) == [
        "2011-12-28T19:00Z",
        "2011-12-29T19:00Z",
        "2011-12-30T19:00Z",
        "2011-12-31T19:00Z",
    ]


# --- months of 28 to 31 days, leap years -------------------------------------------------------


def test_monthly_day_31_last_day_uses_each_months_last_day() -> None:
    sends = occurrences(P("monthly", day_of_month=31), datetime(2027, 1, 31, 9), "UTC", limit=12)
    assert local_dates(sends, "UTC") == [
        "2027-01-31",
        "2027-02-28",
        "2027-03-31",
        "2027-04-30",
        "2027-05-31",
        "2027-06-30",
        "2027-07-31",
        "2027-08-31",
        "2027-09-30",
        "2027-10-31",
        "2027-11-30",
        "2027-12-31",
    ]


def test_monthly_day_31_last_day_sends_on_29_february_in_a_leap_year() -> None:
    sends = occurrences(P("monthly", day_of_month=31), datetime(2028, 1, 31, 9), "UTC", limit=3)
    assert local_dates(sends, "UTC") == ["2028-01-31", "2028-02-29", "2028-03-31"]


def test_monthly_day_30_last_day_sends_on_the_30th_or_the_end_of_february() -> None:
    sends = occurrences(P("monthly", day_of_month=30), datetime(2027, 1, 30, 9), "UTC", limit=4)
    assert local_dates(sends, "UTC") == ["2027-01-30", "2027-02-28", "2027-03-30", "2027-04-30"]
    leap = occurrences(P("monthly", day_of_month=30), datetime(2028, 1, 30, 9), "UTC", limit=3)
    assert local_dates(leap, "UTC") == ["2028-01-30", "2028-02-29", "2028-03-30"]


def test_monthly_day_29_last_day_sends_on_28_february_only_outside_leap_years() -> None:
    sends = occurrences(P("monthly", day_of_month=29), datetime(2027, 1, 29, 9), "UTC", limit=3)
    assert local_dates(sends, "UTC") == ["2027-01-29", "2027-02-28", "2027-03-29"]
    leap = occurrences(P("monthly", day_of_month=29), datetime(2028, 1, 29, 9), "UTC", limit=3)
    assert local_dates(leap, "UTC") == ["2028-01-29", "2028-02-29", "2028-03-29"]


def test_monthly_day_31_skip_leaves_out_months_without_a_31st() -> None:
    pattern = P("monthly", day_of_month=31, short_month="skip")
    sends = occurrences(pattern, datetime(2027, 1, 31, 9), "UTC", limit=7)
    assert local_dates(sends, "UTC") == [
        "2027-01-31",
        "2027-03-31",
        "2027-05-31",
        "2027-07-31",
        "2027-08-31",
        "2027-10-31",
        "2027-12-31",
    ]


def test_monthly_day_30_skip_leaves_out_only_february() -> None:
    pattern = P("monthly", day_of_month=30, short_month="skip")
    sends = occurrences(pattern, datetime(2027, 1, 30, 9), "UTC", limit=3)
    assert local_dates(sends, "UTC") == ["2027-01-30", "2027-03-30", "2027-04-30"]


def test_monthly_day_29_skip_keeps_february_in_leap_years_only() -> None:
    pattern = P("monthly", day_of_month=29, short_month="skip")
    plain = occurrences(pattern, datetime(2027, 1, 29, 9), "UTC", limit=2)
    leap = occurrences(pattern, datetime(2028, 1, 29, 9), "UTC", limit=2)
    assert local_dates(plain, "UTC") == ["2027-01-29", "2027-03-29"]
    assert local_dates(leap, "UTC") == ["2028-01-29", "2028-02-29"]


def test_monthly_day_up_to_28_is_the_same_day_every_month_in_either_mode() -> None:
    for mode in ("skip", "last_day"):
        pattern = P("monthly", day_of_month=28, short_month=mode)
        sends = occurrences(pattern, datetime(2027, 1, 28, 9), "UTC", limit=3)
        assert local_dates(sends, "UTC") == ["2027-01-28", "2027-02-28", "2027-03-28"]


def test_monthly_without_a_day_uses_the_first_sends_day_with_last_day() -> None:
    sends = occurrences(P("monthly"), datetime(2027, 1, 31, 9), "UTC", limit=3)
    assert local_dates(sends, "UTC") == ["2027-01-31", "2027-02-28", "2027-03-31"]


def test_monthly_without_a_day_in_skip_mode_skips_short_months() -> None:
    sends = occurrences(P("monthly", short_month="skip"), datetime(2027, 1, 31, 9), "UTC", limit=2)
    assert local_dates(sends, "UTC") == ["2027-01-31", "2027-03-31"]


def test_monthly_day_already_past_in_the_first_month_starts_next_month() -> None:
    sends = occurrences(P("monthly", day_of_month=10), datetime(2027, 1, 20, 9), "UTC", limit=2)
    assert local_dates(sends, "UTC") == ["2027-02-10", "2027-03-10"]


def test_monthly_day_later_in_the_first_month_starts_that_month() -> None:
    sends = occurrences(P("monthly", day_of_month=25), datetime(2027, 1, 20, 9), "UTC", limit=2)
    assert local_dates(sends, "UTC") == ["2027-01-25", "2027-02-25"]


def test_monthly_interval_three_sends_every_third_month() -> None:
    sends = occurrences(P("monthly", interval=3), datetime(2027, 1, 15, 9), "UTC", limit=4)
    assert local_dates(sends, "UTC") == ["2027-01-15", "2027-04-15", "2027-07-15", "2027-10-15"]


def test_monthly_last_friday() -> None:
    pattern = P("monthly", weekday=4, week_of_month=-1)
    sends = occurrences(pattern, datetime(2027, 1, 1, 9), "UTC", limit=4)
    assert local_dates(sends, "UTC") == ["2027-01-29", "2027-02-26", "2027-03-26", "2027-04-30"]


def test_every_three_months_on_the_last_friday() -> None:
    pattern = P("monthly", interval=3, weekday=4, week_of_month=-1)
    sends = occurrences(pattern, datetime(2027, 1, 1, 9), "UTC", limit=3)
    assert local_dates(sends, "UTC") == ["2027-01-29", "2027-04-30", "2027-07-30"]


def test_monthly_fourth_thursday() -> None:
    pattern = P("monthly", weekday=3, week_of_month=4)
    sends = occurrences(pattern, datetime(2027, 11, 1, 9), "UTC", limit=2)
    assert local_dates(sends, "UTC") == ["2027-11-25", "2027-12-23"]


def test_yearly_sends_on_the_same_day_each_year() -> None:
    sends = occurrences(P("yearly"), datetime(2027, 3, 15, 9), NY, limit=3)
    assert stamps(sends) == ["2027-03-15T13:00Z", "2028-03-15T13:00Z", "2029-03-15T13:00Z"]


def test_yearly_interval_two_sends_every_other_year() -> None:
    sends = occurrences(P("yearly", interval=2), datetime(2027, 12, 31, 9), "UTC", limit=3)
    assert local_dates(sends, "UTC") == ["2027-12-31", "2029-12-31", "2031-12-31"]


def test_yearly_on_29_february_sends_on_28_february_in_other_years() -> None:
    sends = occurrences(P("yearly"), datetime(2028, 2, 29, 9), "UTC", limit=5)
    assert local_dates(sends, "UTC") == [
        "2028-02-29",
        "2029-02-28",
        "2030-02-28",
        "2031-02-28",
        "2032-02-29",
    ]


def test_yearly_on_29_february_in_skip_mode_sends_in_leap_years_only() -> None:
    pattern = P("yearly", short_month="skip")
    sends = occurrences(pattern, datetime(2096, 2, 29, 9), "UTC", limit=3)
    assert local_dates(sends, "UTC") == ["2096-02-29", "2104-02-29", "2108-02-29"]  # 2100: no


# --- weekly -----------------------------------------------------------------------------------


def test_weekly_without_days_sends_on_the_first_sends_weekday() -> None:
    sends = occurrences(P("weekly"), datetime(2027, 1, 6, 9), "UTC", limit=3)  # a Wednesday
    assert local_dates(sends, "UTC") == ["2027-01-06", "2027-01-13", "2027-01-20"]


def test_weekly_interval_two_skips_alternate_weeks() -> None:
    sends = occurrences(P("weekly", interval=2), datetime(2027, 1, 4, 9), "UTC", limit=3)
    assert local_dates(sends, "UTC") == ["2027-01-04", "2027-01-18", "2027-02-01"]


def test_weekly_interval_two_with_days_counts_weeks_not_sends() -> None:
    pattern = P("weekly", interval=2, days_of_week=(0, 2))
    sends = occurrences(pattern, datetime(2027, 1, 4, 9), NY, limit=6)
    assert local_dates(sends, NY) == [
        "2027-01-04",
        "2027-01-06",
        "2027-01-18",
        "2027-01-20",
        "2027-02-01",
        "2027-02-03",
    ]


def test_weekly_first_send_on_a_day_not_listed_starts_at_the_next_listed_day() -> None:
    pattern = P("weekly", days_of_week=(0, 4))  # Monday, Friday
    sends = occurrences(pattern, datetime(2027, 1, 6, 9), "UTC", limit=3)  # a Wednesday
    assert local_dates(sends, "UTC") == ["2027-01-08", "2027-01-11", "2027-01-15"]


def test_weekly_interval_two_starting_midweek_keeps_the_first_weeks_later_days_only() -> None:
    pattern = P("weekly", interval=2, days_of_week=(0, 2, 4))
    sends = occurrences(pattern, datetime(2027, 1, 6, 9), "UTC", limit=5)  # Wednesday
    assert local_dates(sends, "UTC") == [
        "2027-01-06",
        "2027-01-08",
        "2027-01-18",
        "2027-01-20",
        "2027-01-22",
    ]


def test_weekly_on_sunday_counts_weeks_from_monday() -> None:
    pattern = P("weekly", interval=2, days_of_week=(0, 6))
    sends = occurrences(pattern, datetime(2027, 1, 10, 9), "UTC", limit=3)  # a Sunday
    assert local_dates(sends, "UTC") == ["2027-01-10", "2027-01-18", "2027-01-24"]


def test_weekly_send_earlier_in_the_day_than_first_local_waits_a_week() -> None:
    # Same weekday, but the rule's time is that of first_local, so it is the first send.
    sends = occurrences(P("weekly", days_of_week=(0,)), datetime(2027, 1, 4, 23, 59), "UTC")
    assert local_times(sends[:2], "UTC") == ["2027-01-04 23:59", "2027-01-11 23:59"]


# --- daily, intervals ------------------------------------------------------------------------


def test_daily_interval_three_with_count_ten_sends_ten_times() -> None:
    sends = occurrences(P("daily", interval=3, count=10), datetime(2027, 1, 1, 8), "UTC", limit=99)
    assert len(sends) == 10
    assert local_dates(sends, "UTC")[:3] == ["2027-01-01", "2027-01-04", "2027-01-07"]
    assert local_dates(sends, "UTC")[-1] == "2027-01-28"


def test_daily_seconds_are_kept_and_microseconds_dropped() -> None:
    sends = occurrences(P("daily"), datetime(2027, 1, 1, 8, 0, 30, 999), "UTC", limit=2)
    assert sends == [utc("2027-01-01T08:00:30"), utc("2027-01-02T08:00:30")]


# --- end_date and count ------------------------------------------------------------------------


def test_end_date_is_inclusive_for_a_send_at_2359() -> None:
    pattern = P("daily", end_date=date(2027, 1, 3))
    sends = occurrences(pattern, datetime(2027, 1, 1, 23, 59), NY, limit=10)
    assert local_times(sends, NY) == ["2027-01-01 23:59", "2027-01-02 23:59", "2027-01-03 23:59"]


def test_end_date_on_the_last_matching_day_includes_it() -> None:
    # Active weeks: 4 Jan + every second week, so the last is 21-23 June (28 June is off).
    pattern = P("weekly", interval=2, days_of_week=(0, 2), end_date=date(2027, 6, 23))
    sends = occurrences(pattern, datetime(2027, 1, 4, 9), NY, limit=100)
    assert local_dates(sends, NY)[-2:] == ["2027-06-21", "2027-06-23"]
    assert len(sends) == 26
    longer = pattern.to_dict() | {"end_date": "2027-06-30"}
    assert (
        occurrences(RecurrencePattern.from_dict(longer), datetime(2027, 1, 4, 9), NY, limit=100)
        == sends
    )


def test_end_date_before_the_first_matching_day_means_no_sends() -> None:
    pattern = P("monthly", day_of_month=20, end_date=date(2027, 1, 19))
    assert occurrences(pattern, datetime(2027, 1, 10, 9), "UTC") == []


def test_count_ends_first_when_it_comes_before_the_end_date() -> None:
    pattern = P("daily", count=3, end_date=date(2027, 12, 31))
    sends = occurrences(pattern, datetime(2027, 1, 1, 9), "UTC", limit=100)
    assert local_dates(sends, "UTC") == ["2027-01-01", "2027-01-02", "2027-01-03"]


def test_end_date_ends_first_when_it_comes_before_the_count() -> None:
    pattern = P("daily", count=30, end_date=date(2027, 1, 2))
    sends = occurrences(pattern, datetime(2027, 1, 1, 9), "UTC", limit=100)
    assert local_dates(sends, "UTC") == ["2027-01-01", "2027-01-02"]


def test_count_includes_the_first_send() -> None:
    sends = occurrences(P("weekly", count=1), datetime(2027, 1, 4, 9), "UTC", limit=10)
    assert local_dates(sends, "UTC") == ["2027-01-04"]


def test_count_counts_sends_not_weeks() -> None:
    pattern = P("weekly", days_of_week=(0, 2, 4), count=5)
    sends = occurrences(pattern, datetime(2027, 1, 6, 9), "UTC", limit=10)  # Wednesday
    assert local_dates(sends, "UTC") == [
        "2027-01-06",
        "2027-01-08",
        "2027-01-11",
        "2027-01-13",
        "2027-01-15",
    ]


def test_count_together_with_after_leaves_only_the_remaining_sends() -> None:
    pattern = P("daily", count=5)
    sends = occurrences(pattern, datetime(2027, 1, 1, 9), "UTC", after=utc("2027-01-03T10:00"))
    assert local_dates(sends, "UTC") == ["2027-01-04", "2027-01-05"]


def test_count_together_with_after_past_the_last_send_leaves_nothing() -> None:
    pattern = P("weekly", days_of_week=(1, 3), count=4)
    first = datetime(2027, 1, 4, 9)
    assert occurrences(pattern, first, "UTC", after=utc("2027-01-14T09:00")) == []
    assert next_occurrence_after(pattern, first, "UTC", utc("2027-01-14T09:00")) is None
    assert next_occurrence_after(pattern, first, "UTC", utc("2027-01-14T08:59")) == utc(
        "2027-01-14T09:00"
    )


def test_count_on_a_skip_pattern_counts_only_real_sends() -> None:
    pattern = P("monthly", day_of_month=31, short_month="skip", count=3)
    first = datetime(2027, 1, 31, 9)
    sends = occurrences(pattern, first, "UTC", limit=10)
    assert local_dates(sends, "UTC") == ["2027-01-31", "2027-03-31", "2027-05-31"]
    assert occurrences(pattern, first, "UTC", after=utc("2027-04-01T00:00")) == sends[2:]


def test_count_far_in_the_future_is_still_honoured() -> None:
    pattern = P("daily", count=1000)
    last_day = date(2027, 1, 1) + timedelta(days=999)  # send number 1000
    after = datetime.combine(last_day - timedelta(days=3), datetime.min.time(), UTC)
    sends = occurrences(pattern, datetime(2027, 1, 1, 9), "UTC", after=after, limit=10)
    assert local_dates(sends, "UTC")[-1] == last_day.isoformat()
    assert len(sends) == 4  # the last four days, then nothing


# --- after, limit, None pattern ---------------------------------------------------------------


def test_after_is_strict() -> None:
    sends = occurrences(P("daily"), datetime(2027, 1, 1, 9), "UTC", after=utc("2027-01-02T09:00"))
    assert stamps(sends[:1]) == ["2027-01-03T09:00Z"]


def test_after_may_be_in_any_timezone() -> None:
    after = datetime(2027, 1, 2, 10, tzinfo=timezone(timedelta(hours=1)))  # 09:00Z
    sends = occurrences(P("daily"), datetime(2027, 1, 1, 9), "UTC", after=after, limit=1)
    assert stamps(sends) == ["2027-01-03T09:00Z"]


def test_after_far_from_the_first_send_gives_the_same_sends_as_counting_from_the_start() -> None:
    pattern = P("weekly", interval=3, days_of_week=(1, 5))
    first = datetime(2026, 2, 3, 7, 45)
    everything = occurrences(pattern, first, NY, limit=400)
    after = utc("2030-06-01T00:00")
    expected = [send for send in everything if send > after][:5]
    assert occurrences(pattern, first, NY, after=after, limit=5) == expected


def test_after_just_inside_a_dst_change_finds_the_right_send() -> None:
    first = datetime(2026, 1, 1, 1, 30)
    # 1 Nov 01:30 EDT is 05:30Z; just before and just after it.
    before = occurrences(P("daily"), first, NY, after=utc("2026-11-01T05:29"), limit=1)
    at = occurrences(P("daily"), first, NY, after=utc("2026-11-01T05:30"), limit=1)
    assert stamps(before) == ["2026-11-01T05:30Z"]
    assert stamps(at) == ["2026-11-02T06:30Z"]


def test_after_before_the_first_send_gives_the_first_send() -> None:
    sends = occurrences(P("daily"), datetime(2027, 1, 1, 9), "UTC", after=utc("2000-01-01T00:00"))
    assert stamps(sends[:1]) == ["2027-01-01T09:00Z"]


def test_none_pattern_is_the_single_first_send() -> None:
    first = datetime(2027, 1, 4, 9)
    assert stamps(occurrences(None, first, NY)) == ["2027-01-04T14:00Z"]
    assert occurrences(None, first, NY, after=utc("2027-01-04T13:59")) == [utc("2027-01-04T14:00")]
    assert occurrences(None, first, NY, after=utc("2027-01-04T14:00")) == []


def test_none_pattern_first_send_in_a_gap_uses_the_offset_before_the_gap() -> None:
    assert stamps(occurrences(None, datetime(2026, 3, 8, 2, 30), NY)) == ["2026-03-08T07:30Z"]


def test_limit_caps_the_number_of_sends() -> None:
    assert len(occurrences(P("daily"), datetime(2027, 1, 1, 9), "UTC")) == 10
    assert len(occurrences(P("daily"), datetime(2027, 1, 1, 9), "UTC", limit=3)) == 3
    assert occurrences(P("daily"), datetime(2027, 1, 1, 9), "UTC", limit=0) == []


def test_negative_limit_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="limit"):
        occurrences(P("daily"), datetime(2027, 1, 1, 9), "UTC", limit=-1)


def test_naive_after_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="aware"):
        occurrences(P("daily"), datetime(2027, 1, 1, 9), "UTC", after=datetime(2027, 1, 2))


def test_aware_first_local_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="naive"):
        occurrences(P("daily"), datetime(2027, 1, 1, 9, tzinfo=UTC), "UTC")


@pytest.mark.parametrize("limit", [0, 10])
def test_unknown_timezone_is_a_validation_error_naming_timezone(limit: int) -> None:
    with pytest.raises(ValidationError) as caught:
        occurrences(P("daily"), datetime(2027, 1, 1, 9), "Mars/Base", limit=limit)
    assert caught.value.field == "timezone"


def test_next_occurrence_after_checks_its_arguments_too() -> None:
    with pytest.raises(ValidationError):
        next_occurrence_after(None, datetime(2027, 1, 1, 9), "Mars/Base", utc("2027-01-01T00:00"))
    with pytest.raises(ValueError, match="aware"):
        next_occurrence_after(None, datetime(2027, 1, 1, 9), "UTC", datetime(2027, 1, 1))


def test_next_occurrence_after_is_the_first_of_occurrences() -> None:
    pattern = P("monthly", weekday=1, week_of_month=2)
    first = datetime(2026, 5, 1, 10)
    after = utc("2026-09-09T00:00")
    expected = occurrences(pattern, first, "Europe/Berlin", after=after, limit=1)
    assert next_occurrence_after(pattern, first, "Europe/Berlin", after) == expected[0]


def test_next_occurrence_after_the_end_date_is_none() -> None:
    pattern = P("daily", end_date=date(2027, 1, 31))
    assert (
        next_occurrence_after(pattern, datetime(2027, 1, 1, 9), NY, utc("2027-02-01T00:00")) is None
    )


def _forget_worked_out_periods() -> None:
    """Empty the module's caches, so that what a test counts is work done by that test."""
    for cached in (recurrence._plan, recurrence._period_sends, recurrence._period_dates):
        cached.cache_clear()


def test_a_skip_pattern_that_can_never_send_again_ends_quickly(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Every 12 months from February on day 31: February never has one. "Quickly" is counted
    # in periods looked at, not seconds (a clock bound flakes on a busy machine): at most one
    # 400-year Gregorian cycle (401 here), never a walk to the year 9999 (about 8,000).
    pattern = P("monthly", interval=12, day_of_month=31, short_month="skip")
    _forget_worked_out_periods()
    periods_looked_at = 0
    period_start = recurrence._period_start

    def counting_period_start(*args: Any) -> datetime | None:
        nonlocal periods_looked_at
        periods_looked_at += 1
        return period_start(*args)

    monkeypatch.setattr(recurrence, "_period_start", counting_period_start)
    assert occurrences(pattern, datetime(2027, 2, 1, 9), "UTC") == []
    assert (
        next_occurrence_after(pattern, datetime(2027, 2, 1, 9), "UTC", utc("2030-01-01T00:00"))
        is None
    )
    assert periods_looked_at < 1000


def test_sends_near_the_year_9999_end_without_an_error() -> None:
    sends = occurrences(P("yearly"), datetime(9997, 12, 31, 23), "Pacific/Honolulu", limit=5)
    assert stamps(sends) == ["9998-01-01T09:00Z", "9999-01-01T09:00Z"]


def test_huge_interval_ends_without_an_error() -> None:
    sends = occurrences(P("daily", interval=MAX_INTERVAL), datetime(9990, 1, 1), "UTC")
    assert len(sends) == 4


def test_many_lookups_work_each_week_out_once(monkeypatch: pytest.MonkeyPatch) -> None:
    # The scheduler asks this for every campaign on every tick, so a period's sends are worked
    # out (one rrule run) once and looked up after that. The time it takes is a benchmark
    # figure ("next-run computation, 100,000 mixed patterns", benchmarks/fig_recurrence.py,
    # ≤ 3 s), not a test: a clock bound here flakes on a busy machine.
    pattern = P("weekly", days_of_week=(0, 3))
    first = datetime(2024, 1, 1, 9)
    zone = get_zone(NY)
    _forget_worked_out_periods()
    rrule_runs = 0

    def counting_rrule(*args: Any, **kwargs: Any) -> Any:
        nonlocal rrule_runs
        rrule_runs += 1
        return rrule(*args, **kwargs)

    monkeypatch.setattr(recurrence, "rrule", counting_rrule)

    def next_monday_or_thursday_at_nine(after: datetime) -> datetime:
        day = after.astimezone(zone).date()
        candidates = (
            datetime.combine(day + timedelta(days=offset), dt_time(9), zone) for offset in range(8)
        )
        return next(c for c in candidates if c.weekday() in (0, 3) and c > after)

    sends = set()
    for hour in range(2000):
        after = utc("2026-05-01T00:00") + timedelta(hours=hour)
        send = next_occurrence_after(pattern, first, NY, after)
        assert send == next_monday_or_thursday_at_nine(after), after
        sends.add(send)
    weeks = {send.astimezone(zone).isocalendar()[:2] for send in sends}
    assert rrule_runs <= len(weeks) + 1  # one per week spanned (about 12), not 2,000


# --- from_dict: the stored format ------------------------------------------------------------


ORIGINAL_PATTERNS: list[tuple[dict[str, Any], RecurrencePattern]] = [
    (
        {"type": "weekly", "interval": 1, "days_of_week": [0, 2], "end_date": "2027-06-30"},
        P("weekly", days_of_week=(0, 2), end_date=date(2027, 6, 30)),
    ),
    (
        {
            "type": "weekly",
            "interval": 2,
            "days_of_week": [0, 2],
            "end_date": "2027-06-30",
            "count": None,
        },
        P("weekly", interval=2, days_of_week=(0, 2), end_date=date(2027, 6, 30)),
    ),
    (
        {"type": "monthly", "interval": 1, "day_of_month": 31, "short_month": "last_day"},
        P("monthly", day_of_month=31),
    ),
    (
        {"type": "monthly", "interval": 1, "weekday": 1, "week_of_month": -1},
        P("monthly", weekday=1, week_of_month=-1),
    ),
    ({"type": "daily", "interval": 3, "count": 10}, P("daily", interval=3, count=10)),
    ({"type": "daily"}, P("daily")),
    ({"type": "yearly", "interval": 1}, P("yearly")),
    (
        {
            "type": "monthly",
            "interval": None,
            "days_of_week": None,
            "day_of_month": None,
            "short_month": None,
            "weekday": None,
            "week_of_month": None,
            "end_date": None,
            "count": None,
        },
        P("monthly"),
    ),
]


@pytest.mark.parametrize(("stored", "expected"), ORIGINAL_PATTERNS)
def test_from_dict_reads_original_patterns_unchanged(
    stored: dict[str, Any], expected: RecurrencePattern
) -> None:
    assert RecurrencePattern.from_dict(stored) == expected


def test_from_dict_sorts_and_deduplicates_days() -> None:
    pattern = RecurrencePattern.from_dict({"type": "weekly", "days_of_week": [4, 0, 4, 2, 0]})
    assert pattern.days_of_week == (0, 2, 4)


def test_from_dict_accepts_a_date_object_for_end_date() -> None:
    pattern = RecurrencePattern.from_dict({"type": "daily", "end_date": date(2027, 6, 30)})
    assert pattern.end_date == date(2027, 6, 30)


def test_from_dict_accepts_a_tuple_of_days() -> None:
    assert RecurrencePattern.from_dict({"type": "weekly", "days_of_week": (1,)}).days_of_week == (
        1,
    )


BAD_PATTERNS: list[tuple[object, str]] = [
    (None, "recurrence"),
    ([], "recurrence"),
    ("weekly", "recurrence"),
    (42, "recurrence"),
    ({}, "type"),
    ({"type": None}, "type"),
    ({"type": "hourly"}, "type"),
    ({"type": "Weekly"}, "type"),
    ({"type": 1}, "type"),
    ({"type": ["daily"]}, "type"),
    ({"type": "daily", "colour": "red"}, "colour"),
    ({"type": "daily", "days": [1]}, "days"),
    ({"type": "daily", 7: 1}, "7"),
    ({"type": "daily", "": 1}, "recurrence"),
    ({"type": "daily", "interval": 0}, "interval"),
    ({"type": "daily", "interval": -2}, "interval"),
    ({"type": "daily", "interval": True}, "interval"),
    ({"type": "daily", "interval": 2.0}, "interval"),
    ({"type": "daily", "interval": "2"}, "interval"),
    ({"type": "daily", "interval": MAX_INTERVAL + 1}, "interval"),
    ({"type": "monthly", "day_of_month": 0}, "day_of_month"),
    ({"type": "monthly", "day_of_month": 32}, "day_of_month"),
    ({"type": "monthly", "day_of_month": -1}, "day_of_month"),
    ({"type": "monthly", "day_of_month": True}, "day_of_month"),
    ({"type": "monthly", "day_of_month": "15"}, "day_of_month"),
    ({"type": "weekly", "days_of_week": []}, "days_of_week"),
    ({"type": "weekly", "days_of_week": [7]}, "days_of_week"),
    ({"type": "weekly", "days_of_week": [-1]}, "days_of_week"),
    ({"type": "weekly", "days_of_week": [True]}, "days_of_week"),
    ({"type": "weekly", "days_of_week": [1.0]}, "days_of_week"),
    ({"type": "weekly", "days_of_week": ["1"]}, "days_of_week"),
    ({"type": "weekly", "days_of_week": "0,2"}, "days_of_week"),
    ({"type": "weekly", "days_of_week": 3}, "days_of_week"),
    ({"type": "weekly", "days_of_week": [[1]]}, "days_of_week"),
    ({"type": "daily", "days_of_week": [1]}, "days_of_week"),
    ({"type": "monthly", "days_of_week": [1]}, "days_of_week"),
    ({"type": "daily", "days_of_week": []}, "days_of_week"),
    ({"type": "monthly", "weekday": 7, "week_of_month": 1}, "weekday"),
    ({"type": "monthly", "weekday": -1, "week_of_month": 1}, "weekday"),
    ({"type": "monthly", "weekday": False, "week_of_month": 1}, "weekday"),
    ({"type": "monthly", "weekday": 1, "week_of_month": 5}, "week_of_month"),
    ({"type": "monthly", "weekday": 1, "week_of_month": 0}, "week_of_month"),
    ({"type": "monthly", "weekday": 1, "week_of_month": -2}, "week_of_month"),
    ({"type": "monthly", "weekday": 1, "week_of_month": True}, "week_of_month"),
    ({"type": "monthly", "weekday": 1}, "week_of_month"),
    ({"type": "monthly", "week_of_month": 1}, "weekday"),
    ({"type": "monthly", "day_of_month": 3, "weekday": 1, "week_of_month": 1}, "day_of_month"),
    ({"type": "weekly", "day_of_month": 3}, "day_of_month"),
    ({"type": "yearly", "weekday": 1, "week_of_month": 1}, "weekday"),
    ({"type": "monthly", "short_month": "next_month"}, "short_month"),
    ({"type": "monthly", "short_month": 1}, "short_month"),
    ({"type": "daily", "end_date": "2027-02-30"}, "end_date"),
    ({"type": "daily", "end_date": "30/06/2027"}, "end_date"),
    ({"type": "daily", "end_date": "2027-06-30T10:00:00"}, "end_date"),
    ({"type": "daily", "end_date": ""}, "end_date"),
    ({"type": "daily", "end_date": 20270630}, "end_date"),
    ({"type": "daily", "end_date": datetime(2027, 6, 30)}, "end_date"),
    ({"type": "daily", "count": 0}, "count"),
    ({"type": "daily", "count": -5}, "count"),
    ({"type": "daily", "count": True}, "count"),
    ({"type": "daily", "count": 10.0}, "count"),
    ({"type": "daily", "count": "10"}, "count"),
]


@pytest.mark.parametrize(("stored", "field"), BAD_PATTERNS)
def test_from_dict_refuses_bad_input_with_a_validation_error_naming_the_field(
    stored: object, field: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        RecurrencePattern.from_dict(stored)
    assert caught.value.field == field
    assert caught.value.message.endswith(".")


def test_from_dict_messages_are_plain_words() -> None:
    with pytest.raises(ValidationError) as caught:
        RecurrencePattern.from_dict({"type": "weekly", "days_of_week": []})
    assert caught.value.message == "Pick at least one day of the week."


def test_constructing_a_pattern_directly_validates_it_too() -> None:
    with pytest.raises(ValidationError) as caught:
        RecurrencePattern("weekly", interval=0)
    assert caught.value.field == "interval"


def test_direct_construction_normalises_days_and_short_month() -> None:
    pattern = RecurrencePattern("weekly", days_of_week=[3, 1, 3], short_month="skip")  # type: ignore[arg-type]
    assert pattern.days_of_week == (1, 3)
    assert pattern.short_month == "last_day"  # no week lacks a day
    assert pattern == RecurrencePattern("weekly", days_of_week=(1, 3))
    assert hash(pattern) == hash(RecurrencePattern("weekly", days_of_week=(1, 3)))


def test_short_month_is_kept_where_months_can_lack_the_day() -> None:
    assert P("monthly", short_month="skip").short_month == "skip"
    assert P("yearly", short_month="skip").short_month == "skip"
    assert P("monthly", weekday=0, week_of_month=1, short_month="skip").short_month == "last_day"


# --- to_dict ---------------------------------------------------------------------------------


ROUND_TRIP = [
    P("daily"),
    P("daily", interval=3, count=10),
    P("weekly", interval=2, days_of_week=(0, 2), end_date=date(2027, 6, 30)),
    P("monthly", day_of_month=31),
    P("monthly", day_of_month=30, short_month="skip"),
    P("monthly", interval=3, weekday=4, week_of_month=-1),
    P("monthly", short_month="skip", count=4, end_date=date(2030, 1, 1)),
    P("yearly", interval=2),
]


@pytest.mark.parametrize("pattern", ROUND_TRIP)
def test_to_dict_round_trips_through_json_and_from_dict(pattern: RecurrencePattern) -> None:
    stored = json.loads(json.dumps(pattern.to_dict()))
    assert RecurrencePattern.from_dict(stored) == pattern


def test_to_dict_leaves_out_defaults_and_absent_values() -> None:
    assert P("daily").to_dict() == {"type": "daily"}
    assert P("weekly", interval=2, days_of_week=(0, 2), end_date=date(2027, 6, 30)).to_dict() == {
        "type": "weekly",
        "interval": 2,
        "days_of_week": [0, 2],
        "end_date": "2027-06-30",
    }
    assert P("monthly", weekday=1, week_of_month=-1, count=3).to_dict() == {
        "type": "monthly",
        "weekday": 1,
        "week_of_month": -1,
        "count": 3,
    }
    assert P("monthly", day_of_month=31, short_month="skip").to_dict() == {
        "type": "monthly",
        "day_of_month": 31,
        "short_month": "skip",
    }


# --- to_rrule --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "rule"),
    [
        (P("daily"), "FREQ=DAILY"),
        (P("daily", interval=3, count=10), "FREQ=DAILY;INTERVAL=3;COUNT=10"),
        (
            P("weekly", interval=2, days_of_week=(0, 2), end_date=date(2027, 6, 30)),
            "FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,WE;UNTIL=20270630T235959",
        ),
        (P("weekly"), "FREQ=WEEKLY"),
        (P("weekly", days_of_week=(6, 5)), "FREQ=WEEKLY;BYDAY=SA,SU"),
        (P("monthly", day_of_month=15), "FREQ=MONTHLY;BYMONTHDAY=15"),
        (P("monthly", day_of_month=31), "FREQ=MONTHLY;BYMONTHDAY=-1"),
        (P("monthly", day_of_month=30), "FREQ=MONTHLY;BYMONTHDAY=30,-1;BYSETPOS=1"),
        (P("monthly", day_of_month=29), "FREQ=MONTHLY;BYMONTHDAY=29,-1;BYSETPOS=1"),
        (P("monthly", day_of_month=31, short_month="skip"), "FREQ=MONTHLY;BYMONTHDAY=31"),
        (P("monthly", weekday=0, week_of_month=1), "FREQ=MONTHLY;BYDAY=1MO"),
        (
            P("monthly", interval=3, weekday=4, week_of_month=-1),
            "FREQ=MONTHLY;INTERVAL=3;BYDAY=-1FR",
        ),
        (P("monthly"), "FREQ=MONTHLY"),
        (P("yearly", interval=2), "FREQ=YEARLY;INTERVAL=2"),
        (
            P("daily", count=5, end_date=date(2027, 1, 3)),
            "FREQ=DAILY;COUNT=5;UNTIL=20270103T235959",
        ),
    ],
)
def test_to_rrule_writes_the_rfc_5545_rule(pattern: RecurrencePattern, rule: str) -> None:
    assert pattern.to_rrule() == rule


def test_to_rrule_with_the_first_send_writes_out_this_apps_month_end_default() -> None:
    assert P("monthly").to_rrule(datetime(2027, 1, 31, 9)) == "FREQ=MONTHLY;BYMONTHDAY=-1"
    assert P("monthly").to_rrule(datetime(2027, 1, 15, 9)) == "FREQ=MONTHLY"
    assert (
        P("yearly").to_rrule(datetime(2028, 2, 29, 9))
        == "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29,-1;BYSETPOS=1"
    )
    assert P("yearly", short_month="skip").to_rrule(datetime(2028, 2, 29, 9)) == "FREQ=YEARLY"


def test_to_rrule_with_the_first_send_keeps_only_whichever_of_count_and_until_ends_first() -> None:
    first = datetime(2027, 1, 1, 9)
    assert P("daily", count=2, end_date=date(2027, 1, 3)).to_rrule(first) == "FREQ=DAILY;COUNT=2"
    assert P("daily", count=3, end_date=date(2027, 1, 3)).to_rrule(first) == "FREQ=DAILY;COUNT=3"
    assert (
        P("daily", count=4, end_date=date(2027, 1, 3)).to_rrule(first)
        == "FREQ=DAILY;UNTIL=20270103T235959"
    )


@pytest.mark.parametrize("pattern", ROUND_TRIP)
def test_to_rrule_read_back_by_dateutil_gives_the_same_wall_clock_sends(
    pattern: RecurrencePattern,
) -> None:
    first = datetime(2027, 1, 31, 9, 30)
    rule = rrulestr(pattern.to_rrule(first), dtstart=first)
    expected = [send.replace(tzinfo=UTC) for send in islice(rule, 12)]
    assert occurrences(pattern, first, "UTC", limit=12) == expected


# --- describe ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "first", "tz", "text"),
    [
        (P("daily"), datetime(2027, 1, 4, 8), "America/Chicago", "Every day at 08:00 Chicago time"),
        (
            P("daily", interval=3, count=10),
            datetime(2027, 1, 4, 8),
            "America/Chicago",
            "Every 3 days at 08:00 Chicago time, 10 times",
        ),
        (P("weekly"), datetime(2027, 1, 4, 9), NY, "Every week on Monday at 09:00 New York time"),
        (
            P("weekly", interval=2, days_of_week=(0, 2), end_date=date(2027, 6, 30)),
            datetime(2027, 1, 4, 9),
            NY,
            "Every 2 weeks on Monday and Wednesday at 09:00 New York time, until 30 June 2027",
        ),
        (
            P("weekly", days_of_week=(0, 2, 4)),
            datetime(2027, 1, 4, 9),
            NY,
            "Every week on Monday, Wednesday and Friday at 09:00 New York time",
        ),
        (
            P("monthly", day_of_month=31),
            datetime(2027, 1, 31, 12),
            "Europe/London",
            "Every month on day 31 (last day in shorter months) at 12:00 London time",
        ),
        (
            P("monthly", day_of_month=31, short_month="skip"),
            datetime(2027, 1, 31, 12),
            "Europe/London",
            "Every month on day 31 (skipping months without a 31st) at 12:00 London time",
        ),
        (
            P("monthly", day_of_month=15),
            datetime(2027, 1, 15, 12),
            "Europe/London",
            "Every month on day 15 at 12:00 London time",
        ),
        (
            P("monthly"),
            datetime(2027, 1, 30, 12),
            "Europe/London",
            "Every month on day 30 (last day in shorter months) at 12:00 London time",
        ),
        (
            P("monthly", weekday=0, week_of_month=1),
            datetime(2027, 1, 4, 9),
            NY,
            "Every month on the first Monday at 09:00 New York time",
        ),
        (
            P("monthly", interval=3, weekday=4, week_of_month=-1),
            datetime(2027, 1, 29, 9),
            NY,
            "Every 3 months on the last Friday at 09:00 New York time",
        ),
        (
            P("daily", count=10, end_date=date(2027, 6, 30)),
            datetime(2027, 1, 4, 9),
            NY,
            "Every day at 09:00 New York time, 10 times, until 30 June 2027",
        ),
        (
            P("daily", count=1),
            datetime(2027, 1, 4, 9),
            NY,
            "Every day at 09:00 New York time, once",
        ),
        (
            P("yearly"),
            datetime(2028, 2, 29, 9),
            "UTC",
            "Every year on 29 February (28 February in other years) at 09:00 UTC",
        ),
        (
            P("yearly", interval=2, short_month="skip"),
            datetime(2028, 2, 29, 9),
            "Asia/Kolkata",
            "Every 2 years on 29 February (leap years only) at 09:00 Kolkata time",
        ),
        (
            P("yearly"),
            datetime(2027, 7, 4, 9, 0, 30),
            "America/Argentina/Buenos_Aires",
            "Every year on 4 July at 09:00:30 Buenos Aires time",
        ),
    ],
)
def test_describe_says_the_schedule_in_plain_english(
    pattern: RecurrencePattern, first: datetime, tz: str, text: str
) -> None:
    assert pattern.describe(first, tz) == text


def test_describe_once_names_the_day_date_time_and_place() -> None:
    assert (
        describe_once(datetime(2027, 1, 4, 9), NY)
        == "Once on Monday 4 January 2027 at 09:00 New York time"
    )


def test_describe_refuses_an_unknown_timezone() -> None:
    with pytest.raises(ValidationError):
        P("daily").describe(datetime(2027, 1, 4, 9), "Mars/Base")


# --- validate_schedule -----------------------------------------------------------------------


def test_validate_schedule_accepts_a_sensible_schedule() -> None:
    validate_schedule(P("daily"), datetime(2027, 1, 4, 9), NY, now=utc("2026-06-01T00:00"))
    validate_schedule(None, datetime(2027, 1, 4, 9), NY, now=utc("2026-06-01T00:00"))


@pytest.mark.parametrize(
    ("pattern", "first", "tz", "field"),
    [
        (None, datetime(2027, 1, 4, 9), "Mars/Base", "timezone"),
        (None, datetime(2026, 5, 1, 9), NY, "first_local"),
        (None, None, NY, "first_local"),
        (P("daily", end_date=date(2027, 1, 3)), datetime(2027, 1, 4, 9), NY, "end_date"),
        (
            P("monthly", day_of_month=2, end_date=date(2027, 1, 31)),
            datetime(2027, 1, 4, 9),
            NY,
            "recurrence",
        ),
        (
            P("monthly", interval=12, day_of_month=31, short_month="skip"),
            datetime(2027, 2, 1, 9),
            NY,
            "recurrence",
        ),
    ],
)
def test_validate_schedule_names_what_is_wrong(
    pattern: RecurrencePattern | None, first: Any, tz: str, field: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        validate_schedule(pattern, first, tz, now=utc("2026-06-01T00:00"))
    assert caught.value.field == field
