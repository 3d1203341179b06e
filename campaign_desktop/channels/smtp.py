"""The SMTP channel: builds campaign emails and sends them over one reused smtplib connection.

`build_message` makes one email with the `email` package, for `SmtpConnection.send`.
The sending engine makes a `MessageTemplate` once per run instead: its `render` writes each
message's bytes directly (the same message `build_message` gives, much faster), which go
out with `SmtpConnection.send_bytes`.

Every smtplib/ssl/socket failure leaves this module as an `SmtpError` a marketer can read.

How failures map (DESIGN §5), and what the caller should do with each:

- `SmtpTransientError`: 4xx replies, a connection that dropped or timed out mid-run —
  retry later with backoff.
- `SmtpRecipientRefused`: a 5xx for this recipient or this message — fail that row only.
- `SmtpSenderRefused`: a 5xx to MAIL FROM (the account may not send as this address) —
  it would repeat for every row, so pause the run like an authentication failure.
- `SmtpAuthError`: bad credentials, a server that demands a login, or a login the server
  cannot take — pause the run.
- `SmtpConnectError`: cannot connect, or TLS set-up/verification failed — pause the run.
- `SmtpUnconfirmedError`: the connection broke after the whole message was handed over but
  before the server answered; it may have been delivered, so it is never resent
  (the delivery becomes ``unconfirmed``).

A connection that drops *before* the message data is sent (an idle connection the server
closed, a 421) is reopened once and the message retried once, transparently.
The password never appears in a repr, a message or a log line; server replies that echo
it are scrubbed.
"""

from __future__ import annotations

import binascii
import copy
import logging
import random
import re
import smtplib
import socket
import ssl
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import policy as email_policy
from email import quoprimime
from email.errors import HeaderParseError
from email.headerregistry import Address, BaseHeader, HeaderRegistry
from email.message import EmailMessage
from email.utils import format_datetime, getaddresses, make_msgid
from types import TracebackType
from typing import Self

from campaign_desktop.domain.emails import normalize_email
from campaign_desktop.domain.errors import DomainError, ValidationError
from campaign_desktop.domain.status import SmtpSecurity
from campaign_desktop.domain.templates import unsubscribe_mailto_url

log = logging.getLogger(__name__)

#: The usual port for each security mode, for the settings form.
DEFAULT_PORTS: dict[SmtpSecurity, int] = {
    SmtpSecurity.NONE: 25,
    SmtpSecurity.STARTTLS: 587,
    SmtpSecurity.SSL: 465,
}

_SECURITY_WORDS: dict[SmtpSecurity, str] = {
    SmtpSecurity.NONE: "without encryption",
    SmtpSecurity.STARTTLS: "with STARTTLS",
    SmtpSecurity.SSL: "with SSL/TLS",
}

CERTIFICATE_NOT_VERIFIED = (
    "The server's certificate could not be verified. If it uses a self-signed "
    "certificate, choose its CA file in Settings."
)


class _HeaderClasses(HeaderRegistry):
    """The standard header registry, but each header class is made once per name.

    `HeaderRegistry` builds a new class with `type()` for every header of every message,
    a large share of what building a message costs.
    """

    def __init__(self) -> None:
        super().__init__()
        self._classes: dict[str, type[BaseHeader]] = {}

    def map_to_type(self, name: str, cls: type[BaseHeader]) -> None:
        super().map_to_type(name, cls)
        self._classes.clear()

    def __getitem__(self, name: str) -> type[BaseHeader]:
        key = name.lower()
        cls = self._classes.get(key)
        if cls is None:
            cls = self._classes[key] = super().__getitem__(key)
        return cls


# CRLF line ends as the wire wants them; 7bit so that every body part is quoted-printable
# or base64 and the message never depends on the server offering 8BITMIME.
_MESSAGE_POLICY = email_policy.SMTP.clone(cte_type="7bit", header_factory=_HeaderClasses())
_SMTPUTF8_POLICY = _MESSAGE_POLICY.clone(utf8=True)
_LEADING_DOT = re.compile(rb"(?m)^\.")
# 530 authentication required, 534/538 mechanism too weak / needs encryption, 535 refused.
_AUTH_CODES = frozenset({530, 534, 535, 538})


# --- errors -----------------------------------------------------------------------------


class SmtpError(DomainError):
    """An SMTP failure; `code` is the server's reply code when it gave one."""

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r}, code={self.code!r})"


class SmtpTransientError(SmtpError):
    """Try again later: a 4xx reply, or the connection dropped or timed out mid-run."""


# The two "Refused" names mirror smtplib's SMTPRecipientsRefused/SMTPSenderRefused.
class SmtpRecipientRefused(SmtpError):  # noqa: N818
    """The server permanently refused this recipient or this message (5xx)."""


