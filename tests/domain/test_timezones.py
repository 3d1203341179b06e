"""Tests for campaign_desktop.domain.timezones: picker order, validated look-up, conversions.

DST rules checked against fixed 2026 transitions: US spring forward 8 March, fall back 1 November.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from campaign_desktop.domain.errors import ValidationError
from campaign_desktop.domain.timezones import (
    US_ZONES,
    get_zone,
    is_dst_change_between,
    ordered_timezones,
    to_local,
    to_utc,
    utc_offset_label,
    zone_label,
)

NEW_YORK = ZoneInfo("America/New_York")
MINUS = "\N{MINUS SIGN}"


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


# --- ordered_timezones ----------------------------------------------------------------------------


def test_ordered_timezones_puts_us_zones_first_in_the_designed_order() -> None:
    zones = ordered_timezones()
    assert tuple(zones[: len(US_ZONES)]) == US_ZONES
    assert US_ZONES == (
        "America/New_York",
        "America/Chicago",
        "America/Denver",
        "America/Phoenix",
        "America/Los_Angeles",
        "America/Anchorage",
        "Pacific/Honolulu",
    )


def test_ordered_timezones_lists_all_other_zones_sorted_once() -> None:
    zones = ordered_timezones()
    rest = zones[len(US_ZONES) :]
    assert rest == sorted(rest)
    assert len(zones) == len(set(zones))
    assert {"UTC", "Europe/London", "Asia/Kolkata", "America/Argentina/Buenos_Aires"} <= set(rest)
    assert not set(US_ZONES) & set(rest)


def test_ordered_timezones_leaves_out_machine_specific_and_placeholder_keys() -> None:
    assert not {"localtime", "Factory", "posixrules"} & set(ordered_timezones())


def test_ordered_timezones_returns_a_fresh_list_each_time() -> None:
    first = ordered_timezones()
    first.clear()
    assert ordered_timezones()[0] == "America/New_York"


def test_every_listed_timezone_loads() -> None:
    for key in ordered_timezones():
        assert get_zone(key).key == key


# --- get_zone ---------------------------------------------------------------------------------


def test_get_zone_returns_the_zoneinfo_for_a_known_key() -> None:
    assert get_zone("America/New_York") is NEW_YORK


@pytest.mark.parametrize(
    "key",
    [
        "",
        "   ",
        None,
        5,
        3.5,
        b"America/New_York",
        ["America/New_York"],
        "Mars/Base",
        "america/new_york",
        " America/New_York",
        "../etc",
        "../../etc/passwd",
        "/etc/passwd",
        "America",
        "America/",
        "America/../America/New_York",
        "America/New_York\x00",
        "America/New_York/",
        "\ud800",
        "a" * 300,
        "localtime",
        "Factory",
        "posixrules",
    ],
)
def test_get_zone_refuses_anything_but_a_known_key_with_a_validation_error(key: object) -> None:
    with pytest.raises(ValidationError) as caught:
        get_zone(key)
    assert caught.value.field == "timezone"
    assert caught.value.message


def test_get_zone_names_the_field_it_was_given() -> None:
    with pytest.raises(ValidationError) as caught:
        get_zone("Mars/Base", field="sender_timezone")
    assert caught.value.field == "sender_timezone"
    assert "Mars/Base" in caught.value.message


# --- to_utc / to_local ----------------------------------------------------------------------------


def test_to_utc_converts_an_ordinary_wall_time() -> None:
    assert to_utc(datetime(2027, 1, 4, 9, 0), NEW_YORK) == utc("2027-01-04T14:00")


def test_to_utc_reads_a_gap_time_with_the_offset_before_the_gap() -> None:
    # 02:30 does not exist on 8 March 2026 in New York: RFC 5545 makes it 03:30 EDT = 07:30Z.
    instant = to_utc(datetime(2026, 3, 8, 2, 30), NEW_YORK)
    assert instant == utc("2026-03-08T07:30")
    assert to_local(instant, NEW_YORK) == datetime(2026, 3, 8, 3, 30)


def test_to_utc_takes_the_first_of_two_overlap_times() -> None:
    # 01:30 happens twice on 1 November 2026: first in EDT (05:30Z), then in EST (06:30Z).
    assert to_utc(datetime(2026, 11, 1, 1, 30), NEW_YORK) == utc("2026-11-01T05:30")


def test_to_utc_ignores_fold_one_and_still_takes_the_first_overlap_time() -> None:
    assert to_utc(datetime(2026, 11, 1, 1, 30, fold=1), NEW_YORK) == utc("2026-11-01T05:30")


def test_to_utc_returns_an_aware_utc_datetime() -> None:
    assert to_utc(datetime(2027, 7, 1, 12), NEW_YORK).tzinfo is UTC


def test_to_utc_refuses_an_aware_datetime() -> None:
    with pytest.raises(ValueError, match="naive"):
        to_utc(datetime(2027, 1, 4, 9, tzinfo=UTC), NEW_YORK)


def test_to_local_gives_the_naive_wall_clock_time() -> None:
    local = to_local(utc("2027-07-01T16:00"), NEW_YORK)
    assert local == datetime(2027, 7, 1, 12, 0)
    assert local.tzinfo is None


def test_to_local_accepts_any_aware_datetime() -> None:
    paris_noon = datetime(2027, 1, 4, 12, tzinfo=timezone(timedelta(hours=1)))
    assert to_local(paris_noon, NEW_YORK) == datetime(2027, 1, 4, 6, 0)


def test_to_local_marks_the_second_pass_through_the_overlap_with_fold() -> None:
    first = to_local(utc("2026-11-01T05:30"), NEW_YORK)
    second = to_local(utc("2026-11-01T06:30"), NEW_YORK)
    assert first == second == datetime(2026, 11, 1, 1, 30)
    assert (first.fold, second.fold) == (0, 1)


def test_to_local_refuses_a_naive_datetime() -> None:
    with pytest.raises(ValueError, match="aware"):
        to_local(datetime(2027, 1, 4, 9), NEW_YORK)


def test_to_local_undoes_to_utc_outside_gaps() -> None:
    local = datetime(2026, 1, 1, 0, 45)
    while local < datetime(2027, 1, 1):
        assert to_local(to_utc(local, NEW_YORK), NEW_YORK) == local
        local += timedelta(hours=7)
        if local == datetime(2026, 3, 8, 2, 45):  # the one step that lands in the gap
            local += timedelta(hours=1)


# Local 09:00 / 02:30 / 01:30 around the 2026 US transitions, as UTC hours, per US zone:
# (zone, 7 Mar 09:00, 8 Mar 09:00, 8 Mar 02:30 (gap), 31 Oct 09:00, 1 Nov 09:00, 1 Nov 01:30)
US_TRANSITIONS = [
    ("America/New_York", "14:00", "13:00", "07:30", "13:00", "14:00", "05:30"),
    ("America/Chicago", "15:00", "14:00", "08:30", "14:00", "15:00", "06:30"),
    ("America/Denver", "16:00", "15:00", "09:30", "15:00", "16:00", "07:30"),
    ("America/Phoenix", "16:00", "16:00", "09:30", "16:00", "16:00", "08:30"),
    ("America/Los_Angeles", "17:00", "16:00", "10:30", "16:00", "17:00", "08:30"),
    ("America/Anchorage", "18:00", "17:00", "11:30", "17:00", "18:00", "09:30"),
    ("Pacific/Honolulu", "19:00", "19:00", "12:30", "19:00", "19:00", "11:30"),
]


@pytest.mark.parametrize(("key", "mar7", "mar8", "gap", "oct31", "nov1", "overlap"), US_TRANSITIONS)
def test_to_utc_follows_each_us_zone_across_both_2026_transitions(
    key: str, mar7: str, mar8: str, gap: str, oct31: str, nov1: str, overlap: str
) -> None:
    zone = get_zone(key)
    assert to_utc(datetime(2026, 3, 7, 9), zone) == utc(f"2026-03-07T{mar7}")
    assert to_utc(datetime(2026, 3, 8, 9), zone) == utc(f"2026-03-08T{mar8}")
    assert to_utc(datetime(2026, 3, 8, 2, 30), zone) == utc(f"2026-03-08T{gap}")
    assert to_utc(datetime(2026, 10, 31, 9), zone) == utc(f"2026-10-31T{oct31}")
    assert to_utc(datetime(2026, 11, 1, 9), zone) == utc(f"2026-11-01T{nov1}")
    assert to_utc(datetime(2026, 11, 1, 1, 30), zone) == utc(f"2026-11-01T{overlap}")


# --- labels ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "label"),
    [
        ("America/New_York", "New York"),
        ("America/Los_Angeles", "Los Angeles"),
        ("Europe/London", "London"),
        ("UTC", "UTC"),
        ("America/Argentina/Buenos_Aires", "Buenos Aires"),
        ("America/Port-au-Prince", "Port-au-Prince"),
        ("Pacific/Honolulu", "Honolulu"),
    ],
)
def test_zone_label_is_the_place_name(key: str, label: str) -> None:
    assert zone_label(key) == label


@pytest.mark.parametrize(
    ("instant", "key", "label"),
    [
        ("2027-01-15T12:00", "America/New_York", f"UTC{MINUS}05:00"),
        ("2027-07-15T12:00", "America/New_York", f"UTC{MINUS}04:00"),
        ("2027-07-15T12:00", "America/Phoenix", f"UTC{MINUS}07:00"),
        ("2027-07-15T12:00", "Pacific/Honolulu", f"UTC{MINUS}10:00"),
        ("2027-01-15T12:00", "Asia/Kolkata", "UTC+05:30"),
        ("2027-01-15T12:00", "Asia/Kathmandu", "UTC+05:45"),
        ("2027-01-15T12:00", "UTC", "UTC+00:00"),
        ("2027-07-15T12:00", "Europe/London", "UTC+01:00"),
        ("2027-01-15T12:00", "America/St_Johns", f"UTC{MINUS}03:30"),
        ("1800-01-01T12:00", "America/New_York", f"UTC{MINUS}04:56:02"),  # local mean time
    ],
)
def test_utc_offset_label_writes_the_offset_with_a_real_minus_sign(
    instant: str, key: str, label: str
) -> None:
    assert utc_offset_label(utc(instant), get_zone(key)) == label


def test_utc_offset_label_refuses_a_naive_datetime() -> None:
    with pytest.raises(ValueError, match="aware"):
        utc_offset_label(datetime(2027, 1, 1), NEW_YORK)


def test_is_dst_change_between_sees_the_spring_forward() -> None:
    assert is_dst_change_between(utc("2026-03-07T14:00"), utc("2026-03-08T13:00"), NEW_YORK)


def test_is_dst_change_between_sees_the_fall_back() -> None:
    assert is_dst_change_between(utc("2026-10-31T13:00"), utc("2026-11-01T14:00"), NEW_YORK)


def test_is_dst_change_between_is_false_within_one_season() -> None:
    assert not is_dst_change_between(utc("2026-03-09T13:00"), utc("2026-10-31T13:00"), NEW_YORK)


def test_is_dst_change_between_is_false_in_phoenix_all_year() -> None:
    phoenix = get_zone("America/Phoenix")
    assert not is_dst_change_between(utc("2026-01-01T16:00"), utc("2026-07-01T16:00"), phoenix)


def test_is_dst_change_between_refuses_naive_datetimes() -> None:
    with pytest.raises(ValueError, match="aware"):
        is_dst_change_between(datetime(2026, 1, 1), utc("2026-07-01T00:00"), NEW_YORK)
