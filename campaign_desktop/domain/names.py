"""When two names the marketer gives things (contact lists, saved segments) are the same name:
ignoring case and surrounding spaces, Unicode-aware (docs/design.md §21)."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from typing import TypeVar

T = TypeVar("T")


def name_key(name: str) -> str:
    """The form two names are compared in: surrounding spaces stripped, then Unicode's
    canonical caseless match (NFD, `str.casefold`, NFD; The Unicode Standard §3.13, D145).

    "Newsletter", " newsletter " and "NEWSLETTER" share one key; so do "Straße" and
    "STRASSE" (casefold spells ß "ss", as German capitals do) and an "é" typed as one
    character or as "e" and a combining accent.
    """
    return unicodedata.normalize("NFD", unicodedata.normalize("NFD", name.strip()).casefold())


def find_named(items: Iterable[tuple[T, str]], name: str) -> T | None:
    """The item of `items` ((item, its name) pairs) called `name`: the one named exactly
    that, else the first whose name is the same ignoring case (`name_key`), else None.

    Exact first, so that a database holding both "VIP" and "vip" (made before names were
    compared this way) still finds each by its own spelling.
    """
    wanted = name.strip()
    key = name_key(wanted)
    same: T | None = None
    for item, item_name in items:
        if item_name == wanted:
            return item
        if same is None and name_key(item_name) == key:
            same = item
    return same
