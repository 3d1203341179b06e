"""SQL that means the same on SQLite and PostgreSQL (team mode): where the two differ, the
choice of dialect is made here and nowhere else (docs/architecture.md "Team mode").

- `insert_or_ignore`: ``INSERT … ON CONFLICT DO NOTHING`` (what SQLite's ``OR IGNORE`` did).
- `contains_ignoring_case`: a substring search that ignores case beyond ASCII and treats
  LIKE's wildcards as text.
- `by_dialect`: one expression per engine, chosen when the statement is compiled, so that
  callers build a query once without knowing the engine.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from sqlalchemy import Boolean, Connection, Table, or_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql import ColumnElement, func
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.dml import Insert
from sqlalchemy.sql.elements import Grouping
from sqlalchemy.sql.visitors import InternalTraversal

__all__ = [
    "by_dialect",
    "contains_ignoring_case",
    "escape_like",
    "insert_or_ignore",
    "like_ignoring_case",
]


def insert_or_ignore(bind: Session | Connection, table: Table | type[Any]) -> Insert:
    """``INSERT INTO table … ON CONFLICT DO NOTHING`` in `bind`'s dialect.

    `table` is a Table or a mapped class.

    Execute it with rows (executemany) or build on it (``.from_select(…)``); a row that
    would break a unique constraint or the primary key is left out instead of failing, on
    SQLite as on PostgreSQL, where it is also safe when another desktop inserts the same
    row at the same moment.
    """
    dialect = bind.get_bind().dialect.name if isinstance(bind, Session) else bind.dialect.name
    if dialect == "sqlite":
        return sqlite.insert(table).on_conflict_do_nothing()
    if dialect == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing()
    raise NotImplementedError(f"no ON CONFLICT DO NOTHING for {dialect}")


class _ByDialect(ColumnElement[Any]):
    """One of two expressions of the same type, picked when the statement is compiled."""

    inherit_cache = True
    # Both in the cache key: a statement compiled for one engine is never reused for the other
    # (the compiled cache is per dialect), and bound values of either are extracted as usual.
    _traverse_internals = [  # noqa: RUF012  (SQLAlchemy's own declaration style)
        ("on_sqlite", InternalTraversal.dp_clauseelement),
        ("elsewhere", InternalTraversal.dp_clauseelement),
    ]

    def __init__(self, on_sqlite: ColumnElement[Any], elsewhere: ColumnElement[Any]) -> None:
        # In parentheses: the statement around them cannot see what is inside (an OR next to
        # an AND must stay one term).
        self.on_sqlite = Grouping(on_sqlite)
        self.elsewhere = Grouping(elsewhere)
        self.type = on_sqlite.type


@compiles(_ByDialect, "sqlite")
def _compile_on_sqlite(element: _ByDialect, compiler: SQLCompiler, **kw: Any) -> str:
    return compiler.process(element.on_sqlite, **kw)


@compiles(_ByDialect)
def _compile_elsewhere(element: _ByDialect, compiler: SQLCompiler, **kw: Any) -> str:
    return compiler.process(element.elsewhere, **kw)


def by_dialect(on_sqlite: ColumnElement[Any], elsewhere: ColumnElement[Any]) -> ColumnElement[Any]:
    """`on_sqlite` when the statement runs on SQLite, `elsewhere` (PostgreSQL) otherwise."""
    return _ByDialect(on_sqlite, elsewhere)


def escape_like(text: str) -> str:
    """`text` with LIKE's wildcards (and the escape character) escaped by a backslash."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def contains_ignoring_case(columns: Sequence[ColumnElement[str]], text: str) -> ColumnElement[bool]:
    """True where any of `columns` contains `text`, whatever the case of either.

    SQLite's LIKE ignores the case of ASCII letters only, so text beyond ASCII is compared
    case-folded by Python (``cd_casefold``, registered on every SQLite connection by
    persistence.db). PostgreSQL's ILIKE folds every letter by the database's LC_CTYPE
    (a UTF-8 locale; open_server_database warns about "C"). Neither can use a b-tree index
    for a match in the middle of a text: both scan, which pages of 200 make cheap.
    """
    pattern = "%" + escape_like(text) + "%"
    if text.isascii():
        sqlite_terms = [column.like(pattern, escape="\\") for column in columns]
    else:
        folded = "%" + escape_like(text.casefold()) + "%"
        sqlite_terms = [func.cd_casefold(column).like(folded, escape="\\") for column in columns]
    server_terms = [column.ilike(pattern, escape="\\") for column in columns]
    condition: ColumnElement[bool] = by_dialect(or_(*sqlite_terms), or_(*server_terms))
    condition.type = Boolean()
    return condition


def like_ignoring_case(
    column: ColumnElement[Any], text: str, how: Literal["equals", "starts", "contains"]
) -> ColumnElement[bool]:
    """True where `column` equals, starts with or contains `text`, whatever the case of
    either (NULL where `column` is NULL). Case as `contains_ignoring_case`: LIKE for ASCII
    text and ``cd_casefold`` beyond it on SQLite, ILIKE on PostgreSQL; wildcards are text.
    """
    before = "%" if how == "contains" else ""
    after = "" if how == "equals" else "%"
    pattern = before + escape_like(text) + after
    if text.isascii():
        on_sqlite = column.like(pattern, escape="\\")
    else:
        folded = before + escape_like(text.casefold()) + after
        on_sqlite = func.cd_casefold(column).like(folded, escape="\\")
    condition: ColumnElement[bool] = by_dialect(on_sqlite, column.ilike(pattern, escape="\\"))
    condition.type = Boolean()
    return condition


def database_utc_now(session: Session) -> Any:
    """The database server's current UTC time, as an SQL expression (naive UTC, like the
    `UTCDateTime` columns store).

    Team heartbeats are written and judged on this one clock, so that desktops whose own
    clocks differ, jump or sleep never take each other for dead.
    """
    if session.get_bind().dialect.name == "postgresql":
        return func.timezone("UTC", func.clock_timestamp())
    return func.strftime("%Y-%m-%d %H:%M:%f", "now")
