"""IANA timezones for campaigns: the picker's order, validated look-up, wall clock ↔ UTC.

Conversions follow RFC 5545 §3.3.5 (docs/design.md §3): gap times keep the offset before the gap.
"""

from __future__ import annotations

import functools
import zoneinfo
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from campaign_desktop.domain.errors import ValidationError

US_ZONES: tuple[str, ...] = (
    "America/New_York",
    "America/Chicago",
    "America/Denver",
    "America/Phoenix",
    "America/Los_Angeles",
    "America/Anchorage",
    "Pacific/Honolulu",
)

# Keys the system zone database lists that name no place: "localtime" is this machine's own
# setting (a campaign stored with it would change meaning on another computer) and "Factory"
# is tzdata's "-00" placeholder for "not configured".
_NOT_PLACES = frozenset({"localtime", "Factory"})

# Offsets are written with the real minus sign (U+2212), as typographers do.
_MINUS = "\N{MINUS SIGN}"


@functools.cache
def _known_keys() -> frozenset[str]:
    # available_timezones() walks the zone directories (~20 ms); once per process is enough.
    return frozenset(zoneinfo.available_timezones() - _NOT_PLACES)


@functools.cache
def _ordered() -> tuple[str, ...]:
    known = _known_keys()
    first = tuple(key for key in US_ZONES if key in known)
    return first + tuple(sorted(known - set(first)))


def ordered_timezones() -> list[str]:
    """Every timezone key for a picker: the US zones first, then all others alphabetically."""
    return list(_ordered())


def get_zone(key: object, field: str = "timezone") -> ZoneInfo:
    """The zone named by `key`, or ValidationError(field, …) saying why it is not one.

    Only keys of `ordered_timezones()` are accepted, so no path-like string ever reaches the
    file system and the answer is the same on every platform.
    """
    if key is None or (isinstance(key, str) and not key.strip()):
        raise ValidationError(field, "Choose a timezone.")
    if not isinstance(key, str):
        raise ValidationError(field, "The timezone must be a name such as America/New_York.")
    if key not in _known_keys():
        raise ValidationError(
            field, f"“{key}” is not a timezone this app knows. Pick one from the list."
        )
    try:
        return _load_zone(key)
    except (ValueError, OSError, KeyError):  # KeyError covers ZoneInfoNotFoundError
        raise ValidationError(
            field, f"The timezone “{key}” cannot be read on this computer. Pick another one."
        ) from None


@functools.cache
def _load_zone(key: str) -> ZoneInfo:
    # ZoneInfo keeps only the 8 most recently used zones strongly; a scheduler advancing
    # campaigns in a dozen zones re-read the tz files on nearly every call (39% of the
    # next-run benchmark). Keys are limited to the known ~600, so this cache is bounded.
    return ZoneInfo(key)


def to_utc(local: datetime, zone: ZoneInfo) -> datetime:
    """The aware UTC instant of the naive wall-clock time `local` in `zone`.

    A time in the spring-forward gap is read with the offset before the gap (02:30 New York on
    the changeover day is 07:30Z, i.e. 03:30 EDT); a time in the fall-back overlap is its first
    occurrence. zoneinfo does exactly this for fold=0 (PEP 495).
    """
    if local.tzinfo is not None:
        raise ValueError(f"to_utc expects a naive wall-clock time, got {local!r}")
    return local.replace(tzinfo=zone, fold=0).astimezone(UTC)


def to_local(instant: datetime, zone: ZoneInfo) -> datetime:
    """The naive wall-clock time in `zone` of the aware `instant`.

    The result keeps `fold` (1 for the second pass through a fall-back hour), so a caller that
    cares can tell the two apart; equality and hashing of naive datetimes ignore it.
    """
    if instant.tzinfo is None:
        raise ValueError(f"to_local expects an aware datetime, got {instant!r}")
    return instant.astimezone(zone).replace(tzinfo=None)


def zone_label(key: str) -> str:
    """The zone's place name for sentences: "America/Los_Angeles" → "Los Angeles"."""
    return key.rsplit("/", 1)[-1].replace("_", " ")


def _format_offset(offset: timedelta) -> str:
    sign = "+" if offset >= timedelta(0) else _MINUS
    seconds = abs(int(offset.total_seconds()))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    text = f"UTC{sign}{hours:02d}:{minutes:02d}"
    # Only historical local mean times (before ~1900) have seconds in their offset.
    return f"{text}:{secs:02d}" if secs else text


def utc_offset_label(instant_utc: datetime, zone: ZoneInfo) -> str:
    """The zone's offset at `instant_utc`: "UTC+05:30", "UTC\N{MINUS SIGN}05:00" (real minus)."""
    if instant_utc.tzinfo is None:
        raise ValueError(f"utc_offset_label expects an aware datetime, got {instant_utc!r}")
    offset = instant_utc.astimezone(zone).utcoffset()
    assert offset is not None  # a ZoneInfo always answers for an aware datetime
    return _format_offset(offset)


def is_dst_change_between(a_utc: datetime, b_utc: datetime, zone: ZoneInfo) -> bool:
    """True when the zone's UTC offset at `a_utc` differs from the one at `b_utc`.

    Any offset change counts (DST or a zone changing its standard time): either way the wall
    clock in the schedule preview shifts against UTC, which is what the preview marks.
    """
    if a_utc.tzinfo is None or b_utc.tzinfo is None:
        raise ValueError("is_dst_change_between expects aware datetimes")
    return a_utc.astimezone(zone).utcoffset() != b_utc.astimezone(zone).utcoffset()
