"""A real SMTP server for tests: aiosmtpd on 127.0.0.1 that records what it receives.

Faults (4xx/5xx replies, dropped connections, logins) are chosen per test, not mocked.

Usage::

    handler = RecordingHandler(tempfail={"bob@example.com": 1})
    with running_smtp_server(handler, auth=("ann", "secret")) as server:
        ...  # connect to server.host:server.port
        assert handler.wait_for(1)
"""

from __future__ import annotations

import asyncio
import datetime as dt
import email
import email.policy
import errno
import ipaddress
import socket
import ssl
import threading
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from email.message import EmailMessage
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

HOST = "127.0.0.1"
SERVER_NAME = "smtp.test"  # given to aiosmtpd so it never asks DNS for the machine's name


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (aiosmtpd's Controller cannot take port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(frozen=True)
class ReceivedMessage:
    """One message the server accepted."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    content: bytes  # exactly the bytes after DATA, dot-unstuffed
    login: str | None  # the user name the session logged in with, if any
    smtp_utf8: bool = False  # the client asked for SMTPUTF8 (raw UTF-8 headers)

    @cached_property
    def message(self) -> EmailMessage:
        """`content` parsed with the modern email policy, as a mailbox stores it (LF ends).

        Parsed on first use, in the test's thread, so that the server stays fast enough
        for benchmarks.
        """
        stored = self.content.replace(b"\r\n", b"\n")
        if self.smtp_utf8:  # the bytes parser would leave raw UTF-8 headers undecoded
            parsed = email.message_from_string(stored.decode("utf-8"), policy=email.policy.default)
        else:
            parsed = email.message_from_bytes(stored, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed

    @property
    def text(self) -> str:
        """The plain-text body, line ends as LF (base64 parts keep MIME's CRLF otherwise)."""
        return _body(self.message, "plain")

    @property
    def html(self) -> str | None:
        """The HTML body with LF line ends, or None for a text-only message."""
        return _body(self.message, "html") if self.message.get_body(("html",)) else None


def _body(message: EmailMessage, subtype: str) -> str:
    part = message.get_body((subtype,))
    assert part is not None, f"the message has no text/{subtype} part"
    content = part.get_content()
    assert isinstance(content, str)
    return content.replace("\r\n", "\n")


class RecordingHandler:
    """An aiosmtpd handler that records accepted messages and injects the faults asked for.

    - `tempfail`: recipient → how many times to answer RCPT with 451 before accepting.
    - `refuse`: recipients always answered with 550 (`refuse_reply`).
    - `data_reply`: a reply given instead of 250 after DATA (e.g. "554 5.7.1 Spam").
    - `max_sessions`: more sessions than this at once get "421 Too many connections" in
      reply to EHLO/HELO (a provider's connection limit).
    - `data_tempfail_reply` / `data_tempfails`: the first `data_tempfails` messages get this
      4xx reply after DATA instead of 250 (e.g. a provider's rate limit).
    - `data_delay`: seconds the server waits after the data before it answers (a slow or,
      with a long delay, a silent server); settable while the server runs.
    - `drop_after` / `drops` / `drop_during`: once `drop_after` messages have been
      accepted (counting every connection), close the next `drops` connections without a
      reply, at MAIL (before any data: safe to retry) or after the DATA content arrived
      (before the reply: the client cannot know whether it was delivered).
    - `pipelining`: EHLO offers PIPELINING (RFC 2920), as most real servers do. aiosmtpd
      reads a session's commands one after another whether or not it offers it, so the
      replies to a group come in order, each as its command is handled. `grouped` counts
      the MAIL commands that arrived with their DATA command already behind them.
    - `refuse_senders`: MAIL FROM these addresses is answered `refuse_sender_reply`.

    The hooks run on the server's event-loop thread; everything read from the test thread
    goes through one lock.
    """

    def __init__(
        self,
        *,
        tempfail: Mapping[str, int] | None = None,
        tempfail_reply: str = "451 4.7.1 <{address}>: Greylisted, try again later",
        refuse: Iterable[str] = (),
        refuse_reply: str = "550 5.1.1 <{address}>: Recipient address rejected: User unknown",
        data_reply: str | None = None,
        drop_after: int | None = None,
        drops: int = 1,
        drop_during: Literal["mail", "data"] = "mail",
        data_delay: float = 0.0,
        max_sessions: int | None = None,
        data_tempfail_reply: str | None = None,
        data_tempfails: int = 0,
        pipelining: bool = False,
        refuse_senders: Iterable[str] = (),
        refuse_sender_reply: str = "553 5.7.1 <{address}>: Sender address rejected",
    ) -> None:
        self._cond = threading.Condition()
        self.pipelining = pipelining
        self._grouped = 0
        self._refuse_senders = frozenset(refuse_senders)
        self._refuse_sender_reply = refuse_sender_reply
        self._tempfail = dict(tempfail or {})
        self._tempfail_reply = tempfail_reply
        self._refuse = frozenset(refuse)
        self._refuse_reply = refuse_reply
        self._data_reply = data_reply
        self._drop_after = drop_after
        self._drops_left = drops if drop_after is not None else 0
        self._drop_during = drop_during
        self.data_delay = data_delay
        self._max_sessions = max_sessions
        self._active: set[int] = set()
        self._peak_active = 0
        self._busy_refusals = 0
        self._data_tempfail_reply = data_tempfail_reply
        self._data_tempfails_left = data_tempfails
        self._messages: list[ReceivedMessage] = []
        self._dropped_contents: list[bytes] = []
        self._drops_done = 0
        self._sessions = 0
        self._logins: list[tuple[str, bool]] = []
        #: Set by `running_smtp_server(auth=...)`: MAIL before a login gets 530.
        self.login_required = False

    # -- what the test reads -------------------------------------------------------------

    @property
    def messages(self) -> list[ReceivedMessage]:
        with self._cond:
            return list(self._messages)

    @property
    def drops_done(self) -> int:
        """How many connections the server cut on purpose."""
        with self._cond:
            return self._drops_done

    @property
    def dropped_contents(self) -> list[bytes]:
        """Message contents received just before a drop during DATA (never acknowledged)."""
        with self._cond:
            return list(self._dropped_contents)

    @property
    def grouped(self) -> int:
        """MAIL commands that came in one group with their RCPTs and DATA (pipelined)."""
        with self._cond:
            return self._grouped

    @property
    def sessions(self) -> int:
        """How many connections started at least one mail transaction."""
        with self._cond:
            return self._sessions

    @property
    def active(self) -> int:
        """Sessions open now (greeted and not yet QUIT)."""
        with self._cond:
            return len(self._active)

    @property
    def peak_active(self) -> int:
        """The most sessions that were open at once."""
        with self._cond:
            return self._peak_active

    @property
    def data_tempfails_left(self) -> int:
        """How many of the `data_tempfails` replies are still to come."""
        with self._cond:
            return self._data_tempfails_left

    @property
    def busy_refusals(self) -> int:
        """How many sessions were turned away with 421 for `max_sessions`."""
        with self._cond:
            return self._busy_refusals

    @property
    def logins(self) -> list[tuple[str, bool]]:
        """Every AUTH attempt as (user name, accepted)."""
        with self._cond:
            return list(self._logins)

    def wait_for(self, count: int, timeout: float = 5.0) -> bool:
        """Block until at least `count` messages were accepted; False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: len(self._messages) >= count, timeout)

    # -- aiosmtpd hooks ------------------------------------------------------------------

    def _take_drop(self, phase: str) -> bool:
        with self._cond:
            due = (
                self._drop_during == phase
                and self._drops_left > 0
                and self._drop_after is not None
                and len(self._messages) >= self._drop_after
            )
            if due:
                self._drops_left -= 1
                self._drops_done += 1
            return due

    def _greet(self, session: Any) -> str | None:
        """None to accept the session, or the 421 reply that turns it away."""
        with self._cond:
            if id(session) in self._active:
                return None
            if self._max_sessions is not None and len(self._active) >= self._max_sessions:
                self._busy_refusals += 1
                return "421 4.7.0 Too many connections from your host, try again later"
            self._active.add(id(session))
            self._peak_active = max(self._peak_active, len(self._active))
            return None

    async def handle_EHLO(  # noqa: N802 — aiosmtpd's hook name
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        refusal = self._greet(session)
        if refusal is not None:
            return [refusal]
        session.host_name = hostname
        if self.pipelining and responses and responses[0].startswith("250"):
            responses = [*responses[:-1], "250-PIPELINING", responses[-1]]
        return responses

    async def handle_HELO(  # noqa: N802 — aiosmtpd's hook name
        self, server: Any, session: Any, envelope: Any, hostname: str
    ) -> str:
        refusal = self._greet(session)
        if refusal is not None:
            return refusal
        session.host_name = hostname
        return f"250 {server.hostname}"

    async def handle_QUIT(  # noqa: N802 — aiosmtpd's hook name
        self, server: Any, session: Any, envelope: Any
    ) -> str:
        with self._cond:
            self._active.discard(id(session))
        return "221 Bye"

    async def handle_MAIL(  # noqa: N802 — aiosmtpd's hook name
        self, server: Any, session: Any, envelope: Any, address: str, mail_options: list[str]
    ) -> str:
        if self._take_drop("mail"):
            server.transport.close()
            return "421 4.4.2 (connection already closed by the test)"
        if self.login_required and not session.authenticated:
            return "530 5.7.0 Authentication required"
        # What the session has read but not handled yet (aiosmtpd's stream buffer): the rest
        # of a pipelined group is already there, a lockstep client's next command is not.
        unread = bytes(getattr(getattr(server, "_reader", None), "_buffer", b""))
        with self._cond:
            if unread.endswith(b"DATA\r\n"):
                self._grouped += 1
            if address in self._refuse_senders:
                return self._refuse_sender_reply.format(address=address)
            if not getattr(session, "recording_seen", False):
                session.recording_seen = True
                self._sessions += 1
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(  # noqa: N802 — aiosmtpd's hook name
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        with self._cond:
            if address in self._refuse:
                return self._refuse_reply.format(address=address)
            if self._tempfail.get(address, 0) > 0:
                self._tempfail[address] -= 1
                return self._tempfail_reply.format(address=address)
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 OK"

    async def handle_DATA(  # noqa: N802 — aiosmtpd's hook name
        self, server: Any, session: Any, envelope: Any
    ) -> str:
        content: bytes = envelope.original_content or envelope.content
        if self.data_delay:
            # A server that takes its time (or, with a long delay, one that never answers).
            await asyncio.sleep(self.data_delay)
        if self._take_drop("data"):
            with self._cond:
                self._dropped_contents.append(content)
            server.transport.close()
            return "421 4.4.2 (connection already closed by the test)"
        if self._data_reply is not None:
            return self._data_reply
        with self._cond:
            if self._data_tempfails_left > 0 and self._data_tempfail_reply is not None:
                self._data_tempfails_left -= 1
                return self._data_tempfail_reply
        received = ReceivedMessage(
            mail_from=envelope.mail_from,
            rcpt_tos=tuple(envelope.rcpt_tos),
            content=content,
            login=_login_name(session),
            smtp_utf8=bool(envelope.smtp_utf8),
        )
        with self._cond:
            self._messages.append(received)
            self._cond.notify_all()
        return "250 2.0.0 OK: queued"

    def record_login(self, user: str, accepted: bool) -> None:
        with self._cond:
            self._logins.append((user, accepted))


def _login_name(session: Any) -> str | None:
    auth_data = getattr(session, "auth_data", None)
    if isinstance(auth_data, LoginPassword):
        return auth_data.login.decode("utf-8", "replace")
    return None


@dataclass(frozen=True)
class SmtpServer:
    """A running test server: where to connect and what it received."""

    host: str
    port: int
    handler: RecordingHandler


def _authenticator(
    handler: RecordingHandler, username: str, password: str
) -> Any:  # aiosmtpd's AuthenticatorType
    def authenticate(
        server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
    ) -> AuthResult:
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        user = auth_data.login.decode("utf-8", "replace")
        accepted = user == username and auth_data.password.decode("utf-8", "replace") == password
        handler.record_login(user, accepted)
        # A failed login gets aiosmtpd's own "535 5.7.8 Authentication credentials invalid".
        return AuthResult(success=accepted, handled=False, auth_data=auth_data)

    return authenticate


@contextmanager
def running_smtp_server(
    handler: RecordingHandler | None = None,
    tls_context: ssl.SSLContext | None = None,
    require_starttls: bool = False,
    auth: tuple[str, str] | None = None,
    *,
    ssl_context: ssl.SSLContext | None = None,
    port: int | None = None,
    smtp_options: Mapping[str, Any] | None = None,
) -> Iterator[SmtpServer]:
    """Run aiosmtpd on 127.0.0.1 for the duration of the `with` block.

    `tls_context` offers STARTTLS; `ssl_context` makes the whole port TLS (SMTPS).
    `port` reuses a port (e.g. to restart a server under a connected client); by default
    a free one is picked. `auth=(user, password)` makes the server offer AUTH (also
    without TLS, so tests can exercise it on a plain connection) and answer MAIL before a
    login with 530. `smtp_options` go to aiosmtpd's SMTP class as they are, e.g.
    ``{"enable_SMTPUTF8": False}`` for a server without SMTPUTF8, or
    ``{"auth_exclude_mechanism": ["PLAIN"]}``.
    """
    handler = handler or RecordingHandler()
    auth_kwargs: dict[str, Any] = {}
    if auth is not None:
        # The handler demands the login (530), not aiosmtpd's auth_required: that one warns
        # whenever TLS is not also required, and SMTPS sessions never count as TLS for it.
        handler.login_required = True
        auth_kwargs = {"authenticator": _authenticator(handler, *auth), "auth_require_tls": False}
    auth_kwargs.update(smtp_options or {})
    for attempt in range(5):
        chosen = port or free_port()
        controller = Controller(
            handler,
            hostname=HOST,
            port=chosen,
            server_hostname=SERVER_NAME,
            ssl_context=ssl_context,
            tls_context=tls_context,
            require_starttls=require_starttls,
            ready_timeout=10.0,
            **auth_kwargs,
        )
        try:
            controller.start()
        except OSError as exc:
            # Another process took the port between free_port() and the bind: pick again.
            if exc.errno != errno.EADDRINUSE or port or attempt == 4:
                raise
            continue
        break
    try:
        yield SmtpServer(HOST, chosen, handler)
    finally:
        controller.stop()


def make_self_signed_cert(directory: Path) -> tuple[Path, Path]:
    """Write a self-signed certificate for 127.0.0.1/localhost and its key; return the paths.

    The certificate is its own CA (basicConstraints CA, key identifiers) so that it
    verifies as a trust anchor even under OpenSSL's strict X.509 checks.
    """
    from cryptography import x509  # noqa: PLC0415 — only the TLS tests pay for the import
    from cryptography.hazmat.primitives import hashes, serialization  # noqa: PLC0415
    from cryptography.hazmat.primitives.asymmetric import ec  # noqa: PLC0415
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID  # noqa: PLC0415

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "campaign-desktop test server")])
    now = dt.datetime.now(dt.UTC)
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address(HOST)), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(ski, critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False
        )
        .sign(key, hashes.SHA256())
    )
    cert_path = directory / "server-cert.pem"
    key_path = directory / "server-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def server_tls_context(cert_path: Path, key_path: Path) -> ssl.SSLContext:
    """The server side of TLS for `running_smtp_server(tls_context=…/ssl_context=…)`."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_path, key_path)
    return context
