"""Campaign schedules as an iCalendar file (RFC 5545), for calendar apps (docs/design.md §12).

One VEVENT per campaign: DTSTART is the first actual send in the campaign's IANA zone
(TZID), the repeat is an RRULE (`RecurrencePattern.to_rrule` semantics, UNTIL in UTC as
§3.3.10 asks next to a TZID), skipped sends are EXDATEs in the same zone, and each zone
used gets a VTIMEZONE built by the icalendar library from tzdata — so a calendar that
does not know IANA names still places every send right. Written with `icalendar`, never
by hand: escaping, folding and VTIMEZONE are exactly what hand-made writers get wrong.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from icalendar import Calendar, Event, vRecur

from campaign_desktop.domain.errors import ValidationError
from campaign_desktop.domain.recurrence import (
    RecurrencePattern,
    describe_once,
    first_and_rule,
)
from campaign_desktop.domain.timezones import get_zone

PRODID = "-//Campaign Desktop//Campaign schedule//EN"
# VTIMEZONE blocks list each zone's changes between these dates at least; a reader that knows
# the IANA name (every mainstream one) does not need them at all.
_VTIMEZONE_YEARS_AFTER = 20


@dataclass(frozen=True, slots=True)
class CalendarEntry:
    """One campaign's schedule for `ics_document`.

    `uid` must stay the same for the same campaign across exports (calendar apps update
    an imported event by UID); `first_local` is the naive wall-clock first send in `tz`.
    """

    uid: str
    name: str
    pattern: RecurrencePattern | None
    first_local: datetime
    tz: str


def ics_document(entries: Sequence[CalendarEntry], *, stamp: datetime | None = None) -> bytes:
    """The entries as one VCALENDAR, UTF-8 with CRLF line ends (text/calendar).

    `stamp` is DTSTAMP (default: now), so tests can compare whole files. ValidationError
    (field "recurrence") for a schedule that never sends: there is nothing to export.
    """
    when = (stamp or datetime.now(UTC)).astimezone(UTC)
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    earliest: date | None = None
    for entry in entries:
        event, start = _event(entry, when)
        calendar.add_component(event)
        earliest = start.date() if earliest is None else min(earliest, start.date())
    if earliest is not None:
        calendar.add_missing_timezones(
            first_date=earliest - timedelta(days=366),
            last_date=max(date(2038, 1, 1), date(when.year + _VTIMEZONE_YEARS_AFTER, 1, 1)),
        )
    return bytes(calendar.to_ical())


def _event(entry: CalendarEntry, stamp: datetime) -> tuple[Event, datetime]:
    zone = get_zone(entry.tz)
    start, rule = first_and_rule(entry.pattern, entry.first_local, entry.tz)
    if start is None:
        raise ValidationError(
            "recurrence", f"“{entry.name}” never sends, so there is nothing to export."
        )
    event = Event()
    event.add("uid", entry.uid)
    event.add("dtstamp", stamp)
    event.add("dtstart", start.replace(tzinfo=zone))
    event.add("summary", entry.name)
    if entry.pattern is None or rule is None:
        event.add("description", describe_once(start, entry.tz))
    else:
        event.add("rrule", vRecur.from_ical(rule))
        event.add("description", entry.pattern.describe(entry.first_local, entry.tz))
        if entry.pattern.exdates:
            event.add("exdate", [day.replace(tzinfo=zone) for day in entry.pattern.exdates])
    return event, start
