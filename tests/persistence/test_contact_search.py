"""Contact search through the indexes of migration 0007 (issue 16): SQLite's FTS5 trigram
table stays in step with the contacts, an existing database is indexed when it migrates,
and PostgreSQL's pg_trgm indexes serve ILIKE, or are done without when the extension
cannot be created (``both_backends`` where the behaviour is the same on both)."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from psycopg import sql
from sqlalchemy import insert, text

from campaign_desktop.domain.clock import ManualClock
from campaign_desktop.persistence.db import (
    Database,
    create_sqlite_engine,
    open_database,
    upgrade,
)
from campaign_desktop.persistence.models import Contact
from campaign_desktop.services.contacts import ContactService
from tests.postgres_server import APP_PASSWORD, APP_ROLE, PostgresServer

NOW = datetime(2027, 1, 4, 9, 0, tzinfo=UTC)


def emails(contacts: ContactService, text: str) -> list[str]:
    found = [view.email for view in contacts.search(text)]
    assert contacts.count(text) == len(found)
    return found


@pytest.fixture
def database(tmp_path: Path, login_url: object) -> Iterator[Database]:
    db = open_database(tmp_path / "data", database_url=login_url)  # type: ignore[arg-type]
    yield db
    db.dispose()


@pytest.fixture
def contacts(database: Database) -> ContactService:
    return ContactService(database, ManualClock(NOW))


@pytest.mark.both_backends
def test_search_follows_renames_deletes_and_imports(
    contacts: ContactService, tmp_path: Path
) -> None:
    ann = contacts.add("ann@example.com", "Ann", "Lee")
    contacts.add("bob@shop.example", "Bob", "Marley")
    assert emails(contacts, "ann lee") == ["ann@example.com"]

    contacts.update(ann.id, last_name="Kowalski")
    assert emails(contacts, "ann lee") == []
    assert emails(contacts, "KOWAL") == ["ann@example.com"]

    contacts.delete(ann.id)
    assert emails(contacts, "kowalski") == []
    assert emails(contacts, "example.com") == []

    source = tmp_path / "more.csv"
    source.write_text(
        "email,first_name,last_name\nzoe@example.com,Zoë,Quintero\nbob@shop.example,,Dylan\n",
        encoding="utf-8",
    )
    contacts.import_csv(source)
    assert emails(contacts, "ZOË QUIN") == ["zoe@example.com"]
    assert emails(contacts, "bob dylan") == ["bob@shop.example"]
    assert emails(contacts, "marley") == []


@pytest.mark.both_backends
def test_short_text_and_quotes_are_searched_as_plain_text(contacts: ContactService) -> None:
    contacts.add("o.brien@example.com", "Seán", 'O"Brien')
    contacts.add("al@example.com", "Al", "Xu")
    assert emails(contacts, "xu") == ["al@example.com"]  # two characters: no trigram
    assert emails(contacts, "Á") == ["o.brien@example.com"]
    assert emails(contacts, 'o"bri') == ["o.brien@example.com"]
    assert emails(contacts, '"') == ["o.brien@example.com"]
    assert emails(contacts, "ÁN O") == ["o.brien@example.com"]  # across first and last name


def test_an_existing_database_gets_its_contacts_indexed_when_it_migrates(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    engine = create_sqlite_engine(data_dir / "campaigns.sqlite3")
    upgrade(engine, "0006")
    with engine.begin() as connection:
        connection.execute(
            insert(Contact),
            [
                {
                    "email": f"person{n}@example.com",
                    "first_name": f"First{n}",
                    "last_name": "Older",
                    "attributes": {},
                    "status": "subscribed",
                    "created_at": NOW,
                    "updated_at": NOW,
                }
                for n in range(5)
            ],
        )
    engine.dispose()
    db = open_database(data_dir)
    try:
        contacts = ContactService(db, ManualClock(NOW))
        assert emails(contacts, "first3 old") == ["person3@example.com"]
        assert contacts.count("OLDER") == 5
    finally:
        db.dispose()


def _plan(database: Database, query: str) -> str:
    with database.engine.connect() as connection:
        connection.exec_driver_sql("SET enable_seqscan = off")
        rows = connection.execute(text(f"EXPLAIN {query}"))
        return "\n".join(str(row[0]) for row in rows)


@pytest.mark.postgresql_only
def test_postgresql_answers_ilike_from_the_trigram_indexes(
    contacts: ContactService, database: Database
) -> None:
    contacts.add("ann@example.com", "Ann", "Lee")
    # The app's own query, compiled for PostgreSQL with its values inlined.
    from sqlalchemy import func, select  # noqa: PLC0415

    from campaign_desktop.persistence.queries import contact_text_filter  # noqa: PLC0415

    with database.read() as session:
        query = select(func.count()).select_from(Contact)
        query = query.where(contact_text_filter(session, "ann lee"))
        compiled = query.compile(session.get_bind(), compile_kwargs={"literal_binds": True})
    plan = _plan(database, str(compiled))
    assert "ix_contact_email_trgm" in plan
    assert "ix_contact_name_trgm" in plan
    assert contacts.count("ann lee") == 1


@pytest.fixture
def database_without_extension_rights(postgres_server: PostgresServer) -> Iterator[str]:
    """A database owned by the superuser where the app's role may make tables, but may not
    create extensions (no CREATE on the database), as on a shared team server."""
    name = f"plain_{uuid.uuid4().hex[:12]}"
    with postgres_server.admin() as connection:
        connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    with postgres_server.admin(name) as connection:
        connection.execute(
            sql.SQL("GRANT ALL ON SCHEMA public TO {}").format(sql.Identifier(APP_ROLE))
        )
    yield name
    postgres_server.drop_database(name)


@pytest.mark.postgresql_only
def test_without_pg_trgm_the_migration_says_so_and_search_still_works(
    tmp_path: Path,
    postgres_server: PostgresServer,
    database_without_extension_rights: str,
    caplog: pytest.LogCaptureFixture,
    backend: str,
) -> None:
    url = postgres_server.url(database_without_extension_rights, password=APP_PASSWORD)
    with caplog.at_level(logging.WARNING, logger="campaign_desktop.db"):
        db = open_database(tmp_path, database_url=url)
    try:
        assert any("pg_trgm" in record.getMessage() for record in caplog.records)
        with db.engine.connect() as connection:
            indexes = set(
                connection.scalars(
                    text("SELECT indexname FROM pg_indexes WHERE tablename = 'contact'")
                )
            )
        assert "ix_contact_email_trgm" not in indexes
        contacts = ContactService(db, ManualClock(NOW))
        contacts.add("ann@example.com", "Ann", "Lee")
        assert emails(contacts, "ANN LEE") == ["ann@example.com"]
    finally:
        db.dispose()
