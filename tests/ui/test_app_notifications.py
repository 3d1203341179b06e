"""What the tray says about each event (`notification_for`), and how several are gathered."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest
from pytestqt.qtbot import QtBot

from campaign_desktop.domain.events import (
    CampaignChange,
    CampaignChanged,
    CatchUpReport,
    RunEvent,
    RunPhase,
    SchedulerStateChanged,
)
from campaign_desktop.domain.status import RunStatus, RunTrigger
from campaign_desktop.domain.views import RunView
from campaign_desktop.ui.common.formatting import on_this_machine
from campaign_desktop.ui.shell.notifications import (
    Kind,
    Level,
    Notification,
    Notifier,
    catch_up_text,
    combine,
    notification_for,
)

AT = datetime(2027, 1, 4, 14, 0, tzinfo=UTC)
RUN = RunView(
    id=7,
    campaign_id=3,
    occurrence_at=AT,
    trigger=RunTrigger.SCHEDULED,
    status=RunStatus.COMPLETED,
    started_at=AT,
    finished_at=AT,
    total=5000,
    sent=5000,
    failed=0,
    skipped=0,
    unconfirmed=0,
    error=None,
)


def _event(phase: RunPhase, message: str = "", **run: object) -> RunEvent:
    return RunEvent(phase, replace(RUN, **run), "News", message)  # type: ignore[arg-type]  # field values per test


def test_finished_run_says_how_many_were_sent() -> None:
    note = notification_for(_event(RunPhase.FINISHED))
    assert note == Notification(
        Kind.FINISHED, "Sent \u201cNews\u201d", "5,000 of 5,000 sent.", Level.INFO
    )


def test_finished_run_with_problems_is_a_warning_and_names_them() -> None:
    note = notification_for(
        _event(RunPhase.FINISHED, sent=4990, failed=7, unconfirmed=2, skipped=1)
    )
    assert note is not None
    assert note.level == Level.WARNING
    assert note.text == (
        "4,990 of 4,999 sent, 7 failed, 2 unconfirmed (not resent, see Activity), "
        "1 skipped (unsubscribed or bounced)."
    )


def test_catch_up_send_is_called_late() -> None:
    note = notification_for(_event(RunPhase.FINISHED, trigger="catch_up"))
    assert note is not None and note.title == "Sent \u201cNews\u201d late"


def test_test_send_gets_its_own_words() -> None:
    note = notification_for(_event(RunPhase.FINISHED, trigger="test", total=1, sent=1))
    assert note is not None
    assert (note.kind, note.title, note.text) == (
        Kind.TEST_FINISHED,
        "Test of \u201cNews\u201d sent",
        "1 test message sent.",
    )


def test_failed_run_is_an_error_with_the_reason() -> None:
    note = notification_for(
        _event(RunPhase.FAILED, "The mail server refused every recipient.", status="failed")
    )
    assert note is not None
    assert (note.title, note.text, note.level) == (
        "Sending \u201cNews\u201d failed",
        "The mail server refused every recipient.",
        Level.ERROR,
    )


def test_run_paused_by_the_app_says_why_and_how_far_it_got() -> None:
    note = notification_for(
        _event(RunPhase.PAUSED, "The server refused the login.", status="paused", sent=120)
    )
    assert note is not None
    assert note.level == Level.WARNING
    assert note.text == (
        "The server refused the login. 120 of 5,000 sent so far; resume it from the Campaigns tab."
    )


def test_run_paused_by_the_user_is_only_information() -> None:
    note = notification_for(_event(RunPhase.PAUSED, status="paused", sent=120))
    assert note is not None and note.level == Level.INFO
    assert note.text.startswith("120 of 5,000 sent so far")


def test_missed_run_says_when_it_was_due() -> None:
    note = notification_for(_event(RunPhase.MISSED, status="missed", sent=0))
    assert note is not None
    assert note.title == "\u201cNews\u201d missed a send"
    assert note.text.startswith("It was due ")
    assert note.text.endswith(", while Campaign Desktop was closed.")


@pytest.mark.parametrize(
    "phase", [RunPhase.STARTED, RunPhase.PROGRESS, RunPhase.RESUMED, RunPhase.CANCELLED]
)
def test_routine_run_phases_are_not_worth_a_balloon(phase: RunPhase) -> None:
    assert notification_for(_event(phase, status="sending")) is None


def test_events_that_are_not_about_runs_say_nothing() -> None:
    assert notification_for(CampaignChanged(3, CampaignChange.UPDATED)) is None
    assert notification_for(SchedulerStateChanged(True, False, AT)) is None
    assert notification_for(CatchUpReport((), ())) is None


@pytest.mark.parametrize(
    ("late", "missed", "text"),
    [
        (1, 2, "Sending 1 campaign late; 2 sends missed while Campaign Desktop was closed."),
        (2, 1, "Sending 2 campaigns late; 1 send missed while Campaign Desktop was closed."),
        (1, 0, "Sending 1 campaign late that fell due while Campaign Desktop was closed."),
        (0, 1, "1 send was missed while Campaign Desktop was closed."),
        (0, 3, "3 sends were missed while Campaign Desktop was closed."),
    ],
)
def test_catch_up_report_sentence(late: int, missed: int, text: str) -> None:
    report = CatchUpReport(((1, AT),) * late, ((2, AT),) * missed)
    assert catch_up_text(report) == text
    note = notification_for(report)
    assert note is not None and note.kind == Kind.CATCH_UP
    assert note.text == f"{text} See the Activity tab."
    assert note.level == (Level.WARNING if missed else Level.INFO)


def test_combine_lets_the_catch_up_report_stand_for_the_missed_runs() -> None:
    missed = notification_for(_event(RunPhase.MISSED, status="missed"))
    report = notification_for(CatchUpReport(((1, AT),), ((3, AT),)))
    assert missed is not None and report is not None
    assert combine([missed, missed, report]) == report


def test_combine_sums_up_several_notifications_at_the_worst_level() -> None:
    sent = notification_for(_event(RunPhase.FINISHED))
    failed = notification_for(_event(RunPhase.FAILED, "Refused.", status="failed"))
    assert sent is not None and failed is not None
    combined = combine([sent, failed])
    assert combined is not None
    assert combined.kind == Kind.SUMMARY
    assert combined.title == "2 updates from Campaign Desktop"
    assert combined.text == f"{sent.title}\n{failed.title}"
    assert combined.level == Level.ERROR
    assert combine([]) is None


@pytest.mark.gui
def test_notifier_gathers_what_arrives_together_into_one(qtbot: QtBot) -> None:
    notifier = Notifier(gather_ms=50)
    shown: list[Notification] = []
    notifier.notify.connect(shown.append)
    notifier.on_event(_event(RunPhase.MISSED, status="missed"))
    notifier.on_event(_event(RunPhase.PROGRESS, status="sending"))  # ignored
    notifier.on_event(CatchUpReport(((1, AT),), ((3, AT),)))
    qtbot.waitUntil(lambda: len(shown) == 1)
    assert shown[0].kind == Kind.CATCH_UP
    with qtbot.assertNotEmitted(notifier.notify, wait=100):
        notifier.on_event(_event(RunPhase.STARTED, status="sending"))


def test_a_send_caught_up_late_says_which_and_when_it_was_due_as_it_starts() -> None:
    started = _event(RunPhase.STARTED, trigger=RunTrigger.CATCH_UP, status="sending")
    note = notification_for(started)
    when = on_this_machine(AT).removesuffix(" (this computer)")
    assert note == Notification(
        Kind.SENDING_LATE,
        "Sending \u201cNews\u201d late",
        f"It was due {when}. See the Activity tab.",
    )
    # The start-up report of that one late send adds nothing to the notice that names it…
    report = notification_for(CatchUpReport(((3, AT),), ()))
    assert report is not None
    assert combine([note, report]) == note
    # …but one with missed sends too is kept, and the notices are gathered with it.
    missed_too = notification_for(CatchUpReport(((3, AT),), ((4, AT),)))
    assert missed_too is not None
    combined = combine([note, missed_too])
    assert combined is not None and combined.kind == Kind.SUMMARY
    assert combined.text == f"{note.title}\n{missed_too.title}"
