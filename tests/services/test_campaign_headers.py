"""Header fields of a campaign (issue 12): refused at save when email cannot carry them,
and sent exactly as written when it can.

A control character in the subject, sender name, sender or reply-to address used to be
saved and then either go out raw or pause the run at send; now the save says so.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from campaign_desktop.context import AppContext
from campaign_desktop.domain.errors import ValidationError
from tests.channels.rfc2047_reader import read_mailbox, read_unstructured
from tests.services.sending_support import configure_smtp
from tests.smtp_server import running_smtp_server

CONTROL_CHARACTERS = {
    "nul": "\x00",
    "vertical-tab": "\x0b",
    "form-feed": "\x0c",
    "delete": "\x7f",
    "c1-next-line": "\x85",
    "tab": "\t",
    "line-separator": "\u2028",
    "crlf": "\r\n",
    "lf": "\n",
}
FIELD_WORDS = {
    "subject": "The subject",
    "from_name": "The sender name",
    "from_email": "The sender address",
    "reply_to": "The reply-to address",
}
VALUES: dict[str, Any] = {
    "name": "Spring",
    "subject": "Spring news for {{ first_name }}",
    "body_text": "Hello {{ first_name }},\tthe\x0cbody may hold tabs and breaks.\n",
    "from_email": "news@shop.example",
    "from_name": "The Shop",
    "reply_to": "help@shop.example",
    "lists": ("Customers",),
}


@pytest.fixture
def app(data_dir: Path) -> Iterator[AppContext]:
    context = AppContext.open(data_dir)
    context.contacts.add("ann@example.com", first_name="Ann", lists=("Customers",))
    yield context
    context.close()


def campaign_rows(app: AppContext) -> list[tuple[object, ...]]:
    with app.db.read() as session:
        return [tuple(row) for row in session.execute(text("SELECT * FROM campaign"))]


def with_inside(value: str, bad: str) -> str:
    return value[:4] + bad + value[4:]


@pytest.mark.parametrize("bad", CONTROL_CHARACTERS.values(), ids=CONTROL_CHARACTERS.keys())
@pytest.mark.parametrize("field", FIELD_WORDS.keys())
def test_a_control_character_in_a_header_field_is_refused_at_save(
    app: AppContext, field: str, bad: str
) -> None:
    with pytest.raises(ValidationError) as raised:
        app.campaigns.create(**{**VALUES, field: with_inside(VALUES[field], bad)})

    assert raised.value.field == field
    assert raised.value.message.startswith(FIELD_WORDS[field])
    assert campaign_rows(app) == []


def test_a_sender_name_with_a_line_break_is_refused_when_edited(app: AppContext) -> None:
    campaign = app.campaigns.create(**VALUES)
    before = campaign_rows(app)

    with pytest.raises(ValidationError) as raised:
        app.campaigns.update(campaign.id, from_name="The Shop\r\nBcc: everyone@example.com")

    assert raised.value.field == "from_name"
    assert "line break" in raised.value.message
    assert campaign_rows(app) == before


def test_tabs_and_breaks_in_the_body_are_kept(app: AppContext) -> None:
    campaign = app.campaigns.create(**VALUES)

    with app.db.read() as session:
        body = session.execute(
            text("SELECT body_text FROM campaign WHERE id = :id"), {"id": campaign.id}
        ).scalar_one()
    assert body == VALUES["body_text"]


def test_a_campaign_with_long_non_ascii_headers_arrives_exactly_as_saved(
    app: AppContext,
) -> None:
    subject = (
        "Große Frühjahrsaktion für {{ first_name }}: bis zu 50 % Rabatt auf Gartenmöbel, "
        "Grills und Zubehör 👨‍👩‍👧‍👦 — =?utf-8?q?kein_Trick?= nur diese Woche!"
    )
    sender_name = "Zoë Müller — Café & Bücher"
    with running_smtp_server(smtp_options={"enable_SMTPUTF8": False}) as server:
        configure_smtp(app, server.port)
        campaign = app.campaigns.create(
            **{
                **VALUES,
                "subject": subject,
                "from_name": sender_name,
                "from_email": "news@bücher.example",
                "reply_to": None,
            }
        )
        app.campaigns.send_now(campaign.id)
        assert server.handler.wait_for(1)

    (received,) = server.handler.messages
    expected = subject.replace("{{ first_name }}", "Ann")
    assert read_unstructured(received.content).text == expected
    assert str(received.message["Subject"]) == expected
    name, spec = read_mailbox(received.content, "From")
    assert (name.text, spec) == (sender_name, "news@xn--bcher-kva.example")
    assert received.mail_from == "news@xn--bcher-kva.example"
