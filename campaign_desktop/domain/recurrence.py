"""Recurring sends: the stored pattern (docs/design.md §3), its occurrences, skips, RRULE, wording.

Occurrences come from dateutil's rrule on the campaign's local wall clock, then go to UTC.
"""

from __future__ import annotations

import calendar
import dataclasses
import functools
import math
from collections.abc import Iterator
from dataclasses import dataclass, fields
from datetime import UTC, date, datetime, time, timedelta
from itertools import islice, takewhile
from typing import Any, Final, Literal, get_args
from zoneinfo import ZoneInfo

from dateutil.rrule import DAILY, MONTHLY, WEEKLY, YEARLY, rrule, weekdays
from dateutil.rrule import weekday as rrule_weekday  # RecurrencePattern.weekday is an int

from campaign_desktop.domain.errors import ValidationError
from campaign_desktop.domain.timezones import get_zone, to_local, to_utc, zone_label

RecurrenceType = Literal["daily", "weekly", "monthly", "yearly"]
ShortMonth = Literal["skip", "last_day"]
_Freq = Literal[0, 1, 2, 3]

# Larger intervals mean nothing to a marketer (every 1000 days is ~3 years) and make rrule walk
# month by month towards the year 9999 looking for the second send.
MAX_INTERVAL: Final = 1000

_TYPES: Final[tuple[str, ...]] = get_args(RecurrenceType)
_SHORT_MONTHS: Final[tuple[str, ...]] = get_args(ShortMonth)
_WEEKS_OF_MONTH: Final = (1, 2, 3, 4, -1)
_FREQS: Final[dict[str, _Freq]] = {
    "daily": DAILY,
    "weekly": WEEKLY,
    "monthly": MONTHLY,
    "yearly": YEARLY,
}
_UNIT_WORDS: Final = {"daily": "day", "weekly": "week", "monthly": "month", "yearly": "year"}
_RRULE_DAYS: Final = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
# English on purpose: strftime's %A/%B follow the OS locale, and the rest of the UI is English.
DAY_NAMES: Final = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MONTH_NAMES: Final = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
_WEEK_WORDS: Final = {1: "first", 2: "second", 3: "third", 4: "fourth", -1: "last"}

_END_OF_DAY: Final = time(23, 59, 59)  # rrule drops microseconds, so :59 is the whole last second
_ONE_SECOND: Final = timedelta(seconds=1)
# A send this long before `after` on the wall clock is before it in UTC too: the offsets one
# zone has ever used span at most 25.5 hours (Pacific/Apia, which skipped 30 December 2011).
_SEARCH_MARGIN: Final = timedelta(hours=26)
# The Gregorian calendar repeats every 400 years, so a day that is missing for a whole cycle of
# a pattern's months (or years) is missing for ever.
_GREGORIAN_MONTHS: Final = 400 * 12
_GREGORIAN_YEARS: Final = 400


# --- the pattern --------------------------------------------------------------------------------