class SmtpSenderRefused(SmtpError):  # noqa: N818
    """The server permanently refused the sender address (5xx to MAIL FROM): pause the run."""


class SmtpAuthError(SmtpError):
    """The login failed, is required, or cannot be made: pause the run."""


class SmtpConnectError(SmtpError):
    """No connection could be set up (unreachable, refused, TLS or certificate failure)."""


class SmtpUnconfirmedError(SmtpError):
    """The connection broke after the message was handed over: it may have been delivered."""


# --- settings ---------------------------------------------------------------------------


@dataclass(frozen=True)
class SmtpSettings:
    """Where and how to connect. `password` is kept out of repr() and str()."""

    host: str
    port: int
    security: SmtpSecurity
    username: str = ""
    password: str = field(default="", repr=False)
    ca_file: str | None = None
    timeout: float = 30.0
    local_hostname: str | None = None

    def __post_init__(self) -> None:
        host = (self.host or "").strip()
        if not host:
            raise ValidationError("host", "Enter the SMTP server's name.")
        object.__setattr__(self, "host", host)
        if isinstance(self.port, bool) or not isinstance(self.port, int):
            raise ValidationError("port", "The port must be a whole number.")
        if not 1 <= self.port <= 65535:
            raise ValidationError("port", "Enter a port between 1 and 65535.")
        try:
            object.__setattr__(self, "security", SmtpSecurity(self.security))
        except ValueError:
            raise ValidationError("security", f"Unknown security mode “{self.security}”.") from None
        if not self.timeout > 0:
            raise ValidationError("timeout", "The timeout must be more than 0 seconds.")
        object.__setattr__(self, "ca_file", self.ca_file or None)

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def describe(self) -> str:
        """'smtp.example.com:587 with STARTTLS as ann' — for messages and logs."""
        who = f"as {self.username}" if self.username else "without login"
        return f"{self.address} {_SECURITY_WORDS[self.security]} {who}"


# --- message ----------------------------------------------------------------------------


def _single_line(field_name: str, value: str) -> str:
    if "\r" in value or "\n" in value:
        raise ValidationError(field_name, "This must fit on one line (no line breaks).")
    return value


def _address(field_name: str, display_name: str, addr_spec: str) -> Address:
    _single_line(field_name, display_name)
    addr_spec = _single_line(field_name, addr_spec).strip()
    if not addr_spec.isascii():
        # The email package refuses to parse a non-ASCII local part (SMTPUTF8 addresses),
        # so check it the way contacts are checked and build the Address from its parts.
        local, _, domain = normalize_email(addr_spec, field_name).rpartition("@")
        return Address(display_name=display_name, username=local, domain=domain)
    try:
        return Address(display_name=display_name, addr_spec=addr_spec)
    except (ValueError, IndexError, HeaderParseError):
        raise ValidationError(field_name, f"“{addr_spec}” is not a valid email address.") from None


def _message_id_domain(domain: str) -> str:
    try:
        return domain.encode("idna").decode("ascii") if not domain.isascii() else domain
    except UnicodeError:
        return "campaign-desktop.invalid"


def build_message(
    *,
    from_email: str,
    from_name: str,
    to: str,
    subject: str,
    text: str,
    html: str | None = None,
    reply_to: str | None = None,
    list_unsubscribe_mailto: str | None = None,
    message_id_domain: str | None = None,
    to_name: str = "",
) -> EmailMessage:
    """One campaign email: text, plus an HTML alternative when `html` is given.

    `list_unsubscribe_mailto` is an address or a ``mailto:`` URL (List-Unsubscribe header).
    The Message-ID uses `message_id_domain`, by default the sender's domain (never the
    machine's name: no DNS look-up per message). Bad addresses or header values with line
    breaks raise ValidationError.
    """
    sender = _address("from_email", from_name, from_email)
    msg = EmailMessage(policy=_MESSAGE_POLICY)
    msg["From"] = sender
    msg["To"] = _address("to", to_name, to)
    if reply_to:
        msg["Reply-To"] = _address("reply_to", "", reply_to)
    msg["Subject"] = _single_line("subject", subject)
    msg["Date"] = datetime.now(UTC)  # a datetime is taken as is; a string would be re-parsed
    msg["Message-ID"] = make_msgid(domain=_message_id_domain(message_id_domain or sender.domain))
    if list_unsubscribe_mailto:
        url = _single_line("list_unsubscribe_mailto", list_unsubscribe_mailto.strip())
        if not url.lower().startswith("mailto:"):
            url = unsubscribe_mailto_url(url)
        msg["List-Unsubscribe"] = f"<{url}>"
    msg.set_content(text)
    if html:
        msg.add_alternative(html, subtype="html")
        # add_alternative copies MIME-Version into the part; it belongs on the top only.
        *_, html_part = msg.iter_parts()
        del html_part["MIME-Version"]
    return msg


