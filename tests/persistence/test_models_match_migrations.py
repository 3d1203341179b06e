"""The ORM models and the Alembic migrations describe the same schema, on SQLite and on
PostgreSQL (``both_backends``)."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import URL, text

from campaign_desktop.persistence.db import open_database
from campaign_desktop.persistence.models import Base

pytestmark = pytest.mark.both_backends

# Alembic cannot reflect expression indexes on SQLite (it sees plain columns), and compares
# PostgreSQL's only approximately: they are checked by name instead.
EXPRESSION_INDEXES = {"ix_campaign_next_run", "ix_campaign_name"}
# Contact search (migration 0007) lives beside the models: SQLite's FTS5 table with its
# shadow tables, PostgreSQL's trigram indexes (only where pg_trgm could be created).
SEARCH_INDEXES = {"ix_contact_email_trgm", "ix_contact_name_trgm"}


def _compare(name: str | None, type_: str, *_: Any) -> bool:
    if type_ == "table" and name is not None and name.startswith("contact_search"):
        return False
    return not (type_ == "index" and name in EXPRESSION_INDEXES | SEARCH_INDEXES)


def _compare_object(item: Any, name: str | None, type_: str, *_: Any) -> bool:
    return _compare(name, type_)


def test_migrated_database_matches_the_models(tmp_path: Path, login_url: URL | None) -> None:
    db = open_database(tmp_path, database_url=login_url)
    with db.engine.connect() as connection, warnings.catch_warnings():
        # ... and warns that it compares them approximately, although they are left out here.
        warnings.simplefilter("ignore")
        context = MigrationContext.configure(
            connection, opts={"include_name": _compare, "include_object": _compare_object}
        )
        assert compare_metadata(context, Base.metadata) == []
        if db.is_sqlite:
            listed = connection.execute(text("PRAGMA index_list('campaign')"))
            indexes = {row[1] for row in listed}
        else:
            listed = connection.execute(
                text("SELECT indexname FROM pg_indexes WHERE tablename = 'campaign'")
            )
            indexes = {row[0] for row in listed}
    db.dispose()
    assert indexes >= EXPRESSION_INDEXES