def _is_int(value: object) -> bool:
    # bool is an int subclass, but `true` in JSON is no interval.
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True)
class RecurrencePattern:
    """How a campaign repeats after its first send, as stored in JSON (docs/design.md §3).

    Constructing one validates it (ValidationError naming the field) and normalises it:
    days_of_week sorted without repeats, `short_month` reset to "last_day" where no month can
    lack the day (daily, weekly, monthly by weekday), so equal behaviour means equal patterns.
    """

    type: RecurrenceType
    interval: int = 1
    days_of_week: tuple[int, ...] = ()  # 0 = Monday … 6 = Sunday; weekly only
    day_of_month: int | None = None
    short_month: ShortMonth = "last_day"
    weekday: int | None = None  # with week_of_month: "the last Friday"
    week_of_month: int | None = None  # 1..4 or -1 (last)
    end_date: date | None = None  # inclusive, local to the campaign's timezone
    count: int | None = None  # total sends including the first
    # Single sends taken out (RFC 5545 EXDATE), naive wall-clock times in the campaign's zone,
    # sorted without repeats. A skipped send still counts towards `count`, as in RFC 5545.
    exdates: tuple[datetime, ...] = ()

    def __post_init__(self) -> None:
        set_ = functools.partial(object.__setattr__, self)
        if self.type not in _TYPES:
            raise ValidationError(
                "type", "Choose how often to repeat: daily, weekly, monthly or yearly."
            )
        if not _is_int(self.interval) or not 1 <= self.interval <= MAX_INTERVAL:
            raise ValidationError(
                "interval", f"“Repeat every” must be a whole number from 1 to {MAX_INTERVAL}."
            )
        set_("interval", int(self.interval))
        set_("days_of_week", self._checked_days())
        self._check_monthly_fields()
        if self.short_month not in _SHORT_MONTHS:
            raise ValidationError(
                "short_month",
                "Choose what happens in months without that day: “skip” them or send on their "
                "“last_day”.",
            )
        if self.type in ("daily", "weekly") or self.weekday is not None:
            set_("short_month", "last_day")
        if self.end_date is not None and (
            isinstance(self.end_date, datetime) or not isinstance(self.end_date, date)
        ):
            raise ValidationError("end_date", "The end date must be a date such as 2027-06-30.")
        if self.count is not None:
            if not _is_int(self.count) or self.count < 1:
                raise ValidationError(
                    "count", "The number of sends must be a whole number, 1 or more."
                )
            set_("count", int(self.count))
        set_("exdates", _checked_exdates(self.exdates))

    def _checked_days(self) -> tuple[int, ...]:
        days: object = self.days_of_week
        if not isinstance(days, tuple | list):
            raise ValidationError(
                "days_of_week", "Days of the week must be a list of numbers 0 (Monday) to 6."
            )
        if days and self.type != "weekly":
            raise ValidationError("days_of_week", "Days of the week only apply to weekly repeats.")
        if not all(_is_int(day) and 0 <= day <= 6 for day in days):
            raise ValidationError(
                "days_of_week",
                "Days of the week must be numbers from 0 (Monday) to 6 (Sunday).",
            )
        return tuple(sorted({int(day) for day in days}))

    def _check_monthly_fields(self) -> None:
        monthly_only = (
            ("day_of_month", "A day of the month"),
            ("weekday", "A weekday of the month"),
            ("week_of_month", "A week of the month"),
        )
        for name, words in monthly_only:
            if getattr(self, name) is not None and self.type != "monthly":
                raise ValidationError(name, f"{words} only applies to monthly repeats.")
        if self.day_of_month is not None and not (
            _is_int(self.day_of_month) and 1 <= self.day_of_month <= 31
        ):
            raise ValidationError("day_of_month", "The day of the month must be 1 to 31.")
        if self.weekday is not None and not (_is_int(self.weekday) and 0 <= self.weekday <= 6):
            raise ValidationError(
                "weekday", "The weekday must be a number from 0 (Monday) to 6 (Sunday)."
            )
        if self.week_of_month is not None and not (
            _is_int(self.week_of_month) and self.week_of_month in _WEEKS_OF_MONTH
        ):
            raise ValidationError(
                "week_of_month",
                "The week of the month must be 1 to 4 (first to fourth) or -1 (last).",
            )
        if self.day_of_month is not None and self.weekday is not None:
            raise ValidationError(
                "day_of_month",
                "Choose either a day of the month or a weekday of the month, not both.",
            )
        if self.weekday is not None and self.week_of_month is None:
            raise ValidationError(
                "week_of_month",
                "Choose which week of the month: first, second, third, fourth or last.",
            )
        if self.week_of_month is not None and self.weekday is None:
            raise ValidationError("weekday", "Choose the weekday as well as the week of the month.")

    @classmethod
    def from_dict(cls, d: object) -> RecurrencePattern:
        """The pattern stored as `d` (JSON-decoded); ValidationError for anything else.

        Accepts the original system's patterns unchanged; a null value means the key is absent.
        """
        if not isinstance(d, dict):
            raise ValidationError("recurrence", "The repeat settings could not be read.")
        known = {f.name for f in fields(cls)}
        for key in d:
            if key not in known:
                name = str(key)
                raise ValidationError(
                    name or "recurrence", f"“{name}” is not a repeat setting this app knows."
                )
        values: dict[str, Any] = {key: value for key, value in d.items() if value is not None}
        if values.get("type") not in _TYPES:
            raise ValidationError(
                "type", "Choose how often to repeat: daily, weekly, monthly or yearly."
            )
        days = values.get("days_of_week")
        if isinstance(days, list | tuple) and not days:
            # An absent key means "the weekday of the first send"; an empty list is a mistake.
            if values["type"] != "weekly":
                raise ValidationError(
                    "days_of_week", "Days of the week only apply to weekly repeats."
                )
            raise ValidationError("days_of_week", "Pick at least one day of the week.")
        if "end_date" in values:
            values["end_date"] = _parse_end_date(values["end_date"])
        if "exdates" in values:
            values["exdates"] = _parse_exdates(values["exdates"])
        return cls(**values)

    def to_dict(self) -> dict[str, object]:
        """The JSON-ready form for storage: defaults and absent values are left out."""
        out: dict[str, object] = {"type": self.type}
        if self.interval != 1:
            out["interval"] = self.interval
        if self.days_of_week:
            out["days_of_week"] = list(self.days_of_week)
        if self.day_of_month is not None:
            out["day_of_month"] = self.day_of_month
        if self.short_month != "last_day":
            out["short_month"] = self.short_month
        if self.weekday is not None:
            out["weekday"] = self.weekday
            out["week_of_month"] = self.week_of_month
        if self.end_date is not None:
            out["end_date"] = self.end_date.isoformat()
        if self.count is not None:
            out["count"] = self.count
        if self.exdates:
            out["exdates"] = [_exdate_text(day) for day in self.exdates]
        return out

    def with_exdate(self, local: datetime) -> RecurrencePattern:
        """This pattern with the send at wall-clock `local` skipped (no change if it is)."""
        return dataclasses.replace(self, exdates=(*self.exdates, _wall(local)))

    def without_exdate(self, local: datetime) -> RecurrencePattern:
        """This pattern with the skip of the send at wall-clock `local` undone."""
        wall = _wall(local)
        return dataclasses.replace(self, exdates=tuple(d for d in self.exdates if d != wall))

    @classmethod
    def from_rrule(cls, text: str, tz: str | None = None) -> RecurrencePattern:
        """The pattern an RFC 5545 RRULE describes, e.g. "FREQ=WEEKLY;BYDAY=MO,WE;COUNT=10"
        (an "RRULE:" prefix is allowed). The inverse of `to_rrule` for every rule it writes.

        ValidationError (field "rrule") naming what the app cannot express: frequencies
        below a day, BYMONTH, BYYEARDAY, BYWEEKNO, BYHOUR/BYMINUTE/BYSECOND, several
        weekdays of the month, BYSETPOS other than this app's month-end rule, a week start
        other than Monday. UNTIL becomes the end date (its date, in the campaign's zone when
        given as local time; a UTC UNTIL is read by its UTC date). Parsing: icalendar's
        `vRecur` (RFC 5545 §3.3.10). `tz` reads a UTC UNTIL as a date in that zone.
        """
        return _pattern_from_rrule(text, tz)

    def to_rrule(self, first_local: datetime | None = None) -> str:
        """The RFC 5545 RRULE value: "FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,WE;UNTIL=20270630T235959".

        UNTIL is the local end of `end_date`. Alone, the pattern leaves some parts to DTSTART
        the way RFC 5545 does; given `first_local`, the parts where this app reads DTSTART
        differently are written out (monthly on the 29th to 31st and yearly on 29 February send
        on the last day of shorter months here), and of `count` and `end_date` only the one
        that ends the series first is kept, since RFC 5545 forbids both.
        """
        if first_local is None:
            return _rrule_value(self, None, None, None)
        first = _wall(first_local)
        plan = _plan(self, first)
        return _rrule_value(self, first, None, _count_last(plan) if self.count else None)

    def describe(self, first_local: datetime, tz: str) -> str:
        """The schedule in plain English, e.g. "Every 2 weeks on Monday and Wednesday at 09:00
        New York time, until 30 June 2027"."""
        first = _wall(first_local)
        get_zone(tz)
        unit = _UNIT_WORDS[self.type]
        every = f"Every {unit}" if self.interval == 1 else f"Every {self.interval} {unit}s"
        text = f"{every}{self._describe_days(first)} at {_clock(first)} {_place(tz)}"
        if self.count is not None:
            text += ", once" if self.count == 1 else f", {self.count} times"
        if self.end_date is not None:
            text += f", until {_long_date(self.end_date)}"
        if self.exdates:
            skipped = [_long_date(day.date()) for day in self.exdates]
            text += (
                f", skipping {_and_list(skipped)}"
                if len(skipped) <= 2
                else f", skipping {len(skipped)} dates"
            )
        return text

    def _describe_days(self, first: datetime) -> str:
        if self.type == "weekly":
            days = self.days_of_week or (first.weekday(),)
            return " on " + _and_list([DAY_NAMES[day] for day in days])
        if self.type == "monthly":
            return self._describe_monthly(first)
        if self.type == "yearly":
            text = f" on {first.day} {_MONTH_NAMES[first.month - 1]}"
            if (first.month, first.day) != (2, 29):
                return text
            return text + (
                " (leap years only)"
                if self.short_month == "skip"
                else " (28 February in other years)"
            )
        return ""

    def _describe_monthly(self, first: datetime) -> str:
        if self.weekday is not None and self.week_of_month is not None:
            return f" on the {_WEEK_WORDS[self.week_of_month]} {DAY_NAMES[self.weekday]}"
        day = self.day_of_month or first.day
        if day <= 28:
            return f" on day {day}"
        if self.short_month == "skip":
            return f" on day {day} (skipping months without a {_ordinal(day)})"
        return f" on day {day} (last day in shorter months)"


