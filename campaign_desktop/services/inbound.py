"""The reply mailbox: bounces and unsubscribes come back by themselves (docs/design.md §11).

`InboundService.process_message(raw)` reads one message and says what it is — a hard bounce,
a soft bounce, an unsubscribe request, an automatic reply, or other — finds the delivery it
is about (its token, the original Message-ID, or the failed address) and applies the effect
(`services/feedback.py`) in one transaction with the message's row in `inbound_message`,
whose UNIQUE key makes the same message twice have one effect. `check_mailbox()` reads the
new messages of the watched IMAP folder, processes each, and moves the handled ones to the
processed folder (never deleting); the rest stay where they were, unread.

Bounce detection: RFC 3464 delivery-status parts first (Status 5.x.x hard, 4.x.x soft;
Action failed/delayed), then `flufl.bounce`, which knows the non-standard shapes (Postfix,
Exim, qmail, Exchange, …: permanent → hard, temporary → soft).

The IMAP channel (imapclient), flufl.bounce and the templates' words are imported when a
mailbox or a message is first handled, not with this module (issue 16: not at start-up).
"""

from __future__ import annotations

import csv
import functools
import hashlib
import io
import json
import logging
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from email.header import decode_header, make_header
from email.message import Message
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from campaign_desktop.domain.clock import Clock
from campaign_desktop.domain.emails import normalize_email
from campaign_desktop.domain.errors import CredentialsError, DomainError, ValidationError
from campaign_desktop.domain.events import ContactsUnsubscribed, EventBus, MailboxChecked
from campaign_desktop.domain.status import (
    ContactStatus,
    DeliveryStatus,
    InboundKind,
    SmtpSecurity,
)
from campaign_desktop.domain.tokens import TOKEN_PATTERN, DeliveryTokens
from campaign_desktop.persistence.db import Database
from campaign_desktop.persistence.models import Contact, Delivery, InboundMessage, Setting
from campaign_desktop.persistence.portable import insert_or_ignore
from campaign_desktop.services import feedback
from campaign_desktop.services.credentials import CredentialStore
from campaign_desktop.services.settings import SettingsService

if TYPE_CHECKING:
    from campaign_desktop.channels.imap import ImapSettings

    IMAP_PORTS: dict[SmtpSecurity, int]  # at run time from `__getattr__` below


def __getattr__(name: str) -> Any:
    """`IMAP_PORTS`: the usual IMAP port of each security (993 SSL, 143 otherwise), for the
    Settings page; read from the IMAP channel when asked (see the module docstring)."""
    if name == "IMAP_PORTS":
        from campaign_desktop.channels.imap import DEFAULT_PORTS  # noqa: PLC0415

        return DEFAULT_PORTS
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


log = logging.getLogger("campaign_desktop.inbound")

#: Larger messages are not read (a bounce of a campaign message is a few kilobytes; a huge
#: attachment is no bounce and no unsubscribe): left where they are, counted as ignored.
MAX_MESSAGE_BYTES = 2_000_000
#: The most text searched for tokens and codes in one message.
_MAX_TEXT = 400_000
#: The `setting` row remembering the last UID read, per folder and UIDVALIDITY.
CURSOR_KEY = "inbound.cursor"
#: Kinds whose message is moved to the processed folder.
HANDLED = frozenset(
    {
        InboundKind.HARD_BOUNCE,
        InboundKind.SOFT_BOUNCE,
        InboundKind.UNSUBSCRIBE,
        InboundKind.AUTO_REPLY,
    }
)

_STATUS = re.compile(r"(?<![\d.])([245])\.(\d{1,3})\.(\d{1,3})(?![\d.])")


@functools.cache
def _unsubscribe_subject() -> re.Pattern[str]:
    """A subject that asks to unsubscribe (the word the app's mailto links put there)."""
    from campaign_desktop.domain.templates import UNSUBSCRIBE_SUBJECT  # noqa: PLC0415

    return re.compile(rf"^\s*{UNSUBSCRIBE_SUBJECT}\b", re.IGNORECASE)


_AUTO_SUBJECT = re.compile(
    r"^\s*(out of (the )?office|automatic reply|auto(matic)?[- ]?(reply|response)|"
    r"autoreply|abwesenheitsnotiz|r[ée]ponse automatique|vacation)",
    re.IGNORECASE,
)
_MESSAGE_ID = re.compile(r"<[^<>\s]{1,900}>")


