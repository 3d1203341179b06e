"""The Activity tab: every run with its counts, live from run events; a run's deliveries below,
with `unconfirmed` ones highlighted and explained; CSV export; pause, resume and cancel.

Run events update one row each (`dataChanged`), never reload the table; the runs, a run's
deliveries and the export are read and written on a pool thread, so neither a run of 100,000
deliveries nor a database across a network freezes the window.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from PySide6.QtCore import QItemSelection, Qt, QTimer, Signal, Slot
from PySide6.QtGui import QKeySequence, QPalette
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QSplitter,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from campaign_desktop.context import AppContext
from campaign_desktop.domain.errors import DomainError
from campaign_desktop.domain.events import HistoryCompacted, MailboxChecked, RunEvent, RunPhase
from campaign_desktop.domain.status import DeliveryStatus, RunStatus
from campaign_desktop.domain.views import RunView
from campaign_desktop.ui.activity.run_models import (
    DeliveryColumn,
    DeliveryTableModel,
    RunColumn,
    RunRole,
    RunRow,
    RunTableModel,
    unconfirmed_background,
)
from campaign_desktop.ui.common import formatting
from campaign_desktop.ui.common.accessibility import name_toolbar_buttons
from campaign_desktop.ui.common.background import (
    BackgroundTask,
    Report,
    hand_to_crash_handler,
    run_in_background,
)
from campaign_desktop.ui.common.bridge import EventBridge
from campaign_desktop.ui.common.prompts import Confirm, ErrorMessage, Outcome, call_service
from campaign_desktop.ui.common.widgets import (
    action_toolbar,
    ask_save_path,
    data_table,
    message_label,
    named,
    named_action,
    show_note,
)

log = logging.getLogger("campaign_desktop.ui.activity")

T = TypeVar("T")

EMPTY_TEXT = (
    "<h3>Nothing sent yet</h3>"
    "<p>Every send shows here with its counts: scheduled runs, <b>Send now</b> and "
    "<b>Send test…</b>. Select a run to see who it went to.</p>"
)
_ENDING_PHASES = (
    RunPhase.FINISHED,
    RunPhase.FAILED,
    RunPhase.CANCELLED,
    RunPhase.PAUSED,
    RunPhase.MISSED,
)
_DELIVERY_FILTERS = (
    ("All deliveries", None),
    ("Sent", DeliveryStatus.SENT.value),
    ("Failed", DeliveryStatus.FAILED.value),
    ("Unconfirmed", DeliveryStatus.UNCONFIRMED.value),
    ("Skipped", DeliveryStatus.SKIPPED.value),
    ("Pending", DeliveryStatus.PENDING.value),
)
_UNSAFE_IN_FILE_NAMES = re.compile(r"[^\w\- ]+")
# A read quicker than this shows no "Reading…" note: it would only flicker.
LOADING_NOTE_DELAY_MS = 200
LOADING_TEXT = "Reading the deliveries\N{HORIZONTAL ELLIPSIS}"


def export_file_name(run: RunView, campaign_name: str) -> str:
    """A file name to suggest for a run's export, e.g. "News 2027-01-04 0900 run 12.csv"."""
    name = _UNSAFE_IN_FILE_NAMES.sub("", campaign_name).strip() or "campaign"
    return f"{name} {run.occurrence_at.astimezone():%Y-%m-%d %H%M} run {run.id}.csv"


class ExportError(DomainError):
    """The export file could not be written (an environmental failure, shown as a message)."""


class ChooseExportPath:
    """Asks where to save a CSV export; None if cancelled. Tests replace it."""

    @classmethod
    def ask(cls, parent: QWidget | None, suggested: str) -> Path | None:
        return ask_save_path(parent, "Export deliveries", suggested, "CSV files", ".csv")