# --- message template: the sending engine's fast path -------------------------------------

# A recipient address that `Address` takes and folds exactly as written: ASCII dot-atoms only
# (no "=" or "?": an atom starting "=?" would be read as an encoded word).
_SIMPLE_ADDRESS = re.compile(
    r"[A-Za-z0-9!#$%&'*+/^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/^_`{|}~-]+)*"
    r"@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*"
)
# A subject the unstructured-header folder writes as is: printable ASCII, single spaces,
# nothing to strip, no encoded-word look-alike ("=?", checked apart).
_PLAIN_SUBJECT = re.compile(r"[!-~]+(?: [!-~]+)*")
_MAX_LINE = 78  # the policy's max_line_length; a longer header line goes the general way
_CRLF = b"\r\n"
_BOUNDARY_WIDTH = len(repr(sys.maxsize - 1))  # as email.generator makes them


@dataclass(frozen=True, slots=True)
class OutgoingMessage:
    """One message ready for `SmtpConnection.send_bytes`.

    `data` is the whole message as the wire wants it (CRLF line ends, not dot-stuffed);
    for an international (non-ASCII) envelope it is the SMTPUTF8 form.
    """

    sender: str
    recipients: tuple[str, ...]
    message_id: str
    data: bytes


def _header(name: str, value: object) -> BaseHeader:
    """The header object `msg[name] = value` stores."""
    stored = _MESSAGE_POLICY.header_store_parse(name, value)[1]
    assert isinstance(stored, BaseHeader)
    return stored


def _folded(header: BaseHeader) -> bytes:
    """The header's line(s) exactly as the generator writes them."""
    return _MESSAGE_POLICY.fold_binary(header.name, header)


def _header_addresses(header: BaseHeader) -> list[str]:
    return [addr for _, addr in getaddresses([str(header)]) if addr]


def _text_part(text: str) -> tuple[str, str]:
    """(Content-Transfer-Encoding, payload with LF line ends) for UTF-8 `text`.

    The same choice and encoding as `EmailMessage.set_content(text)` under the 7bit policy:
    7bit when ASCII with short lines, else quoted-printable or base64, whichever is shorter
    on the first ten lines.
    """
    lines = text.encode("utf-8").splitlines()
    if max((len(line) for line in lines), default=0) <= _MAX_LINE:
        normal = b"\n".join(lines) + b"\n"
        if normal.isascii():
            return "7bit", normal.decode("ascii")
    sniff = b"\r\n".join(lines[:10]) + b"\r\n"
    sniff_qp = quoprimime.body_encode(sniff.decode("latin-1"), _MAX_LINE)
    if len(sniff_qp) > len(binascii.b2a_base64(sniff)):
        embedded = b"\r\n".join(lines) + b"\r\n"
        step = _MAX_LINE // 4 * 3
        return "base64", "".join(
            binascii.b2a_base64(embedded[i : i + step]).decode("ascii")
            for i in range(0, len(embedded), step)
        )
    if len(lines) <= 10:
        return "quoted-printable", sniff_qp
    normal = b"\n".join(lines) + b"\n"
    return "quoted-printable", quoprimime.body_encode(normal.decode("latin-1"), _MAX_LINE)


def _mime_part(subtype: str, text: str) -> bytes:
    cte, payload = _text_part(text)
    return (
        f'Content-Type: text/{subtype}; charset="utf-8"\r\n'
        f"Content-Transfer-Encoding: {cte}\r\n\r\n" + payload.replace("\n", "\r\n")
    ).encode("ascii")


def _boundary(*parts: bytes) -> bytes:
    """A multipart boundary as email.generator makes them, found in none of the parts."""
    while True:
        number = random.randrange(sys.maxsize)  # noqa: S311 — a boundary is not a secret
        token = f"{'=' * 15}{number:0{_BOUNDARY_WIDTH}d}==".encode()
        if not any(b"--" + token in part for part in parts):
            return token