@dataclass(frozen=True)
class InboundResult:
    """What one message was and what it did.

    `kind` (an `InboundKind`); `email` the contact's address ("" when none was found);
    `effect` what was done, in words; `duplicate` True when the message was processed before
    (nothing changed now); `forged_tokens` token-shaped strings that failed the check.
    """

    kind: InboundKind
    email: str
    effect: str
    delivery_id: int | None = None
    duplicate: bool = False
    forged_tokens: int = 0
    bounced: bool = False  # a contact became bounced now
    unsubscribed: bool = False  # a contact became unsubscribed now

    @property
    def handled(self) -> bool:
        """Moved to the processed folder (bounces, unsubscribes, automatic replies)."""
        return self.kind in HANDLED


#: The settings that say which mailbox is read (what "Check now" compares with the saved).
ACCOUNT_KEYS = (
    "inbound.host",
    "inbound.port",
    "inbound.security",
    "inbound.username",
    "inbound.ca_file",
    "inbound.folder",
    "inbound.processed_folder",
)


@dataclass
class MailboxReport:
    """What one `check_mailbox()` did: messages read per kind, contacts changed, moved."""

    read: int = 0
    kinds: dict[str, int] = field(default_factory=dict)
    duplicates: int = 0
    bounced: int = 0  # contacts newly bounced
    unsubscribed: int = 0  # contacts newly unsubscribed
    moved: int = 0
    results: list[InboundResult] = field(default_factory=list)
    cancelled: bool = False  # stopped on request before the last new message

    def count(self, kind: InboundKind) -> int:
        return self.kinds.get(kind.value, 0)

    def add(self, result: InboundResult) -> None:
        self.read += 1
        self.kinds[result.kind.value] = self.kinds.get(result.kind.value, 0) + 1
        self.duplicates += int(result.duplicate)
        self.bounced += int(result.bounced)
        self.unsubscribed += int(result.unsubscribed)
        self.results.append(result)


@dataclass(frozen=True)
class AccountCheck:
    """What "Check now" found with the account typed in Settings (`InboundService.check_now`).

    `address` host:port logged in to; `folder` the watched folder; `messages` how many it
    holds, when only counted (the typed account is not the saved one: nothing processed);
    `report` what processing the saved account's mailbox did (else None).
    """

    address: str
    folder: str
    messages: int | None
    report: MailboxReport | None


@dataclass(frozen=True)
class _Failure:
    address: str
    status: str  # "5.1.1", or "" when the report gave none
    permanent: bool
    diagnostic: str


@dataclass
class _Reading:
    """One message as read, before the database is asked anything."""

    kind: InboundKind
    key: str
    subject: str = ""
    text: str = ""
    failures: list[_Failure] = field(default_factory=list)
    message_ids: list[str] = field(default_factory=list)
    why: str = ""
    sender: str = ""  # the From address ("" when it has none)


def same_mailbox(first: str, second: str) -> bool:
    """Whether two IMAP mailbox names are one mailbox: names compare exactly, except INBOX,
    which is case-insensitive (RFC 3501 §5.1: "inbox" is INBOX); surrounding spaces are
    not part of a name typed in Settings. Moving processed mail from INBOX to "inbox" moved
    it back where it was, and every check read it again."""
    one, other = first.strip(), second.strip()
    if one.upper() == "INBOX" and other.upper() == "INBOX":
        return True
    return one == other


