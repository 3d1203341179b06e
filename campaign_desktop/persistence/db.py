"""Opening the database: the SQLite file (default) or a PostgreSQL server (team mode).

`open_database` backs an SQLite file up, upgrades either to the newest Alembic revision and
hands back the engine and session factories; nothing else in the app creates engines.

Storage failures become `StorageError` in two places only: `open_database` (with words
about the file and folder: read-only, full, locked by another program, damaged) and
`Database.read()/write()`. Decisions (issue 12):

- A database is never silently recreated or replaced. A 0-byte file with a backup or a
  WAL beside it, a file without SQLite's header, an SQLite file of another program, or
  one that fails ``PRAGMA quick_check`` before a migration raises StorageError
  ("corrupt"); the app then offers `restore_backup` or `set_aside_database`, and a file
  set aside is renamed ``campaigns.sqlite3.damaged-<time>``, never deleted.
- Backups: before every migration, with SQLite's online backup API, into
  ``backups/campaigns-<UTC time>.sqlite3``; the newest `BACKUPS_KEPT` (3) are kept. A
  file is checked before it is backed up, so a damaged one never pushes a good one out.

Team mode (issue 14, docs/architecture.md "Team mode (PostgreSQL)"): a SQLAlchemy URL
(`postgresql+psycopg://user@host:port/db`) opens a PostgreSQL database instead. Pragmas,
``BEGIN IMMEDIATE``, the ``cd_casefold`` function, backups and file checks are SQLite's
only; on PostgreSQL a write transaction is a plain READ COMMITTED one, the server's
transactional DDL makes a failed migration leave nothing behind, and an unreachable
server, a refused login or a missing database is a StorageError in plain words.
"""

# Alembic (with Mako and Pygments) costs ~0.3 s to import and is needed only when a migration
# is due, which is rare: it is imported inside the functions that run one. Whether one is
# due is a plain query against HEAD_REVISION (tests keep it equal to Alembic's head).

from __future__ import annotations

import errno
import logging
import os
import re
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    URL,
    Connection,
    Engine,
    PoolProxiedConnection,
    create_engine,
    event,
    inspect,
    make_url,
)
from sqlalchemy.exc import ArgumentError, DBAPIError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from campaign_desktop.domain.errors import StorageError, ValidationError
from campaign_desktop.domain.segments import as_number
from campaign_desktop.domain.views import Backup

if TYPE_CHECKING:
    from alembic.config import Config

log = logging.getLogger("campaign_desktop.db")

DATABASE_FILENAME = "campaigns.sqlite3"
MIGRATIONS_DIR = Path(__file__).with_name("migrations")
# The newest revision in migrations/versions; a test checks it against Alembic's head.
HEAD_REVISION = "0010"
#: The SQLAlchemy driver for PostgreSQL URLs that name none (psycopg 3, docs/design.md §10).
POSTGRESQL_DRIVER = "postgresql+psycopg"
#: Where `Database.path` points for a server database: a name in the data folder that is
#: never a file, so that per-desktop files beside it (the scheduler's lock) keep a home.
SERVER_DATABASE_ANCHOR = "team-database"


def _on_connect(
    dbapi_connection: Any, connection_record: Any, *, busy_timeout_ms: int = 5000
) -> None:
    # Let SQLAlchemy's "begin" event emit BEGIN itself (see _on_begin), not the driver.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
    finally:
        cursor.close()
    # Unicode-aware case folding for searches (SQLite's LIKE folds ASCII only).
    dbapi_connection.create_function("cd_casefold", 1, _casefold, deterministic=True)
    # A custom field's text as a number, or NULL (segments' greater/less: SQLite's CAST reads
    # "abc" as 0, which would put every non-number below any positive value).
    dbapi_connection.create_function("cd_number", 1, _number, deterministic=True)


def _casefold(value: str | None) -> str | None:
    return None if value is None else str(value).casefold()


def _number(value: object) -> float | None:
    if value is None or isinstance(value, bytes):
        return None
    if isinstance(value, int | float):
        return float(value)
    return as_number(str(value))


