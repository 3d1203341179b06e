"""Qt models for the Activity tab: recent runs (updated in place from run events) and the
deliveries of one run (paged from SQLite, `unconfirmed` ones highlighted and explained).

The deliveries model holds each row as stored (`DeliveryRow`) and converts a value only
when a cell asks for it: a 50,000-recipient run scrolled to its end costs about what a bare
cursor does, however few rows are painted (docs/performance.md, issue 16). Its counts and
pages are read on the pool, never on the GUI thread; an answer for a run (or filter) the user
has since left is dropped.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal, Slot
from PySide6.QtGui import QColor, QGuiApplication

from campaign_desktop.domain.errors import DomainError
from campaign_desktop.domain.status import DeliveryStatus, RunStatus, RunTrigger
from campaign_desktop.domain.views import RunView
from campaign_desktop.services.runs import DeliveryField, DeliveryRow, RunService
from campaign_desktop.ui.common import formatting
from campaign_desktop.ui.common.background import Report, hand_to_crash_handler, run_in_background
from campaign_desktop.ui.common.table_model import ModelIndex, RowTableModel
from campaign_desktop.ui.common.theme import attention_background, is_dark

log = logging.getLogger("campaign_desktop.ui.activity")

DELIVERY_PAGE_SIZE = 500
MAX_RUNS = 500

UNCONFIRMED_TEXT = (
    "Unconfirmed: the connection broke after the message was handed to the mail server, so "
    "it may or may not have been delivered. It is not resent, to avoid sending anyone the "
    "same email twice."
)


def unconfirmed_background() -> QColor:
    """The amber row colour of unconfirmed deliveries, for the current light or dark palette."""
    return attention_background(QGuiApplication.palette())


def failed_background() -> QColor:
    """A faint red behind failures; the palette's text stays readable on it."""
    dark = is_dark(QGuiApplication.palette())
    return QColor.fromHslF(355 / 360, 0.6, 0.3 if dark else 0.9)


_RIGHT = int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)


class RunRole(IntEnum):
    RunRole = Qt.ItemDataRole.UserRole + 1
    RunIdRole = Qt.ItemDataRole.UserRole + 2
    CampaignNameRole = Qt.ItemDataRole.UserRole + 3


class RunColumn(IntEnum):
    CAMPAIGN = 0
    OCCURRENCE = 1
    TRIGGER = 2
    STATUS = 3
    TOTAL = 4
    SENT = 5
    FAILED = 6
    SKIPPED = 7
    UNCONFIRMED = 8
    STARTED = 9
    FINISHED = 10
    # What came back afterwards (the reply mailbox; docs/design.md §11).
    BOUNCED = 11
    UNSUBSCRIBED = 12


_COUNT_COLUMNS = {
    RunColumn.TOTAL: "total",
    RunColumn.SENT: "sent",
    RunColumn.FAILED: "failed",
    RunColumn.SKIPPED: "skipped",
    RunColumn.UNCONFIRMED: "unconfirmed",
    RunColumn.BOUNCED: "bounced",
    RunColumn.UNSUBSCRIBED: "unsubscribed",
}


def _sentence(text: str) -> str:
    return text if text.endswith((".", "!", "?")) else f"{text}."


@dataclass(frozen=True)
class RunRow:
    """A run with what the table shows beside it: its campaign's name and timezone, and
    what its latest run event said (the sending rate, why the app paused it)."""

    run: RunView
    campaign_name: str
    timezone: str
    rate: float | None = None  # messages the server accepted per second lately, while sending
    paused_because: str = ""  # the paused event's message: why the app paused the run
    waiting: str = ""  # the progress event's message: why nothing goes out for now

    @property
    def pause_reason(self) -> str:
        """Why the run is paused ("" when it is not, or the user paused it)."""
        if self.paused_because:
            return self.paused_because
        return (self.run.error or "") if self.run.status == RunStatus.PAUSED else ""

    @property
    def late(self) -> bool:
        """Whether this is a send that fell due while the app was closed (or asleep)."""
        return self.run.trigger == RunTrigger.CATCH_UP

    @property
    def sending(self) -> bool:
        return self.run.status == RunStatus.SENDING and not self.paused_because

    def state_text(self) -> str:
        """The status with what matters now: "Sending, 38 messages/s", "Paused: <why>"."""
        reason = self.pause_reason
        if reason:
            return f"{formatting.status_text(RunStatus.PAUSED)}: {reason}"
        status = formatting.status_text(self.run.status)
        if self.sending and self.late:
            status += " late"
        if self.sending and self.waiting:
            return f"{status} \N{EM DASH} {self.waiting}"
        if self.sending and self.rate is not None:
            return f"{status}, {formatting.send_rate(self.rate)}"
        return status

    def progress_text(self) -> str:
        """A sentence for the details: sent so far and the rate, or why it is paused; ""
        once the run has ended."""
        sent = formatting.sent_of_total(self.run)
        reason = self.pause_reason
        if reason or self.run.status == RunStatus.PAUSED:
            if reason:  # the app's reasons already say what to do before resuming
                return f"Paused: {_sentence(reason)} {sent} so far."
            return f"Paused: {sent} so far. Resume sends the rest."
        if self.sending:
            rate = "" if self.rate is None else f", {formatting.send_rate(self.rate)}"
            waiting = f" {_sentence(self.waiting)}" if self.waiting else ""
            if waiting:  # nothing goes out: why, not "0 messages/s"
                rate = ""
            if self.late:
                due = formatting.in_zone(self.run.occurrence_at, self.timezone)
                return f"Sending late (it was due {due}): {sent}{rate}.{waiting}"
            return f"Sending now: {sent}{rate}.{waiting}"
        return ""