class InboundService:
    """Reads the reply mailbox and applies what it finds (one door: GUI, scheduler, tests)."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        events: EventBus,
        settings: SettingsService,
        credentials: CredentialStore,
    ) -> None:
        self._db = db
        self._clock = clock
        self._events = events
        self._settings = settings
        self._credentials = credentials
        self._tokens: DeliveryTokens | None = None
        self._checking = threading.Lock()  # one mailbox check at a time in this process
        self._last_error = ""  # told once, not every 10 minutes while it lasts

    # --- settings ------------------------------------------------------------------------

    def configured(self) -> bool:
        """True when an IMAP server is set (the scheduler checks only then)."""
        return bool(self._settings.get("inbound.host"))

    def set_account(
        self,
        *,
        host: str,
        port: int,
        security: str,
        username: str,
        password: str | None = None,
        folder: str = "INBOX",
        processed_folder: str = "Processed by Campaign Desktop",
        ca_file: str = "",
    ) -> None:
        """Save the IMAP account; the password goes to the keyring (None keeps the stored
        one). Raises ValidationError (nothing saved) or CredentialsError (no keyring)."""
        values = {
            "inbound.host": host,
            "inbound.port": port,
            "inbound.security": security,
            "inbound.username": username,
            "inbound.folder": folder,
            "inbound.processed_folder": processed_folder,
            "inbound.ca_file": ca_file,
        }
        if not str(host).strip():
            raise ValidationError("inbound.host", "Enter the IMAP server's host name.")
        if same_mailbox(str(folder), str(processed_folder)):
            raise ValidationError(
                "inbound.processed_folder",
                "Processed messages need a folder of their own, not the one that is watched.",
            )
        # Checked before the keyring is touched, so a bad value changes nothing.
        for key, value in values.items():
            self._settings.clean(key, value)
        if password is not None:
            self._credentials.set_password(password_key(str(username).strip(), host), password)
        self._settings.set_many(values)

    def imap_settings(
        self, overrides: dict[str, object] | None = None, password: str | None = None
    ) -> ImapSettings:
        """The account to connect with (settings, `overrides` on top; the password from the
        keyring unless given). Raises ValidationError when no server is set."""
        values = {**self._settings.all(), **(overrides or {})}
        host = str(values["inbound.host"]).strip()
        if not host:
            raise ValidationError("inbound.host", "Set up the reply mailbox in Settings first.")
        username = str(values["inbound.username"]).strip()
        if password is None:
            password = self._credentials.get_password(password_key(username, host))
        from campaign_desktop.channels.imap import ImapSettings  # noqa: PLC0415  (module docstring)

        return ImapSettings(
            host=host,
            port=int(str(values["inbound.port"])),
            security=SmtpSecurity(str(values["inbound.security"])),
            username=username,
            password=password,
            ca_file=str(values["inbound.ca_file"]) or None,
            timeout=float(str(values["smtp.timeout_seconds"])),
        )

    def test_connection(self, settings: ImapSettings, folder: str) -> str:
        """Log in and look for `folder`; returns a sentence for the user. Raises ImapError."""
        from campaign_desktop.channels.imap import ImapError, ImapMailbox  # noqa: PLC0415

        with ImapMailbox(settings) as mailbox:
            folders = mailbox.folders()
        if folder not in folders:
            raise ImapError(
                f"Logged in, but the mailbox has no folder called “{folder}”. "
                f"It has: {', '.join(folders[:10])}."
            )
        return f"Logged in to {settings.address}; the folder “{folder}” is there."

    def check_now(
        self,
        values: Mapping[str, object],
        *,
        password: str = "",
        progress: Callable[[int], None] | None = None,
        cancel: threading.Event | None = None,
    ) -> AccountCheck:
        """Settings ▸ "Check now" with the account as typed on the page (docs/design.md §20).

        `values` holds the `ACCOUNT_KEYS` as typed (unsaved; other keys are ignored but for
        "smtp.timeout_seconds", the connection timeout); `password` as typed ("" uses the one
        stored in the keyring for that user and server). Nothing is saved. When the typed
        account is the saved one, the mailbox is read and processed (`check_mailbox`, with
        `progress` and `cancel`); otherwise it is only logged in to and the watched folder's
        messages counted (`AccountCheck.report` is None): bounces are applied from the
        mailbox that the scheduler will go on reading, never from one typed but not saved.

        Raises ValidationError (a value refused: its field the setting key), CredentialsError
        (the keyring cannot be read), ImapError (the server: unknown host, closed port, TLS,
        refused login, missing folder) or StorageError. Waits for the network: not on the
        GUI thread.
        """
        account = self._checked_account(values)
        overrides: dict[str, object] = dict(account)
        if "smtp.timeout_seconds" in values:
            overrides["smtp.timeout_seconds"] = values["smtp.timeout_seconds"]
        settings = self.imap_settings(overrides, password=password or None)
        if self._is_saved_account(account, password):
            report = self.check_mailbox(settings, progress=progress, cancel=cancel)
            return AccountCheck(settings.address, str(account["inbound.folder"]), None, report)
        from campaign_desktop.channels.imap import ImapMailbox  # noqa: PLC0415  (module docstring)

        folder = str(account["inbound.folder"])
        with ImapMailbox(settings) as mailbox:
            messages = mailbox.count(folder)
        return AccountCheck(settings.address, folder, messages, None)

    def _checked_account(self, values: Mapping[str, object]) -> dict[str, object]:
        """The `ACCOUNT_KEYS` of `values`, cleaned by their SPECS; ValidationError else."""
        account = {key: self._settings.clean(key, values.get(key, "")) for key in ACCOUNT_KEYS}
        if not str(account["inbound.host"]).strip():
            raise ValidationError("inbound.host", "Enter the IMAP server's host name.")
        if same_mailbox(str(account["inbound.folder"]), str(account["inbound.processed_folder"])):
            raise ValidationError(
                "inbound.processed_folder",
                "Processed messages need a folder of their own, not the one that is watched.",
            )
        return account

    def _is_saved_account(self, account: Mapping[str, object], password: str) -> bool:
        """Whether `account` (cleaned) and `password` ("" for the stored one) are what the
        scheduler reads: the same settings, and no other password typed."""
        stored = self._settings.all()
        if any(stored[key] != value for key, value in account.items()):
            return False
        if not password:
            return True
        key = password_key(str(account["inbound.username"]), str(account["inbound.host"]))
        try:
            return self._credentials.get_password(key) == password
        except CredentialsError:
            return False  # no keyring: no password was saved, so a typed one is not it

    # --- one message ---------------------------------------------------------------------

    def tokens(self) -> DeliveryTokens:
        if self._tokens is None:
            self._tokens = feedback.load_tokens(self._db)
        return self._tokens

    def process_message(self, raw: bytes) -> InboundResult:
        """Classify one message and apply its effect once (see the module docstring).

        Never raises for what a message contains: unreadable, huge, forged or foreign
        tokens are `ignored` with the reason. Raises StorageError when the database fails
        (nothing half-written: the message row and the effect are one transaction).
        """
        reading = _read(raw)
        tokens = self.tokens()
        delivery_ids, forged = tokens.find(reading.subject + "\n" + reading.text)
        now = self._clock.now()
        with self._db.write() as session:
            inserted = session.scalar(
                insert_or_ignore(session, InboundMessage)
                .values(
                    message_key=reading.key, kind=reading.kind.value, effect="", processed_at=now
                )
                .returning(InboundMessage.id)
            )
            if inserted is None:  # the key is there already: processed before
                stored = session.scalar(
                    select(InboundMessage).where(InboundMessage.message_key == reading.key)
                )
                assert stored is not None
                return InboundResult(
                    InboundKind(stored.kind),
                    "",
                    f"Processed before ({stored.processed_at:%Y-%m-%d %H:%M} UTC): "
                    "nothing changed now.",
                    stored.delivery_id,
                    duplicate=True,
                )
            result = self._apply(session, reading, delivery_ids, forged)
            row = session.get(InboundMessage, inserted)
            assert row is not None
            row.kind = result.kind.value
            row.effect = result.effect[:2000]
            row.delivery_id = result.delivery_id
            row.contact_id = _contact_id(session, result.delivery_id)
        log.info("inbound message %s: %s — %s", reading.key[:60], result.kind, result.effect)
        return result

    def _apply(
        self, session: Session, reading: _Reading, delivery_ids: list[int], forged: int
    ) -> InboundResult:
        kind = reading.kind
        now = self._clock.now()
        if kind in (InboundKind.IGNORED, InboundKind.OTHER, InboundKind.AUTO_REPLY):
            words = {
                InboundKind.IGNORED: reading.why,
                InboundKind.OTHER: "Not a bounce or an unsubscribe: left for you, unread.",
                InboundKind.AUTO_REPLY: "An automatic reply: nothing to do.",
            }[kind]
            return InboundResult(kind, "", words, forged_tokens=forged)
        delivery = _find_delivery(session, reading, delivery_ids)
        if delivery is None:
            removed = _without_details(session, reading, delivery_ids, now)
            if removed is not None:
                return removed
            if forged:
                return InboundResult(
                    InboundKind.IGNORED,
                    "",
                    "Its token does not belong to this database (forged, or another "
                    "database's): nothing changed.",
                    forged_tokens=forged,
                )
            return InboundResult(
                InboundKind.OTHER,
                "",
                f"Looks like {_KIND_WORDS[kind]}, but no message of ours was found for it: "
                "left for you, unread.",
            )
        if kind == InboundKind.UNSUBSCRIBE:
            effect = feedback.unsubscribe(
                session,
                delivery,
                reason=f"Asked to unsubscribe by email ({_clip(reading.subject)}).",
                now=now,
            )
            return InboundResult(
                kind,
                effect.email,
                effect.words,
                delivery.id,
                forged_tokens=forged,
                unsubscribed=effect.unsubscribed,
            )
        failure = _failure_for(reading.failures, delivery.email)
        hard = kind == InboundKind.HARD_BOUNCE
        effect = feedback.bounce(session, delivery, hard=hard, reason=_reason(failure), now=now)
        return InboundResult(
            kind,
            effect.email,
            effect.words,
            delivery.id,
            forged_tokens=forged,
            bounced=effect.bounced,
        )

    # --- the mailbox ---------------------------------------------------------------------

    def check_mailbox(
        self,
        settings: ImapSettings | None = None,
        *,
        progress: Callable[[int], None] | None = None,
        cancel: threading.Event | None = None,
    ) -> MailboxReport:
        """Read the watched folder's new messages, process each, move the handled ones.

        `progress(n)` is called (on this thread) after each of the n messages read; `cancel`,
        once set, stops before the next message (the report says `cancelled`; what was
        processed is moved and not read again). Raises ValidationError (no mailbox set up),
        CredentialsError (no keyring), ImapError (server trouble) or StorageError; whatever
        was processed before a failure stays processed (each message is its own transaction)
        and is not read again.
        """
        from campaign_desktop.channels.imap import ImapMailbox  # noqa: PLC0415  (module docstring)

        values = self._settings.all()
        folder = values["inbound.folder"]
        processed = values["inbound.processed_folder"]
        settings = settings or self.imap_settings()
        report = MailboxReport()
        with self._checking, ImapMailbox(settings) as mailbox:
            mailbox.ensure_folder(processed)
            validity = mailbox.select(folder)
            last = self._cursor(folder, validity)
            handled: list[int] = []
            try:
                for message in mailbox.messages_after(last, max_bytes=MAX_MESSAGE_BYTES):
                    if cancel is not None and cancel.is_set():
                        report.cancelled = True
                        break
                    if message.raw is None:
                        result = InboundResult(
                            InboundKind.IGNORED,
                            "",
                            f"Too large to be a bounce or an unsubscribe ({message.size:,} "
                            "bytes): left for you.",
                        )
                    else:
                        result = self.process_message(message.raw)
                    report.add(result)
                    if result.handled:
                        handled.append(message.uid)
                    last = message.uid
                    if progress is not None:
                        progress(report.read)
            finally:
                mailbox.move(handled, processed)
                report.moved = len(handled)
                self._save_cursor(folder, validity, last)
        self._events.publish(MailboxChecked(report.bounced, report.unsubscribed, report.moved))
        return report

    def check_if_configured(self) -> MailboxReport | None:
        """The scheduler's job: check when a mailbox is set up; failures are logged and told
        (a `MailboxChecked` with the reason), never raised."""
        if not self.configured():
            return None
        try:
            report = self.check_mailbox()
        except DomainError as exc:
            log.warning("reply mailbox not read: %s", exc.message)
            if exc.message != self._last_error:
                self._events.publish(MailboxChecked(0, 0, 0, error=exc.message))
            self._last_error = exc.message
            return None
        self._last_error = ""
        return report

    def _cursor(self, folder: str, validity: int) -> int:
        with self._db.read() as session:
            stored = session.scalar(select(Setting.value).where(Setting.key == CURSOR_KEY))
        if stored is None:
            return 0
        cursor = json.loads(stored)
        if cursor.get("folder") != folder or cursor.get("validity") != validity:
            return 0  # another folder, or the server renumbered it: read all (idempotent)
        return int(cursor.get("uid", 0))

    def _save_cursor(self, folder: str, validity: int, uid: int) -> None:
        value = json.dumps({"folder": folder, "validity": validity, "uid": uid})
        with self._db.write() as session:
            session.merge(Setting(key=CURSOR_KEY, value=value))

    # --- unsubscribes from the one-click page --------------------------------------------

    def import_unsubscribes(self, path: Path) -> tuple[int, list[tuple[int, str]]]:
        """Unsubscribe the contacts of a CSV exported from the unsubscribe page: one email
        address or token per row (the first column; a header row is skipped).

        Returns (contacts unsubscribed now, [(row number, reason skipped)]); publishes
        `ContactsUnsubscribed` when any was. Raises ValidationError when the file cannot be
        read, StorageError when the database fails (then nothing is unsubscribed). Reads a
        file and writes: not on the GUI thread.
        """
        try:
            text = Path(path).read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as exc:
            raise ValidationError("path", f"Could not read {path}: {exc}") from None
        tokens = self.tokens()
        done = 0
        skipped: list[tuple[int, str]] = []
        now = self._clock.now()
        with self._db.write() as session:
            for number, row in enumerate(csv.reader(io.StringIO(text)), start=1):
                value = (row[0] if row else "").strip()
                if not value or (number == 1 and _is_header(value)):
                    continue
                reason, became = _unsubscribe_one(session, tokens, value, now)
                if reason:
                    skipped.append((number, reason))
                done += int(became)
        if done:
            self._events.publish(ContactsUnsubscribed(done))
        return done, skipped


#: A first cell that names the column rather than holding an address or a token.
_HEADER_WORDS = frozenset({"email", "emailaddress", "mail", "address", "token", "contact"})


def _is_header(value: str) -> bool:
    """The unsubscribe file's header row: no address, and either a word that names the
    column ("E-mail", "Email address", "token") or, as before, no hyphen (a token has)."""
    if "@" in value:
        return False
    return "-" not in value or re.sub(r"[^a-z]", "", value.casefold()) in _HEADER_WORDS


_KIND_WORDS = {
    InboundKind.HARD_BOUNCE: "a bounce",
    InboundKind.SOFT_BOUNCE: "a temporary bounce",
    InboundKind.UNSUBSCRIBE: "an unsubscribe request",
}


def password_key(username: str, host: str) -> str:
    """The keyring entry of the reply mailbox's password (beside the SMTP one)."""
    return f"imap:{username}@{host.strip().lower()}"