def _on_begin(connection: Connection) -> None:
    # A write transaction takes the write lock up front (BEGIN IMMEDIATE). A deferred one that
    # read first and writes later fails at once with "database is locked" if another thread
    # wrote in between (WAL snapshot conflict), whatever the busy timeout; IMMEDIATE waits.
    immediate = connection.get_execution_options().get(_IMMEDIATE, False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


_IMMEDIATE = "campaign_desktop_immediate"


def create_sqlite_engine(path: Path, *, busy_timeout: float = 5.0) -> Engine:
    """An engine on `path` with WAL, foreign keys and a busy timeout on every connection.

    `busy_timeout` (seconds) is how long a statement waits for another connection's lock
    before it fails with "database is locked".
    """
    engine = create_engine(
        f"sqlite:///{path}",
        # Sessions are used from the scheduler's and the sender's threads too (one per job).
        connect_args={"check_same_thread": False, "timeout": busy_timeout},
    )
    event.listen(
        engine, "connect", partial(_on_connect, busy_timeout_ms=round(busy_timeout * 1000))
    )
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


def is_sqlite(engine: Engine | Connection) -> bool:
    """True for the embedded SQLite file, False for a server (PostgreSQL)."""
    return engine.dialect.name == "sqlite"


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at; None for a new one (no `alembic_version` yet)."""
    with engine.connect() as connection:
        if not engine.dialect.has_table(connection, "alembic_version"):
            return None
        version = connection.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()
        return None if version is None else str(version)


def upgrade(engine: Engine, revision: str = "head") -> None:
    from alembic import command  # noqa: PLC0415  (see the module docstring)

    command.upgrade(alembic_config(engine), revision)


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


# PostgreSQL's SQLSTATE codes (https://www.postgresql.org/docs/current/errcodes-appendix.html)
# that are storage conditions rather than bugs; by class (first two characters) or in full.
_SERVER_KINDS = {
    "08": "io",  # connection exception
    "40001": "busy",  # serialization_failure
    "40P01": "busy",  # deadlock_detected
    "55P03": "busy",  # lock_not_available (lock_timeout, the busy timeout's counterpart)
    "57014": "busy",  # query_canceled (statement_timeout)
    "53": "full",  # insufficient resources: disk full, out of memory, too many connections
    "25006": "readonly",  # read_only_sql_transaction (a standby, or a read-only database)
    "57P01": "io",  # admin_shutdown
    "57P02": "io",  # crash_shutdown
    "57P03": "io",  # cannot_connect_now (starting up)
}
_SERVER_WORDS = {
    "busy": (
        "The database server is busy: another desktop holds what this one needs. "
        "Try again in a moment."
    ),
    "full": (
        "The database server has run out of space or connections. Ask whoever runs it to "
        "free some, then try again."
    ),
    "readonly": "The database server accepts no changes (it is read-only or a standby).",
    "io": (
        "The connection to the database server was lost. Check the network; Campaign "
        "Desktop tries again."
    ),
}


def _server_storage_error(original: BaseException) -> StorageError | None:
    """The StorageError for a PostgreSQL (psycopg) failure, or None when it is a bug."""
    state = getattr(original, "sqlstate", None)
    if state is None:
        # No SQLSTATE: the connection itself failed (refused, dropped, timed out).
        return StorageError("io", _SERVER_WORDS["io"]) if _is_operational(original) else None
    kind = _SERVER_KINDS.get(state) or _SERVER_KINDS.get(state[:2])
    return None if kind is None else StorageError(kind, _SERVER_WORDS[kind])


def _is_operational(original: BaseException) -> bool:
    return any(cls.__name__ == "OperationalError" for cls in type(original).__mro__)


def _is_server_error(original: BaseException) -> bool:
    # psycopg is imported only in team mode: recognise its errors by their module.
    return type(original).__module__.split(".")[0] == "psycopg"


def storage_error(exc: BaseException) -> StorageError | None:
    """The StorageError for a driver-level failure, or None when `exc` is not one.

    Classified by SQLite's result code (`sqlite_errorcode`, Python ≥ 3.11), by PostgreSQL's
    SQLSTATE, and, for other drivers, by the words of the error.
    """
    original = exc.orig if isinstance(exc, DBAPIError) else exc
    if original is not None and _is_server_error(original):
        return _server_storage_error(original)
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


class _RawWriter:
    """The DBAPI connection `Database.write_raw` uses: one of the engine's own (so it has
    every pragma, the busy timeout and ``cd_casefold`` from `_on_connect`), checked out at
    first use and kept until `Database.dispose`. Its transactions take turns on a lock: the
    threads of a send wait here, on a lock, instead of in SQLite's busy handler (which
    sleeps 1, 2, 5, 10 … ms between tries)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self._held: PoolProxiedConnection | None = None
        self._closed = False

    def connection(self, engine: Engine) -> sqlite3.Connection:
        """The kept connection (checked out now if needed); call with `lock` held."""
        if self._held is None:
            if self._closed:
                raise RuntimeError("the database is closed")
            self._held = engine.raw_connection()
        connection = self._held.driver_connection
        assert isinstance(connection, sqlite3.Connection)
        return connection

    def close(self) -> None:
        with self.lock:
            held, self._held, self._closed = self._held, None, True
        if held is not None:
            held.close()  # back to the pool, which `Engine.dispose` then closes


