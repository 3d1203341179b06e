"""The CSV import dialog: the mapping preview, an import off the GUI thread (the window stays
responsive), Cancel, the report, and errors shown inline."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QComboBox
from pytestqt.modeltest import ModelTester
from pytestqt.qtbot import QtBot

from campaign_desktop.context import AppContext
from campaign_desktop.services.csv_import import preview
from campaign_desktop.ui.common.accessibility import unnamed_controls
from campaign_desktop.ui.contacts.contacts_tab import ContactsTab
from campaign_desktop.ui.contacts.import_dialog import (
    ChooseCsvFile,
    CsvPreviewModel,
    ImportDialog,
    SkippedRowsModel,
)
from tests.ui.helpers import people_csv, record_threads, write_csv

pytestmark = pytest.mark.gui


@pytest.fixture
def open_dialog(gui_ctx: AppContext, qtbot: QtBot) -> Callable[[Path], ImportDialog]:
    def make(path: Path) -> ImportDialog:
        dialog = ImportDialog(gui_ctx, path)
        qtbot.addWidget(dialog)
        qtbot.waitUntil(lambda: not dialog._loading)  # the preview is read off the GUI thread
        qtbot.waitUntil(lambda: dialog.lists_read)  # and the lists too
        return dialog

    return make


def _combo(dialog: ImportDialog, column: int) -> QComboBox:
    combo = dialog.findChild(QComboBox, f"mapColumn{column}")
    assert combo is not None
    return combo


def _mapping_row(dialog: ImportDialog) -> list[str]:
    model = dialog.preview_model
    return [model.index(0, column).data() for column in range(model.columnCount())]


def test_preview_models_pass_the_model_tester(tmp_path: Path, qtmodeltester: ModelTester) -> None:
    path = write_csv(
        tmp_path / "a.csv",
        ["email", "First name", "#", "email"],
        [["a@example.com", "Ann", "1", "x"], ["b@example.com", "Bob", "2", "y"]],
    )
    model = CsvPreviewModel()
    model.set_preview(preview(path))
    qtmodeltester.check(model)  # type: ignore[no-untyped-call]  # pytest-qt leaves it untyped
    skipped = SkippedRowsModel()
    skipped.set_rows([(3, "The email address is empty."), (7, "Same email as row 2")])
    qtmodeltester.check(skipped)  # type: ignore[no-untyped-call]  # as above


def test_preview_shows_the_first_rows_under_the_automatic_mapping(
    open_dialog: Callable[[Path], ImportDialog], tmp_path: Path
) -> None:
    path = write_csv(
        tmp_path / "crm.csv",
        ["E-mail Address", "Given name", "Company Name", "#"],
        [[f"p{n}@example.com", f"P{n}", f"Co {n}", str(n)] for n in range(1, 9)],
    )
    dialog = open_dialog(path)
    model = dialog.preview_model
    assert model.headers == ("E-mail Address", "Given name", "Company Name", "#")
    assert model.rowCount() == 1 + 5  # the "Import as" row and the first five rows
    assert _mapping_row(dialog) == [
        "Email address",
        "First name",
        "Attribute {{ company_name }}",
        "Don\N{RIGHT SINGLE QUOTATION MARK}t import",
    ]
    assert model.index(1, 0).data() == "p1@example.com"
    assert model.index(5, 2).data() == "Co 5"
    assert "template variable" in model.index(0, 3).data(3)  # why "#" is left out (tooltip)
    assert _combo(dialog, 0).currentData() == "email"
    assert "comma-separated" in dialog.file_info.text()
    assert dialog.import_button.isEnabled()
    assert dialog.error_label.isHidden()


def test_choosing_in_a_combo_changes_the_mapping_and_a_clash_disables_import(
    open_dialog: Callable[[Path], ImportDialog], gui_ctx: AppContext, qtbot: QtBot, tmp_path: Path
) -> None:
    path = write_csv(
        tmp_path / "a.csv",
        ["email", "Vorname", "Nachname"],
        [["cy@example.com", "Cy", "Young"]],
    )
    dialog = open_dialog(path)
    assert _mapping_row(dialog) == [
        "Email address",
        "Attribute {{ vorname }}",
        "Attribute {{ nachname }}",
    ]
    first = _combo(dialog, 1)
    first.setCurrentIndex(first.findData("first_name"))
    last = _combo(dialog, 2)
    last.setCurrentIndex(last.findData("first_name"))
    assert not dialog.import_button.isEnabled()
    assert "both mapped to the first name" in dialog.error_label.text()
    last.setCurrentIndex(last.findData("last_name"))
    assert dialog.import_button.isEnabled()
    assert dialog.preview_model.mapping() == {
        "email": "email",
        "Vorname": "first_name",
        "Nachname": "last_name",
    }
    dialog.import_button.click()
    assert dialog.importing
    qtbot.waitUntil(lambda: dialog.report is not None)
    cy = gui_ctx.contacts.find("cy@example.com")
    assert cy is not None
    assert (cy.first_name, cy.last_name, cy.attributes) == ("Cy", "Young", {})


@pytest.mark.qt_log_ignore("This plugin does not support propagateSizeHints")
def test_importing_10000_rows_keeps_the_gui_thread_responsive(
    open_dialog: Callable[[Path], ImportDialog],
    gui_ctx: AppContext,
    qtbot: QtBot,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Behaviour, not a stopwatch: after each batch the importer waits until the GUI thread has
    # shown that batch's progress *and* run a timer tick, so the event loop provably turned
    # while the import was under way. An import that held the GUI thread would wait in vain.
    # How long the GUI thread may pause is a benchmark figure ("GUI max stall during a
    # 100,000-row import", benchmarks/fig_gui.py, ≤ 100 ms): a bound here flaked on busy
    # machines. Clicks mid-import: test_cancel_mid_import_keeps_what_was_done_and_says_cancelled.
    path = people_csv(tmp_path / "big.csv", 10_000)
    dialog = open_dialog(path)
    dialog.show()
    bar_values: list[int] = []
    dialog.progress.valueChanged.connect(bar_values.append)

    ticked = threading.Condition()
    gui_ticks: list[tuple[int, str]] = []  # per heartbeat: the bar's value and the status line

    def beat() -> None:
        with ticked:
            gui_ticks.append((dialog.progress.value(), dialog.status_label.text()))
            ticked.notify_all()

    timer = QTimer()
    timer.setInterval(16)
    timer.timeout.connect(beat)
    timer.start()

    gui_thread = threading.current_thread()
    steps = dialog.progress.maximum()
    importing_threads: set[threading.Thread] = set()
    gui_kept_up: list[bool] = []  # per batch: the GUI showed it and ticked while the import waited
    real_import = gui_ctx.contacts.import_csv

    def import_watched_by_the_gui(*args: Any, progress: Any, **kw: Any) -> Any:
        def report_then_wait_for_the_gui(fraction: float, rows: int) -> None:
            importing_threads.add(threading.current_thread())
            shown = round(fraction * steps)
            progress(fraction, rows)
            with ticked:
                gui_kept_up.append(
                    ticked.wait_for(lambda: bool(gui_ticks) and gui_ticks[-1][0] >= shown, 10)
                )

        return real_import(*args, progress=report_then_wait_for_the_gui, **kw)

    monkeypatch.setattr(gui_ctx.contacts, "import_csv", import_watched_by_the_gui)
    dialog.import_button.click()
    qtbot.waitUntil(lambda: dialog.report is not None, timeout=60_000)
    timer.stop()

    report = dialog.report
    assert report is not None
    assert (report.created, report.updated, report.skipped, report.cancelled) == (
        10_000,
        0,
        [],
        False,
    )
    assert gui_ctx.contacts.count(list_name="Customers") == 10_002
    assert importing_threads and gui_thread not in importing_threads  # off the GUI thread
    assert len(gui_kept_up) >= 3 and all(gui_kept_up), gui_kept_up  # batch by batch
    assert len(bar_values) >= 3 and bar_values[-1] == steps  # the bar moved, batch by batch
    assert any("rows read" in status for _value, status in gui_ticks)  # shown mid-import
    assert "10,000 created, 0 updated, 0 skipped" in dialog.status_label.text()


def test_cancel_mid_import_keeps_what_was_done_and_says_cancelled(
    open_dialog: Callable[[Path], ImportDialog],
    gui_ctx: AppContext,
    qtbot: QtBot,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real_import = gui_ctx.contacts.import_csv

    def import_held_after_first_batch(*args: Any, progress: Any, cancel: Any, **kw: Any) -> Any:
        # The worker waits after the first batch until the user presses Cancel, so the test
        # cancels mid-import for sure rather than racing the importer.
        def report_then_wait(fraction: float, rows: int) -> None:
            progress(fraction, rows)
            assert isinstance(cancel, threading.Event)
            cancel.wait(10)

        return real_import(*args, progress=report_then_wait, cancel=cancel, **kw)

    monkeypatch.setattr(gui_ctx.contacts, "import_csv", import_held_after_first_batch)
    dialog = open_dialog(people_csv(tmp_path / "big.csv", 5000))
    dialog.import_button.click()
    qtbot.waitUntil(lambda: dialog.progress.value() > 0)
    assert dialog.importing
    assert dialog.cancel_button.text() == "Cancel"
    dialog.cancel_button.click()
    qtbot.waitUntil(lambda: dialog.report is not None, timeout=30_000)

    report = dialog.report
    assert report is not None and report.cancelled
    assert report.created == 2000  # the first batch stays imported
    assert dialog.status_label.text().startswith("Import cancelled.")
    assert "2,000 created" in dialog.status_label.text()
    assert gui_ctx.contacts.count() == 2 + 2000
    assert dialog.cancel_button.text() == "Close"


def test_escape_while_importing_cancels_instead_of_closing(
    open_dialog: Callable[[Path], ImportDialog], qtbot: QtBot, tmp_path: Path
) -> None:
    dialog = open_dialog(people_csv(tmp_path / "big.csv", 6000))
    dialog.import_button.click()
    dialog.reject()  # Esc or the window's close button
    assert dialog._cancel.is_set()
    qtbot.waitUntil(lambda: dialog.report is not None, timeout=30_000)
    assert dialog.report is not None


def test_a_file_without_an_email_column_says_so_and_imports_nothing(
    open_dialog: Callable[[Path], ImportDialog], gui_ctx: AppContext, tmp_path: Path
) -> None:
    path = write_csv(tmp_path / "names.csv", ["name", "city"], [["Cy", "Paris"]])
    dialog = open_dialog(path)
    assert not dialog.import_button.isEnabled()
    assert "No column is imported as the email address" in dialog.error_label.text()
    assert not dialog.error_label.isHidden()
    dialog.start_import()  # refused: nothing starts
    assert dialog._task is None
    assert gui_ctx.contacts.count() == 2


def test_an_error_from_the_worker_shows_inline_and_imports_nothing(
    open_dialog: Callable[[Path], ImportDialog],
    gui_ctx: AppContext,
    qtbot: QtBot,
    tmp_path: Path,
) -> None:
    path = write_csv(tmp_path / "list.csv", ["email"], [["cy@example.com"]])
    dialog = open_dialog(path)
    assert dialog.import_button.isEnabled()
    # The file changes after the preview (saved again from the spreadsheet, columns renamed).
    write_csv(path, ["address", "city"], [["cy@example.com", "Paris"]])
    dialog.import_button.click()
    qtbot.waitUntil(lambda: not dialog.importing)
    assert dialog.report is None
    assert "The file has no column “email”" in dialog.error_label.text()
    assert "Nothing was imported." in dialog.error_label.text()
    assert not dialog.error_label.isHidden()
    assert gui_ctx.contacts.count() == 2
    assert dialog.cancel_button.text() == "Cancel"  # the dialog stays open to try again


def test_skipped_rows_are_listed_with_their_reasons(
    open_dialog: Callable[[Path], ImportDialog], gui_ctx: AppContext, qtbot: QtBot, tmp_path: Path
) -> None:
    path = write_csv(
        tmp_path / "mixed.csv",
        ["email", "first_name"],
        [["cy@example.com", "Cy"], ["not-an-address", "X"], ["cy@example.com", "Again"]],
    )
    dialog = open_dialog(path)
    dialog.list_combo.setCurrentText("Spring fair")
    dialog.import_button.click()
    qtbot.waitUntil(lambda: dialog.report is not None)
    assert "Spring fair" in dialog.status_label.text()
    assert "1 created, 0 updated, 2 skipped" in dialog.status_label.text()
    assert not dialog.skipped_view.isHidden()
    model = dialog.skipped_model
    rows = [(model.index(r, 0).data(), model.index(r, 1).data()) for r in range(model.rowCount())]
    assert rows[0][0] == "3"
    assert rows[1] == ("4", "Same email as row 2")
    assert gui_ctx.contacts.count(list_name="Spring fair") == 1


def test_a_list_name_typed_in_another_case_imports_into_that_list(
    open_dialog: Callable[[Path], ImportDialog], gui_ctx: AppContext, qtbot: QtBot, tmp_path: Path
) -> None:
    dialog = open_dialog(write_csv(tmp_path / "a.csv", ["email"], [["cy@example.com"]]))
    assert dialog.list_combo.currentText() == "Customers"
    dialog.list_combo.setCurrentText("vip")
    dialog.import_button.click()
    qtbot.waitUntil(lambda: dialog.report is not None)
    assert "“VIP”" in dialog.status_label.text()  # the list as it is spelled
    assert [item.name for item in gui_ctx.contacts.lists()] == ["Customers", "VIP"]
    assert gui_ctx.contacts.count(list_name="VIP") == 2


def test_a_default_list_spelled_in_another_case_is_offered_once(
    gui_ctx: AppContext, qtbot: QtBot, tmp_path: Path
) -> None:
    gui_ctx.contacts.rename_list(
        next(item.id for item in gui_ctx.contacts.lists() if item.name == "Customers"),
        "customers",
    )
    dialog = ImportDialog(gui_ctx, write_csv(tmp_path / "a.csv", ["email"], [["cy@example.com"]]))
    qtbot.addWidget(dialog)
    qtbot.waitUntil(lambda: not dialog._loading and dialog.lists_read)
    offered = [dialog.list_combo.itemText(i) for i in range(dialog.list_combo.count())]
    assert offered == ["customers", "VIP"]
    assert dialog.list_combo.currentText() == "customers"


def test_opening_reads_the_lists_off_the_gui_thread_and_keeps_a_list_typed_meanwhile(
    gui_ctx: AppContext, qtbot: QtBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    read = record_threads(monkeypatch, gui_ctx.contacts, "lists")
    dialog = ImportDialog(gui_ctx)
    qtbot.addWidget(dialog)
    combo = dialog.list_combo
    combo.setCurrentText("Spring fair")  # typed before the lists are in
    qtbot.waitUntil(
        lambda: [combo.itemText(i) for i in range(combo.count())] == ["Customers", "VIP"]
    )
    assert combo.currentText() == "Spring fair"
    assert read and not any(read)


def test_an_empty_list_name_disables_import(
    open_dialog: Callable[[Path], ImportDialog], tmp_path: Path
) -> None:
    dialog = open_dialog(write_csv(tmp_path / "a.csv", ["email"], [["cy@example.com"]]))
    dialog.list_combo.setCurrentText("  ")
    assert not dialog.import_button.isEnabled()
    assert "Name the contact list" in dialog.error_label.text()


def test_choose_file_reads_the_chosen_file(
    gui_ctx: AppContext, qtbot: QtBot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_csv(tmp_path / "a.csv", ["email"], [["cy@example.com"]])
    monkeypatch.setattr(ChooseCsvFile, "ask", lambda _parent: path)
    dialog = ImportDialog(gui_ctx)
    qtbot.addWidget(dialog)
    assert dialog.preview_stack.currentWidget() is dialog.empty_label  # says what a CSV needs
    assert not dialog.import_button.isEnabled()
    dialog.choose_button.click()
    qtbot.waitUntil(lambda: dialog.preview_model.rowCount() == 2)
    assert dialog.file_edit.text() == str(path)
    assert dialog.import_button.isEnabled()


def test_the_import_action_asks_for_a_file_then_opens_the_dialog(
    gui_ctx: AppContext, qtbot: QtBot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_csv(tmp_path / "a.csv", ["email"], [["cy@example.com"]])
    tab = ContactsTab(gui_ctx)
    qtbot.addWidget(tab)
    monkeypatch.setattr(ChooseCsvFile, "ask", lambda _parent: None)
    tab.action_import.trigger()  # cancelled: no dialog (ImportDialog.ask would fail the test)
    opened: list[Path | None] = []
    monkeypatch.setattr(ChooseCsvFile, "ask", lambda _parent: path)
    monkeypatch.setattr(ImportDialog, "ask", lambda _parent, _ctx, chosen: opened.append(chosen))
    tab.action_import.trigger()
    assert opened == [path]


def test_every_interactive_widget_is_named(
    open_dialog: Callable[[Path], ImportDialog], tmp_path: Path
) -> None:
    dialog = open_dialog(write_csv(tmp_path / "a.csv", ["email"], [["cy@example.com"]]))
    assert unnamed_controls(dialog) == []


# --- the status column (docs/design.md §17) ---------------------------------------------------


def _statuses_csv(path: Path) -> Path:
    """20 subscribed rows, then the words of other tools: one known per meaning, two refused."""
    rows = [[f"p{n:02d}@example.com", "subscribed"] for n in range(20)]
    rows += [
        ["out@example.com", "Opted out"],
        ["gone@example.com", "cleaned"],
        ["yes@example.com", "yes"],
        ["yes2@example.com", "yes"],
        ["pend@example.com", "pending"],
    ]
    return write_csv(path, ["Email Address", "Status"], rows)


def test_a_status_the_app_does_not_know_is_named_before_importing(
    open_dialog: Callable[[Path], ImportDialog], qtbot: QtBot, tmp_path: Path
) -> None:
    """The words are past the five preview rows: the whole column is read, off the GUI
    thread, and the rows it will refuse are named while Import can still be put off."""
    dialog = open_dialog(_statuses_csv(tmp_path / "mailchimp.csv"))

    qtbot.waitUntil(lambda: dialog.status_check is not None)
    label = dialog.status_check_label
    assert not label.isHidden()
    text = label.text()
    assert text.startswith("\N{WARNING SIGN} 3 rows will be skipped for their status")
    assert "“yes” (row 24 and 1 more), “pending” (row 26)" in text
    assert "subscribed, unsubscribed, bounced, or an empty cell" in text
    assert "Status column “Status”: 1 row says unsubscribed and 1 row says bounced" in text
    assert dialog.import_button.isEnabled()  # the other rows can still be imported


def test_the_report_says_what_the_status_column_did_and_lists_the_refused_rows(
    open_dialog: Callable[[Path], ImportDialog], gui_ctx: AppContext, qtbot: QtBot, tmp_path: Path
) -> None:
    dialog = open_dialog(_statuses_csv(tmp_path / "mailchimp.csv"))
    qtbot.waitUntil(lambda: dialog.status_check is not None)

    dialog.import_button.click()
    qtbot.waitUntil(lambda: dialog.report is not None)

    text = dialog.status_label.text()
    assert "22 created, 0 updated, 3 skipped" in text
    assert "The status column unsubscribed 1 contact and marked 1 contact as bounced." in text
    assert "3 rows were skipped for a status that is no consent to mail" in text
    assert dialog.status_check_label.isHidden()  # the report replaces the forecast
    model = dialog.skipped_model
    reasons = {model.index(r, 0).data(): model.index(r, 1).data() for r in range(model.rowCount())}
    assert reasons["24"].startswith("The status “yes” is not a word the app knows")
    assert reasons["26"].startswith("The status “pending” means the person has not opted in")
    assert gui_ctx.contacts.find("yes@example.com") is None
    out = gui_ctx.contacts.find("out@example.com")
    assert out is not None
    assert out.status == "unsubscribed"


def test_choosing_another_column_as_the_status_checks_that_one(
    open_dialog: Callable[[Path], ImportDialog], qtbot: QtBot, tmp_path: Path
) -> None:
    path = write_csv(
        tmp_path / "other.csv",
        ["email", "Member state"],
        [["a@example.com", "unsub"], ["b@example.com", "no"]],
    )
    dialog = open_dialog(path)
    assert dialog.status_check_label.isHidden()  # no column is the status yet
    assert dialog.status_check is None

    state = _combo(dialog, 1)
    state.setCurrentIndex(state.findData("status"))
    qtbot.waitUntil(lambda: dialog.status_check is not None)
    assert dialog.status_check is not None
    assert dialog.status_check.header == "Member state"
    assert "“no” (row 3)" in dialog.status_check_label.text()

    state.setCurrentIndex(state.findData("ignore"))
    assert dialog.status_check is None
    assert dialog.status_check_label.isHidden()


def test_a_clean_status_column_says_what_it_will_do_without_a_warning(
    open_dialog: Callable[[Path], ImportDialog], qtbot: QtBot, tmp_path: Path
) -> None:
    path = write_csv(
        tmp_path / "export.csv",
        ["email", "status"],
        [
            ["a@example.com", "subscribed"],
            ["b@example.com", "Unsubscribed "],
            ["c@example.com", ""],
        ],
    )
    dialog = open_dialog(path)
    qtbot.waitUntil(lambda: dialog.status_check is not None)
    text = dialog.status_check_label.text()
    assert text.startswith("Status column “status”: 1 row says unsubscribed: those contacts")
    assert "\N{WARNING SIGN}" not in text


def test_closing_the_dialog_or_a_new_file_stops_the_status_check(
    open_dialog: Callable[[Path], ImportDialog], qtbot: QtBot, tmp_path: Path
) -> None:
    first = _statuses_csv(tmp_path / "first.csv")
    dialog = open_dialog(first)
    reading = dialog._status_cancel  # the flag the running (or finished) check polls
    second = write_csv(tmp_path / "second.csv", ["email", "status"], [["a@example.com", "spam"]])

    dialog.load_file(second)

    assert reading.is_set()
    qtbot.waitUntil(lambda: dialog.status_check is not None)
    assert dialog.status_check is not None
    assert (dialog.status_check.header, dialog.status_check.unsubscribed) == ("status", 1)
    reading = dialog._status_cancel
    dialog.reject()
    assert reading.is_set()


def test_a_refused_status_in_the_preview_rows_is_marked_with_its_reason(
    open_dialog: Callable[[Path], ImportDialog], tmp_path: Path, qtmodeltester: ModelTester
) -> None:
    path = write_csv(
        tmp_path / "few.csv",
        ["email", "status"],
        [["a@example.com", "unsubscribed"], ["b@example.com", "yes"]],
    )
    dialog = open_dialog(path)
    model = dialog.preview_model
    qtmodeltester.check(model)  # type: ignore[no-untyped-call]  # pytest-qt has no hints

    assert model.index(2, 1).data() == "yes"
    assert (
        model.index(2, 1)
        .data(Qt.ItemDataRole.ToolTipRole)
        .startswith("The status “yes” is not a word the app knows")
    )
    assert model.index(2, 1).data(Qt.ItemDataRole.ForegroundRole) is not None
    assert model.index(1, 1).data(Qt.ItemDataRole.ToolTipRole) == "unsubscribed"
    assert model.index(1, 1).data(Qt.ItemDataRole.ForegroundRole) is None
    column = _combo(dialog, 1)
    column.setCurrentIndex(column.findData("ignore"))  # not the status: just a cell
    assert model.index(2, 1).data(Qt.ItemDataRole.ToolTipRole) == "yes"