def _unsubscribe_one(
    session: Session, tokens: DeliveryTokens, value: str, now: datetime
) -> tuple[str, bool]:
    """(reason the row was skipped or "", whether a contact became unsubscribed)."""
    if "@" in value:
        try:
            address = normalize_email(value)
        except ValidationError as exc:
            return exc.message, False
        contact = session.scalar(select(Contact).where(Contact.email == address))
        if contact is None:
            return f"{address} is not in your contacts.", False
        if contact.status != ContactStatus.SUBSCRIBED:
            return "", False
        contact.status = ContactStatus.UNSUBSCRIBED
        contact.unsubscribed_at = now
        contact.status_reason = "Unsubscribed on the unsubscribe page (imported)."
        contact.updated_at = now
        return "", True
    delivery_id = tokens.delivery_id(value)
    delivery = session.get(Delivery, delivery_id) if delivery_id is not None else None
    if delivery is None:
        why = (
            "Not an email address or a token of this database."
            if delivery_id is None
            else "The message of this token was removed from the history (the history "
            "setting); export email addresses instead."
        )
        return why, False
    effect = feedback.unsubscribe(
        session, delivery, reason="Unsubscribed on the unsubscribe page (imported).", now=now
    )
    return "", effect.unsubscribed


# --- reading a message (no database) ---------------------------------------------------


