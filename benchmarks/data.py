"""Benchmark data sets: real databases made through `AppContext.open`, filled with Core inserts.

Set-up is never timed. The data is deterministic (seeded) and shaped like a marketer's:
most contacts subscribed, a few lists of very different sizes, campaigns in every state,
recurring patterns of every kind in a dozen time zones.
"""

from __future__ import annotations

import csv
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import URL, insert, select, text

from campaign_desktop.context import AppContext
from campaign_desktop.domain.clock import Clock
from campaign_desktop.domain.recurrence import RecurrencePattern, next_occurrence_after
from campaign_desktop.domain.timezones import US_ZONES
from campaign_desktop.persistence.models import (
    Campaign,
    CampaignRun,
    Contact,
    ContactList,
    campaign_audience,
)

SEED = 20270104
CHUNK = 10_000
ZONES = (
    *US_ZONES,
    "Europe/London",
    "Europe/Berlin",
    "Asia/Tokyo",
    "Australia/Sydney",
    "UTC",
)
THEMES = ("Spring sale", "Weekly digest", "Product news", "Webinar invite", "Winback", "Survey")
CITIES = ("Boston", "Denver", "Austin", "Seattle", "Miami", "Chicago", "Portland", "Phoenix")
PLANS = ("free", "basic", "pro", "enterprise")
BODY = (
    "Hello {{ first_name }},\n\nHere is what is new this week at the shop in {{ city }}.\n"
    "Your plan: {{ plan }}.\n\nSee you soon,\nThe Shop\n\nUnsubscribe: {{ unsubscribe_url }}\n"
)
SUBJECT = "{{ first_name }}, news for you"
# For a database with no contacts yet: attributes become template variables only once imported.
PLAIN_BODY = "Hello {{ first_name }},\n\nHere is the news.\n\nUnsubscribe: {{ unsubscribe_url }}\n"


def open_context(
    data_dir: Path,
    *,
    clock: Clock | None = None,
    database_url: str | URL | None = None,
    **kwargs: Any,
) -> AppContext:
    """The composition root, exactly as the app opens it (creates and migrates the DB).

    `database_url` (team mode): the PostgreSQL database instead of the SQLite file in
    `data_dir`; a password in it is moved to the keyring by the app.
    """
    return AppContext.open(data_dir, database_url, clock=clock, **kwargs)


def configure_smtp(ctx: AppContext, port: int) -> None:
    """Point the app at the local test server: no TLS, no AUTH (so no keyring), no throttle."""
    ctx.settings.set_smtp(host="127.0.0.1", port=port, security="none", username="")
    ctx.settings.set_many(
        {"throttle.per_minute": 0, "throttle.per_hour": 0, "sending.retry_base_seconds": 0.05}
    )


# --- contacts ------------------------------------------------------------------------------


def contact_email(number: int) -> str:
    return f"person{number:06d}@example.com"


def _contact_rows(start: int, stop: int, now: datetime) -> Iterator[dict[str, Any]]:
    rng = random.Random(SEED + start)
    for number in range(start, stop):
        status = "subscribed"
        if number % 40 == 0:
            status = "unsubscribed"
        elif number % 97 == 0:
            status = "bounced"
        yield {
            "email": contact_email(number),
            "first_name": f"First{number}",
            "last_name": f"Last{number % 5000}",
            "attributes": {"city": rng.choice(CITIES), "plan": rng.choice(PLANS)},
            "status": status,
            "unsubscribed_at": now if status == "unsubscribed" else None,
            "created_at": now,
            "updated_at": now,
        }


@dataclass(frozen=True)
class ListPlan:
    """A contact list and which contact numbers belong to it (`every`-th, from `offset`)."""

    name: str
    every: int = 1
    offset: int = 0


# Very different sizes on purpose: a campaign's audience size costs in proportion to it.
STANDARD_LISTS = (
    ListPlan("Customers"),
    ListPlan("Newsletter", every=2),
    ListPlan("VIP", every=20),
    *(ListPlan(f"Region {k}", every=8, offset=k) for k in range(8)),
)


