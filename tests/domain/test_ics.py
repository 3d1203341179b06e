"""Skipped sends (EXDATE), a pasted RRULE, and the .ics export read back by an independent
calendar library (recurring-ical-events on icalendar), across DST changes, month ends and
counts (docs/design.md §12)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import recurring_ical_events
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from icalendar import Calendar

from campaign_desktop.domain.errors import ValidationError
from campaign_desktop.domain.ics import CalendarEntry, ics_document
from campaign_desktop.domain.recurrence import RecurrencePattern, occurrences, wall_time_of
from campaign_desktop.domain.timezones import get_zone, to_local
from tests.domain.test_recurrence_properties import first_sends, patterns, zones

P = RecurrencePattern
NY = "America/New_York"
STAMP = datetime(2026, 6, 1, 12, tzinfo=UTC)
SOME = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def read_back(document: bytes, limit: int) -> dict[str, list[datetime]]:
    """Each event's sends as a calendar app lists them: UID → UTC instants, ascending."""
    calendar = Calendar.from_ical(document)
    sends: dict[str, list[datetime]] = {}
    query = recurring_ical_events.of(calendar)
    for event in query.between(datetime(1990, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC)):
        start = event["DTSTART"].dt
        sends.setdefault(str(event["UID"]), []).append(start.astimezone(UTC))
    return {uid: sorted(found)[:limit] for uid, found in sends.items()}


def entry(pattern: P | None, first: datetime, tz: str = NY, uid: str = "c1") -> CalendarEntry:
    return CalendarEntry(uid=uid, name="Spring sale", pattern=pattern, first_local=first, tz=tz)


# --- skipped sends ----------------------------------------------------------------------------


def test_a_skipped_send_is_left_out_and_still_counts_towards_the_number_of_sends() -> None:
    first = datetime(2027, 3, 1, 9)
    pattern = P("weekly", count=4).with_exdate(datetime(2027, 3, 8, 9))
    sends = occurrences(pattern, first, NY, limit=10)
    assert [to_local(s, get_zone(NY)).date().isoformat() for s in sends] == [
        "2027-03-01",
        "2027-03-15",
        "2027-03-22",
    ]


def test_skips_are_stored_as_local_wall_clock_text_and_read_back() -> None:
    pattern = P("daily").with_exdate(datetime(2027, 3, 15, 9)).with_exdate(datetime(2027, 3, 2, 9))
    stored = pattern.to_dict()
    assert stored["exdates"] == ["2027-03-02T09:00", "2027-03-15T09:00"]
    assert P.from_dict(stored) == pattern
    assert pattern.without_exdate(datetime(2027, 3, 2, 9)).exdates == (datetime(2027, 3, 15, 9),)


def test_the_description_names_the_skipped_dates() -> None:
    pattern = P("weekly").with_exdate(datetime(2027, 3, 8, 9))
    assert pattern.describe(datetime(2027, 3, 1, 9), NY).endswith(", skipping 8 March 2027")


@pytest.mark.parametrize(
    "stored",
    [
        {"type": "daily", "exdates": "2027-03-15T09:00"},
        {"type": "daily", "exdates": ["15 March"]},
        {"type": "daily", "exdates": ["2027-03-15T09:00+01:00"]},
    ],
)
def test_unreadable_skips_are_a_validation_error(stored: dict[str, Any]) -> None:
    with pytest.raises(ValidationError) as caught:
        P.from_dict(stored)
    assert caught.value.field == "exdates"


def test_skipping_every_send_leaves_a_schedule_that_never_sends() -> None:
    pattern = P("daily", count=2)
    for day in (1, 2):
        pattern = pattern.with_exdate(datetime(2027, 3, day, 9))
    assert occurrences(pattern, datetime(2027, 3, 1, 9), NY) == []


