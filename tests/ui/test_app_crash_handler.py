"""The one crash handler: expected failures are messages, bugs are logged and shown once."""

from __future__ import annotations

import logging

import pytest

from campaign_desktop.app import _crash_handler
from campaign_desktop.domain.errors import ValidationError

pytestmark = pytest.mark.gui


def test_expected_failure_is_a_plain_message_not_a_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    shown: list[tuple[str, str]] = []
    hook = _crash_handler(lambda title, text: shown.append((title, text)))
    error = ValidationError("subject", "Write a subject line.")
    hook(type(error), error, None)
    assert shown == [("Campaign Desktop", "Write a subject line.")]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_a_bug_is_logged_with_its_traceback_and_shown_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    shown: list[tuple[str, str]] = []
    hook = _crash_handler(lambda title, text: shown.append((title, text)))
    for _ in range(3):
        try:
            raise KeyError("lost")
        except KeyError as error:
            hook(type(error), error, error.__traceback__)
    assert len(shown) == 1
    title, text = shown[0]
    assert title == "Campaign Desktop hit a bug" and "KeyError" in text
    critical = [r for r in caplog.records if r.levelno == logging.CRITICAL]
    assert len(critical) == 3 and all(r.exc_info for r in critical)