def seed_contacts(
    ctx: AppContext,
    count: int,
    lists: Sequence[ListPlan] = STANDARD_LISTS,
    *,
    start: int = 1,
    all_subscribed: bool = False,
) -> None:
    """`count` contacts person000001@example.com …, members of `lists` (created).

    About 3.5% are unsubscribed or bounced unless `all_subscribed`.
    """
    now = datetime.now(UTC)
    engine = ctx.db.engine
    with engine.begin() as connection:
        for chunk_start in range(start, start + count, CHUNK):
            chunk_stop = min(chunk_start + CHUNK, start + count)
            rows = list(_contact_rows(chunk_start, chunk_stop, now))
            if all_subscribed:
                for row in rows:
                    row["status"], row["unsubscribed_at"] = "subscribed", None
            # RETURNING: many rows per statement, as the app's import (services/contacts.py).
            connection.execute(insert(Contact).returning(Contact.id), rows)
        for plan in lists:
            list_id = connection.scalar(select(ContactList.id).where(ContactList.name == plan.name))
            if list_id is None:
                list_id = connection.execute(
                    insert(ContactList)
                    .values(name=plan.name, description="", created_at=now)
                    .returning(ContactList.id)
                ).scalar_one()
            # Contact numbers are in their emails; ids follow insertion order.
            connection.execute(
                text(
                    # ON CONFLICT DO NOTHING: SQLite and PostgreSQL both (the WHERE keeps
                    # SQLite's parser from reading ON as a join).
                    "INSERT INTO list_membership (list_id, contact_id) "
                    "SELECT :list_id, id FROM contact "
                    "WHERE (CAST(substr(email, 7, 6) AS INTEGER) - :offset) % :every = 0 "
                    "AND CAST(substr(email, 7, 6) AS INTEGER) BETWEEN :lo AND :hi "
                    "ON CONFLICT DO NOTHING"
                ),
                {
                    "list_id": list_id,
                    "offset": plan.offset,
                    "every": plan.every,
                    "lo": start,
                    "hi": start + count - 1,
                },
            )
    _analyze(ctx)


def _analyze(ctx: AppContext) -> None:
    """Fresh planner statistics (committed: on PostgreSQL ANALYZE is transactional)."""
    with ctx.db.engine.connect() as connection:
        connection.exec_driver_sql("ANALYZE")
        connection.commit()


def write_contacts_csv(path: Path, count: int, *, start: int = 1) -> Path:
    """A CSV export as a CRM writes it: header, attributes, ~1% bad or repeated addresses."""
    rng = random.Random(SEED)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["Email", "First Name", "Last Name", "City", "Plan", "Signup Date"])
        for number in range(start, start + count):
            email = contact_email(number)
            if number % 211 == 0:
                email = f"not-an-address-{number}"
            elif number % 307 == 0:
                email = contact_email(number - 1)  # a repeat of the previous row
            elif number % 13 == 0:
                email = "  " + email.replace("example.com", "Example.COM") + " "
            writer.writerow(
                [
                    email,
                    f"First{number}",
                    f"Last{number % 5000}",
                    rng.choice(CITIES),
                    rng.choice(PLANS),
                    f"2025-{1 + number % 12:02d}-{1 + number % 28:02d}",
                ]
            )
    return path


# --- recurrence patterns ---------------------------------------------------------------------


