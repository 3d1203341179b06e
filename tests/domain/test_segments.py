"""Segments as data (docs/design.md §18): which operators each field offers, the checks a
marketer meets in words, and the JSON a saved segment is stored as."""

from __future__ import annotations

import pytest

from campaign_desktop.domain.errors import ValidationError
from campaign_desktop.domain.segments import (
    Condition,
    Match,
    Operator,
    Segment,
    as_date,
    as_number,
    custom_field,
    operators_for,
)


def test_greater_and_less_are_offered_on_custom_fields_only() -> None:
    assert Operator.GREATER_THAN in operators_for(custom_field("age"))
    assert Operator.GREATER_THAN not in operators_for("first_name")
    assert operators_for("status") == (Operator.IS, Operator.IS_NOT)


@pytest.mark.parametrize(
    ("condition", "field", "message"),
    [
        (Condition("", Operator.IS, "x"), "conditions.0.field", "Choose a field."),
        (Condition("phone", Operator.IS, "x"), "conditions.0.field", "Choose a field."),
        (Condition("custom:", Operator.IS, "x"), "conditions.0.field", "Choose a field."),
        (
            Condition("email", Operator.IS, "  "),
            "conditions.0.value",
            "Type a value to compare with.",
        ),
        (
            Condition("email", Operator.GREATER_THAN, "3"),
            "conditions.0.operator",
            "“Email” cannot be compared with “is greater than”.",
        ),
        (
            Condition(custom_field("age"), Operator.LESS_THAN, "thirty"),
            "conditions.0.value",
            "Type a number (like 42) or a date (like 2026-01-31).",
        ),
        (
            Condition("status", Operator.IS, "gone"),
            "conditions.0.value",
            "Choose subscribed, unsubscribed or bounced.",
        ),
    ],
)
def test_a_condition_that_cannot_be_tested_says_what_to_fix(
    condition: Condition, field: str, message: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        Segment.of([condition])
    assert (caught.value.field, caught.value.message) == (field, message)


def test_the_second_condition_is_named_by_its_position() -> None:
    with pytest.raises(ValidationError) as caught:
        Segment.of([Condition("email", Operator.CONTAINS, "@"), Condition("", Operator.IS, "")])
    assert caught.value.field == "conditions.1.field"


def test_a_segment_needs_a_condition_and_a_known_match() -> None:
    with pytest.raises(ValidationError, match="Add at least one condition"):
        Segment.of([])
    with pytest.raises(ValidationError) as caught:
        Segment.of([Condition("email", Operator.IS_EMPTY)], match="most")
    assert caught.value.field == "match"


def test_checking_trims_values_drops_values_of_empty_tests_and_reads_status_in_any_case() -> None:
    segment = Segment.of(
        [
            Condition("first_name", Operator.IS, "  Ann "),
            Condition(custom_field("city"), Operator.IS_EMPTY, "ignored"),
            Condition("status", Operator.IS_NOT, "Bounced"),
        ],
        match="any",
    )
    assert segment.conditions == (
        Condition("first_name", Operator.IS, "Ann"),
        Condition("custom:city", Operator.IS_EMPTY, ""),
        Condition("status", Operator.IS_NOT, "bounced"),
    )
    assert segment.match == Match.ANY
    assert segment.describe() == "First name is “Ann” or city is empty or Status is not “bounced”"


def test_json_round_trip_keeps_every_condition() -> None:
    segment = Segment.of(
        [
            Condition(custom_field("Stadt"), Operator.STARTS_WITH, "Zürich"),
            Condition(custom_field("score"), Operator.GREATER_THAN, "4.5"),
            Condition("email", Operator.NOT_CONTAINS, "100%_sure"),
        ]
    )
    assert Segment.from_json(segment.to_json()) == segment
    assert Segment.from_dict(segment.to_dict()) == segment
    assert "Zürich" in segment.to_json()  # readable in the database, not \\u-escaped


@pytest.mark.parametrize(
    "stored",
    [
        "not json",
        "[]",
        '{"conditions": "email is x"}',
        '{"conditions": [{"field": "email", "operator": "resembles", "value": "x"}]}',
    ],
)
def test_stored_text_that_is_no_segment_is_refused(stored: str) -> None:
    with pytest.raises(ValidationError):
        Segment.from_json(stored)


def test_numbers_and_dates_are_read_strictly() -> None:
    assert as_number(" 42 ") == 42
    assert as_number("-3.5") == -3.5
    assert as_number("1e3") == 1000
    assert as_number("1,000") is None
    assert as_number("12abc") is None
    assert as_date("2026-01-31") is not None
    assert as_date("2026-02-30") is None
    assert as_date("31/01/2026") is None
