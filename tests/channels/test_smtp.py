"""Tests of the SMTP channel against a real aiosmtpd server on 127.0.0.1.

Message building, sending, reconnecting, reply-code mapping, TLS verification and login.
"""

from __future__ import annotations

import email
import email.policy
import hmac
import logging
import secrets
import socket
import traceback
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.smtp import AuthResult, LoginPassword

from campaign_desktop.channels.message import build_message, flatten
from campaign_desktop.channels.smtp import (
    CERTIFICATE_NOT_VERIFIED,
    SmtpAuthError,
    SmtpConnectError,
    SmtpConnection,
    SmtpError,
    SmtpRecipientRefused,
    SmtpSenderRefused,
    SmtpSettings,
    SmtpTransientError,
    SmtpUnconfirmedError,
    check_connection,
)
from campaign_desktop.domain.errors import ValidationError
from campaign_desktop.domain.status import SmtpSecurity
from tests.smtp_server import (
    HOST,
    RecordingHandler,
    SmtpServer,
    free_port,
    running_smtp_server,
    server_tls_context,
)

PASSWORD = "s3cret-Pa55word-do-not-leak"


def settings_for(server: SmtpServer, **overrides: Any) -> SmtpSettings:
    values: dict[str, Any] = {
        "host": server.host,
        "port": server.port,
        "security": SmtpSecurity.NONE,
        "timeout": 5.0,
        "local_hostname": "client.test",
    }
    values.update(overrides)
    return SmtpSettings(**values)


def make_message(to: str = "bob@example.com", **overrides: Any) -> EmailMessage:
    values: dict[str, Any] = {
        "from_email": "news@example.com",
        "from_name": "Example News",
        "to": to,
        "subject": "Spring sale",
        "text": "Hello Bob,\nspring is here.\n",
    }
    values.update(overrides)
    return build_message(**values)