# --- a pasted RRULE ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("FREQ=DAILY", P("daily")),
        ("RRULE:FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,WE;COUNT=10", P("weekly", 2, (0, 2), count=10)),
        ("FREQ=MONTHLY;BYDAY=-1FR", P("monthly", weekday=4, week_of_month=-1)),
        ("FREQ=MONTHLY;BYDAY=+2TU", P("monthly", weekday=1, week_of_month=2)),
        ("FREQ=MONTHLY;BYMONTHDAY=-1", P("monthly", day_of_month=31)),
        ("FREQ=MONTHLY;BYMONTHDAY=30", P("monthly", day_of_month=30, short_month="skip")),
        ("FREQ=MONTHLY;BYMONTHDAY=29,-1;BYSETPOS=1", P("monthly", day_of_month=29)),
        ("freq=yearly;until=20300101", P("yearly", short_month="skip", end_date=date(2030, 1, 1))),
    ],
)
def test_a_pasted_rrule_becomes_the_pattern(text: str, expected: P) -> None:
    assert P.from_rrule(text) == expected


def test_a_utc_until_is_read_as_the_date_in_the_campaigns_zone() -> None:
    # 03:59:59 UTC on 1 July is 23:59:59 on 30 June in New York.
    pattern = P.from_rrule("FREQ=DAILY;UNTIL=20270701T035959Z", tz=NY)
    assert pattern.end_date == date(2027, 6, 30)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("", "Paste a rule"),
        ("FREQ=HOURLY", "FREQ=HOURLY is not possible"),
        ("FREQ=DAILY;BYHOUR=9,17", "several hours a day"),
        ("FREQ=YEARLY;BYWEEKNO=20", "week numbers"),
        ("FREQ=MONTHLY;BYDAY=MO,TU", "one weekday of the month"),
        ("FREQ=MONTHLY;BYDAY=5MO", "1 to 4"),
        ("FREQ=MONTHLY;BYMONTHDAY=1,15", "one day of the month"),
        ("FREQ=YEARLY;BYMONTH=3", "month and day of its first send"),
        ("FREQ=WEEKLY;BYDAY=1MO", "plain weekdays"),
        ("FREQ=DAILY;INTERVAL=0", "whole number from 1"),
        ("FREQ=DAILY;COUNT=x", "not an RRULE"),
        ("hello", "needs FREQ"),
    ],
)
def test_what_the_app_cannot_express_is_refused_with_the_reason(text: str, words: str) -> None:
    with pytest.raises(ValidationError) as caught:
        P.from_rrule(text)
    assert caught.value.field == "rrule"
    assert words in caught.value.message


def test_the_wall_time_of_a_send_moved_out_of_the_spring_gap_is_the_rules_time() -> None:
    first = datetime(2027, 3, 13, 2, 30)  # the gap is 02:00-03:00 on 14 March
    sends = occurrences(P("daily"), first, NY, limit=3)
    assert wall_time_of(P("daily"), first, NY, sends[1]) == datetime(2027, 3, 14, 2, 30)
    skipped = P("daily").with_exdate(datetime(2027, 3, 14, 2, 30))
    assert occurrences(skipped, first, NY, limit=2) == [sends[0], sends[2]]
    assert wall_time_of(P("daily"), first, NY, sends[1] + timedelta(minutes=1)) is None


@SOME
@given(patterns(), first_sends, zones)
def test_every_rule_the_app_writes_reads_back_to_the_same_sends(
    pattern: P, first: datetime, tz: str
) -> None:
    again = P.from_rrule(pattern.to_rrule(first))
    assert occurrences(again, first, tz, limit=40) == occurrences(pattern, first, tz, limit=40)


# --- .ics export --------------------------------------------------------------------------------