MAX_EXDATES: Final = 500


def _checked_exdates(value: object) -> tuple[datetime, ...]:
    if not isinstance(value, tuple | list) or not all(
        isinstance(day, datetime) and day.tzinfo is None for day in value
    ):
        raise ValidationError(
            "exdates", "Skipped sends must be dates and times such as 2027-03-15T09:00."
        )
    days = tuple(sorted({_wall(day) for day in value}))
    if len(days) > MAX_EXDATES:
        raise ValidationError(
            "exdates", f"At most {MAX_EXDATES} sends can be skipped; unschedule instead."
        )
    return days


def _parse_exdates(value: object) -> tuple[datetime, ...]:
    if not isinstance(value, list | tuple):
        raise ValidationError("exdates", "The skipped sends could not be read.")
    out = []
    for item in value:
        try:
            day = item if isinstance(item, datetime) else datetime.fromisoformat(str(item))
        except ValueError:
            raise ValidationError(
                "exdates", f"“{item}” is not a date and time such as 2027-03-15T09:00."
            ) from None
        if day.tzinfo is not None:
            raise ValidationError(
                "exdates", "Skipped sends are wall-clock times without a time zone."
            )
        out.append(day)
    return tuple(out)


def _exdate_text(day: datetime) -> str:
    """As docs/design.md §12 stores it: "2027-03-15T09:00" (seconds only when not zero)."""
    return day.isoformat(timespec="seconds" if day.second else "minutes")


def _parse_end_date(value: object) -> date:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise ValidationError("end_date", "The end date must be a date such as 2027-06-30.")


# --- wording --------------------------------------------------------------------------------


def _clock(local: datetime) -> str:
    return local.strftime("%H:%M:%S" if local.second else "%H:%M")


def _place(tz: str) -> str:
    return "UTC" if tz in ("UTC", "Etc/UTC") else f"{zone_label(tz)} time"


def _long_date(day: date) -> str:
    return f"{day.day} {_MONTH_NAMES[day.month - 1]} {day.year}"


def _ordinal(n: int) -> str:
    suffix = "th" if 11 <= n % 100 <= 13 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _and_list(words: list[str]) -> str:
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} and {words[-1]}"