def _read(raw: bytes) -> _Reading:
    """What the message is, from its bytes alone."""
    key = "sha256:" + hashlib.sha256(raw).hexdigest()
    if len(raw) > MAX_MESSAGE_BYTES:
        return _Reading(
            InboundKind.IGNORED, key, why="Too large to be a bounce or an unsubscribe: ignored."
        )
    import email.policy  # noqa: PLC0415  (the parsers load with the first message read)
    from email.utils import parseaddr  # noqa: PLC0415  (likewise)

    try:
        # compat32 is the lenient parser: broken MIME still gives a Message (with defects).
        msg = email.message_from_bytes(raw, policy=email.policy.compat32)
        message_id = _header(msg, "Message-ID").strip()
        if _MESSAGE_ID.fullmatch(message_id) and len(message_id) <= 190:
            key = "mid:" + message_id
        reading = _Reading(InboundKind.OTHER, key, subject=_header(msg, "Subject"))
        reading.sender = parseaddr(_header(msg, "From"))[1]
        reading.text = _all_text(msg)
        reading.message_ids = _referenced_ids(msg)
        reading.failures = _dsn_failures(msg) or _detected_failures(msg, reading.text)
    except Exception as exc:  # a parser bug on hostile input must not stop the mailbox
        log.warning("unreadable inbound message: %s: %s", type(exc).__name__, exc)
        return _Reading(InboundKind.IGNORED, key, why="Unreadable message: ignored.")
    if reading.failures:
        hard = any(failure.permanent for failure in reading.failures)
        reading.kind = InboundKind.HARD_BOUNCE if hard else InboundKind.SOFT_BOUNCE
    elif _is_auto_reply(msg, reading.subject):
        reading.kind = InboundKind.AUTO_REPLY
    elif _unsubscribe_subject().match(reading.subject):
        reading.kind = InboundKind.UNSUBSCRIBE
    return reading


