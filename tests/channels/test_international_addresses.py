"""International addresses (issue 12): IDNA A-labels for domains, SMTPUTF8 only when needed.

``anna@bücher.example.com`` has an ASCII local part: it goes out as
``anna@xn--bcher-kva.example.com`` (RFC 5890/5891) in the envelope and the headers, to any
server. Only a non-ASCII local part (``jürgen@…``) needs a server that offers SMTPUTF8
(RFC 6531). Checked against real aiosmtpd servers with and without SMTPUTF8.
"""

from __future__ import annotations

import email
import email.policy
from collections.abc import Iterator
from email.message import EmailMessage
from typing import Any

import pytest

from campaign_desktop.channels.message import (
    MessageTemplate,
    a_label_domain,
    build_message,
    flatten,
    is_international,
)
from campaign_desktop.channels.smtp import SmtpConnection, SmtpRecipientRefused, SmtpSettings
from campaign_desktop.domain.errors import ValidationError
from campaign_desktop.domain.status import SmtpSecurity
from tests.channels.rfc2047_reader import read_mailbox, read_unstructured
from tests.smtp_server import SmtpServer, running_smtp_server

IDN_SENDER: dict[str, Any] = {
    "from_email": "news@bücher.example",
    "from_name": "Bücher & Co",
    "reply_to": "hilfe@bücher.example",
    "list_unsubscribe_mailto": "news@bücher.example",
}
TEXT = "Hallo Anna,\nneue Bücher sind da.\n"


def settings_for(server: SmtpServer) -> SmtpSettings:
    return SmtpSettings(
        server.host, server.port, SmtpSecurity.NONE, timeout=5.0, local_hostname="client.test"
    )


@pytest.fixture(scope="module")
def server_without_smtputf8() -> Iterator[SmtpServer]:
    with running_smtp_server(smtp_options={"enable_SMTPUTF8": False}) as server:
        yield server


@pytest.fixture(scope="module")
def server_with_smtputf8() -> Iterator[SmtpServer]:
    with running_smtp_server(smtp_options={"enable_SMTPUTF8": True}) as server:
        yield server


def test_a_non_ascii_domain_becomes_its_a_label() -> None:
    assert a_label_domain("bücher.example.com") == "xn--bcher-kva.example.com"
    assert a_label_domain("BÜCHER.example") == "xn--bcher-kva.example"  # UTS #46 mapping
    assert a_label_domain("Mail.Example.org") == "Mail.Example.org"  # ASCII: as written


def test_a_domain_idna_cannot_write_is_a_validation_error() -> None:
    with pytest.raises(ValidationError) as raised:
        a_label_domain("bü\u200dcher.example", "to")

    assert raised.value.field == "to"


def test_an_idn_address_is_written_with_a_labels_in_envelope_and_headers() -> None:
    msg = build_message(
        **IDN_SENDER, to="anna@bücher.example.com", to_name="Anna", subject="Hi", text=TEXT
    )

    sender, recipients, data = flatten(msg)

    assert sender == "news@xn--bcher-kva.example"
    assert recipients == ("anna@xn--bcher-kva.example.com",)
    assert not is_international(sender, recipients)
    assert data.isascii()
    assert read_mailbox(data, "To")[1] == "anna@xn--bcher-kva.example.com"
    assert read_mailbox(data, "From")[1] == "news@xn--bcher-kva.example"
    assert read_mailbox(data, "Reply-To")[1] == "hilfe@xn--bcher-kva.example"
    assert b"<mailto:news@xn--bcher-kva.example" in data
    assert str(msg["Message-ID"]).endswith("@xn--bcher-kva.example>")


def test_render_writes_an_idn_message_on_its_fast_path_as_build_message_does() -> None:
    out = MessageTemplate(**IDN_SENDER).render(
        to="anna@bücher.example.com", to_name="Anna", subject="Hi", text=TEXT
    )
    built = build_message(
        **IDN_SENDER, to="anna@bücher.example.com", to_name="Anna", subject="Hi", text=TEXT
    )

    assert out.sender == "news@xn--bcher-kva.example"
    assert out.recipients == ("anna@xn--bcher-kva.example.com",)
    assert out.data.isascii()
    head = out.data.split(b"\r\nDate:")[0]
    assert head == flatten(built)[2].split(b"\r\nDate:")[0]