def parse(msg: EmailMessage) -> EmailMessage:
    """What a receiving client sees: the message serialised and parsed back."""
    wire = msg.as_bytes().replace(b"\r\n", b"\n")
    parsed = email.message_from_bytes(wire, policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def full_text(exc: BaseException) -> str:
    """Everything a log or crash report could show about `exc`, causes included."""
    return "".join(traceback.format_exception(exc)) + repr(exc) + repr(exc.args)


@pytest.fixture(params=[False, True], ids=["lockstep", "pipelining"])
def pipelining(request: pytest.FixtureRequest) -> bool:
    """Whether the server offers PIPELINING (RFC 2920): every transaction test runs both ways."""
    return bool(request.param)


@pytest.fixture
def connection(smtp_server: SmtpServer) -> Iterator[SmtpConnection]:
    with SmtpConnection(settings_for(smtp_server)) as conn:
        yield conn


# --- building messages ------------------------------------------------------------------


def test_message_has_sender_recipient_and_reply_to_with_display_names() -> None:
    msg = parse(
        make_message(to="bob@example.com", to_name="Bob Jones", reply_to="help@example.com")
    )

    assert msg["From"].addresses[0].display_name == "Example News"
    assert msg["From"].addresses[0].addr_spec == "news@example.com"
    assert msg["To"].addresses[0].display_name == "Bob Jones"
    assert msg["To"].addresses[0].addr_spec == "bob@example.com"
    assert str(msg["Reply-To"]) == "help@example.com"


def test_unicode_subject_and_names_are_encoded_for_the_wire_and_read_back_unchanged() -> None:
    built = make_message(
        from_name="Zoë Müller — Café", to_name="Jürgen Ørsted", subject="Grüße 🌷, Jürgen!"
    )

    wire = built.as_bytes()
    msg = parse(built)

    assert wire.isascii()
    assert str(msg["Subject"]) == "Grüße 🌷, Jürgen!"
    assert msg["From"].addresses[0].display_name == "Zoë Müller — Café"
    assert msg["To"].addresses[0].display_name == "Jürgen Ørsted"


def test_message_with_html_is_multipart_alternative_with_text_first() -> None:
    msg = parse(make_message(text="Plain words\n", html="<p>Rich words</p>"))

    assert msg.get_content_type() == "multipart/alternative"
    parts = list(msg.iter_parts())
    assert [p.get_content_type() for p in parts] == ["text/plain", "text/html"]
    assert parts[0].get_content() == "Plain words\n"
    assert parts[1].get_content() == "<p>Rich words</p>\n"
    assert "MIME-Version" not in parts[1]
    assert msg.get_body(preferencelist=("html",)) is parts[1]


def test_message_without_html_is_a_single_text_part() -> None:
    msg = parse(make_message(text="Just text\n", html=None))

    assert msg.get_content_type() == "text/plain"
    assert msg.get_content() == "Just text\n"


def test_non_ascii_bodies_are_encoded_7bit_safe() -> None:
    built = make_message(text="Grüße aus Köln\n" * 3, html="<p>Привет, мир</p>")

    assert built.as_bytes().isascii()
    parts = list(parse(built).iter_parts())
    # MIME text is CRLF-canonical; base64 parts keep that when decoded.
    assert parts[0].get_content().replace("\r\n", "\n") == "Grüße aus Köln\n" * 3
    assert parts[1].get_content().replace("\r\n", "\n") == "<p>Привет, мир</p>\n"


def test_message_id_uses_the_sender_domain_and_date_is_now_in_utc() -> None:
    before = datetime.now(UTC).replace(microsecond=0)

    msg = parse(make_message(from_email="news@Mail.Example.com"))

    assert str(msg["Message-ID"]).startswith("<")
    assert str(msg["Message-ID"]).endswith("@Mail.Example.com>")
    sent = msg["Date"].datetime
    assert sent.utcoffset() == timedelta(0)
    assert before <= sent <= datetime.now(UTC) + timedelta(seconds=1)


def test_message_id_domain_can_be_given() -> None:
    msg = make_message(message_id_domain="campaigns.example.org")

    assert str(msg["Message-ID"]).endswith("@campaigns.example.org>")


def test_two_messages_never_share_a_message_id() -> None:
    assert make_message()["Message-ID"] != make_message()["Message-ID"]


@pytest.mark.parametrize(
    ("given", "header"),
    [
        ("unsub@example.com", "<mailto:unsub@example.com?subject=Unsubscribe>"),
        ("mailto:leave@example.com?subject=stop", "<mailto:leave@example.com?subject=stop>"),
    ],
)
def test_list_unsubscribe_takes_an_address_or_a_mailto_url(given: str, header: str) -> None:
    msg = parse(make_message(list_unsubscribe_mailto=given))

    assert str(msg["List-Unsubscribe"]) == header
    assert "List-Unsubscribe-Post" not in msg


def test_no_list_unsubscribe_header_without_an_address() -> None:
    assert "List-Unsubscribe" not in make_message(list_unsubscribe_mailto=None)


@pytest.mark.parametrize(
    ("field", "overrides"),
    [
        ("subject", {"subject": "Hello\r\nBcc: victim@example.com"}),
        ("from_name", {"from_name": "News\nBcc: victim@example.com"}),
        ("to", {"to": "not an address"}),
        ("reply_to", {"reply_to": "@example.com"}),
    ],
)
def test_bad_header_values_are_validation_errors_naming_the_field(
    field: str, overrides: dict[str, str]
) -> None:
    with pytest.raises(ValidationError) as raised:
        make_message(**overrides)

    assert raised.value.field == field


# --- settings ---------------------------------------------------------------------------


def test_settings_repr_and_str_never_show_the_password() -> None:
    settings = SmtpSettings("smtp.example.com", 587, SmtpSecurity.STARTTLS, "ann", PASSWORD)

    assert PASSWORD not in repr(settings)
    assert PASSWORD not in str(settings)
    assert "ann" in repr(settings)


def test_settings_take_the_security_mode_as_plain_text() -> None:
    settings = SmtpSettings("smtp.example.com", 465, "ssl")  # type: ignore[arg-type]

    assert settings.security is SmtpSecurity.SSL


@pytest.mark.parametrize(
    ("field", "args"),
    [
        ("host", ("  ", 25, SmtpSecurity.NONE)),
        ("port", ("smtp.example.com", 0, SmtpSecurity.NONE)),
        ("port", ("smtp.example.com", 70000, SmtpSecurity.NONE)),
        ("security", ("smtp.example.com", 25, "tls-please")),
    ],
)
def test_settings_refuse_bad_values_with_a_validation_error(
    field: str, args: tuple[Any, ...]
) -> None:
    with pytest.raises(ValidationError) as raised:
        SmtpSettings(*args)

    assert raised.value.field == field


# --- sending ----------------------------------------------------------------------------


def test_send_delivers_the_message_and_returns_its_message_id(
    smtp_server: SmtpServer, connection: SmtpConnection
) -> None:
    msg = make_message(subject="Grüße", text="Line one\n.starts with a dot\n")

    message_id = connection.send(msg)

    assert smtp_server.handler.wait_for(1)
    (received,) = smtp_server.handler.messages
    assert message_id == str(msg["Message-ID"])
    assert received.mail_from == "news@example.com"
    assert received.rcpt_tos == ("bob@example.com",)
    assert str(received.message["Message-ID"]) == message_id
    assert str(received.message["Subject"]) == "Grüße"
    assert received.text == "Line one\n.starts with a dot\n"
    assert received.html is None


def test_one_connection_carries_many_messages(
    smtp_server: SmtpServer, connection: SmtpConnection
) -> None:
    for n in range(5):
        connection.send(make_message(to=f"r{n}@example.com"))

    assert smtp_server.handler.wait_for(5)
    assert smtp_server.handler.sessions == 1
    assert [m.rcpt_tos for m in smtp_server.handler.messages] == [
        (f"r{n}@example.com",) for n in range(5)
    ]


def test_send_opens_the_connection_when_it_is_not_open_yet(smtp_server: SmtpServer) -> None:
    conn = SmtpConnection(settings_for(smtp_server))
    try:
        conn.send(make_message())
        assert conn.is_open
    finally:
        conn.close()

    assert not conn.is_open
    assert smtp_server.handler.wait_for(1)


def test_send_to_an_international_address_uses_smtputf8(
    smtp_server: SmtpServer, connection: SmtpConnection
) -> None:
    connection.send(make_message(to="jürgen@bücher.example", to_name="Jürgen"))

    assert smtp_server.handler.wait_for(1)
    (received,) = smtp_server.handler.messages
    assert received.rcpt_tos == ("jürgen@xn--bcher-kva.example",)
    assert received.smtp_utf8
    assert received.message["To"].addresses[0].addr_spec == "jürgen@xn--bcher-kva.example"


def test_send_reconnects_once_when_the_server_drops_the_connection_before_data(
    pipelining: bool,
) -> None:
    handler = RecordingHandler(pipelining=pipelining, drop_after=1, drops=1, drop_during="mail")
    with running_smtp_server(handler) as server, SmtpConnection(settings_for(server)) as conn:
        for n in range(3):
            conn.send(make_message(to=f"r{n}@example.com"))

    assert handler.wait_for(3)
    assert handler.drops_done == 1
    assert handler.sessions == 2
    assert [m.rcpt_tos[0] for m in handler.messages] == [f"r{n}@example.com" for n in range(3)]


def test_send_reconnects_after_the_server_restarted() -> None:
    port = free_port()
    first = RecordingHandler()
    second = RecordingHandler()
    with running_smtp_server(first, port=port) as server:
        conn = SmtpConnection(settings_for(server))
        conn.send(make_message(to="before@example.com"))
    try:
        with running_smtp_server(second, port=port):
            conn.send(make_message(to="after@example.com"))
    finally:
        conn.close()

    assert [m.rcpt_tos for m in first.messages] == [("before@example.com",)]
    assert second.wait_for(1)
    assert [m.rcpt_tos for m in second.messages] == [("after@example.com",)]


def test_a_server_gone_mid_run_is_a_transient_error_not_a_settings_problem() -> None:
    with running_smtp_server() as server:
        conn = SmtpConnection(settings_for(server))
        conn.open()

    with pytest.raises(SmtpTransientError, match="connection refused"):
        conn.send(make_message())
    assert not conn.is_open


def test_a_421_closing_reply_is_retried_once_on_a_new_connection(pipelining: bool) -> None:
    handler = RecordingHandler(
        pipelining=pipelining,
        tempfail={"busy@example.com": 1},
        tempfail_reply="421 4.7.0 Too busy, closing connection",
    )
    with running_smtp_server(handler) as server, SmtpConnection(settings_for(server)) as conn:
        conn.send(make_message(to="busy@example.com"))

    assert handler.wait_for(1)
    assert handler.sessions == 2


def test_a_connection_dropped_twice_in_a_row_is_a_transient_error(pipelining: bool) -> None:
    handler = RecordingHandler(pipelining=pipelining, drop_after=0, drops=2, drop_during="mail")
    with running_smtp_server(handler) as server, SmtpConnection(settings_for(server)) as conn:
        with pytest.raises(SmtpTransientError, match="dropped twice"):
            conn.send(make_message())
        # The server serves again: the next message goes through on a fresh connection.
        conn.send(make_message())

    assert handler.drops_done == 2
    assert handler.wait_for(1)


def test_a_drop_after_the_data_was_sent_is_unconfirmed_and_never_resent(pipelining: bool) -> None:
    handler = RecordingHandler(pipelining=pipelining, drop_after=0, drops=1, drop_during="data")
    with running_smtp_server(handler) as server, SmtpConnection(settings_for(server)) as conn:
        with pytest.raises(SmtpUnconfirmedError, match="may have been delivered"):
            conn.send(make_message(to="maybe@example.com"))
        conn.send(make_message(to="next@example.com"))

    assert len(handler.dropped_contents) == 1
    assert handler.wait_for(1)
    assert [m.rcpt_tos for m in handler.messages] == [("next@example.com",)]


def test_a_451_is_a_transient_error_with_the_server_words_and_a_later_try_succeeds(
    pipelining: bool,
) -> None:
    handler = RecordingHandler(pipelining=pipelining, tempfail={"grey@example.com": 1})
    with running_smtp_server(handler) as server, SmtpConnection(settings_for(server)) as conn:
        with pytest.raises(SmtpTransientError) as raised:
            conn.send(make_message(to="grey@example.com"))
        conn.send(make_message(to="grey@example.com"))

    assert raised.value.code == 451
    assert "Greylisted, try again later" in str(raised.value)
    assert handler.wait_for(1)
    assert handler.sessions == 1


def test_a_550_refuses_that_recipient_only_and_the_connection_stays_usable(
    pipelining: bool,
) -> None:
    handler = RecordingHandler(pipelining=pipelining, refuse={"gone@example.com"})
    with running_smtp_server(handler) as server, SmtpConnection(settings_for(server)) as conn:
        with pytest.raises(SmtpRecipientRefused) as raised:
            conn.send(make_message(to="gone@example.com"))
        conn.send(make_message(to="here@example.com"))

    assert raised.value.code == 550
    assert "gone@example.com" in str(raised.value)
    assert "Recipient address rejected: User unknown" in str(raised.value)
    assert handler.wait_for(1)
    assert [m.rcpt_tos for m in handler.messages] == [("here@example.com",)]
    assert handler.sessions == 1


@pytest.mark.parametrize(
    ("reply", "error_type"),
    [
        ("554 5.7.1 Message rejected as spam", SmtpRecipientRefused),
        ("452 4.3.1 Insufficient system storage", SmtpTransientError),
    ],
)
def test_a_refusal_after_the_data_is_mapped_by_its_code_class(
    reply: str, error_type: type[SmtpError], pipelining: bool
) -> None:
    handler = RecordingHandler(data_reply=reply, pipelining=pipelining)
    with (
        running_smtp_server(handler) as server,
        SmtpConnection(settings_for(server)) as conn,
        pytest.raises(error_type) as raised,
    ):
        conn.send(make_message())

    assert raised.value.code == int(reply[:3])
    assert reply[4:] in str(raised.value)


def wire(msg: EmailMessage) -> tuple[str, tuple[str, ...], bytes]:
    return flatten(msg)


def test_send_bytes_asks_go_once_after_mail_and_sends_only_on_yes(pipelining: bool) -> None:
    handler = RecordingHandler(pipelining=pipelining)
    asked: list[str] = []

    def answer(word: str) -> Callable[[], bool]:
        def go() -> bool:
            asked.append(word)
            return word == "yes"

        return go

    with running_smtp_server(handler) as server, SmtpConnection(settings_for(server)) as conn:
        declined = conn.send_bytes(
            *wire(make_message(to="no@example.com")),
            go=answer("no"),
            meanwhile=lambda: asked.append("meanwhile (declined)"),
        )
        sent = conn.send_bytes(
            *wire(make_message(to="yes@example.com")),
            go=answer("yes"),
            meanwhile=lambda: asked.append("meanwhile"),
        )

    assert (declined, sent) == (False, True)
    assert asked == ["no", "yes", "meanwhile"]
    assert handler.wait_for(1)
    assert [m.rcpt_tos for m in handler.messages] == [("yes@example.com",)]
    # Declined before the data: in lockstep RSET keeps the link; pipelined, DATA was already
    # answered with 354 and only closing the connection aborts it.
    assert handler.sessions == (2 if pipelining else 1)


def test_go_is_not_asked_again_when_the_connection_drops_after_it_said_yes(
    pipelining: bool,
) -> None:
    handler = RecordingHandler(pipelining=pipelining, drop_after=0, drops=1, drop_during="mail")
    asked: list[int] = []
    with running_smtp_server(handler) as server, SmtpConnection(settings_for(server)) as conn:

        def go() -> bool:
            asked.append(1)
            return True

        sent = conn.send_bytes(*wire(make_message(to="once@example.com")), go=go)

    assert sent and asked == [1]
    assert handler.drops_done == 1
    assert handler.wait_for(1)
    assert [m.rcpt_tos for m in handler.messages] == [("once@example.com",)]


def test_an_error_from_go_sends_nothing_and_closes_the_connection(pipelining: bool) -> None:
    handler = RecordingHandler(pipelining=pipelining)

    def refuse() -> bool:
        raise ValidationError("storage", "The database is busy.")

    with running_smtp_server(handler) as server, SmtpConnection(settings_for(server)) as conn:
        with pytest.raises(ValidationError, match="busy"):
            conn.send_bytes(*wire(make_message(to="never@example.com")), go=refuse)
        assert not conn.is_open
        conn.send_bytes(*wire(make_message(to="after@example.com")))

    assert handler.wait_for(1)
    assert [m.rcpt_tos for m in handler.messages] == [("after@example.com",)]


def test_noop_on_a_live_connection_keeps_it(
    smtp_server: SmtpServer, connection: SmtpConnection
) -> None:
    connection.noop()
    connection.send(make_message())

    assert connection.is_open
    assert smtp_server.handler.sessions == 1


# --- login ------------------------------------------------------------------------------


def test_login_with_the_right_password_sends_as_that_user() -> None:
    with (
        running_smtp_server(auth=("ann", PASSWORD)) as server,
        SmtpConnection(settings_for(server, username="ann", password=PASSWORD)) as conn,
    ):
        conn.send(make_message())

    assert server.handler.wait_for(1)
    assert server.handler.messages[0].login == "ann"


def test_a_wrong_password_is_an_auth_error_with_the_server_words() -> None:
    with running_smtp_server(auth=("ann", "the-right-one")) as server:
        conn = SmtpConnection(settings_for(server, username="ann", password=PASSWORD))
        with pytest.raises(SmtpAuthError) as raised:
            conn.open()

    assert raised.value.code == 535
    assert "Authentication credentials invalid" in str(raised.value)
    assert not conn.is_open
    assert PASSWORD not in full_text(raised.value)


def test_a_server_that_demands_a_login_refuses_mail_without_one_as_an_auth_error() -> None:
    with (
        running_smtp_server(auth=("ann", PASSWORD)) as server,
        SmtpConnection(settings_for(server)) as conn,
        pytest.raises(SmtpAuthError) as raised,
    ):
        conn.send(make_message())

    assert raised.value.code == 530
    assert "Authentication required" in str(raised.value)


# --- login with non-ASCII credentials (issue 12) ----------------------------------------

UTF8_USER = "jürgen"
UTF8_PASSWORD = "pässwörd-日本-🔑"


class CramMd5Handler(RecordingHandler):
    """A server-side CRAM-MD5 (RFC 2195) on the UTF-8 password; `refuse_all` fails it."""

    def __init__(self, user: str, password: str, *, refuse_all: bool = False) -> None:
        super().__init__()
        self._user, self._password = user.encode(), password.encode()
        self._refuse_all = refuse_all

    async def auth_CRAM__MD5(self, server: Any, args: list[str]) -> AuthResult:  # noqa: N802
        challenge = f"<{secrets.token_hex(8)}@smtp.test>".encode()
        response = await server.challenge_auth(challenge)
        if not isinstance(response, bytes):
            return AuthResult(success=False, handled=True)
        user, _, digest = response.rpartition(b" ")
        expected = hmac.new(self._password, challenge, "md5").hexdigest().encode()
        accepted = (
            not self._refuse_all and user == self._user and hmac.compare_digest(digest, expected)
        )
        self.record_login(user.decode("utf-8", "replace"), accepted)
        if not accepted:
            return AuthResult(success=False, handled=False)
        return AuthResult(success=True, auth_data=LoginPassword(user, b""))


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN"])
def test_a_non_ascii_username_and_password_log_in_as_utf8(mechanism: str) -> None:
    other = {"PLAIN": "LOGIN", "LOGIN": "PLAIN"}[mechanism]
    with (
        running_smtp_server(
            auth=(UTF8_USER, UTF8_PASSWORD), smtp_options={"auth_exclude_mechanism": [other]}
        ) as server,
        SmtpConnection(settings_for(server, username=UTF8_USER, password=UTF8_PASSWORD)) as conn,
    ):
        conn.send(make_message())

    assert server.handler.wait_for(1)
    assert server.handler.logins == [(UTF8_USER, True)]
    assert server.handler.messages[0].login == UTF8_USER


def test_cram_md5_is_preferred_and_keyed_with_the_utf8_password() -> None:
    handler = CramMd5Handler(UTF8_USER, UTF8_PASSWORD)
    handler.login_required = True
    with (
        running_smtp_server(
            handler,
            smtp_options={"auth_require_tls": False, "auth_exclude_mechanism": ["LOGIN"]},
        ) as server,
        SmtpConnection(settings_for(server, username=UTF8_USER, password=UTF8_PASSWORD)) as conn,
    ):
        conn.send(make_message())

    assert handler.wait_for(1)
    assert handler.logins == [(UTF8_USER, True)]  # PLAIN was offered too, and not needed


def test_a_refused_cram_md5_falls_back_to_plain_as_smtplib_does() -> None:
    handler = CramMd5Handler(UTF8_USER, UTF8_PASSWORD, refuse_all=True)
    with (
        running_smtp_server(
            handler,
            auth=(UTF8_USER, UTF8_PASSWORD),
            smtp_options={"auth_exclude_mechanism": ["LOGIN"]},
        ) as server,
        SmtpConnection(settings_for(server, username=UTF8_USER, password=UTF8_PASSWORD)) as conn,
    ):
        conn.send(make_message())

    assert handler.wait_for(1)
    assert handler.logins == [(UTF8_USER, False), (UTF8_USER, True)]


def test_a_wrong_non_ascii_password_is_an_auth_error_that_never_shows_it() -> None:
    wrong = "falsch-pässwörd"
    with running_smtp_server(auth=(UTF8_USER, UTF8_PASSWORD)) as server:
        conn = SmtpConnection(settings_for(server, username=UTF8_USER, password=wrong))
        with pytest.raises(SmtpAuthError) as raised:
            conn.open()

    assert raised.value.code == 535
    assert UTF8_USER in raised.value.message
    assert wrong not in full_text(raised.value)
    assert not conn.is_open


def test_a_server_with_no_usable_login_method_says_what_it_offers() -> None:
    with running_smtp_server(
        auth=("ann", PASSWORD), smtp_options={"auth_exclude_mechanism": ["PLAIN", "LOGIN"]}
    ) as server:
        # With every mechanism excluded aiosmtpd advertises a bare "AUTH".
        conn = SmtpConnection(settings_for(server, username="ann", password=PASSWORD))
        with pytest.raises(SmtpAuthError) as raised:
            conn.open()

    assert "PLAIN, LOGIN or CRAM-MD5" in raised.value.message


def test_a_username_for_a_server_without_login_is_an_auth_error(smtp_server: SmtpServer) -> None:
    conn = SmtpConnection(settings_for(smtp_server, username="ann", password=PASSWORD))

    with pytest.raises(SmtpAuthError, match="does not offer a login"):
        conn.open()


# --- connecting -------------------------------------------------------------------------


def test_nothing_listening_is_a_connect_error_in_plain_words() -> None:
    settings = SmtpSettings(HOST, free_port(), SmtpSecurity.NONE, timeout=5.0)

    with pytest.raises(SmtpConnectError, match="connection refused") as raised:
        SmtpConnection(settings).open()

    assert f"{HOST}:{settings.port}" in str(raised.value)


def test_a_server_that_never_greets_is_a_connect_error_after_the_timeout() -> None:
    with socket.socket() as silent:
        silent.bind((HOST, 0))
        silent.listen()  # the kernel completes the handshake; nobody ever says 220
        settings = SmtpSettings(HOST, silent.getsockname()[1], SmtpSecurity.NONE, timeout=0.3)

        with pytest.raises(SmtpConnectError, match=r"did not answer within 0\.3 seconds"):
            SmtpConnection(settings).open()


def test_starttls_verifies_a_self_signed_certificate_given_as_ca_file(
    tls_cert: tuple[Path, Path],
) -> None:
    cert, key = tls_cert
    with running_smtp_server(tls_context=server_tls_context(cert, key)) as server:
        settings = settings_for(server, security=SmtpSecurity.STARTTLS, ca_file=str(cert))
        with SmtpConnection(settings) as conn:
            conn.send(make_message())

    assert server.handler.wait_for(1)


def test_starttls_refuses_a_self_signed_certificate_without_ca_file(
    tls_cert: tuple[Path, Path],
) -> None:
    cert, key = tls_cert
    with running_smtp_server(tls_context=server_tls_context(cert, key)) as server:
        settings = settings_for(server, security=SmtpSecurity.STARTTLS)
        with pytest.raises(SmtpConnectError) as raised:
            SmtpConnection(settings).open()

    assert str(raised.value).startswith(CERTIFICATE_NOT_VERIFIED)
    assert "self-signed certificate" in str(raised.value)
    assert server.handler.messages == []


def test_ssl_verifies_a_self_signed_certificate_given_as_ca_file(
    tls_cert: tuple[Path, Path],
) -> None:
    cert, key = tls_cert
    with running_smtp_server(ssl_context=server_tls_context(cert, key)) as server:
        settings = settings_for(server, security=SmtpSecurity.SSL, ca_file=str(cert))
        with SmtpConnection(settings) as conn:
            conn.send(make_message())

    assert server.handler.wait_for(1)


def test_ssl_refuses_a_self_signed_certificate_without_ca_file(
    tls_cert: tuple[Path, Path],
) -> None:
    cert, key = tls_cert
    with running_smtp_server(ssl_context=server_tls_context(cert, key)) as server:
        settings = settings_for(server, security=SmtpSecurity.SSL)
        with pytest.raises(SmtpConnectError) as raised:
            SmtpConnection(settings).open()

    assert str(raised.value).startswith(CERTIFICATE_NOT_VERIFIED)


def test_starttls_against_a_server_without_it_is_a_connect_error(
    smtp_server: SmtpServer,
) -> None:
    settings = settings_for(smtp_server, security=SmtpSecurity.STARTTLS)

    with pytest.raises(SmtpConnectError, match="does not offer STARTTLS"):
        SmtpConnection(settings).open()


def test_ssl_against_a_plain_port_is_a_connect_error_naming_the_setting(
    smtp_server: SmtpServer,
) -> None:
    settings = settings_for(smtp_server, security=SmtpSecurity.SSL)

    with pytest.raises(SmtpConnectError, match="Check the security setting"):
        SmtpConnection(settings).open()


def test_an_unreadable_ca_file_is_a_connect_error(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.pem"
    settings = SmtpSettings(HOST, 587, SmtpSecurity.STARTTLS, ca_file=str(missing))

    with pytest.raises(SmtpConnectError, match="cannot be used"):
        SmtpConnection(settings).open()


# --- check_connection -------------------------------------------------------------------


def test_check_connection_says_where_how_and_as_whom(tls_cert: tuple[Path, Path]) -> None:
    cert, key = tls_cert
    with running_smtp_server(
        tls_context=server_tls_context(cert, key), auth=("ann", PASSWORD)
    ) as server:
        settings = settings_for(
            server,
            security=SmtpSecurity.STARTTLS,
            ca_file=str(cert),
            username="ann",
            password=PASSWORD,
        )
        result = check_connection(settings)

    assert result == f"Connected to {HOST}:{server.port} with STARTTLS as ann."
    assert server.handler.logins == [("ann", True)]
    assert server.handler.messages == []


def test_check_connection_warns_when_the_password_would_travel_unencrypted() -> None:
    with running_smtp_server(auth=("ann", PASSWORD)) as server:
        result = check_connection(settings_for(server, username="ann", password=PASSWORD))

    assert result.startswith(f"Connected to {HOST}:{server.port} without encryption as ann.")
    assert "password travels unencrypted" in result


def test_check_connection_raises_the_mapped_error() -> None:
    settings = SmtpSettings(HOST, free_port(), SmtpSecurity.NONE, timeout=5.0)

    with pytest.raises(SmtpConnectError):
        check_connection(settings)


# --- the password never leaks -----------------------------------------------------------


def _failures_with_password(tls_cert: tuple[Path, Path]) -> Iterator[SmtpError]:
    cert, key = tls_cert
    with running_smtp_server(auth=("ann", "other")) as server:
        conn = SmtpConnection(settings_for(server, username="ann", password=PASSWORD))
        with pytest.raises(SmtpAuthError) as auth:
            conn.open()
        yield auth.value
    with running_smtp_server(tls_context=server_tls_context(cert, key)) as server:
        settings = settings_for(
            server, security=SmtpSecurity.STARTTLS, username="ann", password=PASSWORD
        )
        with pytest.raises(SmtpConnectError) as tls:
            check_connection(settings)
        yield tls.value
    settings = SmtpSettings(HOST, free_port(), SmtpSecurity.NONE, "ann", PASSWORD, timeout=5)
    with pytest.raises(SmtpConnectError) as refused:
        SmtpConnection(settings).open()
    yield refused.value
    handler = RecordingHandler(refuse={"gone@example.com"})
    with running_smtp_server(handler, auth=("ann", PASSWORD)) as server:
        conn = SmtpConnection(settings_for(server, username="ann", password=PASSWORD))
        with pytest.raises(SmtpRecipientRefused) as recipient:
            conn.send(make_message(to="gone@example.com"))
        conn.close()
        yield recipient.value
    echoing = RecordingHandler(
        refuse={"echo@example.com"},
        refuse_reply=f"550 5.1.1 user ann with password {PASSWORD} says no",
    )
    with running_smtp_server(echoing, auth=("ann", PASSWORD)) as server:
        conn = SmtpConnection(settings_for(server, username="ann", password=PASSWORD))
        with pytest.raises(SmtpRecipientRefused) as echoed:
            conn.send(make_message(to="echo@example.com"))
        conn.close()
        yield echoed.value


def test_the_password_appears_in_no_error_and_no_log_line(
    tls_cert: tuple[Path, Path], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="campaign_desktop")

    errors = list(_failures_with_password(tls_cert))

    assert len(errors) == 5
    for error in errors:
        assert PASSWORD not in full_text(error)
    assert "********" in str(errors[-1])  # a server that echoes it gets scrubbed
    ours = [r.getMessage() for r in caplog.records if r.name.startswith("campaign_desktop")]
    assert ours  # the connection did log something, and none of it holds the password
    assert not [line for line in ours if PASSWORD in line]


# --- PIPELINING (RFC 2920) --------------------------------------------------------------


def test_where_the_server_offers_pipelining_envelope_and_data_go_as_one_group(
    pipelining: bool,
) -> None:
    handler = RecordingHandler(pipelining=pipelining)
    asked: list[str] = []

    def go() -> bool:
        asked.append("go")
        return True

    with running_smtp_server(handler) as server, SmtpConnection(settings_for(server)) as conn:
        conn.send(make_message(to="ann@example.com"))
        conn.send_bytes(*wire(make_message(to="bob@example.com")), go=go)
        conn.send(make_message(to="jürgen@bücher.example"))

    assert handler.wait_for(3)
    assert [m.rcpt_tos for m in handler.messages] == [
        ("ann@example.com",),
        ("bob@example.com",),
        ("jürgen@xn--bcher-kva.example",),
    ]
    assert handler.messages[2].smtp_utf8
    assert asked == ["go"]
    assert handler.sessions == 1
    # Offered: every MAIL came with its RCPT and DATA behind it; not offered: none did.
    assert handler.grouped == (3 if pipelining else 0)


def test_some_recipients_refused_the_others_get_the_message(pipelining: bool) -> None:
    handler = RecordingHandler(pipelining=pipelining, refuse={"gone@example.com"})
    recipients = ("ann@example.com", "gone@example.com", "bob@example.com")
    sender, _, data = wire(make_message())
    with running_smtp_server(handler) as server, SmtpConnection(settings_for(server)) as conn:
        assert conn.send_bytes(sender, recipients, data)

    assert handler.wait_for(1)
    assert [m.rcpt_tos for m in handler.messages] == [("ann@example.com", "bob@example.com")]


def test_every_recipient_refused_sends_nothing_and_keeps_the_connection(pipelining: bool) -> None:
    handler = RecordingHandler(
        pipelining=pipelining,
        refuse={"gone@example.com"},
        tempfail={"grey@example.com": 5},
    )
    sender, _, data = wire(make_message())
    with running_smtp_server(handler) as server, SmtpConnection(settings_for(server)) as conn:
        # A 4xx among the refusals wins: a later try may get through.
        with pytest.raises(SmtpTransientError, match="Greylisted") as greylisted:
            conn.send_bytes(sender, ("gone@example.com", "grey@example.com"), data)
        assert greylisted.value.code == 451
        with pytest.raises(SmtpRecipientRefused, match="User unknown"):
            conn.send_bytes(sender, ("gone@example.com",), data)
        conn.send_bytes(sender, ("here@example.com",), data)

    assert handler.wait_for(1)
    assert [m.rcpt_tos for m in handler.messages] == [("here@example.com",)]
    assert handler.sessions == 1


def test_a_refused_sender_sends_nothing_and_keeps_the_connection(pipelining: bool) -> None:
    handler = RecordingHandler(pipelining=pipelining, refuse_senders={"spoof@example.com"})
    with running_smtp_server(handler) as server, SmtpConnection(settings_for(server)) as conn:
        with pytest.raises(SmtpSenderRefused, match="Sender address rejected") as raised:
            conn.send(make_message(from_email="spoof@example.com"))
        conn.send(make_message(to="next@example.com"))

    assert raised.value.code == 553
    assert handler.wait_for(1)
    assert [m.rcpt_tos for m in handler.messages] == [("next@example.com",)]
    assert handler.sessions == 1


def test_a_go_that_says_no_in_a_group_sends_nothing_even_after_the_354(pipelining: bool) -> None:
    """Pipelined, the server has answered DATA before `go`'s answer is read back: the
    content must never follow, and the next message must not inherit the open DATA."""
    handler = RecordingHandler(pipelining=pipelining)
    with running_smtp_server(handler) as server, SmtpConnection(settings_for(server)) as conn:
        for n in range(3):
            assert not conn.send_bytes(
                *wire(make_message(to=f"no{n}@example.com")), go=lambda: False
            )
        assert conn.send_bytes(*wire(make_message(to="yes@example.com")), go=lambda: True)

    # QUIT was answered, so the server has handled everything the client wrote.
    assert [m.rcpt_tos for m in handler.messages] == [("yes@example.com",)]
    assert handler.sessions == (4 if pipelining else 1)