def _header(msg: Message, name: str) -> str:
    value = msg.get(name)
    if value is None:
        return ""
    try:
        return str(make_header(decode_header(str(value)))).replace("\r", "").replace("\n", " ")
    except (ValueError, LookupError, UnicodeError):
        return str(value)


def _all_text(msg: Message) -> str:
    """Every header and text part of the message and what it carries (bounced originals),
    decoded, up to `_MAX_TEXT` characters: where tokens and status codes are looked for."""
    pieces: list[str] = []
    size = 0
    for part in msg.walk():
        for name, value in part.items():
            pieces.append(f"{name}: {value}")
        if not part.is_multipart() and part.get_content_maintype() == "text":
            payload = part.get_payload(decode=True)
            if isinstance(payload, bytes):
                charset = part.get_content_charset() or "utf-8"
                try:
                    pieces.append(payload.decode(charset, errors="replace"))
                except LookupError:
                    pieces.append(payload.decode("utf-8", errors="replace"))
        size = sum(len(piece) for piece in pieces)
        if size > _MAX_TEXT:
            break
    return "\n".join(pieces)[:_MAX_TEXT]


def _referenced_ids(msg: Message) -> list[str]:
    """Message-IDs the message refers to: In-Reply-To, References, and those of the
    messages or headers it carries (a bounce's copy of the original)."""
    from email.parser import HeaderParser  # noqa: PLC0415  (loaded by `_read` already)

    found: list[str] = []
    for name in ("In-Reply-To", "References"):
        found += _MESSAGE_ID.findall(_header(msg, name))
    for part in msg.walk():
        if part is msg:
            continue
        found += _MESSAGE_ID.findall(_header(part, "Message-ID"))
        if part.get_content_type() == "text/rfc822-headers":
            payload = part.get_payload(decode=True)
            if isinstance(payload, bytes):
                inner = HeaderParser().parsestr(payload.decode("utf-8", errors="replace"))
                found += _MESSAGE_ID.findall(_header(inner, "Message-ID"))
    return list(dict.fromkeys(found))