@dataclass(frozen=True)
class Database:
    """The open database: `read()` for a reading session, `write()` for one unit of work."""

    path: Path
    """The SQLite file; for a server database, `SERVER_DATABASE_ANCHOR` in the data folder
    (never a file: per-desktop files such as the scheduler's lock are named after it)."""
    engine: Engine
    sessions: sessionmaker[Session]
    writers: sessionmaker[Session]
    _raw: _RawWriter = field(default_factory=_RawWriter, init=False, repr=False, compare=False)

    @property
    def is_sqlite(self) -> bool:
        """True for the embedded SQLite file, False in team mode (PostgreSQL)."""
        return is_sqlite(self.engine)

    @property
    def description(self) -> str:
        """Which database is in use, for people (Settings, logs); never with a password."""
        if self.is_sqlite:
            return f"SQLite file {self.path}"
        url = self.engine.url
        port = url.port or 5432
        return f"PostgreSQL database {url.database} on {url.host}:{port} as {url.username}"

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A session for reading (`with db.read() as session:`); it never commits.

        Raises StorageError when the database cannot be read (see `storage_error`).
        """
        with translate_storage_errors(), self.sessions() as session:
            yield session

    @contextmanager
    def write(self) -> Iterator[Session]:
        """One unit of work: commits on success, rolls back on error.

        On SQLite it holds the write lock from its first statement (``BEGIN IMMEDIATE``), so
        what it read stays true until it commits. On PostgreSQL it is a READ COMMITTED
        transaction: a read-then-write that other desktops may race needs a row lock
        (``with_for_update()``) or a statement that decides in one step (``ON CONFLICT``).

        Raises StorageError when the database is busy, full, read-only or failing; the
        transaction is then rolled back whole (nothing half-written stays).
        """
        with translate_storage_errors(), self.writers.begin() as session:
            yield session

    @contextmanager
    def write_core(self) -> Iterator[Connection]:
        """Like `write()`, as a Core connection: for hot paths that run prepared statements
        (the sending engine's one commit per message), without the ORM's per-call cost."""
        engine = self.writers.kw["bind"]
        with translate_storage_errors(), engine.begin() as connection:
            yield connection

    @contextmanager
    def write_raw(self) -> Iterator[sqlite3.Connection]:
        """SQLite only: one unit of work on a DBAPI (`sqlite3`) connection, for the hottest
        path (the sending engine's commit per message; docs/performance.md), where even
        SQLAlchemy Core costs four times what SQLite does.

        The same transaction as `write()`: ``BEGIN IMMEDIATE`` on a connection of this
        engine (WAL, ``synchronous=NORMAL``, foreign keys, the same busy timeout), committed
        on success, rolled back whole on error. The process's `write_raw` transactions take
        turns (a lock) on that one connection. Raises StorageError as `write()` does
        (`storage_error`); other driver errors (a bug) come out as `sqlite3` errors.
        """
        if not self.is_sqlite:
            raise RuntimeError("write_raw is for the SQLite file; use write_core")
        raw = self._raw
        with translate_storage_errors(), raw.lock:
            connection = raw.connection(self.engine)
            connection.execute("BEGIN IMMEDIATE")
            try:
                yield connection
            except BaseException:
                _rollback(connection)
                raise
            try:
                connection.execute("COMMIT")
            except BaseException:
                _rollback(connection)
                raise

    def dispose(self) -> None:
        self._raw.close()
        self.engine.dispose()


def _rollback(connection: sqlite3.Connection) -> None:
    # After some errors (SQLITE_FULL, SQLITE_IOERR) SQLite has already rolled back; a
    # failing ROLLBACK must not hide the error that caused it.
    if connection.in_transaction:
        try:
            connection.execute("ROLLBACK")
        except sqlite3.Error:
            log.warning("rolling back a failed write failed too", exc_info=True)


# --- backups, damaged files, opening ----------------------------------------------------

BACKUP_DIRNAME = "backups"
#: How many backup copies are kept; the oldest goes when a new one is taken.
BACKUPS_KEPT = 3
#: Pages SQLite's online backup copies per step (4 MB at the default 4 KB page size): a
#: progress report per step, and another connection may write between two steps.
BACKUP_STEP_PAGES = 1024
BackupProgress = Callable[[int, int], None]
"""Called after each step of a backup with (pages copied, pages in all)."""
LEGACY_BACKUP_SUFFIX = ".bak"  # the single backup of versions before issue 12
_SQLITE_HEADER = b"SQLite format 3\x00"  # https://sqlite.org/fileformat.html §1.3
_BACKUP_NAME = re.compile(r"campaigns-(\d{8}T\d{6}Z)(?:-(\d+))?\.sqlite3")
_STAMP = "%Y%m%dT%H%M%SZ"
_READONLY_ERRNOS = {errno.EROFS, errno.EACCES, errno.EPERM}
_FULL_ERRNOS = {errno.ENOSPC, errno.EDQUOT}


def _startup_words(kind: str, path: Path, detail: str = "") -> str:
    because = f" ({detail})" if detail else ""
    words = {
        "readonly": (
            f"Campaign Desktop cannot write to its data folder {path.parent}: the folder or "
            f"the database file in it is read-only{because}. Make it writable, or start the "
            "app with another folder (--data-dir, or the CAMPAIGN_DESKTOP_DATA setting)."
        ),
        "busy": (
            f"The database {path} is locked by another program{because}. Close the other "
            "program that has it open (a database browser, a sync or backup tool, Campaign "
            "Desktop on another computer), then start Campaign Desktop again."
        ),
        "full": (
            f"The disk that holds {path.parent} is full{because}. Free some space on it, "
            "then start Campaign Desktop again."
        ),
        "io": (
            f"The disk reported an error while opening the database {path}{because}. Check "
            "the disk or the network drive, then start Campaign Desktop again."
        ),
        "corrupt": (
            f"The database {path} is damaged or is not a Campaign Desktop database"
            f"{because}. Restore one of the automatic backups, or start with an empty "
            "database; the damaged file is kept beside it, never deleted."
        ),
    }
    return words[kind]


def _os_kind(exc: OSError) -> str:
    if exc.errno in _READONLY_ERRNOS:
        return "readonly"
    if exc.errno in _FULL_ERRNOS:
        return "full"
    return "io"


@contextmanager
def _storage_errors_at(path: Path) -> Iterator[None]:
    """Turn what opening, backing up or restoring `path` raises into StorageError, with
    words about that file (the start-up tier of `translate_storage_errors`)."""
    try:
        yield
    except StorageError:
        raise
    except OSError as exc:
        detail = exc.strerror or str(exc)
        raise StorageError(_os_kind(exc), _startup_words(_os_kind(exc), path, detail)) from exc
    except (DBAPIError, sqlite3.Error) as exc:
        error = storage_error(exc)
        if error is None:
            raise
        original = exc.orig if isinstance(exc, DBAPIError) else exc
        raise StorageError(error.kind, _startup_words(error.kind, path, str(original))) from exc


def backup_dir(data_dir: Path) -> Path:
    """Where the automatic backups of the database in `data_dir` are kept."""
    return data_dir / BACKUP_DIRNAME


def list_backups(data_dir: Path) -> list[Backup]:
    """The backups of the database in `data_dir`, newest first.

    The rotating copies in `backups/`, then the single ``campaigns.sqlite3.bak`` an older
    version may have left (it is never deleted here).
    """
    found: list[tuple[tuple[str, int], Backup]] = []
    folder = backup_dir(data_dir)
    if folder.is_dir():
        for path in folder.iterdir():
            match = _BACKUP_NAME.fullmatch(path.name)
            if match and path.is_file():
                taken = datetime.strptime(match.group(1), _STAMP).replace(tzinfo=UTC)
                key = (match.group(1), int(match.group(2) or 1))
                found.append((key, Backup(path, taken, path.stat().st_size)))
    found.sort(key=lambda item: item[0], reverse=True)
    backups = [backup for _, backup in found]
    legacy = data_dir / (DATABASE_FILENAME + LEGACY_BACKUP_SUFFIX)
    if legacy.is_file():
        stat = legacy.stat()
        backups.append(Backup(legacy, datetime.fromtimestamp(stat.st_mtime, UTC), stat.st_size))
    return backups


def check_database_file(path: Path) -> None:
    """Raise StorageError("corrupt") unless `path` is an SQLite database that reads whole.

    The header is checked (sqlite.org/fileformat.html), then ``PRAGMA quick_check`` reads
    every page: what a backup or a restore must pass, so that a damaged file never takes a
    good backup's place. The file is opened read-only.
    """
    with _storage_errors_at(path):
        with path.open("rb") as handle:
            header = handle.read(len(_SQLITE_HEADER))
        if header != _SQLITE_HEADER:
            what = "it is empty" if not header else "it is not an SQLite database"
            raise StorageError("corrupt", _startup_words("corrupt", path, what))
        connection = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            result = connection.execute("PRAGMA quick_check").fetchall()
        finally:
            connection.close()
        if result != [("ok",)]:
            detail = "; ".join(str(row[0]) for row in result[:3])
            raise StorageError("corrupt", _startup_words("corrupt", path, detail))


def _copy_database(source: Path, target: Path, progress: BackupProgress | None = None) -> None:
    """`source` into a new file `target` with SQLite's online backup API (WAL included),
    `BACKUP_STEP_PAGES` pages a step, calling `progress(copied, total)` after each."""
    tmp = target.with_name(target.name + ".tmp")
    tmp.unlink(missing_ok=True)

    def step(_status: int, remaining: int, total: int) -> None:
        if progress is not None:
            progress(total - remaining, total)

    reader = sqlite3.connect(source)
    try:
        writer = sqlite3.connect(tmp)
        try:
            reader.backup(writer, pages=BACKUP_STEP_PAGES, progress=step)
        finally:
            writer.close()
    finally:
        reader.close()
    os.replace(tmp, target)


def backup_database(path: Path, progress: BackupProgress | None = None) -> Path | None:
    """Copy the database into `backups/` beside it; keep the newest `BACKUPS_KEPT` copies.

    The copy is made with SQLite's online backup API (a WAL holding the newest pages is
    included), `BACKUP_STEP_PAGES` pages a step, into ``backups/campaigns-<UTC
    time>.sqlite3``, and only after the file passed `check_database_file`: a damaged file
    raises StorageError and displaces no good backup. `progress(pages copied, pages in
    all)` is called after each step (on this thread), the last time with both equal.
    Returns the copy's path, or None when there is no database yet.
    """
    if not path.exists():
        return None
    check_database_file(path)
    with _storage_errors_at(path):
        folder = backup_dir(path.parent)
        folder.mkdir(exist_ok=True)
        stamp = datetime.now(UTC).strftime(_STAMP)
        # Several in one second get -2, -3, … after the highest one taken in that second.
        taken = [_BACKUP_NAME.fullmatch(p.name) for p in folder.iterdir()]
        number = max((int(m.group(2) or 1) for m in taken if m and m.group(1) == stamp), default=0)
        name = (
            f"campaigns-{stamp}.sqlite3"
            if number == 0
            else f"campaigns-{stamp}-{number + 1}.sqlite3"
        )
        target = folder / name
        _copy_database(path, target, progress)
        for old in [b for b in list_backups(path.parent) if b.path.parent == folder][BACKUPS_KEPT:]:
            old.path.unlink()
    return target


def set_aside_database(data_dir: Path) -> Path | None:
    """Rename the database in `data_dir` (with its -wal and -shm files) out of the way.

    It becomes ``campaigns.sqlite3.damaged-<UTC time>`` (its WAL ``…-wal`` beside it, so
    the pair still opens together): never deleted. The next `open_database` then starts an
    empty database. Returns the new name, or None when there was no file.
    """
    path = data_dir / DATABASE_FILENAME
    if not path.exists():
        return None
    with _storage_errors_at(path):
        stamp = datetime.now(UTC).strftime(_STAMP)
        aside, number = path.with_name(f"{path.name}.damaged-{stamp}"), 1
        while aside.exists():
            number += 1
            aside = path.with_name(f"{path.name}.damaged-{stamp}-{number}")
        for suffix in ("-wal", "-shm"):
            companion = path.with_name(path.name + suffix)
            if companion.exists():
                os.replace(companion, aside.with_name(aside.name + suffix))
        os.replace(path, aside)
    log.warning("set the database %s aside as %s", path, aside)
    return aside


def restore_backup(data_dir: Path, backup: Path) -> Path | None:
    """Put a copy of `backup` in place of the database in `data_dir`.

    The backup is checked first (`check_database_file`; a damaged one raises StorageError
    before anything moves), then the current file is set aside (`set_aside_database`),
    never deleted, and the copy takes its place; the backup itself stays. Returns where
    the old file went (None when there was none). The next `open_database` migrates the
    copy if it is from an older version.
    """
    check_database_file(backup)
    aside = set_aside_database(data_dir)
    path = data_dir / DATABASE_FILENAME
    with _storage_errors_at(path):
        _copy_database(backup, path)
    log.warning("restored %s from %s", path, backup)
    return aside


def _check_writable(data_dir: Path) -> None:
    """Raise OSError unless a file can be made in `data_dir` (SQLite's WAL files need that).

    A probe file rather than `os.access`, which says yes to root on an immutable folder.
    """
    probe = data_dir / f".campaign-desktop-write-test-{os.getpid()}"
    descriptor = os.open(probe, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
    os.close(descriptor)
    probe.unlink()


def _refuse_damaged(path: Path) -> None:
    """Raise StorageError("corrupt") for a database file that cannot be ours as it is.

    A 0-byte file is refused when there is anything it may have lost (a backup, or a WAL
    file beside it); with neither, it is a first start that died before writing anything,
    and SQLite makes the new database in it. A file without SQLite's header is refused.
    """
    if not path.exists():
        return
    size = path.stat().st_size
    if size == 0:
        wal = path.with_name(path.name + "-wal")
        if list_backups(path.parent) or (wal.exists() and wal.stat().st_size > 0):
            raise StorageError("corrupt", _startup_words("corrupt", path, "the file is empty"))
        log.warning("%s is empty and there is no backup: starting a new database", path)
        return
    with path.open("rb") as handle:
        if handle.read(len(_SQLITE_HEADER)) != _SQLITE_HEADER:
            raise StorageError(
                "corrupt", _startup_words("corrupt", path, "it is not an SQLite database")
            )


def _refuse_foreign(engine: Engine, path: Path) -> None:
    """Raise StorageError("corrupt") when an unversioned database already has tables (another
    program's database, or ours without its version): migrating it would mix the two."""
    with engine.connect() as connection:
        tables = inspect(connection).get_table_names()
    if tables:
        raise StorageError(
            "corrupt", _startup_words("corrupt", path, "it has no Campaign Desktop version")
        )


def migration_backup_size(data_dir: Path, database_url: str | URL | None = None) -> int | None:
    """The size in bytes of the SQLite file `open_database` would back up before migrating
    it now; None when it would not (team mode, no file yet, already at the newest version,
    or a file it will refuse anyway). Reads one row, read-only: the start-up asks it to
    decide whether to show the backup's progress."""
    path = data_dir / DATABASE_FILENAME
    if database_url is not None or not path.is_file():
        return None
    try:
        size = path.stat().st_size
        with path.open("rb") as handle:
            if size == 0 or handle.read(len(_SQLITE_HEADER)) != _SQLITE_HEADER:
                return None
        connection = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, timeout=1.0)
        try:
            row = connection.execute("SELECT version_num FROM alembic_version").fetchone()
        finally:
            connection.close()
    except (OSError, sqlite3.Error):
        return None  # opening says what is wrong, in words
    if row is None or row[0] == HEAD_REVISION:
        return None
    return size


def open_database(
    data_dir: Path,
    *,
    database_url: str | URL | None = None,
    busy_timeout: float = 5.0,
    backup_progress: BackupProgress | None = None,
) -> Database:
    """Open (or create) the database, backed up and migrated to head.

    With no `database_url`, the SQLite file in `data_dir`. Refuses, with StorageError and
    words a user can act on, rather than replace anything: a read-only or full data
    folder, a file locked by another program (after waiting `busy_timeout` seconds), and a
    damaged file ("corrupt": empty when it had data, not SQLite, not ours, or failing its
    check before a migration) — never recreated, never backed up over a good backup; the
    app then offers `restore_backup` or `set_aside_database`. Before a migration the file
    is backed up (`backup_database`, which calls `backup_progress(copied, total)` after
    each step: the start-up's progress dialog).

    With a `database_url` (team mode), that PostgreSQL database: see `open_server_database`.
    """
    if database_url is not None:
        return open_server_database(data_dir, database_url, busy_timeout=busy_timeout)
    path = data_dir / DATABASE_FILENAME
    with _storage_errors_at(path):
        data_dir.mkdir(parents=True, exist_ok=True)
        _check_writable(data_dir)
        _refuse_damaged(path)
        engine = create_sqlite_engine(path, busy_timeout=busy_timeout)
        try:
            revision = current_revision(engine)
            if revision != HEAD_REVISION:
                if revision is None:
                    _refuse_foreign(engine, path)
                else:
                    backup = backup_database(path, backup_progress)
                    log.info("backed up %s to %s before migrating", path, backup)
                upgrade(engine)
        except BaseException:
            engine.dispose()
            raise
    return _database(path, engine)


def _database(path: Path, engine: Engine) -> Database:
    return Database(
        path=path,
        engine=engine,
        sessions=sessionmaker(engine, expire_on_commit=False),
        writers=sessionmaker(
            engine.execution_options(**{_IMMEDIATE: True}), expire_on_commit=False
        ),
    )


# --- team mode: a PostgreSQL server -----------------------------------------------------


def parse_database_url(database_url: str | URL) -> URL:
    """`database_url` as a PostgreSQL URL for psycopg 3, or ValidationError in plain words.

    ``postgresql://`` (and ``postgres://``) get the psycopg driver; other databases and
    other drivers are refused: the app is built and tested on PostgreSQL with psycopg.
    """
    try:
        url = make_url(database_url)
    except (ArgumentError, ValueError):
        raise ValidationError(
            "database_url",
            "The database URL is not one Campaign Desktop can read: write it as "
            "postgresql://user@host:port/database.",
        ) from None
    if url.drivername in {"postgresql", "postgres"}:
        url = url.set(drivername=POSTGRESQL_DRIVER)
    if url.drivername != POSTGRESQL_DRIVER:
        raise ValidationError(
            "database_url",
            f"Team mode needs a PostgreSQL database (postgresql://…), not “{url.drivername}”.",
        )
    if not url.database:
        raise ValidationError(
            "database_url", "The database URL names no database: add /<database> at its end."
        )
    return url


def create_server_engine(url: URL, *, busy_timeout: float = 5.0) -> Engine:
    """An engine on a PostgreSQL `url` (password included, if the server wants one).

    `busy_timeout` (seconds) becomes the server's ``lock_timeout``: like SQLite's busy
    timeout, how long a statement waits for another desktop's lock before it fails (a
    StorageError "busy"). Connections are checked before use (``pool_pre_ping``): a desktop
    app outlives network changes, sleep and server restarts.
    """
    return create_engine(
        url,
        pool_pre_ping=True,
        # A run's connections (up to 16), the scheduler and the GUI may each hold one.
        pool_size=5,
        max_overflow=20,
        connect_args={
            "connect_timeout": 10,
            "application_name": "Campaign Desktop",
            "options": f"-c lock_timeout={max(1, round(busy_timeout * 1000))}",
        },
    )


def _server_startup_error(url: URL, exc: DBAPIError) -> StorageError | None:
    """The StorageError for failing to open the server database, in words about it."""
    original = exc.orig if exc.orig is not None else exc
    words = str(original).strip()
    lowered = words.lower()
    where = f"{url.host or 'localhost'}:{url.port or 5432}"
    # libpq reports connection failures without an SQLSTATE: known by their words.
    if "authentication failed" in lowered or "no password supplied" in lowered:
        return StorageError(
            "login",
            f"The database server {where} refused the login of “{url.username}”. Check the "
            "user name in the database URL, and give the password once in the URL "
            "(postgresql://user:password@host/database): Campaign Desktop moves it to the "
            "system keyring.",
        )
    if "does not exist" in lowered and "database" in lowered:
        return StorageError(
            "missing",
            f"The database “{url.database}” does not exist on the server {where}. Ask whoever "
            "runs the server to create it (CREATE DATABASE), or correct the database URL.",
        )
    if getattr(original, "sqlstate", None) is None and _is_operational(original):
        return StorageError(
            "unreachable",
            f"Campaign Desktop cannot reach the database server {where} ({_first_line(words)}). "
            "Check the host and port in the database URL, the network, and that the "
            "server is running.",
        )
    return storage_error(exc)


def _first_line(words: str) -> str:
    lines = [line.strip() for line in words.splitlines() if line.strip()]
    return lines[-1].removeprefix("FATAL:").strip() if lines else "no reason given"


def open_server_database(
    data_dir: Path, database_url: str | URL, *, busy_timeout: float = 5.0
) -> Database:
    """Open the PostgreSQL database at `database_url`, migrated to head (team mode).

    No backup is taken (the server's own backups are the rule, and a migration is one
    transaction that leaves nothing half-done); an empty database gets the schema, one
    with other tables and no Campaign Desktop version is refused ("corrupt" words are
    not used: there is no file to restore). Several desktops may start together: the
    migration runs under an advisory lock (migrations/env.py). Raises StorageError with
    kind "unreachable", "login" or "missing" when the server cannot be used, and
    ValidationError for a URL that is not PostgreSQL's.
    """
    url = parse_database_url(database_url)
    anchor = data_dir / SERVER_DATABASE_ANCHOR
    with _storage_errors_at(anchor):
        # The data folder still holds what stays per desktop (the scheduler's lock file).
        data_dir.mkdir(parents=True, exist_ok=True)
    engine = create_server_engine(url, busy_timeout=busy_timeout)
    try:
        try:
            revision = current_revision(engine)
            if revision != HEAD_REVISION:
                if revision is None:
                    _refuse_foreign_server(engine)
                log.info("migrating %s from %s", url, revision)
                upgrade(engine)
            _check_server_text(engine)
        except DBAPIError as exc:
            error = _server_startup_error(url, exc)
            if error is None:
                raise
            raise error from exc
    except BaseException:
        engine.dispose()
        raise
    return _database(anchor, engine)


def _refuse_foreign_server(engine: Engine) -> None:
    with engine.connect() as connection:
        tables = inspect(connection).get_table_names()
    if tables:
        url = engine.url
        raise StorageError(
            "foreign",
            f"The database “{url.database}” on {url.host} already has tables of another "
            "program and no Campaign Desktop version. Give Campaign Desktop a database of "
            "its own (an empty one).",
        )


def _check_server_text(engine: Engine) -> None:
    """Refuse a database that cannot hold every character; warn when search folds ASCII only."""
    with engine.connect() as connection:
        encoding = connection.exec_driver_sql("SHOW server_encoding").scalar()
        ctype = connection.exec_driver_sql(
            "SELECT datctype FROM pg_database WHERE datname = current_database()"
        ).scalar()
    if str(encoding).upper() not in {"UTF8", "UTF-8"}:
        raise StorageError(
            "foreign",
            f"The database “{engine.url.database}” stores text as {encoding}, which cannot "
            "hold every name and address. Create it with ENCODING 'UTF8'.",
        )
    if str(ctype).upper() in {"C", "POSIX"}:
        # ILIKE and lower() then fold ASCII letters only: "élodie" misses "Élodie".
        log.warning(
            "database %s has LC_CTYPE %s: searches ignore case for ASCII letters only "
            "(create it with a UTF-8 locale, e.g. C.UTF-8 or en_US.UTF-8)",
            engine.url.database,
            ctype,
        )
