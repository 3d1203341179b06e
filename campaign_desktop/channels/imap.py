"""The reply mailbox over IMAP (`imapclient`): read new messages, create and move to a folder.

Nothing here decides what a message is (`services/inbound.py` does); this module only talks
to the server, and every imapclient/ssl/socket failure leaves it as an `ImapError` a
marketer can read. Messages are read with BODY.PEEK[] (they stay unread), and nothing is
ever deleted: a move is IMAP MOVE (RFC 6851), or, on a server without it, COPY then
UID EXPUNGE of exactly the copied messages (UIDPLUS, RFC 4315); without either the
message is copied and only flagged seen.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import ssl
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self

import imapclient
from imapclient.exceptions import IMAPClientError, LoginError

from campaign_desktop.domain.errors import DomainError
from campaign_desktop.domain.status import SmtpSecurity

log = logging.getLogger(__name__)

#: The usual port for each security mode, for the settings form.
DEFAULT_PORTS: dict[SmtpSecurity, int] = {
    SmtpSecurity.NONE: 143,
    SmtpSecurity.STARTTLS: 143,
    SmtpSecurity.SSL: 993,
}
#: Messages fetched per FETCH command (memory stays bounded on a full mailbox).
FETCH_BATCH = 50


class ImapError(DomainError):
    """The mailbox cannot be read: unreachable, TLS, a refused login, a missing folder."""


@dataclass(frozen=True)
class ImapSettings:
    host: str
    port: int
    security: SmtpSecurity
    username: str
    password: str = field(repr=False)
    ca_file: str | None = None
    timeout: float = 30.0

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass(frozen=True)
class MailboxMessage:
    uid: int
    size: int  # bytes (RFC822.SIZE)
    raw: bytes | None  # None when the message is larger than the limit asked for


class ImapMailbox:
    """One logged-in IMAP connection (a context manager); raises ImapError."""

    def __init__(self, settings: ImapSettings) -> None:
        self._settings = settings
        self._client: imapclient.IMAPClient | None = None

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

    def open(self) -> None:
        """Connect (TLS verified as the settings say) and log in."""
        settings = self._settings
        context = ssl.create_default_context(cafile=settings.ca_file or None)
        try:
            client = imapclient.IMAPClient(
                settings.host,
                port=settings.port,
                ssl=settings.security == SmtpSecurity.SSL,
                ssl_context=context,
                timeout=settings.timeout,
            )
        except ssl.SSLCertVerificationError:
            raise ImapError(_certificate_words(settings)) from None
        except (OSError, IMAPClientError) as exc:
            hint = ""
            if (
                isinstance(exc, socket.timeout | TimeoutError)
                and settings.security != SmtpSecurity.SSL
            ):
                # A server that expects TLS at once waits, silent, for a handshake never sent.
                hint = "; a server expecting SSL/TLS on this port stays silent: check the security"
            raise ImapError(
                f"Could not connect to the IMAP server {settings.address} ({_reason(exc)}{hint})."
            ) from None
        self._client = client
        try:
            if settings.security == SmtpSecurity.STARTTLS:
                client.starttls(context)
            if (settings.username + settings.password).isascii():
                client.login(settings.username, settings.password)
            else:  # LOGIN cannot carry UTF-8 (imaplib sends ASCII); AUTHENTICATE PLAIN can
                client.plain_login(settings.username, settings.password)
        except ssl.SSLCertVerificationError:
            self.close()
            raise ImapError(_certificate_words(settings)) from None
        except LoginError:
            self.close()
            raise ImapError(
                f"The IMAP server {settings.address} refused the username or password."
            ) from None
        except (OSError, IMAPClientError) as exc:
            self.close()
            raise ImapError(
                f"The IMAP server {settings.address} could not be used ({_reason(exc)})."
            ) from None

    def close(self) -> None:
        client, self._client = self._client, None
        if client is None:
            return
        try:
            client.logout()
        except (OSError, IMAPClientError):
            with contextlib.suppress(OSError):
                client.shutdown()

    @property
    def client(self) -> imapclient.IMAPClient:
        if self._client is None:
            raise ImapError("Not connected to the IMAP server.")
        return self._client

    def folders(self) -> list[str]:
        """Every folder's name (for the settings' "Test connection")."""
        with self._errors("list the folders"):
            return [str(name) for _flags, _delimiter, name in self.client.list_folders()]

    def count(self, folder: str) -> int:
        """How many messages `folder` holds (IMAP STATUS: nothing is read or marked)."""
        with self._errors(f"look into the folder “{folder}”"):
            if not self.client.folder_exists(folder):
                raise ImapError(f"The mailbox has no folder called “{folder}”.")
            status = self.client.folder_status(folder, [b"MESSAGES"])
        return int(status.get(b"MESSAGES", 0))

    def ensure_folder(self, name: str) -> None:
        """Create folder `name` unless it exists."""
        with self._errors(f"create the folder “{name}”"):
            if not self.client.folder_exists(name):
                self.client.create_folder(name)
                log.info("created the IMAP folder %r", name)

    def select(self, folder: str) -> int:
        """Select `folder` for reading and moving; returns its UIDVALIDITY."""
        with self._errors(f"open the folder “{folder}”"):
            if not self.client.folder_exists(folder):
                raise ImapError(f"The mailbox has no folder called “{folder}”.")
            info = self.client.select_folder(folder)
        return int(info.get(b"UIDVALIDITY", 0))

    def messages_after(self, uid: int, *, max_bytes: int) -> Iterator[MailboxMessage]:
        """Messages of the selected folder with a UID above `uid`, in UID order; those
        larger than `max_bytes` come without their bytes (never downloaded)."""
        with self._errors("search the folder"):
            # "n:*" also matches the newest message when its UID is below n (RFC 3501 §6.4.8).
            uids = sorted(u for u in self.client.search(["UID", f"{uid + 1}:*"]) if u > uid)
        for start in range(0, len(uids), FETCH_BATCH):
            batch = uids[start : start + FETCH_BATCH]
            with self._errors("read the messages"):
                sizes = self.client.fetch(batch, ["RFC822.SIZE"])
                small = [u for u in batch if _size(sizes.get(u)) <= max_bytes]
                bodies = self.client.fetch(small, ["BODY.PEEK[]"]) if small else {}
            for message_uid in batch:
                size = _size(sizes.get(message_uid))
                data = bodies.get(message_uid, {}).get(b"BODY[]")
                yield MailboxMessage(message_uid, size, bytes(data) if data is not None else None)

    def move(self, uids: Sequence[int], folder: str) -> None:
        """Move messages of the selected folder to `folder` (never deleting any)."""
        if not uids:
            return
        client = self.client
        with self._errors(f"move messages to “{folder}”"):
            if client.has_capability("MOVE"):
                client.move(list(uids), folder)
                return
            client.copy(list(uids), folder)
            if client.has_capability("UIDPLUS"):
                client.delete_messages(list(uids))
                client.uid_expunge(list(uids))
            else:  # a plain EXPUNGE could remove what another client flagged: copy only
                client.add_flags(list(uids), [imapclient.SEEN])

    def append(self, folder: str, raw: bytes) -> None:
        """Add a message to `folder` (tests put bounces in the mailbox this way)."""
        with self._errors(f"add a message to “{folder}”"):
            self.client.append(folder, raw)

    def _errors(self, doing: str) -> contextlib.AbstractContextManager[None]:
        return _translated(self._settings, doing)


@contextlib.contextmanager
def _translated(settings: ImapSettings, doing: str) -> Iterator[None]:
    """imapclient/socket failures inside become an ImapError saying what was being done."""
    try:
        yield
    except ImapError:
        raise
    except (OSError, IMAPClientError) as exc:
        raise ImapError(
            f"Could not {doing} on the IMAP server {settings.address} ({_reason(exc)})."
        ) from None


def _size(item: dict[bytes, Any] | None) -> int:
    return int((item or {}).get(b"RFC822.SIZE", 0))


def _reason(exc: BaseException) -> str:
    """A failure in words a marketer can act on (the library's own text as a last resort)."""
    if isinstance(exc, socket.timeout | TimeoutError):
        return "no answer in time"
    if isinstance(exc, socket.gaierror):
        return "no server of that name was found: check the host name"
    if isinstance(exc, ConnectionRefusedError):
        return "nothing answers on that port: check the port and the security"
    if isinstance(exc, ssl.SSLError):
        # Not a certificate (those are `_certificate_words`): TLS spoken to a plain port, or
        # plain IMAP to a TLS port, fails the handshake with "wrong version number" and alike.
        return (
            "the secure connection could not be set up; the server may expect another "
            f"security or port ({exc.reason or exc})"
        )
    text = str(exc).strip() or exc.__class__.__name__
    return text[:300]


def _certificate_words(settings: ImapSettings) -> str:
    return (
        f"The certificate of the IMAP server {settings.address} could not be verified. If it "
        "uses a self-signed certificate, choose its CA file in Settings."
    )
