"""The ORM models and the Alembic migrations describe the same schema."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text

from campaign_desktop.persistence.db import open_database
from campaign_desktop.persistence.models import Base

# Alembic cannot reflect expression indexes on SQLite (it sees plain columns): they are
# checked by name instead.
EXPRESSION_INDEXES = {"ix_campaign_next_run", "ix_campaign_name"}


def _compare(name: str | None, type_: str, *_: Any) -> bool:
    return not (type_ == "index" and name in EXPRESSION_INDEXES)


def test_migrated_database_matches_the_models(tmp_path: Path) -> None:
    db = open_database(tmp_path)
    with db.engine.connect() as connection, warnings.catch_warnings():
        # ... and warns that it compares them approximately, although they are left out here.
        warnings.simplefilter("ignore")
        context = MigrationContext.configure(connection, opts={"include_name": _compare})
        assert compare_metadata(context, Base.metadata) == []
        indexes = {row[1] for row in connection.execute(text("PRAGMA index_list('campaign')"))}
    assert indexes >= EXPRESSION_INDEXES
