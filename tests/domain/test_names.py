"""When two names are one name (docs/design.md §21): case, surrounding spaces and Unicode's
caseless forms, and which item a name finds when several share it ignoring case."""

from __future__ import annotations

import pytest

from campaign_desktop.domain.names import find_named, name_key


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("Newsletter", "newsletter"),
        (" VIP ", "vip"),
        ("Straße", "STRASSE"),
        ("Café", "CAFE\N{COMBINING ACUTE ACCENT}"),
        ("ΣΊΣΥΦΟΣ", "σίσυφος"),
    ],
)
def test_names_differing_in_case_or_spaces_share_a_key(first: str, second: str) -> None:
    assert name_key(first) == name_key(second)


@pytest.mark.parametrize(("first", "second"), [("VIP", "VIP 2"), ("Cafe", "Café"), ("a b", "ab")])
def test_different_names_keep_different_keys(first: str, second: str) -> None:
    assert name_key(first) != name_key(second)


def test_the_exact_spelling_is_found_first_then_the_first_same_ignoring_case() -> None:
    items = [(1, "VIP"), (2, "vip"), (3, "Other")]
    assert find_named(items, "vip") == 2
    assert find_named(items, " VIP ") == 1
    assert find_named(items, "Vip") == 1
    assert find_named(items, "other") == 3
    assert find_named(items, "Nobody") is None
