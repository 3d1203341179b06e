"""Opening the SQLite database: engine with the right pragmas, sessions, and migrations.

`open_database` backs the file up, upgrades it to the newest Alembic revision and hands
back the engine and a session factory; nothing else in the app creates engines.
"""

# Alembic (with Mako and Pygments) costs ~0.3 s to import and is needed only when a migration
# is due, which is rare: it is imported inside the functions that run one. Whether one is
# due is a plain query against HEAD_REVISION (tests keep it equal to Alembic's head).

from __future__ import annotations

import logging
import shutil
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from campaign_desktop.domain.errors import StorageError

if TYPE_CHECKING:
    from alembic.config import Config

log = logging.getLogger("campaign_desktop.db")

DATABASE_FILENAME = "campaigns.sqlite3"
MIGRATIONS_DIR = Path(__file__).with_name("migrations")
# The newest revision in migrations/versions; a test checks it against Alembic's head.
HEAD_REVISION = "0004"


def _on_connect(dbapi_connection: Any, connection_record: Any) -> None:
    # Let SQLAlchemy's "begin" event emit BEGIN itself (see _on_begin), not the driver.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=5000")
    finally:
        cursor.close()
    # Unicode-aware case folding for searches (SQLite's LIKE folds ASCII only).
    dbapi_connection.create_function("cd_casefold", 1, _casefold, deterministic=True)


def _casefold(value: str | None) -> str | None:
    return None if value is None else value.casefold()


