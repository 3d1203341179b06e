"""Migration 0009 (issue 16, history retention) on a database with history: runs and their
deliveries come through unchanged, no run is marked as compacted, and the index that lets
deleting deliveries skip a scan of `inbound_message` exists — on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import URL, Engine, inspect, text

from campaign_desktop.persistence.db import (
    HEAD_REVISION,
    create_server_engine,
    create_sqlite_engine,
    current_revision,
    open_database,
    upgrade,
)
from tests.postgres_server import APP_PASSWORD, PostgresServer

pytestmark = pytest.mark.both_backends

SENT = datetime(2025, 1, 6, 9, 0)


@pytest.fixture
def older(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[tuple[Engine, URL | None]]:
    """An engine on an empty database of `backend`, and its URL (None: the SQLite file)."""
    if backend == "sqlite":
        (tmp_path / "data").mkdir()
        engine = create_sqlite_engine(tmp_path / "data" / "campaigns.sqlite3")
        yield engine, None
        engine.dispose()
        return
    server: PostgresServer = request.getfixturevalue("postgres_server")
    name = f"history_{tmp_path.name[-20:].replace('-', '_').lower()}"
    server.create_database(name)
    url = server.url(name, password=APP_PASSWORD)
    engine = create_server_engine(url)
    try:
        yield engine, url
    finally:
        engine.dispose()
        server.drop_database(name)


def test_runs_and_deliveries_survive_the_migration_unmarked(
    older: tuple[Engine, URL | None], tmp_path: Path
) -> None:
    engine, url = older
    upgrade(engine, "0008")
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO campaign (id, name, channel, subject, body_text, from_name, "
                "from_email, status, timezone, is_recurring, runs_done, missed_run_policy, "
                "archived, created_at, updated_at) VALUES (1, 'Weekly', 'email', 'News', 'Hi', "
                "'', 'news@shop.example', 'completed', 'UTC', false, 1, 'send_late', false, "
                ":at, :at)"
            ),
            {"at": SENT},
        )
        connection.execute(
            text(
                "INSERT INTO campaign_run (id, campaign_id, occurrence_at, trigger, status, "
                "finished_at, total, sent, failed, skipped, unconfirmed, bounced, "
                "unsubscribed) VALUES (1, 1, :at, 'scheduled', 'completed', :at, 2, 2, 0, 0, "
                "0, 1, 0)"
            ),
            {"at": SENT},
        )
        connection.execute(
            text(
                "INSERT INTO delivery (id, run_id, email, status, attempts, sent_at, feedback) "
                "VALUES (1, 1, 'ann@example.com', 'sent', 1, :at, 'bounced'), "
                "(2, 1, 'bob@example.com', 'sent', 1, :at, NULL)"
            ),
            {"at": SENT},
        )
        connection.execute(
            text(
                "INSERT INTO inbound_message (message_key, kind, delivery_id, effect, "
                "processed_at) VALUES ('mid:<b@mx>', 'hard_bounce', 1, 'bounced', :at)"
            ),
            {"at": SENT},
        )

    db = open_database(tmp_path / "data", database_url=url)
    try:
        assert current_revision(db.engine) == HEAD_REVISION
        with db.engine.connect() as connection:
            run = connection.execute(
                text("SELECT total, sent, bounced, details_removed_at FROM campaign_run")
            ).one()
            assert tuple(run) == (2, 2, 1, None)
            assert connection.execute(text("SELECT count(*) FROM delivery")).scalar() == 2
            indexes = {
                ix["name"]: ix["column_names"]
                for ix in inspect(connection).get_indexes("inbound_message")
            }
        assert indexes["ix_inbound_message_delivery"] == ["delivery_id"]
    finally:
        db.dispose()
