"""Alembic environment: runs the packaged migrations on the engine the app hands over.

Batch mode is on because SQLite can only change most things by copying a table.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Engine

from campaign_desktop.persistence.models import Base

config = context.config
engine = config.attributes.get("engine")
if not isinstance(engine, Engine):
    raise RuntimeError("run migrations through campaign_desktop.persistence.db.upgrade()")

with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=True,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
