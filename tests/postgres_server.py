"""A real PostgreSQL server for tests: `initdb` + `pg_ctl` in a temporary folder.

Listens on 127.0.0.1 and a free port (its unix socket stays in the folder), fsync off, a
UTF-8 locale; the app's role logs in with a password over TCP, as a desktop would.

Usage::

    server = PostgresServer.start()          # or None-with-a-reason: `find_bin_dir()`
    server.create_database("t1", template="cd_template")
    url = server.url("t1")                   # postgresql+psycopg://campaign@127.0.0.1:port/t1
    server.stop()
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from sqlalchemy import URL

from tests.smtp_server import HOST, free_port

POSTGRES_ROOT = Path("/usr/lib/postgresql")
#: The superuser (administration only) and the role the app logs in as.
SUPERUSER = "postgres"
APP_ROLE = "campaign"
APP_PASSWORD = "team-secret-ü"  # non-ASCII on purpose: the keyring and the login carry it
_SUPERUSER_PASSWORD = "admin-secret"
#: initdb refuses to run as root: a root test run starts the server as this system user.
SYSTEM_USER = "postgres"


def find_bin_dir() -> Path | str:
    """The newest installed PostgreSQL's bin folder, or the reason why there is none."""
    found = sorted(
        (path for path in POSTGRES_ROOT.glob("*/bin") if (path / "initdb").is_file()),
        key=lambda path: int(path.parent.name) if path.parent.name.isdigit() else 0,
    )
    if not found:
        return (
            f"PostgreSQL is not installed (no {POSTGRES_ROOT}/<version>/bin/initdb): "
            "`apt-get install postgresql` to run the PostgreSQL tests"
        )
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(SYSTEM_USER)
        except KeyError:
            return f"running as root and there is no `{SYSTEM_USER}` user to run initdb as"
    return found[-1]


@dataclass
class PostgresServer:
    """One running server in its own temporary folder; `stop()` ends it and removes it."""

    bin_dir: Path
    root: Path
    port: int
    version: int  # server_version_num, e.g. 150008

    @classmethod
    def start(cls, bin_dir: Path) -> PostgresServer:
        root = Path(tempfile.mkdtemp(prefix="cd-postgres-"))
        user = _system_user()
        if user is not None:
            os.chown(root, user.pw_uid, user.pw_gid)
        password_file = root / "superuser-password"
        password_file.write_text(_SUPERUSER_PASSWORD + "\n")
        if user is not None:
            os.chown(password_file, user.pw_uid, user.pw_gid)
        port = free_port()
        _run_as_server_user(
            [
                str(bin_dir / "initdb"),
                "--pgdata",
                str(root / "data"),
                "--username",
                SUPERUSER,
                "--pwfile",
                str(password_file),
                "--auth-local",
                "trust",
                "--auth-host",
                "scram-sha-256",
                "--encoding",
                "UTF8",
                "--locale",
                "C.UTF-8",  # a UTF-8 ctype: ILIKE and lower() fold beyond ASCII
                "--no-sync",
            ],
            root,
        )
        (root / "sockets").mkdir()
        if user is not None:
            os.chown(root / "sockets", user.pw_uid, user.pw_gid)
        options = " ".join(
            (
                f"-c listen_addresses={HOST}",
                f"-p {port}",
                f"-c unix_socket_directories={root / 'sockets'}",
                "-c fsync=off",
                "-c synchronous_commit=off",
                "-c full_page_writes=off",
                "-c max_connections=200",
            )
        )
        # -w: pg_ctl returns once the server accepts connections (no sleeps here).
        _run_as_server_user(
            [
                str(bin_dir / "pg_ctl"),
                "start",
                "-w",
                "-t",
                "60",
                "-D",
                str(root / "data"),
                "-l",
                str(root / "server.log"),
                "-o",
                options,
            ],
            root,
        )
        server = cls(bin_dir=bin_dir, root=root, port=port, version=0)
        with server.admin() as connection:
            row = connection.execute("SHOW server_version_num").fetchone()
            assert row is not None
            server.version = int(row[0])
            connection.execute(
                sql.SQL("CREATE ROLE {} LOGIN CREATEDB PASSWORD {}").format(
                    sql.Identifier(APP_ROLE), sql.Literal(APP_PASSWORD)
                )
            )
        return server

    def admin(self, database: str = "postgres") -> psycopg.Connection[Any]:
        """A superuser connection over the unix socket, in autocommit (for CREATE DATABASE)."""
        return psycopg.connect(
            host=str(self.root / "sockets"),
            port=self.port,
            user=SUPERUSER,
            dbname=database,
            autocommit=True,
        )

    def url(self, database: str, *, password: str | None = None) -> URL:
        """The app's URL for `database` (no password unless one is given)."""
        return URL.create(
            "postgresql+psycopg",
            username=APP_ROLE,
            password=password,
            host=HOST,
            port=self.port,
            database=database,
        )

    def create_database(self, name: str, *, template: str = "template0") -> None:
        """A new database owned by the app's role, copied from `template`."""
        statement = sql.SQL("CREATE DATABASE {} OWNER {} TEMPLATE {}").format(
            sql.Identifier(name), sql.Identifier(APP_ROLE), sql.Identifier(template)
        )
        if self.version >= 150000 and template != "template0":
            # A file copy beats WAL-logging every page of the template (fsync is off anyway).
            statement = sql.SQL("{} STRATEGY FILE_COPY").format(statement)
        with self.admin() as connection:
            connection.execute(statement)

    def drop_database(self, name: str) -> None:
        """Drop `name`, ending any connection a test left open to it."""
        with self.admin() as connection:
            connection.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )

    def log_tail(self, lines: int = 30) -> str:
        path = self.root / "server.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        try:
            _run_as_server_user(
                [
                    str(self.bin_dir / "pg_ctl"),
                    "stop",
                    "-w",
                    "-m",
                    "fast",
                    "-D",
                    str(self.root / "data"),
                ],
                self.root,
            )
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


def _system_user() -> pwd.struct_passwd | None:
    """The user the server runs as when the tests run as root; None: the current user."""
    return pwd.getpwnam(SYSTEM_USER) if os.geteuid() == 0 else None


def _run_as_server_user(command: list[str], cwd: Path) -> None:
    user = _system_user()
    log = cwd / "pg_ctl.out"
    with log.open("ab") as output:
        result = subprocess.run(
            command,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            check=False,
            user=user.pw_uid if user is not None else None,
            group=user.pw_gid if user is not None else None,
            extra_groups=[] if user is not None else None,
            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C.UTF-8"},
        )
    if result.returncode != 0:
        raise RuntimeError(
            f"{Path(command[0]).name} failed ({result.returncode}):\n"
            + log.read_text(errors="replace")[-3000:]
        )