class RunTableModel(RowTableModel[RunRow]):
    """Recent runs of every campaign, newest first; a run event updates just its row."""

    headers = (
        "Campaign",
        "Occurrence",
        "Trigger",
        "Status",
        "Total",
        "Sent",
        "Failed",
        "Skipped",
        "Unconfirmed",
        "Started",
        "Finished",
        "Bounced",
        "Unsubscribed",
    )

    # --- the cells -----------------------------------------------------------------------

    def _cell(self, row: RunRow, column: int, role: int) -> Any:  # noqa: PLR0911  (one return per role)
        if role == RunRole.RunRole:
            return row.run
        if role == RunRole.RunIdRole:
            return row.run.id
        if role == RunRole.CampaignNameRole:
            return row.campaign_name
        if role == Qt.ItemDataRole.DisplayRole:
            return self._display(row, column)
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._tooltip(row, column)
        if role == Qt.ItemDataRole.TextAlignmentRole and column in _COUNT_COLUMNS:
            return _RIGHT
        if role == Qt.ItemDataRole.BackgroundRole:
            if column == RunColumn.UNCONFIRMED and row.run.unconfirmed:
                return unconfirmed_background()
            if column == RunColumn.STATUS and row.run.status == RunStatus.FAILED:
                return failed_background()
        return None

    @staticmethod
    def _display(row: RunRow, column: int) -> str | None:  # noqa: PLR0911  (one return per column)
        run = row.run
        match column:
            case RunColumn.CAMPAIGN:
                return row.campaign_name
            case RunColumn.OCCURRENCE:
                return formatting.in_zone(run.occurrence_at, row.timezone)
            case RunColumn.TRIGGER:
                return formatting.status_text(run.trigger)
            case RunColumn.STATUS:
                return row.state_text()
            case RunColumn.STARTED:
                return formatting.in_zone(run.started_at, row.timezone)
            case RunColumn.FINISHED:
                return formatting.in_zone(run.finished_at, row.timezone)
        if column in _COUNT_COLUMNS:
            return f"{getattr(run, _COUNT_COLUMNS[RunColumn(column)]):,}"
        return None

    @staticmethod
    def _tooltip(row: RunRow, column: int) -> str | None:
        run = row.run
        # Every time on the campaign's clock, as the Campaigns tab shows it; this computer's
        # in the tooltip (docs/design.md §6).
        if column == RunColumn.OCCURRENCE:
            return formatting.on_this_machine(run.occurrence_at)
        if column == RunColumn.STARTED and run.started_at is not None:
            return formatting.on_this_machine(run.started_at)
        if column == RunColumn.FINISHED and run.finished_at is not None:
            return formatting.on_this_machine(run.finished_at)
        if column == RunColumn.STATUS:
            removed = ""
            if run.details_removed_at is not None:
                when = formatting.in_zone(run.details_removed_at, row.timezone)
                removed = (
                    f"Recipient details removed on {when} (the history setting); "
                    "the counts are kept."
                )
            return "\n".join(filter(None, (row.progress_text() or run.error, removed))) or None
        if column == RunColumn.UNCONFIRMED and run.unconfirmed:
            return UNCONFIRMED_TEXT
        return None

    # --- the rows ------------------------------------------------------------------------

    def _row_id(self, row: RunRow) -> int:
        return row.run.id

    def set_runs(self, rows: Iterable[RunRow]) -> None:
        self._reset_rows(list(rows)[:MAX_RUNS])

    def run_at(self, row: int) -> RunView:
        return self._rows[row].run

    def row_at(self, row: int) -> RunRow:
        return self._rows[row]

    def update_run(self, row: RunRow) -> None:
        """Replace the run's row (dataChanged for that row), or insert a new run on top."""
        position = self.row_of(row.run.id)
        if position is not None:
            self._replace_row(position, row)
            return
        self._insert_row(0, row)
        if len(self._rows) > MAX_RUNS:
            self._remove_row(len(self._rows) - 1)