class MessageTemplate:
    """What every message of a run shares, worked out once; `render` makes each message.

    The sender, Reply-To and List-Unsubscribe are checked and folded once. `render` then
    writes each message's bytes directly: the same message `build_message` with the same
    arguments gives, without building the email package's objects for every recipient.
    A header that is not plain (long, non-ASCII, a display name) is still made by the
    email package; an international (non-ASCII) address takes `build_message` whole.
    Bad values raise the same ValidationError as `build_message` (the fixed ones here).
    """

    def __init__(
        self,
        *,
        from_email: str,
        from_name: str,
        reply_to: str | None = None,
        list_unsubscribe_mailto: str | None = None,
        message_id_domain: str | None = None,
    ) -> None:
        self._from_email, self._from_name = from_email, from_name
        self._reply_to_address = reply_to
        self._unsubscribe_address = list_unsubscribe_mailto
        self._message_id_domain = message_id_domain
        address = _address("from_email", from_name, from_email)
        sender = _header("From", address)
        senders = _header_addresses(sender)
        if not senders:
            raise ValidationError("from_email", "The message has no sender address.")
        self.sender = senders[0]
        self._from = _folded(sender)
        self._reply_to = (
            _folded(_header("Reply-To", _address("reply_to", "", reply_to))) if reply_to else b""
        )
        self._unsubscribe = b""
        if list_unsubscribe_mailto:
            url = _single_line("list_unsubscribe_mailto", list_unsubscribe_mailto.strip())
            if not url.lower().startswith("mailto:"):
                url = unsubscribe_mailto_url(url)
            self._unsubscribe = _folded(_header("List-Unsubscribe", f"<{url}>"))
        self._id_domain = _message_id_domain(message_id_domain or address.domain)
        self._international_sender = not self.sender.isascii()

    def render(
        self, *, to: str, subject: str, text: str, html: str | None = None, to_name: str = ""
    ) -> OutgoingMessage:
        """The message to `to`; ValidationError for a bad address or a header line break."""
        if self._international_sender or not to.isascii():
            return self._general(to=to, to_name=to_name, subject=subject, text=text, html=html)
        if not to_name and len(to) <= _MAX_LINE - 4 and _SIMPLE_ADDRESS.fullmatch(to):
            to_line = b"To: " + to.encode("ascii") + _CRLF
            recipients: tuple[str, ...] = (to,)
        else:
            header = _header("To", _address("to", to_name, to))
            to_line = _folded(header)
            recipients = tuple(dict.fromkeys(_header_addresses(header)))
            if not recipients:
                raise ValidationError("to", "The message has no recipient.")
        _single_line("subject", subject)
        if (
            len(subject) <= _MAX_LINE - 9
            and "=?" not in subject
            and _PLAIN_SUBJECT.fullmatch(subject)
        ):
            subject_line = b"Subject: " + subject.encode("ascii") + _CRLF
        else:
            subject_line = _folded(_header("Subject", subject))
        message_id = make_msgid(domain=self._id_domain)
        if len(message_id) <= _MAX_LINE - 12 and message_id.isascii():
            id_line = b"Message-ID: " + message_id.encode("ascii") + _CRLF
        else:
            id_header = _header("Message-ID", message_id)
            id_line, message_id = _folded(id_header), str(id_header)
        date = format_datetime(datetime.now(UTC)).encode("ascii")
        head = b"".join(
            (
                self._from,
                to_line,
                self._reply_to,
                subject_line,
                b"Date: " + date + _CRLF,
                id_line,
                self._unsubscribe,
            )
        )
        if html:
            plain, rich = _mime_part("plain", text), _mime_part("html", html)
            boundary = _boundary(plain, rich)
            data = b"".join(
                (
                    head,
                    b'MIME-Version: 1.0\r\nContent-Type: multipart/alternative;\r\n boundary="',
                    boundary,
                    b'"\r\n\r\n--',
                    boundary,
                    _CRLF,
                    plain,
                    b"\r\n--",
                    boundary,
                    _CRLF,
                    rich,
                    b"\r\n--",
                    boundary,
                    b"--\r\n",
                )
            )
        else:
            cte, payload = _text_part(text)
            data = b"".join(
                (
                    head,
                    b'Content-Type: text/plain; charset="utf-8"\r\nContent-Transfer-Encoding: ',
                    cte.encode("ascii"),
                    b"\r\nMIME-Version: 1.0\r\n\r\n",
                    payload.replace("\n", "\r\n").encode("ascii"),
                )
            )
        return OutgoingMessage(self.sender, recipients, message_id, data)

    def _general(
        self, *, to: str, to_name: str, subject: str, text: str, html: str | None
    ) -> OutgoingMessage:
        msg = build_message(
            from_email=self._from_email,
            from_name=self._from_name,
            to=to,
            to_name=to_name,
            subject=subject,
            text=text,
            html=html,
            reply_to=self._reply_to_address,
            list_unsubscribe_mailto=self._unsubscribe_address,
            message_id_domain=self._message_id_domain,
        )
        sender, recipients, data = _flatten(msg)
        return OutgoingMessage(sender, recipients, str(msg["Message-ID"]), data)


# --- connection -------------------------------------------------------------------------


class _Dropped(Exception):  # noqa: N818 — internal signal, never leaves this module
    """The connection ended before the message data was sent: safe to reconnect and retry."""