def _dsn_failures(msg: Message) -> list[_Failure]:
    """The failed or delayed recipients of RFC 3464 message/delivery-status parts."""
    from email.parser import HeaderParser  # noqa: PLC0415  (loaded by `_read` already)

    failures: list[_Failure] = []
    for part in msg.walk():
        if part.get_content_type() != "message/delivery-status":
            continue
        payload = part.get_payload()
        if isinstance(payload, list):
            blocks: Iterable[Message] = [b for b in payload if isinstance(b, Message)]
        else:
            text = str(payload)
            blocks = [HeaderParser().parsestr(b) for b in re.split(r"\r?\n\s*\r?\n", text)]
        for block in blocks:
            action = _header(block, "Action").strip().lower()
            status_text = _header(block, "Status")
            match = _STATUS.search(status_text)
            status = ".".join(match.groups()) if match else ""
            if action in ("delivered", "relayed", "expanded") or not (action or status):
                continue
            permanent = status.startswith("5") or (not status and action == "failed")
            if not permanent and not (status.startswith("4") or action == "delayed"):
                continue
            recipient = _header(block, "Final-Recipient") or _header(block, "Original-Recipient")
            address = recipient.partition(";")[2].strip() or recipient.strip()
            diagnostic = _header(block, "Diagnostic-Code").partition(";")[2].strip()
            failures.append(_Failure(address.strip("<> "), status, permanent, diagnostic))
    return failures


def _detected_failures(msg: Message, text: str) -> list[_Failure]:
    """Failures found by flufl.bounce in the non-standard shapes it knows."""
    from flufl.bounce import all_failures  # noqa: PLC0415  (see the module docstring)

    try:
        temporary, permanent = all_failures(msg)
    except Exception as exc:  # its detectors are heuristics over hostile input
        log.warning("flufl.bounce failed on a message: %s: %s", type(exc).__name__, exc)
        return []
    failures = []
    for addresses, is_permanent in ((permanent, True), (temporary, False)):
        for raw_address in sorted(addresses):
            address = raw_address.decode("utf-8", errors="replace").strip("<> ")
            status, diagnostic = _status_near(text, address)
            failures.append(_Failure(address, status, is_permanent, diagnostic))
    return failures


def _status_near(text: str, address: str) -> tuple[str, str]:
    """An enhanced status code and its line after `address` in a plain-text bounce."""
    at = text.lower().find(address.lower())
    window = text[at : at + 1500] if at >= 0 else text[:3000]
    match = _STATUS.search(window)
    if match is None:
        return "", ""
    line_start = window.rfind("\n", 0, match.start()) + 1
    line_end = window.find("\n", match.end())
    line = window[line_start : line_end if line_end >= 0 else None].strip()
    return ".".join(match.groups()), line[:300]


