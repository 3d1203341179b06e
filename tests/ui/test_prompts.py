"""`call_service`: a call that went through is `Done` (even when it returns nothing), a refused
one is `Refused` after the user was told why; a bug is not caught."""

from __future__ import annotations

import pytest

from campaign_desktop.domain.errors import ValidationError
from campaign_desktop.ui.common.prompts import Done, ErrorMessage, Refused, call_service

pytestmark = pytest.mark.gui


def test_a_void_call_that_went_through_is_done_and_true() -> None:
    outcome = call_service(None, "Delete", lambda: None)
    assert outcome == Done(None)
    assert outcome


def test_a_refused_call_is_refused_and_false_after_the_user_was_told(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    shown: list[tuple[str, str]] = []
    monkeypatch.setattr(
        ErrorMessage, "show", lambda _parent, title, text: shown.append((title, text))
    )
    told: list[str] = []

    def refuse() -> None:
        raise ValidationError("status", "It is being sent right now.")

    outcome = call_service(None, "Delete", refuse, on_refused=told.append)
    assert outcome == Refused("It is being sent right now.")
    assert not outcome
    assert shown == [("Delete", "It is being sent right now.")]
    assert told == ["It is being sent right now."]


def test_a_bug_is_not_a_refusal_and_reaches_the_crash_handler() -> None:
    def broken() -> int:
        raise KeyError("lost")

    with pytest.raises(KeyError):
        call_service(None, "Delete", broken)