@dataclass(frozen=True, slots=True)
class _Envelope:
    sender: str
    recipients: tuple[str, ...]
    payload: bytes
    mail_options: tuple[str, ...]


def _addresses(msg: EmailMessage, *names: str) -> list[str]:
    values = [str(value) for name in names for value in msg.get_all(name, [])]
    return [addr for _, addr in getaddresses(values) if addr]


def _international(sender: str, recipients: tuple[str, ...]) -> bool:
    return not (sender.isascii() and all(a.isascii() for a in recipients))


def _flatten(msg: EmailMessage) -> tuple[str, tuple[str, ...], bytes]:
    """(envelope sender, recipients, wire bytes not yet dot-stuffed) of `msg`.

    Adds a Message-ID when there is none; Bcc headers are left out of the bytes.
    """
    senders = _addresses(msg, "Sender") or _addresses(msg, "From")
    recipients = tuple(dict.fromkeys(_addresses(msg, "To", "Cc", "Bcc")))
    if not senders:
        raise ValidationError("from_email", "The message has no sender address.")
    if not recipients:
        raise ValidationError("to", "The message has no recipient.")
    if "Message-ID" not in msg:
        domain = _message_id_domain(senders[0].rpartition("@")[2] or "localhost")
        msg["Message-ID"] = make_msgid(domain=domain)
    if "Bcc" in msg or "Resent-Bcc" in msg:
        msg = copy.copy(msg)
        del msg["Bcc"], msg["Resent-Bcc"]
    if _international(senders[0], recipients):
        data = msg.as_bytes(policy=_SMTPUTF8_POLICY)
    elif msg.policy.linesep == "\r\n" and msg.policy.cte_type == "7bit":
        data = msg.as_bytes()
    else:
        data = msg.as_bytes(policy=_MESSAGE_POLICY)
    return senders[0], recipients, data


def _envelope(sender: str, recipients: tuple[str, ...], data: bytes) -> _Envelope:
    """Dot-stuffed and terminated for DATA; SMTPUTF8 asked for when an address needs it."""
    options = ("SMTPUTF8", "BODY=8BITMIME") if _international(sender, recipients) else ()
    payload = _LEADING_DOT.sub(b"..", data)
    if not payload.endswith(b"\r\n"):
        payload += b"\r\n"
    return _Envelope(sender, recipients, payload + b".\r\n", options)


def _words(reply: bytes | str) -> str:
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply
    return " ".join(text.split())


