"""The sending engine's fast path: `MessageTemplate` and `SmtpConnection.send_bytes`.

`MessageTemplate.render` must give the message `build_message` gives for the same values:
byte for byte once the parts that differ on every call (Date, Message-ID, multipart
boundary) are made the same, and the same message when a mail client parses it.
"""

from __future__ import annotations

import email
import email.policy
import email.utils
import random
import re
import smtplib
import string
import time
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from campaign_desktop.channels.message import MessageTemplate, OutgoingMessage, build_message
from campaign_desktop.channels.smtp import (
    SmtpConnection,
    SmtpRecipientRefused,
    SmtpSettings,
    SmtpTransientError,
    _quoted,
)
from campaign_desktop.domain.errors import ValidationError
from campaign_desktop.domain.status import SmtpSecurity
from tests.smtp_server import RecordingHandler, SmtpServer, running_smtp_server

FIXED: dict[str, Any] = {
    "from_email": "news@shop.example",
    "from_name": "The Shop",
    "reply_to": None,
    "list_unsubscribe_mailto": "news@shop.example",
}
TEXT = "Hello Ann,\n\nHere is what is new this week.\n\nUnsubscribe: mailto:news@shop.example\n"


def settings_for(server: SmtpServer) -> SmtpSettings:
    return SmtpSettings(
        server.host, server.port, SmtpSecurity.NONE, timeout=5.0, local_hostname="client.test"
    )


def reference(fixed: dict[str, Any], values: dict[str, Any], out: OutgoingMessage) -> bytes:
    """`build_message` with the same values, its Date, Message-ID and boundary set to `out`'s."""
    msg = build_message(**fixed, **values)
    date = re.search(rb"^Date: (.*)\r$", out.data, re.MULTILINE)
    assert date is not None
    msg.replace_header("Date", date.group(1).decode())
    msg.replace_header("Message-ID", out.message_id)
    boundary = re.search(rb'boundary="([^"]+)"', out.data)
    if boundary is not None:
        msg.set_boundary(boundary.group(1).decode())
    return msg.as_bytes()


