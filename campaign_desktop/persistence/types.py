"""Column types that keep the database honest: every timestamp is aware UTC, every status
one of its enum's values.

The seed project crashed on naive/aware mixes; `UTCDateTime` refuses naive values on the way
in. `StoredEnum` hands back the domain's `StrEnum`s and stores their plain strings.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, TypeVar

from sqlalchemy import DateTime, Dialect, String
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """Stores aware datetimes as UTC; returns aware UTC datetimes; refuses naive ones."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"UTCDateTime needs a datetime, got {type(value).__name__}")
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value!r} refused: store aware UTC datetimes")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC)


E = TypeVar("E", bound=StrEnum)


class StoredEnum(TypeDecorator[E]):
    """A `StrEnum` stored as its plain string value in a VARCHAR(20), exactly the text the
    columns held before they were typed (no migration, no native ENUM type on PostgreSQL).

    Writing takes the enum or its string value and refuses anything else (ValueError), so
    a typo never reaches the table; reading gives the enum member.
    """

    impl = String(20)
    cache_ok = True

    def __init__(self, enum: type[E]) -> None:
        super().__init__()
        self.enum = enum

    def process_bind_param(self, value: E | str | None, dialect: Dialect) -> str | None:
        return None if value is None else self.enum(value).value

    def process_result_value(self, value: Any, dialect: Dialect) -> E | None:
        return None if value is None else self.enum(value)

    def __repr__(self) -> str:
        return f"StoredEnum({self.enum.__name__})"


def utc_now() -> datetime:
    """The current instant, aware UTC (the one clock function the persistence layer uses)."""
    return datetime.now(UTC)


class WallClockDateTime(TypeDecorator[datetime]):
    """A naive local wall-clock date-time (what the user typed), stored as ISO text.

    It is meaningless without the campaign's timezone, so it refuses aware values.
    """

    impl = String(32)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> str | None:
        if value is None:
            return None
        if value.tzinfo is not None:
            raise ValueError(f"aware datetime {value!r} refused: wall-clock times are naive")
        return value.isoformat(timespec="seconds")

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return datetime.fromisoformat(str(value))
