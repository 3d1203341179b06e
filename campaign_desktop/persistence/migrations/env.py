"""Alembic environment: runs the packaged migrations on the engine the app hands over.

Batch mode is on because SQLite can only change most things by copying a table. On
PostgreSQL the whole upgrade is one transaction under an advisory lock: desktops that start
a new version together migrate once, the others wait and find nothing left to do.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Engine

from campaign_desktop.persistence.models import Base

#: Any constant the app's databases agree on: the key of the migration's advisory lock.
MIGRATION_LOCK_KEY = 0x43440014

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
        if connection.dialect.name == "postgresql":
            # Held until this transaction ends; Alembic reads the version after it is taken.
            connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK_KEY})")
        context.run_migrations()
    connection.commit()
