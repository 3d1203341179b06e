"""Helpers for the sending and scheduler tests: a context wired to a real local SMTP server.

Kept apart from conftest so the crash child process can import the same set-up.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence

from campaign_desktop.context import AppContext
from tests.smtp_server import ReceivedMessage


def configure_smtp(ctx: AppContext, port: int, *, username: str = "", password: str = "") -> None:
    ctx.settings.set_smtp(
        host="127.0.0.1", port=port, security="none", username=username, password=password
    )
    # Retries in tests wait milliseconds, not the product's seconds.
    ctx.settings.set_many({"sending.retry_base_seconds": 0.01, "sending.max_attempts": 3})


def add_contacts(ctx: AppContext, count: int, list_name: str = "Customers") -> list[str]:
    """`count` subscribed contacts person0001@example.com … on `list_name` (via CSV import)."""
    path = ctx.data_dir / f"seed-{list_name}-{count}.csv"
    path.parent.mkdir(parents=True, exist_ok=True)  # team mode keeps no file there
    emails = [f"person{number:04d}@example.com" for number in range(1, count + 1)]
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["email", "first_name", "last_name"])
        for number, address in enumerate(emails, start=1):
            writer.writerow([address, f"Person{number}", "Test"])
    report = ctx.contacts.import_csv(path, list_name)
    assert report.created == count, report
    return emails


def make_campaign(
    ctx: AppContext, name: str = "News", lists: tuple[str, ...] = ("Customers",)
) -> int:
    return ctx.campaigns.create(
        name=name,
        subject="News for {{ first_name }}",
        body_text="Hello {{ first_name }},\nhere is the news.\n{{ unsubscribe_url }}",
        from_email="news@shop.example",
        from_name="The Shop",
        lists=lists,
    ).id


def received_recipients(messages: Sequence[ReceivedMessage]) -> list[str]:
    return [address for message in messages for address in message.rcpt_tos]
