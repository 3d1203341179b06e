"""Campaign emails as bytes: `build_message` (the email package) and `MessageTemplate`.

`MessageTemplate` is made once per run; its `render` writes each message's bytes directly
(the same message `build_message` gives, much faster) for `SmtpConnection.send_bytes`.
Bad addresses and header values raise `ValidationError`; nothing here touches the network.
"""

from __future__ import annotations

import binascii
import copy
import random
import re
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from email import policy as email_policy
from email import quoprimime
from email.errors import HeaderParseError
from email.headerregistry import Address, BaseHeader, HeaderRegistry
from email.message import EmailMessage
from email.utils import format_datetime, getaddresses, make_msgid

from campaign_desktop.domain.emails import normalize_email
from campaign_desktop.domain.errors import ValidationError
from campaign_desktop.domain.templates import unsubscribe_mailto_url


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
        sender, recipients, data = flatten(msg)
        return OutgoingMessage(sender, recipients, str(msg["Message-ID"]), data)


def _addresses(msg: EmailMessage, *names: str) -> list[str]:
    values = [str(value) for name in names for value in msg.get_all(name, [])]
    return [addr for _, addr in getaddresses(values) if addr]


def is_international(sender: str, recipients: tuple[str, ...]) -> bool:
    return not (sender.isascii() and all(a.isascii() for a in recipients))


def flatten(msg: EmailMessage) -> tuple[str, tuple[str, ...], bytes]:
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
    if is_international(senders[0], recipients):
        data = msg.as_bytes(policy=_SMTPUTF8_POLICY)
    elif msg.policy.linesep == "\r\n" and msg.policy.cte_type == "7bit":
        data = msg.as_bytes()
    else:
        data = msg.as_bytes(policy=_MESSAGE_POLICY)
    return senders[0], recipients, data