def describe_once(first_local: datetime, tz: str) -> str:
    """A single send in plain English: "Once on Monday 4 January 2027 at 09:00 New York time"."""
    first = _wall(first_local)
    get_zone(tz)
    when = f"{DAY_NAMES[first.weekday()]} {_long_date(first.date())}"
    return f"Once on {when} at {_clock(first)} {_place(tz)}"


# --- the rule on the wall clock ---------------------------------------------------------------


def _wall(first_local: datetime) -> datetime:
    """The first send as the rule sees it: naive, whole seconds (rrule drops microseconds)."""
    if not isinstance(first_local, datetime) or first_local.tzinfo is not None:
        raise ValueError(f"expected a naive wall-clock datetime, got {first_local!r}")
    return first_local.replace(microsecond=0, fold=0)


def _month_day(day: int, short_month: ShortMonth) -> tuple[tuple[int, ...], int | None]:
    """BYMONTHDAY (and BYSETPOS) for `day` in every month, or in months long enough ("skip")."""
    if day <= 28 or short_month == "skip":
        return (day,), None
    if day == 31:
        return (-1,), None
    # The 29th/30th where the month has it, else its last day: the first of the two.
    return (day, -1), 1


@dataclass(frozen=True, slots=True)
class _Shape:
    """Which days of one period a rule picks: rrule's BY… parts, without the interval."""

    freq: _Freq
    per_period: int = 1  # days picked in every period (a "skip" day: in periods that have it)
    bymonth: int | None = None
    bymonthday: tuple[int, ...] | None = None
    byweekday: tuple[rrule_weekday, ...] | None = None
    bysetpos: int | None = None


@functools.lru_cache(maxsize=16384)
def _period_dates(shape: _Shape, begins: date) -> tuple[date, ...]:
    """The days `shape` picks in the period that begins on `begins`, as rrule finds them.

    Keyed by calendar period rather than by campaign, so all campaigns sending "on the last
    Friday" share one rrule run per month.
    """
    # A yearly period is the first send's month once a year: FREQ=MONTHLY finds the same days
    # ~3x faster, as dateutil scans all days of a yearly period but ~30 of a monthly one.
    freq = MONTHLY if shape.freq == YEARLY else shape.freq
    rule = rrule(
        freq,
        dtstart=datetime.combine(begins, time()),
        wkst=0,  # weeks run Monday to Sunday, RFC 5545's default
        bymonth=shape.bymonth,
        bymonthday=shape.bymonthday,
        byweekday=shape.byweekday,
        bysetpos=shape.bysetpos,
    )
    # islice, not until= or count=: rrule only notices the end of a period by working out
    # the next one, which would double the cost.
    return tuple(found.date() for found in islice(rule, shape.per_period))


@dataclass(frozen=True, slots=True)
class _RuleParts:
    """A pattern's rule for a given first send: the days it picks and every how many periods."""

    freq: _Freq  # == shape.freq, kept here because the period arithmetic reads it constantly
    interval: int
    shape: _Shape
    day_may_be_missing: bool = False  # "skip" on a day that some months (years) lack

    @property
    def per_period(self) -> int:
        return self.shape.per_period


def _rule_parts(pattern: RecurrencePattern, first: datetime) -> _RuleParts:
    n = pattern.interval
    if pattern.type == "weekly":
        days = pattern.days_of_week or (first.weekday(),)
        byweekday = tuple(weekdays[day] for day in days)
        return _RuleParts(WEEKLY, n, _Shape(WEEKLY, len(days), byweekday=byweekday))
    if pattern.type == "monthly":
        if pattern.weekday is not None and pattern.week_of_month is not None:
            nth = weekdays[pattern.weekday](pattern.week_of_month)
            return _RuleParts(MONTHLY, n, _Shape(MONTHLY, byweekday=(nth,)))
        day = pattern.day_of_month or first.day
        monthdays, setpos = _month_day(day, pattern.short_month)
        return _RuleParts(
            MONTHLY,
            n,
            _Shape(MONTHLY, bymonthday=monthdays, bysetpos=setpos),
            day_may_be_missing=day >= 29 and pattern.short_month == "skip",
        )
    if pattern.type == "yearly":
        leap_day = (first.month, first.day) == (2, 29)
        if leap_day:
            monthdays, setpos = _month_day(29, pattern.short_month)
        else:
            monthdays, setpos = (first.day,), None
        return _RuleParts(
            YEARLY,
            n,
            _Shape(YEARLY, bymonth=first.month, bymonthday=monthdays, bysetpos=setpos),
            day_may_be_missing=leap_day and pattern.short_month == "skip",
        )
    return _RuleParts(DAILY, n, _Shape(DAILY))


# A pattern's sends fall in periods: days, Monday-to-Sunday weeks, months, or years counted
# from the first send's month, every `interval`-th one from the first send's. Period k ≥ 1
# starts at the first send's time of day on its first day, holds a fixed number of sends
# ("skip" patterns: one or none), and every send of an earlier period comes before it. So a
# search can start at the period of `after` and still know each send's number for `count`.


def _period_start(parts: _RuleParts, first: datetime, k: int) -> datetime | None:
    """Where period k begins on the wall clock; None when that is past the year 9999."""
    step = k * parts.interval
    try:
        if parts.freq == DAILY:
            day = first.date() + timedelta(days=step)
        elif parts.freq == WEEKLY:
            day = first.date() + timedelta(days=7 * step - first.weekday())
        else:
            months = 12 * step if parts.freq == YEARLY else step
            year, month0 = divmod(first.year * 12 + first.month - 1 + months, 12)
            day = date(year, month0 + 1, 1)
    except (OverflowError, ValueError):
        return None
    return datetime.combine(day, first.time())