@pytest.mark.parametrize("path", ["send", "send_bytes"])
def test_an_idn_address_reaches_a_server_without_smtputf8(
    server_without_smtputf8: SmtpServer, path: str
) -> None:
    handler = server_without_smtputf8.handler
    before = len(handler.messages)
    values: dict[str, Any] = {
        "to": "anna@bücher.example.com",
        "to_name": "Anna",
        "subject": "Neue Bücher für Sie",
        "text": TEXT,
    }
    with SmtpConnection(settings_for(server_without_smtputf8)) as connection:
        if path == "send":
            connection.send(build_message(**IDN_SENDER, **values))
        else:
            out = MessageTemplate(**IDN_SENDER).render(**values)
            connection.send_bytes(out.sender, out.recipients, out.data)

    assert handler.wait_for(before + 1)
    received = handler.messages[before]
    assert received.mail_from == "news@xn--bcher-kva.example"
    assert received.rcpt_tos == ("anna@xn--bcher-kva.example.com",)
    assert not received.smtp_utf8
    parsed = received.message
    assert parsed["To"].addresses[0].addr_spec == "anna@xn--bcher-kva.example.com"
    assert parsed["To"].addresses[0].display_name == "Anna"
    assert parsed["From"].addresses[0].display_name == "Bücher & Co"
    assert str(parsed["Subject"]) == "Neue Bücher für Sie"
    assert received.text == TEXT


def test_a_non_ascii_local_part_is_refused_by_a_server_without_smtputf8(
    server_without_smtputf8: SmtpServer,
) -> None:
    out = MessageTemplate(**IDN_SENDER).render(to="jürgen@bücher.example", subject="Hi", text=TEXT)

    with (
        SmtpConnection(settings_for(server_without_smtputf8)) as connection,
        pytest.raises(SmtpRecipientRefused) as raised,
    ):
        connection.send_bytes(out.sender, out.recipients, out.data)

    assert "SMTPUTF8" in raised.value.message


@pytest.mark.parametrize("path", ["send", "send_bytes"])
def test_a_non_ascii_local_part_goes_as_smtputf8_with_encoded_subject_and_names(
    server_with_smtputf8: SmtpServer, path: str
) -> None:
    handler = server_with_smtputf8.handler
    before = len(handler.messages)
    values: dict[str, Any] = {
        "to": "jürgen@bücher.example",
        "to_name": "Jürgen Ørsted",
        "subject": "Grüße =?utf-8?q?x?= aus Köln",
        "text": TEXT,
    }
    with SmtpConnection(settings_for(server_with_smtputf8)) as connection:
        if path == "send":
            connection.send(build_message(**IDN_SENDER, **values))
        else:
            out = MessageTemplate(**IDN_SENDER).render(**values)
            assert not out.data.isascii()
            connection.send_bytes(out.sender, out.recipients, out.data)

    assert handler.wait_for(before + 1)
    received = handler.messages[before]
    assert received.smtp_utf8
    assert received.rcpt_tos == ("jürgen@xn--bcher-kva.example",)
    assert received.mail_from == "news@xn--bcher-kva.example"
    assert read_unstructured(received.content).text == values["subject"]
    name, spec = read_mailbox(received.content, "To")
    assert (name.text, spec) == ("Jürgen Ørsted", "jürgen@xn--bcher-kva.example")
    parsed = email.message_from_string(
        received.content.decode("utf-8"), policy=email.policy.default
    )
    assert isinstance(parsed, EmailMessage)
    assert str(parsed["Subject"]) == values["subject"]


def test_a_sender_with_a_non_ascii_local_part_makes_every_message_smtputf8() -> None:
    out = MessageTemplate(from_email="café@bücher.example", from_name="Café").render(
        to="bob@example.com", subject="Hi", text=TEXT
    )

    assert out.sender == "café@xn--bcher-kva.example"
    assert is_international(out.sender, out.recipients)
    assert read_mailbox(out.data, "From")[1] == "café@xn--bcher-kva.example"