class SmtpConnection:
    """One SMTP connection reused for a whole run. Not thread-safe; a context manager.

    `send` opens the connection when needed; `open` does it up front so that a wrong
    setting shows before the first recipient.
    """

    def __init__(self, settings: SmtpSettings) -> None:
        self._settings = settings
        self._smtp: smtplib.SMTP | None = None
        self._tls: ssl.SSLContext | None = None
        self._opened_once = False

    def __repr__(self) -> str:
        state = "open" if self._smtp is not None else "closed"
        return f"<SmtpConnection {self._settings.describe()} ({state})>"

    def __enter__(self) -> Self:
        self.open()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def is_open(self) -> bool:
        return self._smtp is not None

    def open(self) -> None:
        """Connect, greet, secure and log in; SmtpConnectError/SmtpAuthError if that fails."""
        if self._smtp is None:
            self._smtp = self._connect(mid_session=self._opened_once)
            self._opened_once = True

    def close(self) -> None:
        """Say QUIT politely and close; never raises."""
        smtp, self._smtp = self._smtp, None
        if smtp is None:
            return
        try:
            smtp.quit()
        except (smtplib.SMTPException, OSError):
            pass  # the server went first; nothing to tell anyone
        finally:
            smtp.close()

    def noop(self) -> None:
        """Check the connection is alive (e.g. after a pause); a dropped one is reopened once."""
        for attempt in (1, 2):
            self.open()
            try:
                self._noop()
                return
            except _Dropped as dropped:
                self._discard()
                if attempt == 2:
                    raise self._dropped_twice(dropped) from None
                log.info("SMTP connection to %s dropped; reconnecting", self._settings.address)

    def send(self, msg: EmailMessage) -> str:
        """Send `msg` to its To/Cc/Bcc addresses and return its Message-ID.

        A message without a Message-ID gets one (the message is changed in place).

        Raises one of the `SmtpError` subclasses (see the module docstring).
        """
        sender, recipients, data = _flatten(msg)
        self._deliver(_envelope(sender, recipients, data))
        return str(msg["Message-ID"])

    def send_bytes(self, sender: str, recipients: tuple[str, ...], data: bytes) -> None:
        """Send a message already serialized (`MessageTemplate.render` makes these).

        `data` has CRLF line ends and is not dot-stuffed; when an address is not ASCII it
        must be the SMTPUTF8 form. Errors as for `send`.
        """
        if not sender:
            raise ValidationError("from_email", "The message has no sender address.")
        if not recipients:
            raise ValidationError("to", "The message has no recipient.")
        self._deliver(_envelope(sender, recipients, data))

    # -- sending -------------------------------------------------------------------------

    def _deliver(self, envelope: _Envelope) -> None:
        for attempt in (1, 2):
            self.open()
            try:
                self._transaction(envelope)
                return
            except _Dropped as dropped:
                self._discard()
                if attempt == 2:
                    raise self._dropped_twice(dropped) from None
                log.info("SMTP connection to %s dropped; reconnecting", self._settings.address)

    def _transaction(self, env: _Envelope) -> None:
        smtp = self._smtp
        assert smtp is not None
        try:
            code, reply = smtp.mail(env.sender, env.mail_options)
        except smtplib.SMTPNotSupportedError:
            raise SmtpRecipientRefused(
                f"{self._settings.host} cannot deliver to international (non-ASCII) "
                "addresses: it does not offer SMTPUTF8."
            ) from None
        except (smtplib.SMTPServerDisconnected, OSError) as exc:
            raise _Dropped(str(exc)) from exc
        self._check_reply("MAIL", code, reply, env)
        refused = self._recipients(smtp, env)
        self._data(smtp, env)
        for _, code, reply in refused:
            log.warning("SMTP server refused one of several recipients: %s %s", code, reply)

    def _recipients(self, smtp: smtplib.SMTP, env: _Envelope) -> list[tuple[str, int, bytes]]:
        """RCPT for each recipient; raises when none is accepted, else returns the refusals."""
        refused: list[tuple[str, int, bytes]] = []
        for rcpt in env.recipients:
            try:
                code, reply = smtp.rcpt(rcpt)
            except (smtplib.SMTPServerDisconnected, OSError) as exc:
                raise _Dropped(str(exc)) from exc
            if code == 421:
                raise _Dropped(self._scrub(f"{code} {_words(reply)}"))
            if code not in {250, 251}:
                refused.append((rcpt, code, reply))
        if len(refused) == len(env.recipients):
            self._reset()
            # A 4xx for any of them means a later try may get through.
            temporary = [r for r in refused if r[1] < 500]
            rcpt, code, reply = (temporary or refused)[0]
            raise self._reply_error("RCPT", code, reply, rcpt)
        return refused

    def _data(self, smtp: smtplib.SMTP, env: _Envelope) -> None:
        try:
            code, reply = smtp.docmd("DATA")
        except (smtplib.SMTPServerDisconnected, OSError) as exc:
            raise _Dropped(str(exc)) from exc
        if code != 354:
            self._check_reply("DATA", code, reply, env)
        try:
            smtp.send(env.payload)
        except (smtplib.SMTPServerDisconnected, OSError) as exc:
            # sendall() failed, so the final bytes (the "." terminator) never left: the
            # server cannot have taken the message.
            raise _Dropped(str(exc)) from exc
        try:
            code, reply = smtp.getreply()
        except (smtplib.SMTPServerDisconnected, OSError):
            self._discard()
            raise SmtpUnconfirmedError(
                f"The connection to {self._settings.address} broke after the message was "
                "handed over and before the server confirmed it. It may have been "
                "delivered, so it is not sent again."
            ) from None
        if code != 250:
            self._check_reply("DATA", code, reply, env, in_transaction=False)

    def _check_reply(
        self,
        stage: str,
        code: int,
        reply: bytes,
        env: _Envelope,
        *,
        in_transaction: bool = True,
    ) -> None:
        success = 354 if stage == "DATA" and in_transaction else 250
        if code == success:
            return
        if code == 421:
            # The server is closing the channel and has accepted nothing.
            raise _Dropped(self._scrub(f"{code} {_words(reply)}"))
        if in_transaction:
            self._reset()
        target = env.sender if stage == "MAIL" else ", ".join(env.recipients)
        raise self._reply_error(stage, code, reply, target)

    def _reply_error(self, stage: str, code: int, reply: bytes, target: str) -> SmtpError:
        said = self._scrub(f"{code} {_words(reply)}")
        if code in _AUTH_CODES:
            return SmtpAuthError(
                f"{self._settings.host} will not accept mail on this connection: {said}. "
                "Check the security setting, username and password in Settings.",
                code,
            )
        if stage == "NOOP":
            return SmtpTransientError(f"{self._settings.host} answered NOOP with {said}", code)
        if 400 <= code < 500:
            return SmtpTransientError(
                f"{self._settings.host} asked to try again later for {target}: {said}", code
            )
        if 500 <= code < 600 and stage == "MAIL":
            return SmtpSenderRefused(
                f"{self._settings.host} refused the sender address {target}: {said}", code
            )
        if 500 <= code < 600:
            what = "the recipient" if stage == "RCPT" else "the message for"
            return SmtpRecipientRefused(
                f"{self._settings.host} refused {what} {target}: {said}", code
            )
        return SmtpTransientError(
            f"{self._settings.host} gave an unexpected answer for {target}: {said}",
            code if code > 0 else None,
        )

    def _reset(self) -> None:
        """RSET after a refusal so the next message starts clean; a dead link is dropped."""
        if self._smtp is None:
            return
        try:
            code, _ = self._smtp.rset()
        except (smtplib.SMTPServerDisconnected, OSError):
            code = 0
        if code != 250:
            self._discard()

    def _noop(self) -> None:
        smtp = self._smtp
        assert smtp is not None
        try:
            code, reply = smtp.noop()
        except (smtplib.SMTPServerDisconnected, OSError) as exc:
            raise _Dropped(str(exc)) from exc
        if code == 421:
            raise _Dropped(self._scrub(f"{code} {_words(reply)}"))
        if code != 250:
            raise self._reply_error("NOOP", code, reply, "NOOP")

    def _discard(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is not None:
            smtp.close()

    def _dropped_twice(self, dropped: _Dropped) -> SmtpTransientError:
        return SmtpTransientError(
            f"The connection to {self._settings.address} dropped twice in a row "
            f"({self._scrub(str(dropped)) or 'closed by the server'}). Try again later."
        )

    def _scrub(self, text: str) -> str:
        password = self._settings.password
        return text.replace(password, "********") if password else text

    # -- connecting ----------------------------------------------------------------------

    def _tls_context(self) -> ssl.SSLContext:
        """Verification on: the system's CAs, plus `ca_file` when set (not instead of them,
        so a CA file left in Settings does not break a later switch to a public server)."""
        if self._tls is None:
            ca_file = self._settings.ca_file
            try:
                context = ssl.create_default_context()
                if ca_file:
                    context.load_verify_locations(cafile=ca_file)
                self._tls = context
            except (OSError, ssl.SSLError) as exc:
                reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
                raise SmtpConnectError(
                    f"The CA file “{ca_file}” cannot be used: {reason}. "
                    "Choose the server's certificate (PEM) in Settings."
                ) from None
        return self._tls

    def _connect(self, *, mid_session: bool) -> smtplib.SMTP:
        s = self._settings
        context = None if s.security is SmtpSecurity.NONE else self._tls_context()
        try:
            if s.security is SmtpSecurity.SSL:
                smtp: smtplib.SMTP = smtplib.SMTP_SSL(
                    s.host,
                    s.port,
                    local_hostname=s.local_hostname,
                    timeout=s.timeout,
                    context=context,
                )
            else:
                smtp = smtplib.SMTP(
                    s.host, s.port, local_hostname=s.local_hostname, timeout=s.timeout
                )
        except smtplib.SMTPConnectError as exc:
            said = self._scrub(f"{exc.smtp_code} {_words(exc.smtp_error)}")
            busy = mid_session and 400 <= exc.smtp_code < 500  # e.g. 421 too many connections
            error_type = SmtpTransientError if busy else SmtpConnectError
            raise error_type(f"{s.address} refused the connection: {said}", exc.smtp_code) from None
        except (smtplib.SMTPException, OSError) as exc:
            raise self._network_error(exc, mid_session=mid_session) from exc
        try:
            self._greet(smtp, context, mid_session=mid_session)
        except BaseException:
            smtp.close()
            raise
        log.debug("SMTP connected: %s", s.describe())
        return smtp

    def _greet(
        self, smtp: smtplib.SMTP, context: ssl.SSLContext | None, *, mid_session: bool
    ) -> None:
        s = self._settings
        try:
            smtp.ehlo_or_helo_if_needed()
            if s.security is SmtpSecurity.STARTTLS:
                if not smtp.has_extn("starttls"):
                    raise SmtpConnectError(
                        f"{s.address} does not offer STARTTLS. Choose SSL/TLS (usually "
                        "port 465) or, on a trusted network only, no encryption."
                    )
                smtp.starttls(context=context)
                smtp.ehlo()
        except smtplib.SMTPResponseException as exc:
            said = self._scrub(f"{exc.smtp_code} {_words(exc.smtp_error)}")
            raise SmtpConnectError(
                f"{s.address} refused to start the session: {said}", exc.smtp_code
            ) from None
        except (smtplib.SMTPException, OSError) as exc:
            raise self._network_error(exc, mid_session=mid_session) from exc
        if s.username:
            self._login(smtp, mid_session=mid_session)

    def _login(self, smtp: smtplib.SMTP, *, mid_session: bool) -> None:
        s = self._settings
        if not smtp.has_extn("auth"):
            raise SmtpAuthError(
                f"{s.address} does not offer a login {_SECURITY_WORDS[s.security]}. If it "
                "needs none, clear the username; if it allows login over an encrypted "
                "connection only, choose STARTTLS or SSL/TLS."
            )
        try:
            smtp.login(s.username, s.password)
        except smtplib.SMTPAuthenticationError as exc:
            said = self._scrub(f"{exc.smtp_code} {_words(exc.smtp_error)}")
            raise SmtpAuthError(
                f"{s.address} refused the username or password for “{s.username}”: {said}",
                exc.smtp_code,
            ) from None
        except smtplib.SMTPResponseException as exc:
            said = self._scrub(f"{exc.smtp_code} {_words(exc.smtp_error)}")
            raise SmtpAuthError(f"{s.address} refused the login: {said}", exc.smtp_code) from None
        except UnicodeError:
            # smtplib sends credentials as ASCII; the error object would hold the password.
            raise SmtpAuthError(
                "The username or password contains characters (such as accents) that "
                "this server login cannot carry."
            ) from None
        except smtplib.SMTPNotSupportedError:  # pragma: no cover — checked above
            raise SmtpAuthError(f"{s.address} does not offer a login.") from None
        except smtplib.SMTPServerDisconnected as exc:
            raise self._network_error(exc, mid_session=mid_session) from None
        except smtplib.SMTPException:
            offered = smtp.esmtp_features.get("auth", "").strip() or "none"
            raise SmtpAuthError(
                f"{s.address} offers no login method this app supports "
                f"(PLAIN, LOGIN or CRAM-MD5; it offers {offered})."
            ) from None
        except OSError as exc:
            raise self._network_error(exc, mid_session=mid_session) from None

    def _network_error(self, exc: BaseException, *, mid_session: bool) -> SmtpError:
        """Plain words for a failure to reach or keep the server; never mentions the password.

        Certificate, TLS and name failures are settings problems, even mid-run.
        """
        s = self._settings
        if isinstance(exc, ssl.SSLCertVerificationError):
            detail = exc.verify_message or exc.reason or "unknown reason"
            return SmtpConnectError(f"{CERTIFICATE_NOT_VERIFIED} ({s.address}: {detail})")
        if isinstance(exc, ssl.SSLError):
            return SmtpConnectError(
                f"The secure connection to {s.address} failed ({exc.reason or exc}). Check "
                "the security setting: SSL/TLS is usually port 465, STARTTLS port 587."
            )
        if isinstance(exc, socket.gaierror):
            return SmtpConnectError(
                f"The server name “{s.host}” could not be found. Check its spelling and "
                "the internet connection."
            )
        error_type = SmtpTransientError if mid_session else SmtpConnectError
        return error_type(self._network_words(exc))

    def _network_words(self, exc: BaseException) -> str:
        s = self._settings
        # smtplib reports a read that timed out as "disconnected"; the timeout is its context.
        if isinstance(exc, TimeoutError) or (
            isinstance(exc, smtplib.SMTPServerDisconnected)
            and isinstance(exc.__context__, TimeoutError)
        ):
            hint = (
                " If it uses SSL/TLS, choose that security setting."
                if s.security is not SmtpSecurity.SSL
                else ""
            )
            return f"{s.address} did not answer within {s.timeout:g} seconds.{hint}"
        if isinstance(exc, ConnectionRefusedError):
            return (
                f"Nothing accepts connections at {s.address} (connection refused). "
                "Check the server name and port."
            )
        if isinstance(exc, smtplib.SMTPServerDisconnected):
            return f"{s.address} closed the connection unexpectedly."
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        return f"Cannot talk to {s.address}: {self._scrub(reason)}."


def check_connection(settings: SmtpSettings) -> str:
    """Connect, secure, log in, NOOP and QUIT; return a one-line result or raise SmtpError.

    Named check_, not test_, so pytest never collects it.
    """
    connection = SmtpConnection(settings)
    try:
        connection.open()
        try:
            connection._noop()
        except _Dropped as dropped:
            raise SmtpConnectError(
                f"{settings.address} closed the connection right after the login "
                f"({dropped or 'no reason given'})."
            ) from None
    finally:
        connection.close()
    result = f"Connected to {settings.describe()}."
    if settings.username and settings.security is SmtpSecurity.NONE:
        result += (
            " Warning: the password travels unencrypted; choose STARTTLS or SSL/TLS "
            "if the server offers it."
        )
    return result