def parse(data: bytes) -> EmailMessage:
    parsed = email.message_from_bytes(data, policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def readable(msg: EmailMessage) -> list[object]:
    """What a mail client shows: every header's value, each part's type, encoding, text."""
    shown: list[object] = [(name, str(value)) for name, value in msg.items()]
    for part in msg.walk():
        shown.append((part.get_content_type(), part["Content-Transfer-Encoding"]))
        if not part.is_multipart():
            shown.append(part.get_content())
    return shown


def assert_same_message(fixed: dict[str, Any], **values: Any) -> OutgoingMessage:
    out = MessageTemplate(**fixed).render(**values)
    expected = reference(fixed, values, out)

    assert out.data == expected
    assert readable(parse(out.data)) == readable(parse(expected))
    return out


# --- the same message as build_message ---------------------------------------------------


@pytest.mark.parametrize(
    ("fixed", "values"),
    [
        pytest.param(FIXED, {"to": "person000001@example.com", "subject": "News"}, id="plain"),
        pytest.param(
            {**FIXED, "from_name": "Zoë Müller — Café", "reply_to": "help@shop.example"},
            {"to": "bob@example.com", "to_name": "Jürgen Ørsted", "subject": "Grüße 🌷, Jürgen!"},
            id="unicode-names-and-subject",
        ),
        pytest.param(
            FIXED,
            {"to": "bob@example.com", "subject": "Sale", "html": "<p>Rich words</p>"},
            id="html-alternative",
        ),
        pytest.param(
            FIXED,
            {
                "to": "bob@example.com",
                "subject": "Привет",
                "text": "Grüße aus Köln\n" * 3,
                "html": "<p>Привет, мир</p>",
            },
            id="non-ascii-bodies",
        ),
        pytest.param(
            FIXED,
            {"to": "bob@example.com", "subject": "Long", "text": "word " * 40 + "\n" + "é\n" * 30},
            id="long-lines-and-many-lines",
        ),
        pytest.param(
            FIXED,
            {"to": "o'brien+news@Mail.Example.org", "subject": "A subject " * 9},
            id="long-subject-folded",
        ),
        pytest.param(
            FIXED,
            {"to": "bob@example.com", "subject": "=?utf-8?q?not_an_encoded_word?= really"},
            id="encoded-word-look-alike",
        ),
        pytest.param(
            FIXED,
            {"to": " bob@example.com ", "subject": "  spaced   out  ", "text": "a\r\nb\rc"},
            id="blanks-and-line-ends",
        ),
        pytest.param(
            {**FIXED, "list_unsubscribe_mailto": "mailto:leave@example.com?subject=stop"},
            {"to": "bob@example.com", "subject": "News", "text": ""},
            id="mailto-url-and-empty-text",
        ),
        pytest.param(
            {**FIXED, "from_email": "news@a-rather-long-subdomain.of-a-long-domain.example.com"},
            {"to": "bob@example.com", "subject": "News", "html": "<p>x</p>\n" * 20},
            id="long-message-id",
        ),
        pytest.param(
            {**FIXED, "from_email": "news@bücher.example", "reply_to": "hilfe@bücher.example"},
            {"to": "anna@bücher.example.com", "to_name": "Anna", "subject": "Neue Bücher"},
            id="idn-domains-as-a-labels",
        ),
        pytest.param(
            {**FIXED, "from_name": "=?utf-8?q?Admin?= Очень длинное имя отправителя рассылки"},
            {
                "to": "bob@example.com",
                "subject": "Große Frühjahrsaktion: Jetzt bis zu 50 % Rabatt auf alle "
                "Gartenmöbel, Grills und Zubehör, nur für kurze Zeit 👨‍👩‍👧‍👦 Jürgen!",
            },
            id="long-non-ascii-subject-and-name",
        ),
        pytest.param(
            {**FIXED, "list_unsubscribe_mailto": None, "message_id_domain": "campaigns.example"},
            {"to": "bob@example.com", "subject": "No list header"},
            id="no-list-unsubscribe",
        ),
    ],
)
def test_render_gives_the_message_build_message_gives(
    fixed: dict[str, Any], values: dict[str, Any]
) -> None:
    values.setdefault("text", TEXT)

    out = assert_same_message(fixed, **values)

    assert out.data.isascii()
    assert out.sender == fixed["from_email"].replace("bücher", "xn--bcher-kva")
    assert out.recipients == (values["to"].strip().replace("bücher", "xn--bcher-kva"),)


def test_render_matches_build_message_on_random_values() -> None:
    rnd = random.Random(20261128)
    chars = string.ascii_letters + string.digits + "      .,:;!?'\"()<>@=-_" + "äöüßé€🌷—\t"
    atext = string.ascii_letters + string.digits + "!#$%&'*+/=?^_`{|}~-."

    def some(limit: int, alphabet: str = chars) -> str:
        return "".join(rnd.choice(alphabet) for _ in range(rnd.randint(0, limit)))

    for _ in range(300):
        fixed: dict[str, Any] = {
            **FIXED,
            "from_name": rnd.choice(["The Shop", "", "Zoë — Café", some(30)]),
            "reply_to": rnd.choice([None, "help@shop.example"]),
            "list_unsubscribe_mailto": rnd.choice([None, "news@shop.example"]),
        }
        local = rnd.choice(["person000001", "o'brien", "a.b+c", some(12, atext) or "x"])
        lines = [some(rnd.choice([10, 60, 120])) for _ in range(rnd.randint(0, 14))]
        values: dict[str, Any] = {
            "to": local + "@" + rnd.choice(["example.com", "Sub.Example.org"]),
            "to_name": rnd.choice(["", "", "Bob", "Jürgen"]),
            "subject": some(rnd.choice([30, 90])),
            "text": rnd.choice(["\n", "\r\n"]).join(lines) + rnd.choice(["", "\n"]),
            "html": rnd.choice([None, "<p>" + some(200) + "</p>"]),
        }
        try:
            build_message(**fixed, **values)
        except ValidationError as refused:
            with pytest.raises(ValidationError) as raised:
                MessageTemplate(**fixed).render(**values)
            assert raised.value.field == refused.field
            continue
        assert_same_message(fixed, **values)


def test_every_message_gets_its_own_message_id_and_a_current_date() -> None:
    template = MessageTemplate(**FIXED)

    first, second = (template.render(to="bob@example.com", subject="Hi", text=TEXT) for _ in "12")

    assert first.message_id != second.message_id
    assert first.message_id.endswith("@shop.example>")
    assert str(parse(first.data)["Message-ID"]) == first.message_id
    assert parse(first.data)["Date"].datetime.utcoffset().total_seconds() == 0


def test_the_date_is_the_second_each_message_is_made_in() -> None:
    """The Date line is made once a second and shared by that second's messages: a message
    of the next second never carries the old one."""
    template = MessageTemplate(**FIXED)

    def second_of(message: OutgoingMessage) -> float:
        return float(parse(message.data)["Date"].datetime.timestamp())

    before = int(time.time())
    first = template.render(to="bob@example.com", subject="Hi", text=TEXT)
    assert before <= second_of(first) <= time.time()
    while int(time.time()) == int(second_of(first)):  # until the clock turns a second
        time.sleep(0.01)
    second = template.render(to="bob@example.com", subject="Hi", text=TEXT)
    assert second_of(second) > second_of(first)
    stamp = datetime.fromtimestamp(second_of(second), UTC)
    assert f"\r\nDate: {email.utils.format_datetime(stamp)}\r\n".encode() in second.data


def test_an_international_recipient_gets_the_smtputf8_form_of_build_message() -> None:
    out = MessageTemplate(**FIXED).render(
        to="jürgen@bücher.example", to_name="Jürgen", subject="Grüße", text=TEXT
    )

    assert out.recipients == ("jürgen@xn--bcher-kva.example",)
    assert "jürgen@xn--bcher-kva.example".encode() in out.data
    parsed = email.message_from_string(out.data.decode("utf-8"), policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    assert parsed["To"].addresses[0].addr_spec == "jürgen@xn--bcher-kva.example"
    assert str(parsed["Subject"]) == "Grüße"


@pytest.mark.parametrize(
    ("field", "fixed", "values"),
    [
        ("from_name", {"from_name": "News\nBcc: victim@example.com"}, {}),
        ("from_email", {"from_email": "not an address"}, {}),
        ("reply_to", {"reply_to": "@example.com"}, {}),
        ("list_unsubscribe_mailto", {"list_unsubscribe_mailto": "a@b.example\nX: y"}, {}),
        ("to", {}, {"to": "not an address"}),
        ("to", {}, {"to": "bob@example.com\r\nBcc: victim@example.com"}),
        ("subject", {}, {"subject": "Hello\r\nBcc: victim@example.com"}),
    ],
)
def test_bad_values_are_the_validation_errors_build_message_raises(
    field: str, fixed: dict[str, Any], values: dict[str, Any]
) -> None:
    every = {**FIXED, **fixed}
    message = {"to": "bob@example.com", "subject": "Hi", "text": TEXT, **values}
    with pytest.raises(ValidationError) as expected:
        build_message(**every, **message)

    with pytest.raises(ValidationError) as raised:
        MessageTemplate(**every).render(**message)

    assert raised.value.field == expected.value.field == field


def test_header_classes_are_made_once_per_name() -> None:
    first = build_message(**FIXED, to="a@example.com", subject="One", text=TEXT)
    second = build_message(**FIXED, to="b@example.com", subject="Two", text=TEXT)

    assert type(first["Subject"]) is type(second["Subject"])
    assert type(first["To"]) is type(second["To"])
    assert type(first["Subject"]) is not type(first["To"])


# --- send_bytes ---------------------------------------------------------------------------


def test_send_bytes_delivers_the_rendered_message_dot_stuffed(smtp_server: SmtpServer) -> None:
    out = MessageTemplate(**FIXED).render(
        to="bob@example.com", subject="Grüße", text="Line one\n.starts with a dot\n."
    )

    with SmtpConnection(settings_for(smtp_server)) as conn:
        conn.send_bytes(out.sender, out.recipients, out.data)

    assert smtp_server.handler.wait_for(1)
    (received,) = smtp_server.handler.messages
    assert received.mail_from == "news@shop.example"
    assert received.rcpt_tos == ("bob@example.com",)
    assert str(received.message["Message-ID"]) == out.message_id
    assert str(received.message["Subject"]) == "Grüße"
    assert received.text == "Line one\n.starts with a dot\n.\n"


def test_send_bytes_to_an_international_address_uses_smtputf8(smtp_server: SmtpServer) -> None:
    out = MessageTemplate(**FIXED).render(to="jürgen@bücher.example", subject="Hi", text=TEXT)

    with SmtpConnection(settings_for(smtp_server)) as conn:
        conn.send_bytes(out.sender, out.recipients, out.data)

    assert smtp_server.handler.wait_for(1)
    (received,) = smtp_server.handler.messages
    assert received.rcpt_tos == ("jürgen@xn--bcher-kva.example",)
    assert received.smtp_utf8
    assert received.message["To"].addresses[0].addr_spec == "jürgen@xn--bcher-kva.example"


def test_send_bytes_gives_the_server_every_address_as_smtplib_would(
    smtp_server: SmtpServer,
) -> None:
    """MAIL FROM and RCPT TO carry the addresses as `smtplib.quoteaddr` quotes them: plain
    ones in brackets, the rest (a quoted local part, a display name) through its parser."""
    recipients = (
        "o'brien+news@shop.example",
        "a{b}|c~d#e$f%g&h*i/j^k_l`m-n@mail-1.example",
        '"john doe"@example.com',
        "Ann Lee <ann@example.com>",
        "x=y?z@example.com",
    )
    with SmtpConnection(settings_for(smtp_server)) as conn:
        conn.send_bytes("bounce+t1-0a@shop.example", recipients, b"Subject: Hi\r\n\r\nHi\r\n")

    assert smtp_server.handler.wait_for(1)
    (received,) = smtp_server.handler.messages
    assert received.mail_from == "bounce+t1-0a@shop.example"
    expected = tuple(smtplib.quoteaddr(address)[1:-1] for address in recipients)
    assert received.rcpt_tos == expected
    assert expected[3] == "ann@example.com"


@given(
    local=st.from_regex(r"\A[A-Za-z0-9!#$%&'*+/=?^_`{|}~.\-]{1,20}\Z"),
    domain=st.from_regex(r"\A[A-Za-z0-9.\-]{1,20}\Z"),
)
def test_addresses_are_quoted_for_mail_and_rcpt_exactly_as_smtplib_quotes_them(
    local: str, domain: str
) -> None:
    address = f"{local}@{domain}"
    assert _quoted(address) == smtplib.quoteaddr(address)


def test_send_bytes_maps_errors_and_reconnects_as_send_does() -> None:
    template = MessageTemplate(**FIXED)
    handler = RecordingHandler(
        refuse={"gone@example.com"},
        tempfail={"grey@example.com": 1},
        drop_after=0,
        drops=1,
        drop_during="mail",
    )
    with running_smtp_server(handler) as server, SmtpConnection(settings_for(server)) as conn:
        for to, error in [("gone@example.com", SmtpRecipientRefused), ("grey@example.com", None)]:
            out = template.render(to=to, subject="Hi", text=TEXT)
            if error is None:
                with pytest.raises(SmtpTransientError) as transient:
                    conn.send_bytes(out.sender, out.recipients, out.data)
                assert transient.value.code == 451
                conn.send_bytes(out.sender, out.recipients, out.data)
            else:
                with pytest.raises(error) as refused:
                    conn.send_bytes(out.sender, out.recipients, out.data)
                assert refused.value.code == 550

    assert handler.drops_done == 1  # dropped before the first MAIL: reconnected, retried
    assert handler.wait_for(1)
    assert [m.rcpt_tos for m in handler.messages] == [("grey@example.com",)]


def test_send_bytes_needs_a_sender_and_a_recipient(smtp_server: SmtpServer) -> None:
    with SmtpConnection(settings_for(smtp_server)) as conn:
        with pytest.raises(ValidationError) as no_sender:
            conn.send_bytes("", ("bob@example.com",), b"Subject: x\r\n\r\nx\r\n")
        with pytest.raises(ValidationError) as no_recipient:
            conn.send_bytes("news@shop.example", (), b"Subject: x\r\n\r\nx\r\n")

    assert (no_sender.value.field, no_recipient.value.field) == ("from_email", "to")


# --- the delivery's token (docs/design.md §11) -------------------------------------------

TOKEN = "t4711-0123456789abcdef0123"
PAGE = "https://shop.example/unsubscribe?t={token}"


@pytest.mark.parametrize(
    "fixed",
    [
        pytest.param(FIXED, id="mailto"),
        pytest.param({**FIXED, "unsubscribe_page_url": PAGE}, id="one-click-page-and-mailto"),
        pytest.param(
            {**FIXED, "list_unsubscribe_mailto": None, "unsubscribe_page_url": PAGE},
            id="one-click-page-only",
        ),
    ],
)
def test_the_token_goes_into_list_unsubscribe_and_its_header_as_build_message_writes_them(
    fixed: dict[str, Any],
) -> None:
    out = assert_same_message(fixed, to="bob@example.com", subject="News", text=TEXT, token=TOKEN)
    msg = parse(out.data)
    assert msg["X-Campaign-Desktop-Token"] == TOKEN
    urls = str(msg["List-Unsubscribe"])
    if fixed["list_unsubscribe_mailto"]:
        assert f"<mailto:news@shop.example?subject=Unsubscribe%20{TOKEN}>" in urls
    if "unsubscribe_page_url" in fixed:
        # RFC 8058: the https URL first, and the POST header that makes it one-click.
        assert urls.startswith(f"<https://shop.example/unsubscribe?t={TOKEN}>")
        assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    else:
        assert "List-Unsubscribe-Post" not in msg
    # A URL is never broken (so a line may pass 78 characters, never 998); two URLs that
    # do not fit on one line go on a line each.
    lines = out.data.split(b"\r\n\r\n")[0].split(b"\r\n")
    assert all((len(line) <= 998 and line.count(b"<") <= 1) or len(line) <= 78 for line in lines)


def test_verp_puts_the_token_in_the_envelope_sender_only() -> None:
    template = MessageTemplate(**FIXED, verp_address="bounces@shop.example")
    out = template.render(to="bob@example.com", subject="News", text=TEXT, token=TOKEN)
    assert out.sender == f"bounces+{TOKEN}@shop.example"
    assert parse(out.data)["From"] == "The Shop <news@shop.example>"
    # No token (a message outside a run): the plain sender.
    plain = template.render(to="bob@example.com", subject="News", text=TEXT)
    assert plain.sender == "news@shop.example"


def test_an_unsubscribe_page_must_be_https_with_a_token_place() -> None:
    for page in ("http://shop.example/u?t={token}", "https://shop.example/u"):
        with pytest.raises(ValidationError) as caught:
            MessageTemplate(**FIXED, unsubscribe_page_url=page)
        assert caught.value.field == "unsubscribe_page_url"
