"""Team mode's database: a real PostgreSQL server (tests/postgres_server.py), migrated on
first use, and the refusals a desktop shows in plain words (unreachable, login, missing,
not ours); a lock held by another desktop is "busy" after the busy timeout."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import URL, text

from campaign_desktop.domain.errors import StorageError, ValidationError
from campaign_desktop.persistence.db import (
    HEAD_REVISION,
    current_revision,
    open_database,
    parse_database_url,
)
from campaign_desktop.persistence.models import Setting
from tests.postgres_server import APP_PASSWORD, PostgresServer
from tests.smtp_server import free_port

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def empty_database(postgres_server: PostgresServer) -> Iterator[str]:
    """The name of a new, empty database owned by the app's role (no schema yet)."""
    name = f"empty_{uuid.uuid4().hex[:12]}"
    postgres_server.create_database(name)
    yield name
    postgres_server.drop_database(name)


def test_an_empty_database_gets_the_schema_at_the_head_revision(
    tmp_path: Path, postgres_server: PostgresServer, empty_database: str
) -> None:
    db = open_database(
        tmp_path, database_url=postgres_server.url(empty_database, password=APP_PASSWORD)
    )
    try:
        assert not db.is_sqlite
        assert current_revision(db.engine) == HEAD_REVISION
        assert db.description == (
            f"PostgreSQL database {empty_database} on 127.0.0.1:{postgres_server.port} as campaign"
        )
        with db.write() as session:
            session.add(Setting(key="smtp.host", value="mail.example"))
        with db.read() as session:
            assert session.get(Setting, "smtp.host") is not None
    finally:
        db.dispose()
    assert tmp_path.is_dir()  # what stays per desktop (the scheduler's lock) lives there


def test_desktops_that_start_together_migrate_once_and_all_open(
    tmp_path: Path, postgres_server: PostgresServer, empty_database: str
) -> None:
    # Processes, as desktops are (Alembic itself is not for threads): each waits for a
    # file to appear, so that all three migrate at the same moment.
    url = postgres_server.url(empty_database, password=APP_PASSWORD)
    go = tmp_path / "go"
    script = (
        "import sys, time; from pathlib import Path; from sqlalchemy import make_url;"
        "from campaign_desktop.persistence.db import open_database;"
        "go = Path(sys.argv[1]);"
        "deadline = time.monotonic() + 30;"
        "exec('while not go.exists() and time.monotonic() < deadline: time.sleep(0.005)');"
        "open_database(Path(sys.argv[2]), database_url=make_url(sys.argv[3])).dispose()"
    )
    desktops = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                script,
                str(go),
                str(tmp_path / str(number)),
                url.render_as_string(hide_password=False),
            ],
            cwd=ROOT,
            stderr=subprocess.PIPE,
            text=True,
        )
        for number in range(3)
    ]
    go.touch()
    results = [(desktop.wait(timeout=120), desktop.stderr) for desktop in desktops]
    assert [(code, stderr.read() if stderr else "") for code, stderr in results] == [(0, "")] * 3
    with postgres_server.admin(empty_database) as connection:
        versions = connection.execute("SELECT version_num FROM alembic_version").fetchall()
    assert versions == [(HEAD_REVISION,)]


def test_an_unreachable_server_is_a_storage_error_naming_host_and_port(tmp_path: Path) -> None:
    port = free_port()  # nothing listens there
    url = URL.create("postgresql+psycopg", "campaign", "pw", "127.0.0.1", port, "campaigns")

    with pytest.raises(StorageError) as raised:
        open_database(tmp_path, database_url=url)

    assert raised.value.kind == "unreachable"
    assert f"127.0.0.1:{port}" in raised.value.message
    assert "pw" not in raised.value.message.replace("postgresql://", "")


def test_a_wrong_password_is_a_login_error_that_says_where_the_password_goes(
    tmp_path: Path, postgres_server: PostgresServer
) -> None:
    url = postgres_server.url("postgres", password="not-the-password")

    with pytest.raises(StorageError) as raised:
        open_database(tmp_path, database_url=url)

    assert raised.value.kind == "login"
    assert "refused the login of “campaign”" in raised.value.message
    assert "keyring" in raised.value.message
    assert "not-the-password" not in raised.value.message


def test_a_database_that_does_not_exist_is_named_in_the_error(
    tmp_path: Path, postgres_server: PostgresServer
) -> None:
    url = postgres_server.url("no_such_database", password=APP_PASSWORD)

    with pytest.raises(StorageError) as raised:
        open_database(tmp_path, database_url=url)

    assert raised.value.kind == "missing"
    assert "“no_such_database” does not exist" in raised.value.message


def test_another_programs_database_is_refused_and_left_as_it_is(
    tmp_path: Path, postgres_server: PostgresServer, empty_database: str
) -> None:
    url = postgres_server.url(empty_database, password=APP_PASSWORD)
    with postgres_server.admin(empty_database) as connection:
        connection.execute("CREATE TABLE invoices (id integer PRIMARY KEY)")

    with pytest.raises(StorageError) as raised:
        open_database(tmp_path, database_url=url)

    assert raised.value.kind == "foreign"
    with postgres_server.admin(empty_database) as connection:
        tables = connection.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
        ).fetchall()
    assert tables == [("invoices",)]


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("sqlite:///campaigns.sqlite3", "needs a PostgreSQL database"),
        ("mysql://ann@db.example/campaigns", "needs a PostgreSQL database"),
        ("postgresql://ann@db.example", "names no database"),
        ("not a url", "not one Campaign Desktop can read"),
    ],
)
def test_a_url_that_is_not_a_postgresql_database_is_a_validation_error(
    url: str, words: str
) -> None:
    with pytest.raises(ValidationError) as raised:
        parse_database_url(url)
    assert raised.value.field == "database_url"
    assert words in raised.value.message


def test_a_plain_postgresql_url_gets_the_psycopg_driver() -> None:
    url = parse_database_url("postgres://ann@db.example:5433/campaigns")
    assert url.drivername == "postgresql+psycopg"
    assert (url.username, url.host, url.port, url.database) == (
        "ann",
        "db.example",
        5433,
        "campaigns",
    )


@pytest.mark.postgresql_only  # SQLite's own lock tests are in test_db.py
def test_a_row_locked_by_another_desktop_is_busy_after_the_busy_timeout(
    tmp_path: Path, login_url: URL | None
) -> None:
    assert login_url is not None
    first = open_database(tmp_path / "a", database_url=login_url)
    second = open_database(tmp_path / "b", database_url=login_url, busy_timeout=0.2)
    try:
        with first.write() as session:
            session.add(Setting(key="k", value="first"))
        with first.write() as holding:
            holding.execute(text("SELECT * FROM setting WHERE key = 'k' FOR UPDATE"))
            with pytest.raises(StorageError) as raised, second.write() as session:
                session.execute(text("UPDATE setting SET value = 'second' WHERE key = 'k'"))
        assert raised.value.kind == "busy"
        assert "another desktop" in raised.value.message
        with second.write() as session:  # once the other let go, the write goes through
            session.execute(text("UPDATE setting SET value = 'second' WHERE key = 'k'"))
    finally:
        first.dispose()
        second.dispose()


pytestmark = pytest.mark.both_backends
