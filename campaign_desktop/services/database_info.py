"""Which database this desktop uses, for Settings ▸ Database: read-only, never a password.

`DatabaseInfoService.info()` says where the data is (the SQLite file and its backups folder,
or the team database's URL without its password and where that password comes from) and,
in team mode, which desktops are sending from the database now (the `desktop` table's rows
whose heartbeat is alive, as `SendingEngine.alive_desktops()` judges it). It reads the
keyring and the database: call it off the GUI thread.
"""

from __future__ import annotations

import dataclasses
import enum
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import URL, select

from campaign_desktop.persistence.db import Database, backup_dir, list_backups
from campaign_desktop.persistence.models import Desktop
from campaign_desktop.persistence.portable import database_utc_now
from campaign_desktop.services.credentials import CredentialStore

if TYPE_CHECKING:
    from campaign_desktop.services.sending import SendingEngine


class PasswordSource(enum.StrEnum):
    """Where the team database's password comes from on this desktop."""

    KEYRING = "keyring"
    """Stored in this computer's keyring (the usual case)."""
    SESSION = "session"
    """Given in the URL, but no keyring kept it: it serves this session only."""
    NONE = "none"
    """None known to the app: the server needs none, or libpq's ~/.pgpass gives it."""


@dataclasses.dataclass(frozen=True)
class DesktopInfo:
    """A desktop sending from the team database now (a live `desktop` row)."""

    id: str
    name: str
    """The computer's host name."""
    pid: int
    started_at: datetime
    heartbeat_at: datetime
    """Its last heartbeat, aware UTC, on the database server's clock."""
    heartbeat_age: timedelta
    """How long ago that was, on the same clock (so this desktop's own clock is no matter)."""
    is_this_desktop: bool


@dataclasses.dataclass(frozen=True)
class DatabaseInfo:
    """Which database this desktop uses; nothing in it is secret."""

    is_sqlite: bool
    location: str
    """The SQLite file's path, or the team database's URL without any password."""
    description: str
    """`Database.description`: one line for people and logs."""
    backups_dir: Path | None = None
    """SQLite: the folder of the automatic backups taken before each upgrade."""
    backups: int = 0
    """SQLite: how many backups that folder (and an older version's .bak) holds."""
    password: PasswordSource = PasswordSource.NONE
    """Team mode: where the password comes from."""
    desktops: tuple[DesktopInfo, ...] = ()
    """Team mode: the desktops sending from the database now, this one included if its
    scheduler runs; longest running first."""

    @property
    def other_desktops(self) -> tuple[DesktopInfo, ...]:
        return tuple(desktop for desktop in self.desktops if not desktop.is_this_desktop)


def url_without_password(url: URL) -> str:
    """`url` as a person would type it, ``postgresql://user@host:port/database``, with no
    password anywhere (nor a ``password=`` query parameter)."""
    shown = URL.create(
        url.get_backend_name(),
        username=url.username,
        host=url.host,
        port=url.port or (5432 if url.host else None),
        database=url.database,
        query={key: value for key, value in url.query.items() if key.lower() != "password"},
    )  # `URL.set(password=None)` would keep the password: None there means "unchanged"
    return shown.render_as_string(hide_password=True)


class DatabaseInfoService:
    """Read-only facts about the database in use (see the module docstring)."""

    def __init__(
        self, db: Database, sending: SendingEngine, credentials: CredentialStore | None = None
    ) -> None:
        self._db = db
        self._sending = sending
        self._credentials = credentials or CredentialStore()

    def summary(self) -> DatabaseInfo:
        """Which database, from what is known in memory (no keyring, disk or database read:
        fine on the GUI thread); `info()` adds the rest."""
        db = self._db
        if db.is_sqlite:
            return DatabaseInfo(
                is_sqlite=True,
                location=str(db.path),
                description=db.description,
                backups_dir=backup_dir(db.path.parent),
            )
        return DatabaseInfo(
            is_sqlite=False,
            location=url_without_password(db.engine.url),
            description=db.description,
        )

    def info(self) -> DatabaseInfo:
        """`summary()` plus how many backups there are (SQLite), or where the password
        comes from and the desktops sending from the database now (team mode).

        Reads the backups folder, or the keyring and the database: not on the GUI thread.
        Raises StorageError when the database cannot be read.
        """
        summary = self.summary()
        if summary.is_sqlite:
            return dataclasses.replace(summary, backups=len(list_backups(self._db.path.parent)))
        return dataclasses.replace(
            summary,
            password=self._password_source(self._db.engine.url),
            desktops=tuple(self.desktops()),
        )

    def desktops(self) -> list[DesktopInfo]:
        """The desktops sending from this database now, longest running first (on the
        SQLite file, at most this one). Raises StorageError when it cannot be read."""
        alive = self._sending.alive_desktops()
        with self._db.read() as session:
            now = session.scalar(select(database_utc_now(session)))
            rows = session.scalars(
                select(Desktop)
                .where(Desktop.id.in_(sorted(alive)))
                .order_by(Desktop.started_at, Desktop.id)
            ).all()
            found = [(row.id, row.name, row.pid, row.started_at, row.heartbeat_at) for row in rows]
        database_now = _as_utc(now)
        return [
            DesktopInfo(
                id=desktop_id,
                name=name,
                pid=pid,
                started_at=started_at,
                heartbeat_at=heartbeat_at,
                heartbeat_age=max(timedelta(0), database_now - heartbeat_at),
                is_this_desktop=desktop_id == self._sending.desktop_id,
            )
            for desktop_id, name, pid, started_at, heartbeat_at in found
        ]

    def _password_source(self, url: URL) -> PasswordSource:
        if self._credentials.has_database_password(url):
            return PasswordSource.KEYRING
        return PasswordSource.SESSION if url.password else PasswordSource.NONE


def _as_utc(value: object) -> datetime:
    """The database's "now" (naive UTC datetime on PostgreSQL, text on SQLite), aware UTC."""
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
