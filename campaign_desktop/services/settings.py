"""Domain settings: declared once (key, type, default, check), stored in the `setting` table.

Read them typed with `snapshot()` (a frozen `SettingsSnapshot`), check a form's values
without saving with `check()`, try the SMTP server with `test_smtp_connection()`. Secrets
never come here: the SMTP password goes to the keyring through `CredentialStore`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from campaign_desktop.domain.emails import normalize_email
from campaign_desktop.domain.errors import ValidationError
from campaign_desktop.domain.status import SmtpSecurity
from campaign_desktop.persistence.db import Database
from campaign_desktop.persistence.models import Setting
from campaign_desktop.services.credentials import CredentialStore

if TYPE_CHECKING:
    from campaign_desktop.channels.smtp import SmtpSettings

Check = Callable[[Any], Any]  # returns the cleaned value or raises ValidationError


def _whole_number(low: int, high: int, what: str) -> Check:
    def check(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise ValidationError("", f"{what} must be a whole number.")
        try:
            number = int(value)
        except ValueError:
            raise ValidationError("", f"{what} must be a whole number.") from None
        if not low <= number <= high:
            raise ValidationError("", f"{what} must be between {low} and {high}.")
        return number

    return check


def _number(low: float, high: float, what: str) -> Check:
    def check(value: Any) -> float:
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise ValidationError("", f"{what} must be a number.") from None
        if not low <= number <= high:
            raise ValidationError("", f"{what} must be between {low:g} and {high:g}.")
        return number

    return check


def _text(max_length: int = 500) -> Check:
    def check(value: Any) -> str:
        if not isinstance(value, str):
            raise ValidationError("", "Enter text.")
        text = value.strip()
        if len(text) > max_length:
            raise ValidationError("", f"Keep it under {max_length} characters.")
        return text

    return check


def _optional_email(value: Any) -> str:
    text: str = _text(320)(value)
    return normalize_email(text) if text else ""


def _security(value: Any) -> str:
    try:
        return SmtpSecurity(value).value
    except ValueError:
        raise ValidationError("", "Choose none, STARTTLS or SSL/TLS.") from None


def _ca_file(value: Any) -> str:
    text: str = _text(1000)(value)
    if text and not Path(text).is_file():
        raise ValidationError("", f"No certificate file at “{text}”.")
    return text


def _https_page(value: Any) -> str:
    text: str = _text(1000)(value)
    if text and not (text.lower().startswith("https://") and "{token}" in text):
        raise ValidationError(
            "", "Enter an https:// address with {token} where the token goes, or leave it empty."
        )
    return text


def _folder(value: Any) -> str:
    text: str = _text(200)(value)
    if not text:
        raise ValidationError("", "Enter a folder name.")
    return text


def _flag(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    raise ValidationError("", "Choose yes or no.")


@dataclass(frozen=True)
class SettingSpec:
    key: str
    default: Any
    check: Check
    label: str


SPECS: dict[str, SettingSpec] = {
    spec.key: spec
    for spec in (
        SettingSpec("smtp.host", "", _text(253), "SMTP server"),
        SettingSpec("smtp.port", 587, _whole_number(1, 65535, "The port"), "Port"),
        SettingSpec("smtp.security", "starttls", _security, "Security"),
        SettingSpec("smtp.username", "", _text(320), "Username"),
        SettingSpec("smtp.ca_file", "", _ca_file, "CA certificate file"),
        SettingSpec("smtp.timeout_seconds", 30.0, _number(1, 300, "The timeout"), "Timeout"),
        SettingSpec("sender.from_name", "", _text(200), "Sender name"),
        SettingSpec("sender.from_email", "", _optional_email, "Sender address"),
        SettingSpec("sender.reply_to", "", _optional_email, "Reply-to address"),
        SettingSpec(
            "throttle.per_minute",
            0,
            _whole_number(0, 100_000, "Messages per minute"),
            "Messages per minute (0 = no limit)",
        ),
        SettingSpec(
            "throttle.per_hour",
            0,
            _whole_number(0, 1_000_000, "Messages per hour"),
            "Messages per hour (0 = no limit)",
        ),
        SettingSpec(
            "schedule.grace_hours",
            24.0,
            _number(0, 24 * 14, "The grace window"),
            "Send missed runs late if at most this many hours late",
        ),
        # History retention (docs/design.md §15): 0 keeps every recipient's details forever.
        SettingSpec(
            "history.keep_months",
            0,
            _whole_number(0, 1200, "Months to keep delivery details"),
            "Keep each recipient's delivery details for … months (0 = forever)",
        ),
        SettingSpec(
            "ui.close_to_tray", True, _flag, "Closing the window keeps the app in the tray"
        ),
        SettingSpec(
            "sending.connections",
            4,
            _whole_number(1, 16, "Connections"),
            "SMTP connections per send",
        ),
        SettingSpec(
            "sending.max_attempts", 5, _whole_number(1, 10, "Attempts"), "Attempts per recipient"
        ),
        SettingSpec(
            "sending.retry_base_seconds",
            60.0,
            _number(0, 3600, "The retry delay"),
            "First retry delay after a 'try again later' reply (doubles each attempt)",
        ),
        SettingSpec(
            "sending.storage_retry_seconds",
            60.0,
            _number(0, 3600, "The database retry time"),
            "How long a busy or full database is retried before a send pauses",
        ),
        # The reply mailbox (docs/design.md §11); its password lives in the keyring.
        SettingSpec("inbound.host", "", _text(253), "IMAP server"),
        SettingSpec("inbound.port", 993, _whole_number(1, 65535, "The port"), "IMAP port"),
        SettingSpec("inbound.security", "ssl", _security, "IMAP security"),
        SettingSpec("inbound.username", "", _text(320), "IMAP username"),
        SettingSpec("inbound.ca_file", "", _ca_file, "IMAP CA certificate file"),
        SettingSpec("inbound.folder", "INBOX", _folder, "Folder to watch"),
        SettingSpec(
            "inbound.processed_folder",
            "Processed by Campaign Desktop",
            _folder,
            "Folder for processed messages",
        ),
        SettingSpec(
            "inbound.check_minutes",
            10,
            _whole_number(1, 24 * 60, "Minutes between checks"),
            "Check the mailbox every … minutes",
        ),
        SettingSpec(
            "inbound.unsubscribe_address",
            "",
            _optional_email,
            "Address that takes unsubscribe requests (empty: the campaign's reply-to or sender)",
        ),
        SettingSpec(
            "inbound.verp",
            False,
            _flag,
            "Bounces to bounces+token@ (the provider must support plus-addressing)",
        ),
        SettingSpec(
            "inbound.unsubscribe_page_url",
            "",
            _https_page,
            "Unsubscribe page URL with {token} (one-click, RFC 8058)",
        ),
    )
}


#: The settings that say how to reach the SMTP server (`set_smtp` stores them together).
SMTP_KEYS = ("smtp.host", "smtp.port", "smtp.security", "smtp.username", "smtp.ca_file")
#: How long "Test connection" waits at most, whatever the sending timeout is.
TEST_TIMEOUT_SECONDS = 15.0
_NEEDS_HOST = "Enter the SMTP server's host name."


@dataclass(frozen=True)
class SettingsSnapshot:
    """Every setting at one moment, typed: the field is the key with "." as "_"
    (`smtp.port` → `smtp_port`). Values are the cleaned ones `SPECS` checks give."""

    smtp_host: str
    smtp_port: int
    smtp_security: SmtpSecurity
    smtp_username: str
    smtp_ca_file: str
    smtp_timeout_seconds: float
    sender_from_name: str
    sender_from_email: str
    sender_reply_to: str
    throttle_per_minute: int
    throttle_per_hour: int
    schedule_grace_hours: float
    history_keep_months: int
    ui_close_to_tray: bool
    sending_connections: int
    sending_max_attempts: int
    sending_retry_base_seconds: float
    sending_storage_retry_seconds: float
    inbound_host: str
    inbound_port: int
    inbound_security: SmtpSecurity
    inbound_username: str
    inbound_ca_file: str
    inbound_folder: str
    inbound_processed_folder: str
    inbound_check_minutes: int
    inbound_unsubscribe_address: str
    inbound_verp: bool
    inbound_unsubscribe_page_url: str

    @classmethod
    def from_values(cls, values: Mapping[str, Any]) -> SettingsSnapshot:
        """From setting key → stored value (every key of `SPECS`)."""
        kinds: dict[str, Callable[[Any], Any]] = {
            "str": str,
            "int": int,
            "float": float,
            "bool": bool,
            "SmtpSecurity": SmtpSecurity,
        }
        return cls(
            **{
                field.name: kinds[str(field.type)](values[field.name.replace("_", ".", 1)])
                for field in fields(cls)
            }
        )


class SettingsService:
    """Typed access to the settings table, validated against `SPECS`."""

    def __init__(self, db: Database, credentials: CredentialStore) -> None:
        self._db = db
        self._credentials = credentials

    def get(self, key: str) -> Any:
        spec = self._spec(key)
        with self._db.read() as session:
            row = session.get(Setting, key)
            return spec.default if row is None else json.loads(row.value)

    def all(self) -> dict[str, Any]:
        """Setting key → value, for every key of `SPECS` (the default where none is stored)."""
        with self._db.read() as session:
            stored = {row.key: json.loads(row.value) for row in session.scalars(select(Setting))}
        return {key: stored.get(key, spec.default) for key, spec in SPECS.items()}

    def snapshot(self) -> SettingsSnapshot:
        """Every setting, typed, read in one transaction. Raises StorageError."""
        return SettingsSnapshot.from_values(self.all())

    def check(
        self, values: Mapping[str, Any], *, password: str = "", connecting: bool = False
    ) -> tuple[dict[str, Any], dict[str, str]]:
        """A dry run of saving `values` (setting key → value as typed in a form): (the
        cleaned values, setting key → the message of each value refused). Stores and
        reads nothing.

        A user name or `password` needs a server to go with it, and so does `connecting`
        (a connection test): without one, "smtp.host" is refused too.
        """
        cleaned: dict[str, Any] = {}
        found: dict[str, str] = {}
        for key, value in values.items():
            try:
                cleaned[key] = self._clean(key, value)
            except ValidationError as exc:
                found[exc.field] = exc.message
        needs_server = connecting or bool(password or cleaned.get("smtp.username"))
        if needs_server and not cleaned.get("smtp.host") and "smtp.host" not in found:
            found["smtp.host"] = _NEEDS_HOST
        return cleaned, found

    def test_smtp_connection(self, values: Mapping[str, Any], *, password: str = "") -> str:
        """Connect to the SMTP server the `SMTP_KEYS` of `values` describe (as typed, not
        saved), log in with `password` or else the one stored for that user name, and say
        how it went in one line (`check_connection`).

        Raises ValidationError (its field a setting key) for a value `check` refuses,
        CredentialsError when the keyring cannot be read, SmtpError when the server cannot
        be reached or refuses. Reads the keyring and waits for the network, up to
        `TEST_TIMEOUT_SECONDS` (or the sending timeout, if shorter): not on the GUI thread.
        """
        cleaned, found = self.check(
            {key: values[key] for key in SMTP_KEYS}, password=password, connecting=True
        )
        if found:
            key = next(iter(found))
            raise ValidationError(key, found[key])
        username = cleaned["smtp.username"]
        if not password and username:
            password = self._credentials.get_password(username) or ""
        # The SMTP channel is imported when it is used, not at start (issue 16).
        from campaign_desktop.channels.smtp import SmtpSettings, check_connection  # noqa: PLC0415

        settings = SmtpSettings(
            host=cleaned["smtp.host"],
            port=cleaned["smtp.port"],
            security=SmtpSecurity(cleaned["smtp.security"]),
            username=username,
            password=password,
            ca_file=cleaned["smtp.ca_file"] or None,
            timeout=min(self.snapshot().smtp_timeout_seconds, TEST_TIMEOUT_SECONDS),
        )
        return check_connection(settings)

    def set(self, key: str, value: Any) -> None:
        self.set_many({key: value})

    def set_many(self, values: dict[str, Any]) -> None:
        """Validate every value first, then store them all in one transaction."""
        cleaned = {key: self._clean(key, value) for key, value in values.items()}
        with self._db.write() as session:
            self._store(session, cleaned)

    def set_smtp(
        self,
        *,
        host: str,
        port: int,
        security: str,
        username: str = "",
        password: str | None = None,
        ca_file: str = "",
    ) -> None:
        """Save the SMTP server; the password goes to the keyring (None keeps the stored one)."""
        cleaned = {
            "smtp.host": self._clean("smtp.host", host),
            "smtp.port": self._clean("smtp.port", port),
            "smtp.security": self._clean("smtp.security", security),
            "smtp.username": self._clean("smtp.username", username),
            "smtp.ca_file": self._clean("smtp.ca_file", ca_file),
        }
        if not cleaned["smtp.host"]:
            raise ValidationError("smtp.host", _NEEDS_HOST)
        # Keyring first: if it refuses, nothing is written to the database either.
        if password is not None:
            self._credentials.set_password(cleaned["smtp.username"], password)
        with self._db.write() as session:
            self._store(session, cleaned)

    def smtp_settings(self) -> SmtpSettings:
        """The SMTP settings to connect with, the password read from the keyring."""
        return self.smtp_settings_of(self.snapshot())

    def smtp_settings_of(self, snapshot: SettingsSnapshot) -> SmtpSettings:
        """`smtp_settings()` for settings read before (one snapshot for a whole run)."""
        if not snapshot.smtp_host:
            raise ValidationError("smtp.host", "Set up the SMTP server in Settings first.")
        username = snapshot.smtp_username
        from campaign_desktop.channels.smtp import SmtpSettings  # noqa: PLC0415  (as above)

        return SmtpSettings(
            host=snapshot.smtp_host,
            port=snapshot.smtp_port,
            security=snapshot.smtp_security,
            username=username,
            password=self._credentials.get_password(username) if username else "",
            ca_file=snapshot.smtp_ca_file or None,
            timeout=snapshot.smtp_timeout_seconds,
        )

    def clean(self, key: str, value: Any) -> Any:
        """`value` as `key`'s check cleans it; ValidationError(key) when it is refused."""
        return self._clean(key, value)

    @staticmethod
    def _spec(key: str) -> SettingSpec:
        try:
            return SPECS[key]
        except KeyError:
            raise ValidationError(key, f"There is no setting called “{key}”.") from None

    def _clean(self, key: str, value: Any) -> Any:
        spec = self._spec(key)
        try:
            return spec.check(value)
        except ValidationError as exc:
            raise ValidationError(key, exc.message) from None

    @staticmethod
    def _store(session: Session, cleaned: dict[str, Any]) -> None:
        for key, value in cleaned.items():
            session.merge(Setting(key=key, value=json.dumps(value)))