class ActivityTab(QWidget):
    """The Activity tab; follows `bridge.run_event` to keep its rows current."""

    status_message = Signal(str)
    reloaded = Signal()  # the runs read by `reload` show (tests wait on it)

    def __init__(self, ctx: AppContext, bridge: EventBridge, parent: QWidget | None = None):
        super().__init__(parent)
        self._ctx = ctx
        self._zones: dict[int, str] = {}
        # Run events of campaigns whose time zone is being read, in order, shown once it is.
        # Each with the number of the newest reload asked for when it came.
        self._held_events: dict[int, list[tuple[RunEvent, int]]] = {}
        self._reload_number = 0  # the newest reload's: older answers are dropped
        self._shown_reload = 0  # the number of the reload whose runs show
        # Rows from run events since the newest reload was asked for: newer than what it reads.
        self._rows_since_reload: dict[int, RunRow] = {}
        self._reloading = False
        self._events_shown = 0  # run events shown so far: a read asked for before one is older
        self._export: BackgroundTask | None = None
        self._export_path: Path | None = None
        self.setObjectName("activityTab")
        self.run_model = RunTableModel(self)
        self.delivery_model = DeliveryTableModel(ctx.runs, self)
        self._build_actions()
        self._build()
        bridge.run_event.connect(self._on_run_event)
        bridge.mailbox_checked.connect(self._on_mailbox_checked)
        bridge.history_compacted.connect(self._on_history_compacted)
        self.run_view.selectionModel().selectionChanged.connect(self._on_run_selected)
        self.delivery_filter.currentIndexChanged.connect(self._on_delivery_filter)
        self.delivery_model.loaded.connect(self._on_deliveries_loaded)
        self._loading_timer = QTimer(self, singleShot=True, interval=LOADING_NOTE_DELAY_MS)
        self._loading_timer.timeout.connect(self._show_loading)
        for signal in (self.run_model.modelReset, self.run_model.rowsInserted):
            signal.connect(self._update_empty_state)
        self._on_run_selected()

    # --- building ------------------------------------------------------------------------

    def _build_actions(self) -> None:
        self.action_pause = named_action(
            self,
            "actionPauseRun",
            "&Pause",
            self._on_pause,
            icon_name="pause",
            tip="Pause the selected send",
        )
        self.action_resume = named_action(
            self,
            "actionResumeRun",
            "&Resume",
            self._on_resume,
            icon_name="resume",
            tip="Resume the selected send",
        )
        self.action_cancel = named_action(
            self,
            "actionCancelRun",
            "&Cancel send…",
            self._on_cancel,
            icon_name="cancel",
            tip="Stop the selected send for good",
        )
        self.action_export = named_action(
            self,
            "actionExportRun",
            "&Export CSV…",
            self._on_export,
            icon_name="export",
            tip="Save the selected run's deliveries as a CSV file",
            shortcuts=["Ctrl+E"],
        )
        self.action_refresh = named_action(
            self,
            "actionRefreshActivity",
            "Re&fresh",
            self.reload,
            icon_name="refresh",
            tip="Read the runs again",
            shortcuts=[QKeySequence.StandardKey.Refresh],
        )
        for action in (self.action_export, self.action_refresh):
            action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            self.addAction(action)

    def _build(self) -> None:
        toolbar = action_toolbar(
            "Run actions",
            "activityToolbar",
            (self.action_pause, self.action_resume, self.action_cancel),
            (self.action_export, self.action_refresh),
        )

        self.run_view = data_table("runTable", "Runs")
        self.run_view.setModel(self.run_model)
        self.run_view.setContextMenuPolicy(Qt.ContextMenuPolicy.ActionsContextMenu)
        self.run_view.addActions(
            [self.action_pause, self.action_resume, self.action_cancel, self.action_export]
        )
        header = self.run_view.horizontalHeader()
        header.setSectionResizeMode(RunColumn.CAMPAIGN, QHeaderView.ResizeMode.Interactive)
        header.resizeSection(RunColumn.CAMPAIGN, 170)
        header.resizeSection(RunColumn.OCCURRENCE, 190)
        header.resizeSection(RunColumn.TRIGGER, 80)
        header.resizeSection(RunColumn.STATUS, 160)  # "Sending, 38 messages/s"
        for column in range(RunColumn.TOTAL, RunColumn.UNCONFIRMED + 1):
            header.resizeSection(column, 70)
        header.resizeSection(RunColumn.UNCONFIRMED, 95)
        for column in (RunColumn.STARTED, RunColumn.FINISHED):
            header.resizeSection(column, 180)
        self.empty_label = named(QLabel(EMPTY_TEXT), "activityEmpty", "No runs yet")
        self.empty_label.setWordWrap(True)
        self.empty_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.run_stack = QStackedWidget()
        self.run_stack.addWidget(self.run_view)
        self.run_stack.addWidget(self.empty_label)

        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.setObjectName("activitySplitter")
        splitter.addWidget(self.run_stack)
        splitter.addWidget(self._build_deliveries())
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)
        layout = QVBoxLayout(self)
        layout.addWidget(toolbar)
        layout.addWidget(splitter, 1)
        QWidget.setTabOrder(self.run_view, self.delivery_filter)
        QWidget.setTabOrder(self.delivery_filter, self.delivery_view)
        name_toolbar_buttons(self)

    def _build_deliveries(self) -> QWidget:
        self.delivery_title = named(QLabel(), "deliveryTitle", "Selected run")
        self.delivery_filter = named(QComboBox(), "deliveryFilter", "Show deliveries with status")
        for text, status in _DELIVERY_FILTERS:
            self.delivery_filter.addItem(text, status)
        self.delivery_counts = named(QLabel(), "deliveryCounts", "Deliveries per status")
        heading = QHBoxLayout()
        heading.addWidget(self.delivery_title, 1)
        heading.addWidget(self.delivery_counts)
        heading.addWidget(self.delivery_filter)
        # Live while the run sends (from its progress events), or why it is paused.
        self.run_state = message_label("runState", "Progress of the selected run")
        self.unconfirmed_banner = message_label("unconfirmedBanner", "About unconfirmed deliveries")
        # Amber from the palette (light or dark), like the unconfirmed rows below.
        self.unconfirmed_banner.setAutoFillBackground(True)
        self.unconfirmed_banner.setMargin(6)
        banner_palette = self.unconfirmed_banner.palette()
        banner_palette.setColor(QPalette.ColorRole.Window, unconfirmed_background())
        self.unconfirmed_banner.setPalette(banner_palette)
        self.export_label = message_label("exportResult", "Export result")
        # While a slow read of the deliveries is under way, or why it failed.
        self.delivery_loading = message_label("deliveryLoading", "Reading the deliveries")
        # A run whose recipients' details the history setting removed: why the list is empty.
        self.details_removed = message_label("detailsRemoved", "Recipient details removed")
        self.delivery_view = data_table("deliveryTable", "Deliveries of the selected run")
        self.delivery_view.setModel(self.delivery_model)
        self.delivery_view.horizontalHeader().resizeSection(DeliveryColumn.EMAIL, 260)
        self.delivery_view.horizontalHeader().resizeSection(DeliveryColumn.SENT_AT, 160)
        lower = QWidget()
        lower_layout = QVBoxLayout(lower)
        lower_layout.setContentsMargins(0, 0, 0, 0)
        lower_layout.addLayout(heading)
        lower_layout.addWidget(self.run_state)
        lower_layout.addWidget(self.unconfirmed_banner)
        lower_layout.addWidget(self.details_removed)
        lower_layout.addWidget(self.delivery_loading)
        lower_layout.addWidget(self.delivery_view, 1)
        lower_layout.addWidget(self.export_label)
        return lower

    # --- state ---------------------------------------------------------------------------

    @Slot()
    def reload(self) -> None:
        """Read the recent runs again on the pool (start-up, or Refresh); keeps the selected
        run. `reloaded` fires once they show; an older reload's answer is dropped."""
        self._reload_number += 1
        self._rows_since_reload.clear()
        self._reloading = True
        number, runs, campaigns = self._reload_number, self._ctx.runs, self._ctx.campaigns
        known = dict(self._zones)

        def read(_report: Report) -> tuple[int, list[tuple[RunView, str]], dict[int, str]]:
            recent = runs.recent()
            unknown = {run.campaign_id for run, _name in recent} - known.keys()
            return number, recent, campaigns.timezones(unknown) if unknown else {}

        run_in_background("activity: runs", read, self._on_runs_read)

    @Slot(object, object)
    def _on_runs_read(self, result: Any, error: BaseException | None) -> None:
        if error is not None:
            if isinstance(error, DomainError):
                self.status_message.emit(f"Activity could not be read: {error.message}")
            else:
                hand_to_crash_handler(error)
            return
        number, recent, zones = result
        if number != self._reload_number:
            return  # a newer reload is on its way
        self._reloading = False
        self._shown_reload = number
        self._zones.update(zones)
        selected = self.selected_run()
        # A run event that came while the runs were read says more than the read did.
        newer = self._rows_since_reload
        self.run_model.set_runs(
            newer.get(run.id) or RunRow(run, name, self._zones.get(run.campaign_id, "UTC"))
            for run, name in recent
        )
        for row in sorted(newer.values(), key=lambda row: row.run.id):
            if self.run_model.row_of(row.run.id) is None:  # a run begun after the read
                self.run_model.update_run(row)
        newer.clear()
        if selected is not None:
            self.select_run(selected.id)
        self._update_empty_state()
        self.reloaded.emit()

    def _zone_of(self, campaign_id: int) -> str:
        """The campaign's time zone, as read with its runs (or for its first run event)."""
        return self._zones.get(campaign_id, "UTC")

    def selected_run(self) -> RunView | None:
        rows = self.run_view.selectionModel().selectedRows()
        if not rows:
            return None
        run = rows[0].data(RunRole.RunRole)
        return run if isinstance(run, RunView) else None

    def select_run(self, run_id: int) -> None:
        row = self.run_model.row_of(run_id)
        if row is not None:
            self.run_view.selectRow(row)

    @Slot()
    def _update_empty_state(self, *_args: object) -> None:
        empty = self.run_model.rowCount() == 0
        self.run_stack.setCurrentWidget(self.empty_label if empty else self.run_view)

    def _call(self, title: str, call: Callable[[], T]) -> Outcome[T]:
        return call_service(self, title, call)

    def _refresh_run(self, run_id: int) -> None:
        """Re-read one run on the pool after acting on it (pause/cancel publish no event of
        their own).

        After a refusal too: the service refuses because the run moved on (it ended, or
        another desktop paused it), and the row should show where it is now.
        """
        if self.run_model.row_of(run_id) is None:
            return
        runs, shown = self._ctx.runs, self._events_shown
        run_in_background(
            "activity: one run", lambda _report: (shown, runs.get(run_id)), self._on_run_read
        )

    @Slot(object, object)
    def _on_run_read(self, result: Any, error: BaseException | None) -> None:
        if error is not None:
            if not isinstance(error, DomainError):
                hand_to_crash_handler(error)
            return
        shown, run = result
        if shown != self._events_shown:
            # A run event came since it was asked for: the engine's word on the pause or
            # cancel is at least as new as this read (which may predate the engine's stop).
            return
        row = self.run_model.row_of(run.id)
        if row is None:
            return  # a reload since left it out
        name = self.run_model.index(row, 0).data(RunRole.CampaignNameRole)
        self.run_model.update_run(RunRow(run, str(name), self._zone_of(run.campaign_id)))
        self._show_selected_run(reload_deliveries=True)

    # --- live updates --------------------------------------------------------------------

    @Slot(object)
    def _on_run_event(self, event: RunEvent) -> None:
        campaign_id = event.run.campaign_id
        # Not while earlier events of the campaign wait (a reload may have read its zone
        # meanwhile): shown after them, events keep their order.
        if campaign_id in self._zones and campaign_id not in self._held_events:
            self._show_run_event(event, self._reload_number)
            return
        # A campaign not shown yet: its time zone is read on the pool first, so that its
        # times never show on the wrong clock; its events wait for it, in order.
        held = self._held_events.setdefault(campaign_id, [])
        held.append((event, self._reload_number))
        if len(held) > 1:
            return  # already being read
        campaigns = self._ctx.campaigns

        def read(_report: Report) -> tuple[int, dict[int, str]]:
            return campaign_id, campaigns.timezones([campaign_id])

        run_in_background("activity: campaign zone", read, self._on_zone_read)

    @Slot(object, object)
    def _on_zone_read(self, result: Any, error: BaseException | None) -> None:
        if error is not None:
            if not isinstance(error, DomainError):
                hand_to_crash_handler(error)
            # The events still show (on UTC) rather than not at all.
            held = self._held_events.copy()
            self._held_events.clear()
            for events in held.values():
                self._show_held(events)
            return
        campaign_id, zones = result
        self._zones[campaign_id] = zones.get(campaign_id, "UTC")
        self._show_held(self._held_events.pop(campaign_id, []))

    def _show_held(self, events: list[tuple[RunEvent, int]]) -> None:
        for event, received in events:
            # A reload asked for after the event came read the run later: it shows more.
            if received >= self._shown_reload:
                self._show_run_event(event, received)

    def _show_run_event(self, event: RunEvent, received: int) -> None:
        """Show the run as the event says; `received`: the newest reload's number when the
        event came (a reload asked for later reads the run as it is since)."""
        run = event.run
        row = RunRow(
            run,
            event.campaign_name,
            self._zone_of(run.campaign_id),
            rate=event.rate if event.phase == RunPhase.PROGRESS else None,
            paused_because=event.message if event.phase == RunPhase.PAUSED else "",
            waiting=event.message if event.phase == RunPhase.PROGRESS else "",
        )
        self.run_model.update_run(row)
        self._events_shown += 1
        if self._reloading and received == self._reload_number:
            self._rows_since_reload[run.id] = row
        selected = self.selected_run()
        if selected is not None and selected.id == run.id:
            self._show_selected_run(reload_deliveries=event.phase in _ENDING_PHASES)

    # --- drill-down ----------------------------------------------------------------------

    @Slot(object)
    def _on_mailbox_checked(self, event: MailboxChecked) -> None:
        """Bounces and unsubscribes read from the mailbox change finished runs' counts."""
        if event.bounced or event.unsubscribed:
            self.reload()

    @Slot(object)
    def _on_history_compacted(self, _event: HistoryCompacted) -> None:
        """Old runs lost their recipient lists: the selected one may be among them."""
        self.reload()

    @Slot()
    def _on_run_selected(self, *_args: QItemSelection) -> None:
        self._show_selected_run(reload_deliveries=True)

    @Slot()
    def _on_delivery_filter(self) -> None:
        self._show_selected_run(reload_deliveries=True)

    def _show_selected_run(self, *, reload_deliveries: bool) -> None:
        run = self.selected_run()
        busy = run is not None and run.status in (RunStatus.SENDING, RunStatus.PAUSED)
        self.action_pause.setEnabled(run is not None and run.status == RunStatus.SENDING)
        self.action_resume.setEnabled(run is not None and run.status == RunStatus.PAUSED)
        self.action_cancel.setEnabled(busy)
        self.action_export.setEnabled(run is not None and self._export is None)
        self.delivery_filter.setEnabled(run is not None)
        if run is None:
            self._loading_timer.stop()
            self.delivery_model.set_run(None)
            self.delivery_title.setText("Select a run to see its deliveries.")
            self.delivery_counts.setText("")
            show_note(self.run_state, "")
            self._set_banner("")
            self._show_details_removed(None)
            return
        if reload_deliveries or self.delivery_model.asked_run_id != run.id:
            self._loading_timer.start()
            self.delivery_model.set_run(
                run.id,
                self.delivery_filter.currentData(),
                timezone=self._zone_of(run.campaign_id),
            )
        row = self.run_model.row_at(self.run_model.row_of(run.id) or 0)
        name = row.campaign_name
        progress = row.progress_text()
        if progress and row.sending:
            # Reading the list again twice a second would be database work on the GUI thread.
            progress += (
                " The deliveries below are as they were when selected; Refresh reads them again."
            )
        show_note(self.run_state, progress)
        when = formatting.in_zone(run.occurrence_at, self._zone_of(run.campaign_id))
        self.delivery_title.setText(
            f"<b>{formatting.status_text(run.trigger)} run of "
            f"\N{LEFT DOUBLE QUOTATION MARK}{name}\N{RIGHT DOUBLE QUOTATION MARK}</b>, "
            f"due {when}: {formatting.status_text(run.status).lower()}"
        )
        self._show_details_removed(run)
        self.delivery_counts.setText(
            f"{run.total:,} recipient{'' if run.total == 1 else 's'}: {run.sent:,} sent, "
            f"{run.failed:,} failed, {run.skipped:,} skipped, "
            f"{run.unconfirmed:,} unconfirmed, {run.pending:,} pending"
        )
        if run.unconfirmed:
            noun = "delivery is" if run.unconfirmed == 1 else "deliveries are"
            self._set_banner(
                f"\N{WARNING SIGN} {run.unconfirmed:,} {noun} unconfirmed: the app or the "
                "connection stopped while the message was being handed to the mail server, so "
                "it may or may not have been delivered. Unconfirmed messages are not resent, "
                "to avoid sending anyone the same email twice. Check the mail server's log if "
                "it matters.",
            )
        else:
            self._set_banner("")

    @Slot()
    def _on_deliveries_loaded(self) -> None:
        """The selected run's deliveries are read: the note goes (or says why they are not)."""
        self._loading_timer.stop()
        show_note(self.delivery_loading, self.delivery_model.load_error)
        self._show_details_removed(self.selected_run())

    @Slot()
    def _show_loading(self) -> None:
        if self.delivery_model.is_loading():
            show_note(self.delivery_loading, LOADING_TEXT)

    def _show_details_removed(self, run: RunView | None) -> None:
        """Say that (and when) the history setting removed the run's recipient list; the
        empty list then gives way to the words, and there is nothing to export."""
        removed = run is not None and run.details_removed_at is not None
        if run is not None and run.details_removed_at is not None:
            when = formatting.in_zone(run.details_removed_at, self._zone_of(run.campaign_id))
            show_note(
                self.details_removed,
                f"Each recipient's details were removed on {when}, as the history setting "
                "asks (Settings \N{BLACK RIGHT-POINTING SMALL TRIANGLE} Database). The counts "
                "above are kept.",
            )
        else:
            show_note(self.details_removed, "")
        self.delivery_view.setVisible(not removed or self.delivery_model.rowCount() > 0)
        self.delivery_filter.setEnabled(run is not None and not removed)
        if removed:
            self.action_export.setEnabled(False)

    def _set_banner(self, text: str) -> None:
        # Not show_note(): the banner keeps its own amber palette.
        self.unconfirmed_banner.setText(text)
        self.unconfirmed_banner.setVisible(bool(text))

    # --- run control ---------------------------------------------------------------------

    @Slot()
    def _on_pause(self) -> None:
        run = self.selected_run()
        if run is not None:
            self._call("Pause", lambda: self._ctx.runs.pause(run.id))
            self._refresh_run(run.id)

    @Slot()
    def _on_resume(self) -> None:
        run = self.selected_run()
        if run is not None:
            self._call("Resume", lambda: self._ctx.runs.resume(run.id))
            self._refresh_run(run.id)

    @Slot()
    def _on_cancel(self) -> None:
        run = self.selected_run()
        if run is None:
            return
        if not Confirm.ask(
            self,
            "Cancel send",
            f"Stop this send for good? {run.pending:,} "
            f"{'recipient' if run.pending == 1 else 'recipients'} not yet sent to will be "
            "skipped; the send cannot be resumed.",
            "Cancel send",
        ):
            return
        self._call("Cancel send", lambda: self._ctx.runs.cancel(run.id))
        self._refresh_run(run.id)

    # --- export --------------------------------------------------------------------------

    @Slot()
    def _on_export(self) -> None:
        run = self.selected_run()
        if run is None or self._export is not None:
            return
        row = self.run_model.row_of(run.id)
        name = str(self.run_model.index(row or 0, 0).data(RunRole.CampaignNameRole))
        path = ChooseExportPath.ask(self, export_file_name(run, name))
        if path is not None:
            self.export_run(run.id, path)

    def export_run(self, run_id: int, path: Path) -> None:
        """Write the run's deliveries to `path` on a pool thread; the result shows inline."""
        runs = self._ctx.runs

        def work(_report: object) -> int:
            try:
                return runs.export_csv(run_id, path)
            except OSError as exc:  # disk full, no permission: the user's to fix, not a bug
                raise ExportError(f"Could not write {path}: {exc.strerror or exc}.") from None

        self._export = BackgroundTask("export csv", work)
        self._export.finished.connect(self._on_exported)
        self._export_path = path
        self.action_export.setEnabled(False)
        show_note(self.export_label, f"Exporting to {path.name}…")
        self._export.start()

    @Slot(object, object)
    def _on_exported(self, written: int | None, error: BaseException | None) -> None:
        self._export = None
        self._show_selected_run(reload_deliveries=False)
        if error is not None:
            show_note(self.export_label, "")
            if isinstance(error, DomainError):
                ErrorMessage.show(self, "Export", error.message)
            else:
                hand_to_crash_handler(error)
            return
        text = f"Exported {written:,} deliveries to {self._export_path}."
        show_note(self.export_label, text)
        self.status_message.emit(text)