# --- deliveries -------------------------------------------------------------------------------


class DeliveryRole(IntEnum):
    DeliveryRole = Qt.ItemDataRole.UserRole + 1
    UnconfirmedRole = Qt.ItemDataRole.UserRole + 2


class DeliveryColumn(IntEnum):
    EMAIL = 0
    STATUS = 1
    ATTEMPTS = 2
    SENT_AT = 3
    ERROR = 4
    MESSAGE_ID = 5
    CAME_BACK = 6  # bounced / unsubscribed afterwards (the contacts behind the run's counts)


class DeliveryTableModel(RowTableModel[DeliveryRow]):
    """One run's deliveries (optionally of one status), fetched a page at a time on the pool.

    Rows are `DeliveryRow`s as the database returned them; `DeliveryRole` gives the
    `DeliveryView` of a row, built when asked for. `set_run` asks for a run; the rows shown
    stay until its counts and first page are read, then `loaded` fires (`is_loading()` in
    between). A read that fails with a `DomainError` (a locked database) leaves the table
    empty and `load_error` set.
    """

    headers = ("Email", "Status", "Attempts", "Sent", "Reason", "Message-ID", "Came back")

    loaded = Signal()  # the run last asked for shows its counts and first page

    def __init__(self, runs: RunService, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._runs = runs
        self._run_id: int | None = None
        self._status: str | None = None
        self._timezone = "UTC"  # the run's campaign's: its times are shown on that clock
        self._total = 0
        self._counts: dict[str, int] = {}
        self._fetching = False
        # Bumped by every `set_run`: an answer carrying an older number is out of date.
        self._request = 0
        self._loading = False
        self._asked: tuple[int | None, str | None, str | None] = (None, None, None)
        #: Why the last read failed (a refusal's words), "" when it did not.
        self.load_error = ""

    # --- Qt overrides --------------------------------------------------------------------

    def canFetchMore(self, parent: ModelIndex) -> bool:  # noqa: N802  (a Qt override keeps Qt's name)
        return not parent.isValid() and not self._loading and len(self._rows) < self._total

    def fetchMore(self, parent: ModelIndex) -> None:  # noqa: N802  (a Qt override keeps Qt's name)
        """Read the next page on the pool; the rows are appended when it arrives."""
        # Qt (and its model tester) may call this with nothing left to fetch, or again while
        # a page is on its way (the view asks on every scroll): no second read then.
        if self._run_id is None or self._fetching or not self.canFetchMore(parent):
            return
        # Keyset paging: after the last id shown (no OFFSET; services/runs.py).
        last_id = self._rows[-1][DeliveryField.ID] if self._rows else None
        request, runs, run_id, status = self._request, self._runs, self._run_id, self._status

        def read(_report: Report) -> tuple[int, list[DeliveryRow]]:
            page = runs.delivery_rows(
                run_id, status=status, after_id=last_id, limit=DELIVERY_PAGE_SIZE
            )
            return request, page

        self._fetching = True
        run_in_background("activity: more deliveries", read, self._on_page_read)

    @Slot(object, object)
    def _on_page_read(self, result: Any, error: BaseException | None) -> None:
        if error is not None:
            self._fetching = False  # scrolling asks again
            if not isinstance(error, DomainError):
                hand_to_crash_handler(error)
            return
        request, page = result
        if request != self._request:
            return  # another run (or filter) was asked for since: its own read resets this
        if not page:  # deliveries removed since the count (the history setting)
            self._fetching = False
            self._total = len(self._rows)
            return
        try:
            self._append_rows(page)
        finally:
            self._fetching = False

    # --- the cells -----------------------------------------------------------------------

    def _cell(self, row: DeliveryRow, column: int, role: int) -> Any:  # noqa: PLR0911  (one return per role)
        status = row[DeliveryField.STATUS]
        unconfirmed = status == DeliveryStatus.UNCONFIRMED
        if role == DeliveryRole.DeliveryRole:
            return self._runs.delivery_view(row)
        if role == DeliveryRole.UnconfirmedRole:
            return unconfirmed
        if role == Qt.ItemDataRole.DisplayRole:
            return self._display(row, column)
        if role == Qt.ItemDataRole.BackgroundRole:
            if unconfirmed:
                return unconfirmed_background()
            if status == DeliveryStatus.FAILED:
                return failed_background()
            return None
        if role == Qt.ItemDataRole.ToolTipRole:
            if unconfirmed:
                return UNCONFIRMED_TEXT
            if column == DeliveryColumn.ERROR:
                return row[DeliveryField.LAST_ERROR] or None
            if column == DeliveryColumn.SENT_AT:
                sent_at = self._runs.delivery_sent_at(row)
                return formatting.on_this_machine(sent_at) if sent_at else None
        if role == Qt.ItemDataRole.TextAlignmentRole and column == DeliveryColumn.ATTEMPTS:
            return _RIGHT
        return None

    def _display(self, row: DeliveryRow, column: int) -> str | None:  # noqa: PLR0911  (one return per column)
        match column:
            case DeliveryColumn.EMAIL:
                return str(row[DeliveryField.EMAIL])
            case DeliveryColumn.STATUS:
                return formatting.status_text(row[DeliveryField.STATUS])
            case DeliveryColumn.ATTEMPTS:
                return str(row[DeliveryField.ATTEMPTS])
            case DeliveryColumn.SENT_AT:
                return formatting.in_zone(self._runs.delivery_sent_at(row), self._timezone)
            case DeliveryColumn.ERROR:
                return row[DeliveryField.LAST_ERROR] or ""
            case DeliveryColumn.MESSAGE_ID:
                return row[DeliveryField.MESSAGE_ID] or ""
            case DeliveryColumn.CAME_BACK:
                feedback = row[DeliveryField.FEEDBACK]
                return formatting.status_text(feedback) if feedback else ""
        return None

    # --- the rows ------------------------------------------------------------------------

    @property
    def run_id(self) -> int | None:
        return self._run_id

    def counts(self) -> dict[str, int]:
        """Deliveries of the run per status (all statuses, whatever the filter)."""
        return dict(self._counts)

    def total(self) -> int:
        return self._total

    @property
    def asked_run_id(self) -> int | None:
        """The run last given to `set_run` (shown, or still being read)."""
        return self._asked[0] if self._loading else self._run_id

    def is_loading(self) -> bool:
        """Whether the run last asked for is still being read (the rows shown are older)."""
        return self._loading

    def set_run(
        self, run_id: int | None, status: str | None = None, *, timezone: str | None = None
    ) -> None:
        """Show `run_id`'s deliveries (of `status` only, if given): the counts and a first
        page, read on the pool; `loaded` fires once they show. None shows nothing, at once.

        `timezone` (an IANA key) is the clock their times are shown on: the campaign's; None
        keeps the one set before.
        """
        self._request += 1
        self._fetching = False  # a page on its way belongs to the run shown before
        if run_id is None:
            self._loading = False
            self._show((None, status, timezone), {}, [])
            return
        request, runs = self._request, self._runs

        def read(_report: Report) -> tuple[int, dict[str, int], list[DeliveryRow], str]:
            try:
                counts = runs.delivery_counts(run_id)
                rows = runs.delivery_rows(run_id, status=status, limit=DELIVERY_PAGE_SIZE)
            except DomainError as exc:  # a locked database: said in the table's place
                log.info("deliveries of run %s not read: %s", run_id, exc.message)
                return request, {}, [], exc.message
            return request, counts, rows, ""

        self._loading = True
        self._asked = (run_id, status, timezone)
        # A bound slot: Qt drops the connection if the model is deleted before the answer.
        run_in_background("activity: deliveries", read, self._on_run_read)

    @Slot(object, object)
    def _on_run_read(self, result: Any, error: BaseException | None) -> None:
        if error is not None:  # a bug: the read itself catches the refusals
            hand_to_crash_handler(error)
            return
        request, counts, rows, refusal = result
        if request != self._request:
            return  # the user moved on to another run or filter: its own read is on its way
        self._loading = False
        self._show(self._asked, counts, rows, refusal)

    def _show(
        self,
        asked: tuple[int | None, str | None, str | None],
        counts: dict[str, int],
        rows: list[DeliveryRow],
        error: str = "",
    ) -> None:
        run_id, status, timezone = asked
        self.beginResetModel()
        self._run_id = run_id
        self._status = status
        if timezone is not None:
            self._timezone = timezone
        self._counts = counts
        self._total = sum(counts.values()) if status is None else counts.get(status, 0)
        self._rows = rows
        self.load_error = error
        self.endResetModel()
        self.loaded.emit()

    def reload(self) -> None:
        self.set_run(self._run_id, self._status)
