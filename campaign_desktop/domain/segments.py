"""Segments: contacts picked by the values of their fields (docs/design.md §18).

A `Segment` is a few `Condition`s (field, operator, value) that must all (or any) hold; it
filters the Contacts tab and, saved under a name, is a campaign's audience beside lists.
Pure data and its rules here; the SQL is `persistence/segment_sql.py`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from typing import Any

from campaign_desktop.domain.errors import ValidationError
from campaign_desktop.domain.status import ContactStatus

#: A condition on a custom field (a CSV column kept in the contact's attributes) names it
#: with this prefix, so that a column called "email" or "status" is never taken for the
#: built-in field of that name.
CUSTOM_PREFIX = "custom:"
#: More conditions than this is not "a simple segment" (and would make a slow query).
MAX_CONDITIONS = 20
MAX_VALUE_LENGTH = 500


class BuiltInField(StrEnum):
    """The contact's own columns a condition can test."""

    EMAIL = "email"
    FIRST_NAME = "first_name"
    LAST_NAME = "last_name"
    STATUS = "status"


BUILT_IN_LABELS: dict[str, str] = {
    BuiltInField.EMAIL: "Email",
    BuiltInField.FIRST_NAME: "First name",
    BuiltInField.LAST_NAME: "Last name",
    BuiltInField.STATUS: "Status",
}


class Operator(StrEnum):
    """How a field's value is compared. Text compares ignore case; a missing custom field is
    empty (so it "is not", "does not contain" and "is empty")."""

    IS = "is"
    IS_NOT = "is_not"
    CONTAINS = "contains"
    NOT_CONTAINS = "not_contains"
    STARTS_WITH = "starts_with"
    IS_EMPTY = "is_empty"
    IS_NOT_EMPTY = "is_not_empty"
    GREATER_THAN = "greater_than"
    LESS_THAN = "less_than"

    @property
    def label(self) -> str:
        return _OPERATOR_LABELS[self]

    @property
    def needs_value(self) -> bool:
        return self not in {Operator.IS_EMPTY, Operator.IS_NOT_EMPTY}


_OPERATOR_LABELS = {
    Operator.IS: "is",
    Operator.IS_NOT: "is not",
    Operator.CONTAINS: "contains",
    Operator.NOT_CONTAINS: "does not contain",
    Operator.STARTS_WITH: "starts with",
    Operator.IS_EMPTY: "is empty",
    Operator.IS_NOT_EMPTY: "is not empty",
    Operator.GREATER_THAN: "is greater than",
    Operator.LESS_THAN: "is less than",
}

#: What each kind of field offers, in the order a menu shows them.
TEXT_OPERATORS: tuple[Operator, ...] = (
    Operator.IS,
    Operator.IS_NOT,
    Operator.CONTAINS,
    Operator.NOT_CONTAINS,
    Operator.STARTS_WITH,
    Operator.IS_EMPTY,
    Operator.IS_NOT_EMPTY,
)
CUSTOM_OPERATORS: tuple[Operator, ...] = (
    *TEXT_OPERATORS,
    Operator.GREATER_THAN,
    Operator.LESS_THAN,
)
STATUS_OPERATORS: tuple[Operator, ...] = (Operator.IS, Operator.IS_NOT)

_NUMBER = re.compile(r"\s*[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?\s*")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def custom_field(name: str) -> str:
    """The condition field for the custom field (attribute key) `name`."""
    return CUSTOM_PREFIX + name


def attribute_key(field_name: str) -> str | None:
    """The attribute key a condition field names, or None for a built-in field."""
    return field_name[len(CUSTOM_PREFIX) :] if field_name.startswith(CUSTOM_PREFIX) else None


def field_label(field_name: str) -> str:
    """How a condition field reads in the app: "First name", or the custom field's name."""
    key = attribute_key(field_name)
    return key if key is not None else BUILT_IN_LABELS.get(field_name, field_name)


def operators_for(field_name: str) -> tuple[Operator, ...]:
    """The operators that make sense for a field (greater/less only on custom fields)."""
    if field_name == BuiltInField.STATUS:
        return STATUS_OPERATORS
    if attribute_key(field_name) is not None:
        return CUSTOM_OPERATORS
    return TEXT_OPERATORS


def as_number(text: str) -> float | None:
    """`text` as a number ("42", " -3.5 ", "1e3"), or None. Thousands separators are not
    read: "1,000" is no number (in half the world it is one point zero)."""
    if not _NUMBER.fullmatch(text):
        return None
    return float(text)


def as_date(text: str) -> date | None:
    """`text` as an ISO date (YYYY-MM-DD, the form CSV exports of most tools use), or None."""
    stripped = text.strip()
    if not _DATE.fullmatch(stripped):
        return None
    try:
        return date.fromisoformat(stripped)
    except ValueError:
        return None


