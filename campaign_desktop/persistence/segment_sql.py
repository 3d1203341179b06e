"""A segment (`domain.segments.Segment`) as an SQL condition over `contact`, the same rows on
SQLite and PostgreSQL, so that counts and a run's audience snapshot stay in SQL at a million
contacts (docs/design.md §18).

- Built-in fields are the contact's columns; a custom field is the attribute's text:
  ``CAST(json_extract(attributes, '$."key"') AS TEXT)`` on SQLite, ``attributes ->> 'key'``
  on PostgreSQL; a missing key is NULL, which counts as empty.
- Text compares ignore case (`portable.like_ignoring_case`): LIKE with the value's
  wildcards escaped. SQLite's LIKE and ``lower()`` fold ASCII letters only, so a value with
  any other letter compares ``cd_casefold`` (Python's ``str.casefold``) of both sides there;
  PostgreSQL's ILIKE folds by the database's locale.
- Greater / less than: a value that reads as a number compares the field as a number, where
  the field's text is one (``cd_number`` on SQLite, a pattern check then a cast on
  PostgreSQL); otherwise, an ISO date compares the first ten characters of fields that start
  with one. A field that is neither never matches.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    Boolean,
    ColumnElement,
    Float,
    String,
    Text,
    and_,
    case,
    cast,
    func,
    not_,
    or_,
    true,
)
from sqlalchemy.sql import literal

from campaign_desktop.domain.errors import ValidationError
from campaign_desktop.domain.segments import (
    BuiltInField,
    Condition,
    Match,
    Operator,
    Segment,
    as_date,
    as_number,
    attribute_key,
)
from campaign_desktop.persistence.models import Contact
from campaign_desktop.persistence.portable import by_dialect, like_ignoring_case

__all__ = ["condition_sql", "segment_sql"]

_PG_NUMBER = r"^\s*[-+]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][-+]?[0-9]+)?\s*$"
_SQLITE_DATE = "[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]*"
_PG_DATE = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}"


def segment_sql(segment: Segment) -> ColumnElement[bool]:
    """True for the contacts `segment` picks (whatever their status)."""
    terms = [condition_sql(item) for item in segment.conditions]
    if not terms:
        return true()
    return and_(*terms) if segment.match == Match.ALL else or_(*terms)


def _field_text(field_name: str) -> tuple[ColumnElement[Any], bool]:
    """(the field as text, whether it can be NULL: a custom field missing from a contact)."""
    key = attribute_key(field_name)
    if key is None:
        columns = {
            BuiltInField.EMAIL: Contact.email,
            BuiltInField.FIRST_NAME: Contact.first_name,
            BuiltInField.LAST_NAME: Contact.last_name,
            BuiltInField.STATUS: Contact.status,
        }
        return columns[BuiltInField(field_name)].expression, False
    if '"' in key:
        # SQLite's JSON paths cannot quote a double quote inside a key.
        raise ValidationError(
            "conditions", f"The custom field “{key}” has a double quote in its name: rename it."
        )
    extracted = Contact.attributes[key].as_string()
    # SQLite's json_extract gives a JSON number as a number: as text, like ->> does.
    return by_dialect(cast(extracted, Text), extracted), True


def condition_sql(condition: Condition) -> ColumnElement[bool]:  # noqa: PLR0911  (one per operator)
    """True for the contacts `condition` holds for (a checked condition)."""
    text, nullable = _field_text(condition.field)
    value = condition.value
    if condition.field == BuiltInField.STATUS:
        if condition.operator == Operator.IS:
            return Contact.status == value
        return Contact.status != value
    missing = text.is_(None) if nullable else None

    def or_missing(term: ColumnElement[bool]) -> ColumnElement[bool]:
        return term if missing is None else or_(missing, term)

    match condition.operator:
        case Operator.IS:
            return like_ignoring_case(text, value, "equals")
        case Operator.IS_NOT:
            return or_missing(not_(like_ignoring_case(text, value, "equals")))
        case Operator.CONTAINS:
            return like_ignoring_case(text, value, "contains")
        case Operator.NOT_CONTAINS:
            return or_missing(not_(like_ignoring_case(text, value, "contains")))
        case Operator.STARTS_WITH:
            return like_ignoring_case(text, value, "starts")
        case Operator.IS_EMPTY:
            return or_missing(func.trim(text) == "")
        case Operator.IS_NOT_EMPTY:
            present = func.trim(text) != ""
            return present if missing is None else and_(text.is_not(None), present)
        case Operator.GREATER_THAN | Operator.LESS_THAN:
            return _compare(text, value, greater=condition.operator == Operator.GREATER_THAN)
    raise AssertionError(f"no SQL for {condition.operator}")  # pragma: no cover


def _compare(text: ColumnElement[Any], value: str, *, greater: bool) -> ColumnElement[bool]:
    number = as_number(value)
    if number is not None:
        as_float = by_dialect(
            func.cd_number(text),
            case((text.regexp_match(_PG_NUMBER), cast(text, Float))),
        )
        as_float.type = Float()
        bound = literal(number, Float)
        return as_float > bound if greater else as_float < bound
    day = as_date(value)
    if day is None:  # Condition.checked refuses this already
        raise ValidationError("value", "Type a number (like 42) or a date (like 2026-01-31).")
    looks_like_date = by_dialect(text.op("GLOB")(_SQLITE_DATE), text.regexp_match(_PG_DATE))
    looks_like_date.type = Boolean()
    head = func.substr(text, 1, 10)
    iso = literal(day.isoformat(), String)
    return and_(looks_like_date, head > iso if greater else head < iso)