def random_pattern(rng: random.Random, first: datetime) -> dict[str, Any]:
    """A recurrence pattern of any kind the design allows (docs/design.md §3)."""
    kind = rng.random()
    pattern: dict[str, Any]
    if kind < 0.3:
        pattern = {"type": "daily", "interval": rng.choice((1, 1, 2, 3, 7))}
    elif kind < 0.6:
        days = sorted(rng.sample(range(7), rng.randint(1, 3)))
        pattern = {"type": "weekly", "interval": rng.choice((1, 1, 2, 4)), "days_of_week": days}
    elif kind < 0.8:
        pattern = {
            "type": "monthly",
            "interval": rng.choice((1, 1, 3)),
            "day_of_month": rng.choice((1, 15, 28, 29, 30, 31)),
            "short_month": rng.choice(("skip", "last_day")),
        }
    elif kind < 0.95:
        pattern = {
            "type": "monthly",
            "interval": 1,
            "weekday": rng.randrange(7),
            "week_of_month": rng.choice((1, 2, 3, 4, -1)),
        }
    else:
        pattern = {"type": "yearly", "interval": 1}
    ending = rng.random()
    if ending < 0.15:
        pattern["count"] = rng.randint(5, 400)
    elif ending < 0.3:
        end = first.date() + timedelta(days=rng.randint(60, 1500))
        pattern["end_date"] = end.isoformat()
    return pattern


@dataclass(frozen=True)
class Schedule:
    pattern: dict[str, Any]
    first_local: datetime
    timezone: str


def random_schedules(count: int, now: datetime, seed: int = SEED) -> list[Schedule]:
    """Schedules whose first send lies up to two years back (so "next" must skip ahead)."""
    rng = random.Random(seed)
    schedules = []
    for _ in range(count):
        first = (now - timedelta(days=rng.randint(0, 730))).replace(
            tzinfo=None,
            hour=rng.choice((6, 9, 12, 17)),
            minute=rng.choice((0, 30)),
            second=0,
            microsecond=0,
        )
        first = first.replace(hour=rng.choice((2, 9, 12))) if rng.random() < 0.05 else first
        schedules.append(Schedule(random_pattern(rng, first), first, rng.choice(ZONES)))
    return schedules


# --- campaigns -------------------------------------------------------------------------------

STANDARD_LIST_NAMES = tuple(plan.name for plan in STANDARD_LISTS)


def seed_campaigns(
    ctx: AppContext,
    count: int,
    *,
    lists: Sequence[str] = STANDARD_LIST_NAMES,
    scheduled_share: float = 0.1,
) -> dict[str, int]:
    """`count` campaigns in every state, each sent to one or two of `lists`.

    Shares: scheduled (recurring or once, next run in the future) `scheduled_share`, the
    rest drafts, completed (with a run each), failed or cancelled; 5% archived.
    Returns how many campaigns got each status.
    """
    now = datetime.now(UTC)
    rng = random.Random(SEED + count)
    engine = ctx.db.engine
    counts: dict[str, int] = {}
    with engine.begin() as connection:
        list_ids = dict(
            connection.execute(
                select(ContactList.name, ContactList.id).where(ContactList.name.in_(lists))
            ).all()
        )
        small = [name for name in lists if name != "Customers"] or list(lists)
        start_id = (connection.scalar(text("SELECT max(id) FROM campaign")) or 0) + 1
        for chunk_start in range(0, count, CHUNK):
            rows: list[dict[str, Any]] = []
            audience: list[dict[str, Any]] = []
            runs: list[dict[str, Any]] = []
            for k in range(chunk_start, min(chunk_start + CHUNK, count)):
                campaign_id = start_id + k
                row = _campaign_row(rng, campaign_id, now, scheduled_share)
                counts[row["status"]] = counts.get(row["status"], 0) + 1
                rows.append(row)
                # Most campaigns go to one segment; a few to everyone or to two segments.
                roll = rng.random()
                chosen = (
                    ["Customers"]
                    if roll < 0.1 and "Customers" in list_ids
                    else rng.sample(small, min(len(small), 1 if roll < 0.8 else 2))
                )
                audience.extend(
                    {"campaign_id": campaign_id, "list_id": list_ids[name]}
                    for name in chosen
                    if name in list_ids
                )
                if row["status"] in ("completed", "failed", "cancelled"):
                    runs.append(_run_row(rng, campaign_id, row["status"], now))
            connection.execute(insert(Campaign), rows)
            if audience:
                connection.execute(insert(campaign_audience), audience)
            if runs:
                connection.execute(insert(CampaignRun), runs)
        if engine.dialect.name == "postgresql":
            # The ids were given explicitly: move the sequence past them for the app's inserts.
            connection.execute(
                text(
                    "SELECT setval(pg_get_serial_sequence('campaign', 'id'), max(id)) FROM campaign"
                )
            )
    _analyze(ctx)
    return counts