def _on_begin(connection: Connection) -> None:
    # A write transaction takes the write lock up front (BEGIN IMMEDIATE). A deferred one that
    # read first and writes later fails at once with "database is locked" if another thread
    # wrote in between (WAL snapshot conflict), whatever the busy timeout; IMMEDIATE waits.
    immediate = connection.get_execution_options().get(_IMMEDIATE, False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


_IMMEDIATE = "campaign_desktop_immediate"


def create_sqlite_engine(path: Path) -> Engine:
    """An engine on `path` with WAL, foreign keys and a busy timeout on every connection."""
    engine = create_engine(
        f"sqlite:///{path}",
        # Sessions are used from the scheduler's and the sender's threads too (one per job).
        connect_args={"check_same_thread": False, "timeout": 5},
    )
    event.listen(engine, "connect", _on_connect)
    event.listen(engine, "begin", _on_begin)
    return engine


def alembic_config(engine: Engine | None = None) -> Config:
    """An Alembic config on the packaged migration scripts (works frozen, no alembic.ini)."""
    from alembic.config import Config  # noqa: PLC0415  (see the module docstring)

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if engine is not None:
        config.attributes["engine"] = engine
    return config


def head_revision() -> str:
    """Alembic's head, read from the migration scripts (slow: imports Alembic)."""
    from alembic.script import ScriptDirectory  # noqa: PLC0415  (see the module docstring)

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at; None for a new file (no `alembic_version` yet)."""
    with engine.connect() as connection:
        has_table = connection.exec_driver_sql(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'alembic_version'"
        ).first()
        if has_table is None:
            return None
        version = connection.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()
        return None if version is None else str(version)


def upgrade(engine: Engine, revision: str = "head") -> None:
    from alembic import command  # noqa: PLC0415  (see the module docstring)

    command.upgrade(alembic_config(engine), revision)


def backup_database(path: Path) -> Path | None:
    """Copy the database (consistently, WAL included) to `<name>.bak` beside it.

    Uses SQLite's online backup API rather than a file copy so a WAL that holds the newest
    pages is not left out. Returns the backup's path, or None when there is no file yet.
    """
    if not path.exists():
        return None
    target = path.with_name(path.name + ".bak")
    tmp = target.with_name(target.name + ".tmp")
    source = sqlite3.connect(path)
    try:
        dest = sqlite3.connect(tmp)
        try:
            source.backup(dest)
        finally:
            dest.close()
    finally:
        source.close()
    shutil.move(tmp, target)
    return target


# SQLite's primary result codes (https://sqlite.org/rescode.html) by the kind of failure.
_SQLITE_KINDS = {
    5: "busy",  # SQLITE_BUSY
    6: "busy",  # SQLITE_LOCKED
    8: "readonly",  # SQLITE_READONLY
    10: "io",  # SQLITE_IOERR
    11: "corrupt",  # SQLITE_CORRUPT
    13: "full",  # SQLITE_FULL
    14: "io",  # SQLITE_CANTOPEN
    26: "corrupt",  # SQLITE_NOTADB
}
_STORAGE_WORDS = {
    "busy": "The database is busy: another program is writing to it. Try again in a moment.",
    "full": "The disk is full: the database cannot grow. Free some disk space, then try again.",
    "readonly": "The database cannot be written (the file or its folder is read-only).",
    "io": "The disk reported an error while reading or writing the database.",
    "corrupt": "The database file is damaged or is not a Campaign Desktop database.",
}


def storage_error(exc: BaseException) -> StorageError | None:
    """The StorageError for a driver-level failure, or None when `exc` is not one.

    Classified by SQLite's result code (`sqlite_errorcode`, Python ≥ 3.11) and, for other
    drivers, by the words of the error.
    """
    original = exc.orig if isinstance(exc, DBAPIError) else exc
    if not isinstance(original, sqlite3.Error | OSError) and not isinstance(exc, OperationalError):
        return None
    code = getattr(original, "sqlite_errorcode", None)
    kind = _SQLITE_KINDS.get(code & 0xFF) if isinstance(code, int) else None
    if kind is None:
        words = str(original).lower()
        if "locked" in words or "busy" in words:
            kind = "busy"
        elif "full" in words or "no space" in words:
            kind = "full"
        elif "readonly" in words or "read-only" in words:
            kind = "readonly"
        elif "malformed" in words or "not a database" in words:
            kind = "corrupt"
        elif isinstance(exc, OperationalError) or isinstance(original, OSError):
            kind = "io"
        else:
            return None
    return StorageError(kind, _STORAGE_WORDS[kind])


@contextmanager
def translate_storage_errors() -> Iterator[None]:
    """Turn the driver's storage failures into StorageError (the user-facing tier)."""
    try:
        yield
    except (DBAPIError, sqlite3.Error) as exc:
        error = storage_error(exc)
        if error is None:
            raise
        raise error from exc


@dataclass(frozen=True)
class Database:
    """The open database: `read()` for a reading session, `write()` for one unit of work."""

    path: Path
    engine: Engine
    sessions: sessionmaker[Session]
    writers: sessionmaker[Session]

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A session for reading (`with db.read() as session:`); it never commits.

        Raises StorageError when the database cannot be read (see `storage_error`).
        """
        with translate_storage_errors(), self.sessions() as session:
            yield session

    @contextmanager
    def write(self) -> Iterator[Session]:
        """One transaction that holds the write lock: commits on success, rolls back on error.

        Raises StorageError when the database is busy, full, read-only or failing; the
        transaction is then rolled back whole (nothing half-written stays).
        """
        with translate_storage_errors(), self.writers.begin() as session:
            yield session

    def dispose(self) -> None:
        self.engine.dispose()


def open_database(data_dir: Path) -> Database:
    """Open (or create) the database in `data_dir`, backed up and migrated to head."""
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / DATABASE_FILENAME
    existed = path.exists()
    engine = create_sqlite_engine(path)
    if current_revision(engine) != HEAD_REVISION:
        backup = backup_database(path) if existed else None
        if backup is not None:
            log.info("backed up %s to %s before migrating", path, backup)
        upgrade(engine)
    return Database(
        path=path,
        engine=engine,
        sessions=sessionmaker(engine, expire_on_commit=False),
        writers=sessionmaker(
            engine.execution_options(**{_IMMEDIATE: True}), expire_on_commit=False
        ),
    )