def _is_auto_reply(msg: Message, subject: str) -> bool:
    """An automatic reply (RFC 3834 Auto-Submitted, the common vendor headers, or an
    out-of-office subject)."""
    auto = _header(msg, "Auto-Submitted").strip().lower()
    if auto and not auto.startswith("no"):
        return True
    if any(msg.get(name) for name in ("X-Autoreply", "X-Autorespond", "X-Auto-Response-Suppress")):
        return True
    if _header(msg, "Precedence").strip().lower() in ("auto_reply", "auto-reply"):
        return True
    return bool(_AUTO_SUBJECT.match(subject))


def _failure_for(failures: list[_Failure], address: str) -> _Failure | None:
    for failure in failures:
        if failure.address.lower() == address.lower():
            return failure
    return failures[0] if failures else None


def _reason(failure: _Failure | None) -> str:
    if failure is None:
        return "The mail server reported the message undeliverable."
    words = failure.diagnostic or ("permanent failure" if failure.permanent else "delayed")
    status = f"{failure.status} " if failure.status else ""
    return f"Bounced: {status}{words}".strip()


#: A token as `DeliveryTokens.find` reads one: in any case (a mail client may upper-case it).
_ANY_CASE_TOKEN = re.compile(TOKEN_PATTERN.pattern, re.IGNORECASE)


def _clip(text: str, length: int = 120) -> str:
    """`text` on one line, without delivery tokens (machine noise in a reason a marketer
    reads), cut to `length` characters."""
    text = " ".join(_ANY_CASE_TOKEN.sub("", text).split())
    return text if len(text) <= length else text[: length - 1] + "…"


def _find_delivery(session: Session, reading: _Reading, delivery_ids: list[int]) -> Delivery | None:
    """The delivery a message is about: a valid token, the original Message-ID, or (bounces
    only) the failed address's latest sent message."""
    for delivery_id in delivery_ids:
        delivery = session.get(Delivery, delivery_id)
        if delivery is not None:
            return delivery
    if reading.message_ids:
        delivery = session.scalar(
            select(Delivery)
            .where(Delivery.smtp_message_id.in_(reading.message_ids[:50]))
            .order_by(Delivery.id.desc())
            .limit(1)
        )
        if delivery is not None:
            return delivery
    if reading.kind == InboundKind.UNSUBSCRIBE:
        return None  # only a token or our Message-ID proves who asked
    for failure in reading.failures:
        try:
            address = normalize_email(failure.address)
        except ValidationError:
            continue
        delivery = session.scalar(
            select(Delivery)
            .where(Delivery.email == address, Delivery.status == DeliveryStatus.SENT)
            .order_by(Delivery.sent_at.desc(), Delivery.id.desc())
            .limit(1)
        )
        if delivery is not None:
            return delivery
    return None


def _without_details(
    session: Session, reading: _Reading, delivery_ids: list[int], now: datetime
) -> InboundResult | None:
    """Feedback about a message whose delivery row the history retention removed
    (docs/design.md §15), applied to the contact found by address; None when none is.

    A hard bounce names the failed address. An unsubscribe needs a valid token of this
    database (the delivery it names is gone, but the token proves the person got a message
    of ours) and is applied to the contact that sent it (its From address). A temporary
    bounce needs the delivery rows it would be counted with: without them it changes
    nothing. No run's counts change: the run's details are gone.
    """
    if reading.kind == InboundKind.HARD_BOUNCE:
        for failure in reading.failures:
            contact = _contact_by_address(session, failure.address)
            if contact is not None:
                effect = feedback.bounce_contact(session, contact, reason=_reason(failure), now=now)
                return InboundResult(
                    reading.kind,
                    effect.email,
                    f"{effect.words} (The message's details were removed by the history "
                    "setting; the contact was found by address.)",
                    bounced=effect.bounced,
                )
    elif reading.kind == InboundKind.UNSUBSCRIBE and delivery_ids:
        contact = _contact_by_address(session, reading.sender)
        if contact is not None:
            effect = feedback.unsubscribe_contact(
                session,
                contact,
                reason=f"Asked to unsubscribe by email ({_clip(reading.subject)}).",
                now=now,
            )
            return InboundResult(
                reading.kind,
                effect.email,
                f"{effect.words} (The message's details were removed by the history "
                "setting; the contact was found by the sender's address.)",
                unsubscribed=effect.unsubscribed,
            )
    return None


def _contact_by_address(session: Session, address: str) -> Contact | None:
    try:
        normalized = normalize_email(address)
    except ValidationError:
        return None
    return session.scalar(select(Contact).where(Contact.email == normalized))


def _contact_id(session: Session, delivery_id: int | None) -> int | None:
    if delivery_id is None:
        return None
    return session.scalar(select(Delivery.contact_id).where(Delivery.id == delivery_id))
