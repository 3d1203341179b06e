"""How the GUI writes instants, schedules and run counts: one place, so every view agrees.

Instants are shown on the campaign's wall clock with the zone's abbreviation, and in
tooltips on this machine's clock.
"""

from __future__ import annotations

from datetime import datetime

from campaign_desktop.domain.errors import ValidationError
from campaign_desktop.domain.recurrence import describe_once
from campaign_desktop.domain.timezones import get_zone, utc_offset_label
from campaign_desktop.domain.views import CampaignView, RunView

DASH = "\N{EM DASH}"


def in_zone(instant: datetime | None, tz: str) -> str:
    """ "Mon 04 Jan 2027 09:00 EST" on `tz`'s wall clock; a dash for no instant."""
    if instant is None:
        return DASH
    try:
        zone = get_zone(tz)
    except ValidationError:
        return instant.strftime("%a %d %b %Y %H:%M UTC")
    local = instant.astimezone(zone)
    abbreviation = local.tzname() or utc_offset_label(instant, zone)
    return f"{local:%a %d %b %Y %H:%M} {abbreviation}"


def on_this_machine(instant: datetime | None) -> str:
    """The same instant on this computer's clock, for tooltips."""
    if instant is None:
        return DASH
    local = instant.astimezone()
    return f"{local:%a %d %b %Y %H:%M} {local.tzname() or ''} (this computer)".strip()


def already_sent(view: CampaignView) -> str:
    """ "It already went to 1,234 people on Mon 04 Jan 2027 09:00 EST." for a campaign whose
    latest real run delivered something; "" otherwise."""
    run = view.last_run
    if run is None or run.sent == 0:
        return ""
    people = "1 person" if run.sent == 1 else f"{run.sent:,} people"
    return f"It already went to {people} on {in_zone(run.occurrence_at, view.timezone)}."


def repeats(view: CampaignView) -> str:
    """The schedule as a sentence, or a dash when the campaign was never given one."""
    if view.scheduled_local is None:
        return DASH
    try:
        if view.recurrence_pattern:
            return view.recurrence_pattern.describe(view.scheduled_local, view.timezone)
        return describe_once(view.scheduled_local, view.timezone)
    except ValidationError:
        return DASH


def run_counts(run: RunView | None) -> str:
    """ "120 sent, 2 failed, 1 unconfirmed" (zero problem counts left out)."""
    if run is None:
        return DASH
    parts = [f"{run.sent} sent"]
    if run.failed:
        parts.append(f"{run.failed} failed")
    if run.unconfirmed:
        parts.append(f"{run.unconfirmed} unconfirmed")
    if run.status not in ("completed",):
        parts.append(run.status.replace("_", " "))
    return ", ".join(parts)


def sent_of_total(run: RunView) -> str:
    """ "1,234 of 5,000 sent": the messages the mail server has accepted so far, of the
    people it is for (not counting those skipped, as the audience count does not)."""
    return f"{run.sent:,} of {run.recipients:,} sent"


def send_rate(per_second: float) -> str:
    """ "38 messages/s"; below ten with one decimal ("2.5 messages/s"), as a throttled or
    slow server sends."""
    number = f"{per_second:,.0f}" if per_second >= 9.95 else f"{per_second:.1f}".removesuffix(".0")
    return f"{number} message/s" if number == "1" else f"{number} messages/s"


# Statuses whose stored word is not what a marketer says (docs/design.md §12).
_STATUS_WORDS = {"held": "On hold"}


def status_text(status: str) -> str:
    """ "Scheduled", "On hold", "Catch up": a status or trigger as the GUI names it."""
    return _STATUS_WORDS.get(status) or status.replace("_", " ").capitalize()