def _campaign_row(
    rng: random.Random, campaign_id: int, now: datetime, scheduled_share: float
) -> dict[str, Any]:
    theme = rng.choice(THEMES)
    zone = rng.choice(ZONES)
    roll = rng.random()
    status = (
        "scheduled"
        if roll < scheduled_share
        else rng.choices(("draft", "completed", "failed", "cancelled"), (3, 6, 0.5, 0.5))[0]
    )
    first = (now - timedelta(days=rng.randint(0, 500))).replace(
        tzinfo=None, hour=9, minute=0, second=0, microsecond=0
    )
    recurring = rng.random() < 0.5
    pattern = random_pattern(rng, first) if recurring else None
    next_run = None
    if status == "scheduled":
        if pattern is not None:
            next_run = next_occurrence_after(RecurrencePattern.from_dict(pattern), first, zone, now)
        if next_run is None:  # a one-off, or a series already over: schedule it ahead
            pattern = None
            first = (now + timedelta(days=rng.randint(1, 90))).replace(
                tzinfo=None, hour=9, minute=0, second=0, microsecond=0
            )
            next_run = datetime(
                first.year, first.month, first.day, first.hour, tzinfo=UTC
            ) + timedelta(hours=5)
    archived = status != "scheduled" and rng.random() < 0.05
    end = pattern.get("end_date") if pattern else None
    return {
        "id": campaign_id,
        "name": f"{theme} {campaign_id}",
        "channel": "email",
        "subject": f"{SUBJECT} ({theme.lower()})",
        "body_text": BODY,
        "body_html": None,
        "from_name": "The Shop",
        "from_email": "news@shop.example",
        "reply_to": None,
        "status": status,
        "timezone": zone,
        "scheduled_local": first if status != "draft" or recurring else None,
        "scheduled_at": datetime(first.year, first.month, first.day, 14, tzinfo=UTC),
        "recurrence_pattern": pattern,
        "is_recurring": pattern is not None,
        "next_run_at": next_run,
        "end_date": date.fromisoformat(end) if end else None,
        "max_runs": pattern.get("count") if pattern else None,
        "runs_done": 0 if status in ("draft", "scheduled") else 1,
        "missed_run_policy": "send_late",
        "parent_campaign_id": None,
        "archived": archived,
        "archived_at": now - timedelta(days=rng.randint(1, 300)) if archived else None,
        "archive_reason": "Old season" if archived else None,
        "created_at": now - timedelta(days=rng.randint(0, 800)),
        "updated_at": now,
    }


def _run_row(rng: random.Random, campaign_id: int, status: str, now: datetime) -> dict[str, Any]:
    total = rng.randint(100, 20_000)
    sent = total if status == "completed" else rng.randint(0, total)
    when = now - timedelta(days=rng.randint(1, 400))
    return {
        "campaign_id": campaign_id,
        "occurrence_at": when,
        "trigger": "scheduled",
        "status": status,
        "started_at": when,
        "finished_at": when + timedelta(minutes=20),
        "total": total,
        "sent": sent,
        "failed": total - sent if status == "failed" else 0,
        "skipped": 0,
        "unconfirmed": 0,
    }


def make_campaign(
    ctx: AppContext, name: str, lists: Sequence[str], from_email: str, body: str = BODY
) -> int:
    """One campaign through the service (templates checked as the app does)."""
    return ctx.campaigns.create(
        name=name,
        subject=SUBJECT,
        body_text=body,
        from_email=from_email,
        from_name="The Shop",
        lists=tuple(lists),
    ).id