def test_the_export_has_one_event_per_campaign_with_tzid_rrule_exdate_and_vtimezone() -> None:
    weekly = P("weekly", interval=2, days_of_week=(0, 2), end_date=date(2027, 6, 30))
    skipped = weekly.with_exdate(datetime(2027, 3, 15, 9))
    document = ics_document(
        [
            entry(skipped, datetime(2027, 3, 1, 9)),
            entry(None, datetime(2027, 4, 1, 8, 30), "Europe/Berlin", uid="c2"),
        ],
        stamp=STAMP,
    )
    text = document.decode().replace("\r\n ", "")
    assert "DTSTART;TZID=America/New_York:20270301T090000" in text
    rule = next(line for line in text.split("\r\n") if line.startswith("RRULE:"))
    assert sorted(rule.removeprefix("RRULE:").split(";")) == [
        "BYDAY=MO,WE",
        "FREQ=WEEKLY",
        "INTERVAL=2",
        "UNTIL=20270701T035959Z",  # 30 June 23:59:59 in New York, in UTC (RFC 5545 §3.3.10)
    ]
    assert "EXDATE;TZID=America/New_York:20270315T090000" in text
    assert "DTSTART;TZID=Europe/Berlin:20270401T083000" in text
    assert text.count("BEGIN:VTIMEZONE") == 2
    assert "TZID:America/New_York" in text and "TZID:Europe/Berlin" in text
    assert text.count("BEGIN:VEVENT") == 2
    got = read_back(document, 100)
    assert got["c1"] == occurrences(skipped, datetime(2027, 3, 1, 9), NY, limit=100)
    assert got["c2"] == [datetime(2027, 4, 1, 6, 30, tzinfo=UTC)]


def test_text_is_escaped_so_a_calendar_reads_the_name_back_whole() -> None:
    name = "Sale; 50% off, today\nonly \\ " + "é" * 80
    document = ics_document(
        [CalendarEntry("c1", name, P("daily"), datetime(2027, 1, 4, 9), NY)], stamp=STAMP
    )
    assert all(len(line) <= 75 for line in document.split(b"\r\n"))
    (event,) = Calendar.from_ical(document).walk("VEVENT")
    assert str(event["SUMMARY"]) == name


def test_a_schedule_that_never_sends_is_refused() -> None:
    with pytest.raises(ValidationError) as caught:
        ics_document([entry(P("daily", end_date=date(2027, 1, 1)), datetime(2027, 1, 4, 9))])
    assert caught.value.field == "recurrence"


def test_the_same_input_gives_the_same_file() -> None:
    entries = [entry(P("daily"), datetime(2027, 1, 4, 9))]
    assert ics_document(entries, stamp=STAMP) == ics_document(entries, stamp=STAMP)


@pytest.mark.parametrize(
    ("pattern", "first", "tz"),
    [
        # Across both US changes at a time inside the spring gap and the autumn overlap.
        (P("daily", count=60), datetime(2027, 3, 1, 2, 30), NY),
        (P("weekly", days_of_week=(6,)), datetime(2027, 10, 3, 1, 30), NY),
        # Month ends: the 31st on the last day of shorter months, or skipping them.
        (P("monthly", day_of_month=31, count=14), datetime(2027, 1, 31, 9), "Europe/London"),
        (P("monthly", short_month="skip", count=8), datetime(2027, 1, 31, 9), "Asia/Kolkata"),
        (P("yearly", count=6), datetime(2028, 2, 29, 9), "Australia/Lord_Howe"),
        (P("monthly", weekday=6, week_of_month=-1, count=12), datetime(2027, 1, 1, 0, 30), NY),
    ],
)
def test_a_calendar_lists_exactly_the_apps_sends(pattern: P, first: datetime, tz: str) -> None:
    wall = wall_time_of(pattern, first, tz, occurrences(pattern, first, tz)[2])
    assert wall is not None
    pattern = pattern.with_exdate(wall)
    document = ics_document([entry(pattern, first, tz)], stamp=STAMP)
    assert read_back(document, 200)["c1"] == occurrences(pattern, first, tz, limit=200)


@SOME
@given(patterns(), first_sends, zones, st.lists(st.integers(0, 15), max_size=3))
def test_any_schedule_reads_back_as_the_apps_sends(
    pattern: P, first: datetime, tz: str, skips: list[int]
) -> None:
    sends = occurrences(pattern, first, tz, limit=16)
    assume(sends and (pattern.count or pattern.end_date))  # finite, so a reader lists it all
    for index in skips:
        if index < len(sends):
            wall = wall_time_of(pattern, first, tz, sends[index])
            assert wall is not None
            pattern = pattern.with_exdate(wall)
    expected = occurrences(pattern, first, tz, limit=500)
    assume(expected and expected[-1] - expected[0] < timedelta(days=365 * 60))
    document = ics_document([entry(pattern, first, tz)], stamp=STAMP)
    assert read_back(document, 500).get("c1", []) == expected
