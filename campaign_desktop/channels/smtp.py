"""The SMTP transport: one reused smtplib connection that sends prepared messages.

Message building lives in `channels.message`; this module only talks to the server.
Every smtplib/ssl/socket failure leaves this module as an `SmtpError` a marketer can read.

How failures map (docs/design.md §5 and §9), and what the caller should do with each:

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

import base64
import binascii
import contextlib
import hmac
import logging
import re
import smtplib
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import EmailMessage
from types import TracebackType
from typing import Self

from campaign_desktop.channels.message import flatten, is_international
from campaign_desktop.domain.errors import DomainError, ValidationError
from campaign_desktop.domain.status import SmtpSecurity

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


_LEADING_DOT = re.compile(rb"(?m)^\.")
#: A plain ASCII address (dot-atom @ dot-atom): what `smtplib.quoteaddr` gives for it is
#: ``<address>``, without its parser (about a fifth of the client's own time per message).
_PLAIN_ADDRESS = re.compile(
    r"[A-Za-z0-9!#$%&'*+/^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/^_`{|}~-]+)*"
    r"@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*"
)
# 530 authentication required, 534/538 mechanism too weak / needs encryption, 535 refused.
_AUTH_CODES = frozenset({530, 534, 535, 538})
# In smtplib's order of preference: the password in the clear only when nothing else works.
_AUTH_MECHANISMS = ("CRAM-MD5", "PLAIN", "LOGIN")


# --- errors -----------------------------------------------------------------------------


class SmtpError(DomainError):
    """An SMTP failure; `code` is the server's reply code when it gave one, `reply` the
    reply itself ("451 4.7.1 Rate limit exceeded"; password scrubbed) when there was one."""

    def __init__(self, message: str, code: int | None = None, reply: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.reply = reply

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


class SmtpBusyError(SmtpTransientError):
    """The server turned a new connection away for now (4xx at connect, e.g. 421 "too many
    connections"): connect less, later; no recipient is at fault."""


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


# --- connection -------------------------------------------------------------------------


class _Dropped(Exception):  # noqa: N818 — internal signal, never leaves this module
    """The connection ended before the message data was sent: safe to reconnect and retry."""


@dataclass(frozen=True, slots=True)
class _Envelope:
    sender: str
    recipients: tuple[str, ...]
    payload: bytes
    mail_options: tuple[str, ...]


def _envelope(sender: str, recipients: tuple[str, ...], data: bytes) -> _Envelope:
    """Dot-stuffed and terminated for DATA; SMTPUTF8 asked for when an address needs it."""
    options = ("SMTPUTF8", "BODY=8BITMIME") if is_international(sender, recipients) else ()
    payload = _LEADING_DOT.sub(b"..", data)
    if not payload.endswith(b"\r\n"):
        payload += b"\r\n"
    return _Envelope(sender, recipients, payload + b".\r\n", options)


class _Declined(Exception):  # noqa: N818 — internal signal, never leaves this module
    """`go` said no: the transaction was reset, nothing sent."""


@dataclass(slots=True)
class _Hooks:
    """The caller's hooks of one `send_bytes` and what `go` answered (None: not asked)."""

    go: Callable[[], bool] | None = None
    meanwhile: Callable[[], None] | None = None
    answer: bool | None = None


def _quoted(address: str) -> str:
    """`smtplib.quoteaddr(address)`: the address in angle brackets, for MAIL and RCPT."""
    if _PLAIN_ADDRESS.fullmatch(address):
        return f"<{address}>"
    return smtplib.quoteaddr(address)


def _write_envelope(smtp: smtplib.SMTP, env: _Envelope, *, grouped: bool) -> None:
    """Write MAIL FROM without reading its reply (`smtplib.SMTP.mail` up to its `getreply`);
    `grouped`: RCPT TO for each recipient and DATA behind it, in the same write, for a
    server that offers PIPELINING (RFC 2920 §3.1: the group ends with DATA)."""
    options = ""
    if env.mail_options and smtp.does_esmtp:
        if any(option.lower() == "smtputf8" for option in env.mail_options):
            if not smtp.has_extn("smtputf8"):
                raise smtplib.SMTPNotSupportedError("SMTPUTF8 not supported by server")
            smtp.command_encoding = "utf-8"
        options = " " + " ".join(env.mail_options)
    if not grouped:
        smtp.putcmd("mail", f"FROM:{_quoted(env.sender)}{options}")
        return
    rcpts = "".join(f"RCPT TO:{_quoted(rcpt)}\r\n" for rcpt in env.recipients)
    smtp.send(f"MAIL FROM:{_quoted(env.sender)}{options}\r\n{rcpts}DATA\r\n")


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
        self._aborted = False

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
        """Connect, greet, secure and log in; SmtpConnectError/SmtpAuthError if that fails.

        After `abort` it raises SmtpTransientError instead of connecting again.
        """
        if self._aborted:
            raise SmtpTransientError("The send was stopped before this message went out.")
        if self._smtp is None:
            self._smtp = self._connect(mid_session=self._opened_once)
            self._opened_once = True

    def abort(self) -> None:
        """Cut the connection now, from any thread, and refuse to reconnect.

        A transaction in progress on another thread fails at once: before the message data
        went out as a dropped connection (`SmtpTransientError`), after it as
        `SmtpUnconfirmedError`. Used so that pause, cancel and quit never wait out a
        silent server's timeout.
        """
        self._aborted = True
        smtp = self._smtp
        sock = getattr(smtp, "sock", None) if smtp is not None else None
        if sock is not None:
            with contextlib.suppress(OSError):  # already closed
                sock.shutdown(socket.SHUT_RDWR)

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
        sender, recipients, data = flatten(msg)
        self._deliver(_envelope(sender, recipients, data))
        return str(msg["Message-ID"])

    def send_bytes(
        self,
        sender: str,
        recipients: tuple[str, ...],
        data: bytes,
        *,
        go: Callable[[], bool] | None = None,
        meanwhile: Callable[[], None] | None = None,
    ) -> bool:
        """Send a message already serialized (`MessageTemplate.render` makes these).

        `data` has CRLF line ends and is not dot-stuffed; when an address is not ASCII it
        must be the SMTPUTF8 form. Errors as for `send`.

        Two hooks let the caller work while the server does (docs/performance.md, "Send over
        a slow server"):

        - `go` is asked once, right after MAIL FROM is written (to a server offering
          PIPELINING: MAIL, RCPT and DATA, one group) and before the server's replies are
          read. The content goes out only if it returns True; on False nothing is sent
          (the transaction is reset with RSET, or, after a 354, the connection closed). If
          the connection drops before it was asked, it is reopened and the message tried
          again as usual (`go` not asked yet); after it said True, the same, without asking
          again. An exception from `go` closes the
          connection (nothing was sent) and propagates.
        - `meanwhile` runs once, after the whole message is written and before the server's
          confirmation is read; it must not raise (if it does, the connection is closed and
          the message is unconfirmed: the exception propagates).

        Returns True when the server accepted the message, False when `go` declined it.
        """
        if not sender:
            raise ValidationError("from_email", "The message has no sender address.")
        if not recipients:
            raise ValidationError("to", "The message has no recipient.")
        return self._deliver(_envelope(sender, recipients, data), _Hooks(go, meanwhile))

    # -- sending -------------------------------------------------------------------------

    def _deliver(self, envelope: _Envelope, hooks: _Hooks | None = None) -> bool:
        hooks = hooks or _Hooks()
        for attempt in (1, 2):
            self.open()
            try:
                self._transaction(envelope, hooks)
                return True
            except _Declined:
                return False
            except _Dropped as dropped:
                self._discard()
                if hooks.answer is False:
                    return False  # nothing was to be sent
                if attempt == 2 or self._aborted:
                    raise self._dropped_twice(dropped) from None
                log.info("SMTP connection to %s dropped; reconnecting", self._settings.address)
        raise AssertionError("unreachable")  # pragma: no cover

    def _transaction(self, env: _Envelope, hooks: _Hooks) -> None:
        smtp = self._smtp
        assert smtp is not None
        # RFC 2920: where the server offers PIPELINING, the envelope and DATA go out as one
        # group and their replies are read in order: two round trips per message, not four
        # (docs/performance.md, "PIPELINING").
        grouped = smtp.does_esmtp and smtp.has_extn("pipelining")
        try:
            _write_envelope(smtp, env, grouped=grouped)
        except smtplib.SMTPNotSupportedError:
            raise SmtpRecipientRefused(
                f"{self._settings.host} cannot deliver to international (non-ASCII) "
                "addresses: it does not offer SMTPUTF8."
            ) from None
        except (smtplib.SMTPServerDisconnected, OSError) as exc:
            raise _Dropped(str(exc)) from exc
        if hooks.go is not None and hooks.answer is None:
            try:
                hooks.answer = bool(hooks.go())
            except BaseException:
                self._discard()  # mid-group too: without the content nothing is delivered
                raise
        if grouped:
            refused = self._grouped_replies(smtp, env, hooks)
        else:
            refused = self._lockstep_replies(smtp, env, hooks)
        self._content(smtp, env, hooks.meanwhile)
        for _, code, reply in refused:
            log.warning("SMTP server refused one of several recipients: %s %s", code, reply)

    def _lockstep_replies(
        self, smtp: smtplib.SMTP, env: _Envelope, hooks: _Hooks
    ) -> list[tuple[str, int, bytes]]:
        """MAIL's reply, then RCPT and DATA one by one, up to the server's 354.

        Returns the recipients refused (not all of them: then it raises)."""
        code, reply = self._reply(smtp)
        if hooks.answer is False:
            if code == 250:
                self._reset()
            raise _Declined
        self._check_reply("MAIL", code, reply, env)
        refused: list[tuple[str, int, bytes]] = []
        for rcpt in env.recipients:
            try:
                # `smtp.rcpt(rcpt)`, with the address quoted the quick way when it can be
                smtp.putcmd("rcpt", f"TO:{_quoted(rcpt)}")
            except (smtplib.SMTPServerDisconnected, OSError) as exc:
                raise _Dropped(str(exc)) from exc
            code, reply = self._reply(smtp)
            if code not in {250, 251}:
                refused.append((rcpt, code, reply))
        self._check_recipients(env, refused)
        try:
            smtp.putcmd("data")
        except (smtplib.SMTPServerDisconnected, OSError) as exc:
            raise _Dropped(str(exc)) from exc
        code, reply = self._reply(smtp)
        if code != 354:
            self._check_reply("DATA", code, reply, env)
        return refused

    def _grouped_replies(
        self, smtp: smtplib.SMTP, env: _Envelope, hooks: _Hooks
    ) -> list[tuple[str, int, bytes]]:
        """The replies to a group `_write_envelope` wrote, in order: MAIL, each RCPT, DATA.

        The same outcomes as `_lockstep_replies`. When the server answered DATA with 354
        but the message must not go (`go` said no, or a refusal a conforming server would
        have answered DATA with 503), the connection is closed: in the middle of DATA only
        that aborts the transaction (RFC 5321 §4.1.1.4: nothing is delivered before the
        final dot); RSET would be taken as content.
        """
        mail = self._reply(smtp)
        refused: list[tuple[str, int, bytes]] = []
        for rcpt in env.recipients:
            code, reply = self._reply(smtp)
            if code not in {250, 251}:
                refused.append((rcpt, code, reply))
        code, reply = self._reply(smtp)
        stop = hooks.answer is False or mail[0] != 250 or len(refused) == len(env.recipients)
        if code == 354 and stop:
            self._discard()
        if hooks.answer is False:
            self._reset()
            raise _Declined
        self._check_reply("MAIL", *mail, env)
        self._check_recipients(env, refused)
        if code != 354:
            self._check_reply("DATA", code, reply, env)
        return refused

    def _reply(self, smtp: smtplib.SMTP) -> tuple[int, bytes]:
        """The next reply before the content went out. A connection that broke or timed out,
        or a 421 (the server is closing it, having accepted nothing), is `_Dropped`."""
        try:
            code, reply = smtp.getreply()
        except (smtplib.SMTPServerDisconnected, OSError) as exc:
            raise _Dropped(str(exc)) from exc
        if code == 421:
            raise _Dropped(self._scrub(f"{code} {_words(reply)}"))
        return code, reply

    def _check_recipients(self, env: _Envelope, refused: list[tuple[str, int, bytes]]) -> None:
        """Raise when the server refused every recipient (RSET first); some refused is fine."""
        if len(refused) < len(env.recipients):
            return
        self._reset()
        # A 4xx for any of them means a later try may get through.
        temporary = [r for r in refused if r[1] < 500]
        rcpt, code, reply = (temporary or refused)[0]
        raise self._reply_error("RCPT", code, reply, rcpt)

    def _content(
        self, smtp: smtplib.SMTP, env: _Envelope, meanwhile: Callable[[], None] | None
    ) -> None:
        """After the server's 354: the message, then its confirmation."""
        try:
            smtp.send(env.payload)
        except (smtplib.SMTPServerDisconnected, OSError) as exc:
            # sendall() failed, so the final bytes (the "." terminator) never left: the
            # server cannot have taken the message.
            raise _Dropped(str(exc)) from exc
        if meanwhile is not None:
            try:
                meanwhile()
            except BaseException:
                self._discard()
                raise
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
                said,
            )
        if stage == "NOOP":
            return SmtpTransientError(
                f"{self._settings.host} answered NOOP with {said}", code, said
            )
        if 400 <= code < 500:
            return SmtpTransientError(
                f"{self._settings.host} asked to try again later for {target}: {said}",
                code,
                said,
            )
        if 500 <= code < 600 and stage == "MAIL":
            return SmtpSenderRefused(
                f"{self._settings.host} refused the sender address {target}: {said}",
                code,
                said,
            )
        if 500 <= code < 600:
            what = "the recipient" if stage == "RCPT" else "the message for"
            return SmtpRecipientRefused(
                f"{self._settings.host} refused {what} {target}: {said}", code, said
            )
        return SmtpTransientError(
            f"{self._settings.host} gave an unexpected answer for {target}: {said}",
            code if code > 0 else None,
            said,
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
            busy = 400 <= exc.smtp_code < 500  # e.g. 421 too many connections
            error_type = SmtpBusyError if busy else SmtpConnectError
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
            # A 4xx greeting reply (421 "too many connections") is the server asking for
            # fewer connections, not a wrong setting.
            error_type = SmtpBusyError if 400 <= exc.smtp_code < 500 else SmtpConnectError
            raise error_type(
                f"{s.address} refused to start the session: {said}", exc.smtp_code
            ) from None
        except (smtplib.SMTPException, OSError) as exc:
            raise self._network_error(exc, mid_session=mid_session) from exc
        if s.username:
            self._login(smtp, mid_session=mid_session)

    def _login(self, smtp: smtplib.SMTP, *, mid_session: bool) -> None:
        """AUTH with the first offered mechanism that accepts (CRAM-MD5, PLAIN, LOGIN).

        The exchange is written here rather than with `smtplib.login`, which sends the
        credentials as ASCII and so cannot log in with "Jürgen" or "пароль": they go as
        UTF-8, as RFC 4616 (PLAIN) and RFC 4954 want (LOGIN and CRAM-MD5, RFC 2195, use
        the same bytes). Like smtplib, a mechanism the server refuses (535) is followed by
        the next one offered. Raises SmtpAuthError, or the mapped network error.
        """
        s = self._settings
        if not smtp.has_extn("auth"):
            raise SmtpAuthError(
                f"{s.address} does not offer a login {_SECURITY_WORDS[s.security]}. If it "
                "needs none, clear the username; if it allows login over an encrypted "
                "connection only, choose STARTTLS or SSL/TLS."
            )
        offered = smtp.esmtp_features.get("auth", "").upper().split()
        mechanisms = [name for name in _AUTH_MECHANISMS if name in offered]
        if not mechanisms:
            raise SmtpAuthError(
                f"{s.address} offers no login method this app supports "
                f"(PLAIN, LOGIN or CRAM-MD5; it offers {' '.join(offered) or 'none'})."
            )
        user, password = s.username.encode("utf-8"), s.password.encode("utf-8")
        refused: tuple[int, bytes] = (0, b"")
        for mechanism in mechanisms:
            try:
                code, reply = _authenticate(smtp, mechanism, user, password)
            except (smtplib.SMTPServerDisconnected, OSError) as exc:
                raise self._network_error(exc, mid_session=mid_session) from None
            if code in {235, 503}:  # 503: already logged in on this session
                return
            refused = (code, reply)
            if code != 535:  # anything but "credentials refused" will not improve
                break
        code, reply = refused
        said = self._scrub(f"{code} {_words(reply)}")
        if code == 535:
            raise SmtpAuthError(
                f"{s.address} refused the username or password for “{s.username}”: {said}", code
            )
        raise SmtpAuthError(f"{s.address} refused the login: {said}", code)

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


def _authenticate(
    smtp: smtplib.SMTP, mechanism: str, user: bytes, password: bytes
) -> tuple[int, bytes]:
    """One SASL exchange in UTF-8 bytes; the server's final (code, reply).

    PLAIN: RFC 4616 message ``authzid NUL authcid NUL passwd`` as the initial response
    (RFC 4954 §4). LOGIN: user name, then password, each answering a 334 prompt.
    CRAM-MD5: RFC 2195, the HMAC-MD5 of the server's challenge keyed with the password.
    """

    def send(data: bytes) -> tuple[int, bytes]:
        return smtp.docmd(_b64(data))

    if mechanism == "PLAIN":
        code, reply = smtp.docmd("AUTH", "PLAIN " + _b64(b"\0" + user + b"\0" + password))
        if code == 334:  # a server that wants the response on its own line
            code, reply = send(b"\0" + user + b"\0" + password)
        return code, reply
    if mechanism == "LOGIN":
        code, reply = smtp.docmd("AUTH", "LOGIN " + _b64(user))
        if code == 334:
            code, reply = send(password)
        return code, reply
    code, reply = smtp.docmd("AUTH", "CRAM-MD5")
    if code != 334:
        return code, reply
    try:
        challenge = base64.b64decode(reply)
    except binascii.Error:
        return code, b"(an unreadable CRAM-MD5 challenge) " + reply
    digest = hmac.new(password, challenge, "md5").hexdigest().encode("ascii")
    return send(user + b" " + digest)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


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