@dataclass(frozen=True)
class Condition:
    """One test of a contact's field: `field` is a `BuiltInField` value or
    `custom_field(name)`; `value` is ignored by "is empty" / "is not empty"."""

    field: str
    operator: Operator
    value: str = ""

    def checked(self, position: int = 0) -> Condition:
        """This condition cleaned (value trimmed, operator an `Operator`), or ValidationError
        whose field is ``conditions.<position>.field|operator|value``."""
        where = f"conditions.{position}"
        field_name = (self.field or "").strip() if isinstance(self.field, str) else ""
        key = attribute_key(field_name)
        if not field_name or (key is None and field_name not in set(BuiltInField)) or key == "":
            raise ValidationError(f"{where}.field", "Choose a field.")
        try:
            operator = Operator(self.operator)
        except ValueError:
            raise ValidationError(f"{where}.operator", "Choose how to compare.") from None
        if operator not in operators_for(field_name):
            raise ValidationError(
                f"{where}.operator",
                f"“{field_label(field_name)}” cannot be compared with “{operator.label}”.",
            )
        value = self.value if isinstance(self.value, str) else ""
        value = value.strip()
        if not operator.needs_value:
            return Condition(field_name, operator, "")
        if not value:
            raise ValidationError(f"{where}.value", "Type a value to compare with.")
        if len(value) > MAX_VALUE_LENGTH:
            raise ValidationError(
                f"{where}.value", f"Keep the value under {MAX_VALUE_LENGTH} characters."
            )
        if field_name == BuiltInField.STATUS:
            try:
                value = ContactStatus(value.lower()).value
            except ValueError:
                raise ValidationError(
                    f"{where}.value", "Choose subscribed, unsubscribed or bounced."
                ) from None
        if operator in {Operator.GREATER_THAN, Operator.LESS_THAN} and (
            as_number(value) is None and as_date(value) is None
        ):
            raise ValidationError(
                f"{where}.value", "Type a number (like 42) or a date (like 2026-01-31)."
            )
        return Condition(field_name, operator, value)

    def describe(self) -> str:
        """In words: ``City is "Paris"``."""
        if not self.operator.needs_value:
            return f"{field_label(self.field)} {self.operator.label}"
        return f"{field_label(self.field)} {self.operator.label} “{self.value}”"

    def to_dict(self) -> dict[str, str]:
        return {"field": self.field, "operator": self.operator.value, "value": self.value}


class Match(StrEnum):
    ALL = "all"
    ANY = "any"


@dataclass(frozen=True)
class Segment:
    """Contacts for whom all (`Match.ALL`) or any (`Match.ANY`) of `conditions` hold.

    Build one with `Segment.of(...)` or `from_dict`/`from_json` to have it checked.
    """

    conditions: tuple[Condition, ...] = field(default=())
    match: Match = Match.ALL

    @classmethod
    def of(cls, conditions: Sequence[Condition], match: str = Match.ALL) -> Segment:
        """A checked segment: ValidationError (field ``conditions.N.*``, ``conditions`` or
        ``match``) in words a marketer understands."""
        try:
            how = Match(match)
        except ValueError:
            raise ValidationError(
                "match", "Choose whether all or any conditions must hold."
            ) from None
        if not conditions:
            raise ValidationError("conditions", "Add at least one condition.")
        if len(conditions) > MAX_CONDITIONS:
            raise ValidationError(
                "conditions", f"A segment can have at most {MAX_CONDITIONS} conditions."
            )
        return cls(tuple(item.checked(n) for n, item in enumerate(conditions)), how)

    def describe(self) -> str:
        joiner = " and " if self.match == Match.ALL else " or "
        return joiner.join(item.describe() for item in self.conditions)

    def to_dict(self) -> dict[str, Any]:
        return {"match": self.match.value, "conditions": [c.to_dict() for c in self.conditions]}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, sort_keys=True)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Segment:
        """The segment `to_dict` wrote; ValidationError for anything else."""
        if not isinstance(data, Mapping):
            raise ValidationError("conditions", "A segment is an object with conditions.")
        items = data.get("conditions")
        if not isinstance(items, list) or not all(isinstance(item, Mapping) for item in items):
            raise ValidationError("conditions", "A segment's conditions are a list.")
        conditions = [
            Condition(
                str(item.get("field", "")),
                item.get("operator", ""),  # checked by Condition.checked
                str(item.get("value", "")),
            )
            for item in items
        ]
        return cls.of(conditions, str(data.get("match", Match.ALL)))

    @classmethod
    def from_json(cls, text: str) -> Segment:
        try:
            data = json.loads(text)
        except ValueError:
            raise ValidationError("conditions", "This is not a saved segment.") from None
        return cls.from_dict(data)
