"""A million contacts and two years of history (issue 16): keyset pages and full-text search.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 07:00:00

- `ix_delivery_run_page` (run_id, id): a run's deliveries are paged by id after the last
  one shown (`RunService.deliveries(after_id=…)`), read straight from the index instead of
  sorting the whole run for every page. With a status, `ix_delivery_run_status` already
  serves (SQLite appends the rowid to every index). Deleting contacts needs nothing new:
  `ix_delivery_contact` (0004) and `ix_list_membership_contact_id` (0001) cover the
  ON DELETE SET NULL and CASCADE.
- SQLite: `contact_search`, an FTS5 table with the trigram tokenizer (SQLite ≥ 3.34) over
  each contact's email and "first last", rowid = contact id, kept in step by three
  triggers and filled from the existing contacts here. A search of three characters or
  more is then an index look-up instead of a scan (`queries.contact_text_filter`).
  Bulk writers insert many rows per statement (`ContactService.import_csv`): FTS5 writes
  its pending rows out at every statement savepoint, and a trigger fired by a one-row
  INSERT executed 2,000 times made 2,000 tiny segments to merge (measured: 6x slower than
  one multi-row statement). The update trigger fires only when a searched text changes.
- PostgreSQL: GIN trigram indexes (`pg_trgm`) on the same two texts, which ILIKE uses
  as it is. Creating the extension needs a role allowed to (a superuser, or the
  database's owner on PostgreSQL ≥ 13, where pg_trgm is "trusted"); when it cannot be
  created, the migration logs why and goes on without the indexes: searches stay
  correct, only slower.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

log = logging.getLogger("campaign_desktop.db")

# The name text exactly as `persistence/queries.py` `contact_name_text` builds it: an index
# expression is used only by a query that spells it the same way.
_NAME_TEXT = "first_name || ' ' || last_name"

_SQLITE_SEARCH = (
    "CREATE VIRTUAL TABLE contact_search USING fts5(email, name, tokenize = 'trigram')",
    """CREATE TRIGGER contact_search_insert AFTER INSERT ON contact BEGIN
        INSERT INTO contact_search (rowid, email, name)
        VALUES (new.id, new.email, new.first_name || ' ' || new.last_name);
    END""",
    """CREATE TRIGGER contact_search_delete AFTER DELETE ON contact BEGIN
        DELETE FROM contact_search WHERE rowid = old.id;
    END""",
    """CREATE TRIGGER contact_search_update
    AFTER UPDATE OF email, first_name, last_name ON contact
    WHEN old.email IS NOT new.email OR old.first_name IS NOT new.first_name
        OR old.last_name IS NOT new.last_name
    BEGIN
        UPDATE contact_search
        SET email = new.email, name = new.first_name || ' ' || new.last_name
        WHERE rowid = old.id;
    END""",
    f"INSERT INTO contact_search (rowid, email, name) SELECT id, email, {_NAME_TEXT} FROM contact",
)


def upgrade() -> None:
    with op.batch_alter_table("delivery", schema=None) as batch_op:
        batch_op.create_index("ix_delivery_run_page", ["run_id", "id"])
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        for statement in _SQLITE_SEARCH:
            op.execute(statement)
        return
    if _create_trigram_extension(bind):
        op.execute("CREATE INDEX ix_contact_email_trgm ON contact USING gin (email gin_trgm_ops)")
        op.execute(
            f"CREATE INDEX ix_contact_name_trgm ON contact USING gin (({_NAME_TEXT}) gin_trgm_ops)"
        )


def _create_trigram_extension(bind: sa.Connection) -> bool:
    """Create pg_trgm if it is not there; False (logged) when this role may not."""
    # A savepoint: on PostgreSQL a failed statement spoils the migration's transaction.
    try:
        with bind.begin_nested():
            bind.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    except sa.exc.DBAPIError as exc:
        log.warning(
            "contact search stays a plain scan: the pg_trgm extension could not be created "
            "(%s). Ask whoever runs the server to run CREATE EXTENSION pg_trgm in this "
            "database; the next start does not retry by itself.",
            str(exc.orig).strip().splitlines()[0] if exc.orig else exc,
        )
        return False
    return True


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        for name in ("contact_search_insert", "contact_search_delete", "contact_search_update"):
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
        op.execute("DROP TABLE IF EXISTS contact_search")
    else:
        op.execute("DROP INDEX IF EXISTS ix_contact_name_trgm")
        op.execute("DROP INDEX IF EXISTS ix_contact_email_trgm")
    with op.batch_alter_table("delivery", schema=None) as batch_op:
        batch_op.drop_index("ix_delivery_run_page")