def _period_index(parts: _RuleParts, first: datetime, day: date) -> int:
    """The number k of the period holding `day` (negative before the first send's period)."""
    if parts.freq == DAILY:
        units = (day - first.date()).days
    elif parts.freq == WEEKLY:
        units = ((day - first.date()).days + first.weekday()) // 7
    else:
        units = (day.year - first.year) * 12 + day.month - first.month
        if parts.freq == YEARLY:
            units //= 12
    return units // parts.interval


def _period_has_day(parts: _RuleParts, first: datetime, k: int) -> bool:
    """For "skip" patterns: does period k contain the day at all?"""
    step = k * parts.interval
    if parts.freq == YEARLY:
        return calendar.isleap(first.year + step)
    year, month0 = divmod(first.year * 12 + first.month - 1 + step, 12)
    assert parts.shape.bymonthday is not None
    return calendar.monthrange(year, month0 + 1)[1] >= parts.shape.bymonthday[0]


def _first_period_with_day(
    parts: _RuleParts, first: datetime, until: datetime | None, start: int = 1
) -> int | None:
    """The first period k ≥ start that holds the day, or None if none does before the end."""
    cycle = _GREGORIAN_YEARS if parts.freq == YEARLY else _GREGORIAN_MONTHS
    for k in range(start, start + cycle // math.gcd(parts.interval, cycle) + 1):
        begins = _period_start(parts, first, k)
        if begins is None or (until is not None and begins > until):
            return None
        if _period_has_day(parts, first, k):
            return k
    return None


@dataclass(frozen=True, slots=True, eq=False)  # eq=False: identity hash, a cheap cache key
class _Plan:
    """A pattern compiled for one first send."""

    parts: _RuleParts
    first: datetime
    # The last wall-clock second a send may fall on: the end of end_date or, for a "skip"
    # pattern whose day never comes again, the end of the first period.
    until: datetime | None
    count: int | None


@functools.lru_cache(maxsize=4096)
def _plan(pattern: RecurrencePattern, first: datetime) -> _Plan:
    parts = _rule_parts(pattern, first)
    until = datetime.combine(pattern.end_date, _END_OF_DAY) if pattern.end_date else None
    if parts.day_may_be_missing and _first_period_with_day(parts, first, until) is None:
        # Without this bound rrule would search month by month up to the year 9999.
        second = _period_start(parts, first, 1)
        if second is not None:
            until = min(until, second - _ONE_SECOND) if until else second - _ONE_SECOND
    return _Plan(parts, first, until, pattern.count)


@functools.lru_cache(maxsize=16384)
def _period_sends(plan: _Plan, k: int) -> tuple[datetime, ...] | None:
    """The wall-clock sends of period k, from the first send up to `until`, ignoring `count`;
    None when the series is over before period k begins.

    The cache the scheduler hits: asked again and again about the same campaigns, it finds
    each period worked out already.
    """
    parts, first, until = plan.parts, plan.first, plan.until
    begins = _period_start(parts, first, k)
    if begins is None or (until is not None and begins > until):
        return None
    if parts.day_may_be_missing and not _period_has_day(parts, first, k):
        return ()
    sends = (
        datetime.combine(day, first.time()) for day in _period_dates(parts.shape, begins.date())
    )
    return tuple(s for s in sends if s >= first and (until is None or s <= until))


def _sends_before(plan: _Plan, k: int) -> int:
    """How many sends come before period k (enough to tell whether `count` is used up)."""
    if k <= 0:
        return 0
    before = len(_period_sends(plan, 0) or ())
    if not plan.parts.day_may_be_missing:
        return before + (k - 1) * plan.parts.per_period
    limit = plan.count if plan.count is not None else math.inf
    for j in range(1, k):
        if before >= limit:
            break
        before += _period_has_day(plan.parts, plan.first, j)
    return before


def _local_sends(plan: _Plan, k: int) -> Iterator[datetime]:
    """The wall-clock sends from period k on, honouring `until` and `count`."""
    count, start = plan.count, k
    # Numbering the sends for `count` costs an extra rrule run for the first period, so start
    # from an upper bound (no period holds more than per_period sends) and only work out the
    # exact number when the bound says `count` might be reached.
    exact = count is None or k <= 0
    before = 0 if exact else k * plan.parts.per_period
    taken = 0
    while True:
        sends = _period_sends(plan, k)
        if sends is None:
            return
        for local in sends:
            if count is not None and before + taken >= count:
                if exact:
                    return
                before, exact = _sends_before(plan, start), True
                if before + taken >= count:
                    return
            taken += 1
            yield local
        if count is not None and exact and before + taken >= count:
            return
        k += 1


def _count_last(plan: _Plan) -> datetime | None:
    """The wall-clock time of the count-th send, or None if the series ends before it."""
    assert plan.count is not None
    first_sends = _period_sends(plan, 0) or ()
    if plan.count <= len(first_sends):
        return first_sends[plan.count - 1]
    remaining = plan.count - len(first_sends)  # sends still to find after period 0
    if plan.parts.day_may_be_missing:
        k: int | None = 0
        while remaining and k is not None:
            k = _first_period_with_day(plan.parts, plan.first, plan.until, k + 1)
            remaining -= 1
        if k is None:
            return None
        position = 0
    else:
        k = 1 + (remaining - 1) // plan.parts.per_period
        position = (remaining - 1) % plan.parts.per_period
    sends = _period_sends(plan, k) or ()
    return sends[position] if position < len(sends) else None


def _search_start(
    plan: _Plan, zone: ZoneInfo, after: datetime | None
) -> tuple[int | None, datetime | None]:
    """The period to start from for sends after `after` (None: there are none), and the wall
    clock time below which a send is surely not after `after`."""
    if after is None:
        return 0, None
    try:
        after_local = to_local(after, zone)
        skip_below = after_local - _SEARCH_MARGIN
        k = _period_index(plan.parts, plan.first, skip_below.date())
    except OverflowError:  # `after` within days of datetime.min/max
        return (None, None) if after.year > 1 else (0, None)
    return max(k, 0), skip_below


def _sends(
    pattern: RecurrencePattern | None, first_local: datetime, tz: str, after: datetime | None
) -> Iterator[datetime]:
    """The sends as aware UTC datetimes, ascending, each strictly after `after`.

    Not a generator itself, so that bad arguments fail at the call, not at the first send.
    """
    zone = get_zone(tz)
    first = _wall(first_local)
    if after is not None and after.tzinfo is None:
        raise ValueError(f"`after` must be an aware datetime, got {after!r}")
    if pattern is None:
        instant = _utc_or_none(first, zone)
        if instant is None or (after is not None and instant <= after):
            return iter(())
        return iter((instant,))
    plan = _plan(pattern, first)
    k, skip_below = _search_start(plan, zone, after)
    if k is None:
        return iter(())
    local = _local_sends(plan, k)
    if pattern.exdates:
        skipped = frozenset(pattern.exdates)
        local = (send for send in local if send not in skipped)
    return _utc_sends(local, zone, after, skip_below)


def _utc_sends(
    wall_times: Iterator[datetime],
    zone: ZoneInfo,
    after: datetime | None,
    skip_below: datetime | None,
) -> Iterator[datetime]:
    last = after
    for local in wall_times:
        if skip_below is not None and local < skip_below:
            continue
        instant = _utc_or_none(local, zone)
        if instant is None:
            if local.year > 1:
                return
            continue
        # `last` also drops the rare send whose day the zone skipped outright (Samoa, 30 Dec
        # 2011): read with the offset before the gap it is the same instant as the next day's.
        if last is None or instant > last:
            last = instant
            yield instant


def _utc_or_none(local: datetime, zone: ZoneInfo) -> datetime | None:
    try:
        return to_utc(local, zone)
    except OverflowError:  # the very first or last hours of year 1 / 9999
        return None


def occurrences(
    pattern: RecurrencePattern | None,
    first_local: datetime,
    tz: str,
    after: datetime | None = None,
    limit: int = 10,
) -> list[datetime]:
    """Up to `limit` sends as aware UTC datetimes, ascending, strictly after `after`.

    `first_local` is the naive wall-clock time of the first send in `tz`; the first send is the
    first rule instance at or after it. A None pattern is the single send at `first_local`.
    Seconds count, microseconds are dropped (as rrule does).
    """
    if limit < 0:
        raise ValueError(f"limit must be 0 or more, got {limit}")
    return list(islice(_sends(pattern, first_local, tz, after), limit))


def occurrences_between(
    pattern: RecurrencePattern | None,
    first_local: datetime,
    tz: str,
    start: datetime,
    end: datetime,
    *,
    limit: int = 5000,
) -> list[datetime]:
    """The sends in [start, end) (aware UTC), ascending, at most `limit` of them."""
    sends = _sends(pattern, first_local, tz, start - _ONE_SECOND)
    return list(islice(takewhile(lambda send: send < end, sends), limit))


def next_occurrence_after(
    pattern: RecurrencePattern | None, first_local: datetime, tz: str, after: datetime
) -> datetime | None:
    """The first send strictly after the aware `after`, or None when the series is over."""
    return next(_sends(pattern, first_local, tz, after), None)


def wall_time_of(
    pattern: RecurrencePattern | None, first_local: datetime, tz: str, send: datetime
) -> datetime | None:
    """The rule's wall-clock time of the aware UTC `send` (skipped or not), or None when the
    schedule has no send at that instant.

    What an EXDATE must name: a send moved out of a spring-forward gap happens at 03:30 but
    is the rule's 02:30 instance, so `to_local` would name the wrong time.
    """
    if send.tzinfo is None:
        raise ValueError(f"`send` must be an aware datetime, got {send!r}")
    zone = get_zone(tz)
    first = _wall(first_local)
    if pattern is None:
        return first if _utc_or_none(first, zone) == send else None
    plan = _plan(pattern, first)
    k, skip_below = _search_start(plan, zone, send - _ONE_SECOND)
    if k is None:
        return None
    for local in _local_sends(plan, k):
        if skip_below is not None and local < skip_below:
            continue
        instant = _utc_or_none(local, zone)
        if instant == send:
            return local
        if instant is not None and instant > send:
            return None
    return None


def validate_schedule(
    pattern: RecurrencePattern | None,
    first_local: datetime,
    tz: str,
    now: datetime | None = None,
) -> None:
    """ValidationError unless the schedule is one a marketer can mean (docs/design.md §3).

    Checks what a pattern alone cannot: the timezone, the first send not in the past (when
    `now` is given), the end date not before the first send, and at least one send at all.
    """
    if now is not None and now.tzinfo is None:
        raise ValueError(f"`now` must be an aware datetime, got {now!r}")
    zone = get_zone(tz, "timezone")
    if not isinstance(first_local, datetime):
        raise ValidationError("first_local", "Choose the date and time of the first send.")
    first = _wall(first_local)
    if now is not None and to_utc(first, zone) <= now:
        raise ValidationError(
            "first_local", "The first send is in the past. Choose a later date and time."
        )
    if pattern is None:
        return
    if pattern.end_date is not None and pattern.end_date < first.date():
        raise ValidationError("end_date", "The end date is before the first send.")
    if not occurrences(pattern, first, tz, limit=1):
        raise ValidationError(
            "recurrence",
            "With these settings the campaign would never be sent. Check the days and the end "
            "date.",
        )


# --- RFC 5545 export --------------------------------------------------------------------------


def _rrule_value(
    pattern: RecurrencePattern,
    first: datetime | None,
    zone: ZoneInfo | None,
    count_last: datetime | None,
) -> str:
    """RRULE for `pattern`; see RecurrencePattern.to_rrule. With `zone`, UNTIL is in UTC."""
    parts = [f"FREQ={pattern.type.upper()}"]
    if pattern.interval != 1:
        parts.append(f"INTERVAL={pattern.interval}")
    if pattern.days_of_week:
        parts.append("BYDAY=" + ",".join(_RRULE_DAYS[day] for day in pattern.days_of_week))
    if pattern.weekday is not None:
        parts.append(f"BYDAY={pattern.week_of_month}{_RRULE_DAYS[pattern.weekday]}")
    day = pattern.day_of_month
    if day is None and first is not None and pattern.type == "monthly" and first.day >= 29:
        day = first.day  # RFC 5545 would skip short months; this app's default does not
    if pattern.weekday is None and day is not None:
        monthdays, setpos = _month_day(day, pattern.short_month)
        parts.append("BYMONTHDAY=" + ",".join(map(str, monthdays)))
        if setpos is not None:
            parts.append(f"BYSETPOS={setpos}")
    if (
        pattern.type == "yearly"
        and first is not None
        and (first.month, first.day) == (2, 29)
        and pattern.short_month == "last_day"
    ):
        parts.append("BYMONTH=2;BYMONTHDAY=29,-1;BYSETPOS=1")
    use_count = pattern.count is not None
    use_until = pattern.end_date is not None
    if use_count and use_until and first is not None:
        # RFC 5545 allows one of the two: keep whichever ends the series first (count_last is
        # None when the end date comes first).
        use_count = count_last is not None
        use_until = not use_count
    if use_count:
        parts.append(f"COUNT={pattern.count}")
    if use_until:
        assert pattern.end_date is not None
        end = datetime.combine(pattern.end_date, _END_OF_DAY)
        if zone is None:
            parts.append(f"UNTIL={end:%Y%m%dT%H%M%S}")
        else:
            # Next to a DTSTART with TZID, RFC 5545 §3.3.10 wants UNTIL in UTC.
            parts.append(f"UNTIL={to_utc(end, zone):%Y%m%dT%H%M%SZ}")
    return ";".join(parts)


_RRULE_PARTS_KNOWN: Final = frozenset(
    {"FREQ", "INTERVAL", "BYDAY", "BYMONTHDAY", "BYSETPOS", "BYMONTH", "COUNT", "UNTIL", "WKST"}
)
_RRULE_PART_WORDS: Final = {
    "BYYEARDAY": "days of the year (BYYEARDAY)",
    "BYWEEKNO": "week numbers (BYWEEKNO)",
    "BYHOUR": "several hours a day (BYHOUR)",
    "BYMINUTE": "several minutes (BYMINUTE)",
    "BYSECOND": "several seconds (BYSECOND)",
    "RSCALE": "other calendars (RSCALE)",
    "SKIP": "other calendars (SKIP)",
}


def _refuse_rrule(message: str) -> ValidationError:
    return ValidationError("rrule", message)


def _pattern_from_rrule(text: str, tz: str | None = None) -> RecurrencePattern:
    """See RecurrencePattern.from_rrule."""
    from icalendar.prop import vRecur  # noqa: PLC0415  (only the RRULE field needs it)

    if not isinstance(text, str) or not text.strip():
        raise _refuse_rrule("Paste a rule such as FREQ=WEEKLY;BYDAY=MO,WE.")
    value = text.strip()
    if value.upper().startswith("RRULE:"):
        value = value[len("RRULE:") :]
    try:
        rule = {str(key).upper(): list(parts) for key, parts in vRecur.from_ical(value).items()}
    except (ValueError, TypeError, KeyError) as exc:
        raise _refuse_rrule(f"This is not an RRULE the app can read ({exc}).") from None
    freq = str((rule.pop("FREQ", None) or [""])[0]).upper()
    if not freq:
        raise _refuse_rrule("The rule needs FREQ, e.g. FREQ=DAILY.")
    if freq not in ("DAILY", "WEEKLY", "MONTHLY", "YEARLY"):
        raise _refuse_rrule(
            f"Campaigns repeat daily, weekly, monthly or yearly; FREQ={freq} is not possible."
        )
    for key in rule:
        if key not in _RRULE_PARTS_KNOWN:
            words = _RRULE_PART_WORDS.get(key, f"“{key}”")
            raise _refuse_rrule(f"The app cannot repeat by {words}.")
    values: dict[str, Any] = {"type": freq.lower()}
    if "INTERVAL" in rule:
        values["interval"] = int(rule.pop("INTERVAL")[0])
    if "COUNT" in rule:
        values["count"] = int(rule.pop("COUNT")[0])
    if "UNTIL" in rule:
        values["end_date"] = _until_date(rule.pop("UNTIL")[0], tz)
    values.update(_rrule_by_parts(freq, rule, values.get("interval", 1)))
    try:
        return RecurrencePattern(**values)
    except ValidationError as exc:
        raise _refuse_rrule(exc.message) from None


def _rrule_by_parts(freq: str, rule: dict[str, list[Any]], interval: int) -> dict[str, Any]:
    """The pattern fields of the BY… parts (and WKST) of a parsed RRULE."""
    wkst = str((rule.pop("WKST", None) or ["MO"])[0]).upper()
    days = [str(day).upper() for day in rule.pop("BYDAY", [])]
    monthdays = [int(day) for day in rule.pop("BYMONTHDAY", [])]
    setpos = [int(pos) for pos in rule.pop("BYSETPOS", [])]
    months = [int(month) for month in rule.pop("BYMONTH", [])]
    if freq == "WEEKLY":
        if wkst != "MO" and interval > 1 and len(days) > 1:
            raise _refuse_rrule("Weeks here start on Monday (WKST=MO).")
        return {"days_of_week": _rrule_week_days(days)}
    if freq == "MONTHLY":
        return _rrule_month_parts(days, monthdays, setpos)
    if freq == "YEARLY":
        if (months, monthdays, setpos, days) == ([2], [29, -1], [1], []):
            return {"short_month": "last_day"}  # this app's 29 February rule (see to_rrule)
        if months or monthdays or setpos or days:
            raise _refuse_rrule(
                "A yearly campaign repeats on the month and day of its first send; "
                "BYMONTH, BYMONTHDAY and BYDAY are not possible."
            )
        return {"short_month": "skip"}  # RFC 5545: a 29 February start skips other years
    if days or monthdays or setpos or months:
        raise _refuse_rrule("A daily campaign cannot be limited to some days or months.")
    return {}


def _until_date(until: object, tz: str | None) -> date:
    if isinstance(until, datetime):
        if until.tzinfo is not None:
            return (to_local(until, get_zone(tz)) if tz else until.astimezone(UTC)).date()
        return until.date()
    if isinstance(until, date):
        return until
    raise _refuse_rrule("UNTIL must be a date such as 20270630.")


def _rrule_week_days(days: list[str]) -> tuple[int, ...]:
    out = []
    for day in days:
        if day not in _RRULE_DAYS:
            raise _refuse_rrule(
                f"A weekly campaign repeats on plain weekdays (MO, TU, …), not on {day}."
            )
        out.append(_RRULE_DAYS.index(day))
    return tuple(out)


def _rrule_month_parts(days: list[str], monthdays: list[int], setpos: list[int]) -> dict[str, Any]:
    if days:
        if len(days) > 1 or monthdays or setpos:
            raise _refuse_rrule("A monthly campaign repeats on one weekday of the month only.")
        week, name = days[0][:-2].lstrip("+"), days[0][-2:]
        if name not in _RRULE_DAYS or not week.lstrip("-").isdigit():
            raise _refuse_rrule(
                f"{days[0]} is not a weekday of the month such as 1MO (first Monday) or -1FR."
            )
        if int(week) not in _WEEKS_OF_MONTH:
            raise _refuse_rrule(
                "The week of the month must be 1 to 4 (first to fourth) or -1 (last)."
            )
        return {"weekday": _RRULE_DAYS.index(name), "week_of_month": int(week)}
    if not monthdays:
        return {"short_month": "skip"}  # RFC 5545: a start on the 31st skips short months
    if monthdays == [-1] and not setpos:
        return {"day_of_month": 31, "short_month": "last_day"}
    if len(monthdays) == 1 and not setpos and 1 <= monthdays[0] <= 31:
        return {"day_of_month": monthdays[0], "short_month": "skip"}
    if len(monthdays) == 2 and monthdays[1] == -1 and setpos == [1] and monthdays[0] in (29, 30):
        return {"day_of_month": monthdays[0], "short_month": "last_day"}
    raise _refuse_rrule("A monthly campaign repeats on one day of the month only.")


def first_and_rule(
    pattern: RecurrencePattern | None, first_local: datetime, tz: str
) -> tuple[datetime | None, str | None]:
    """For an iCalendar VEVENT (domain/ics.py): the wall-clock DTSTART and the RRULE value.

    DTSTART is the first instance of the rule (RFC 5545 counts DTSTART as an instance, so it
    must be a real one; a skipped first send is left out by its EXDATE, and still counts
    towards COUNT as it does here); UNTIL is in UTC. (None, None) when the schedule never
    sends; (first, None) for a single send.
    """
    zone = get_zone(tz)
    first = _wall(first_local)
    if pattern is None:
        return first, None
    if not occurrences(pattern, first, tz, limit=1):
        return None, None
    plan = _plan(pattern, first)
    start = next(_local_sends(plan, 0), None)
    if start is None:
        return None, None
    count_last = _count_last(plan) if pattern.count else None
    return start, _rrule_value(pattern, first, zone, count_last)
