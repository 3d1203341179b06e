"""`campaign-desktop --self-test` (ui/shell/self_test.py): the whole stack once, offscreen; it
says "self-test ok", or why not."""

from __future__ import annotations

import pytest

from campaign_desktop.app import main
from campaign_desktop.ui.shell import self_test

pytestmark = [
    pytest.mark.gui,
    pytest.mark.qt_log_ignore("This plugin does not support propagateSizeHints"),
]


def test_self_test_prints_ok(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--self-test"]) == 0
    assert "self-test ok" in capsys.readouterr().out


def test_a_failing_check_says_which_and_returns_1(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(self_test, "PREVIEW_COUNT", 99)  # a preview that can never be right
    assert main(["--self-test"]) == 1
    out, err = capsys.readouterr()
    assert "self-test ok" not in out
    assert "self-test FAILED: SelfTestError: preview lists" in err
