"""Settings ▸ Database: which database this desktop uses, read-only.

The SQLite file and its backups folder, or the shared team database's URL (never its
password) and, in team mode, the other desktops sending from it now. Switching is not done
here: it is how the app is started (`--database-url`, `CAMPAIGN_DESKTOP_DATABASE_URL`).
What needs the keyring, the disk or the database is read on a pool thread
(`DatabaseInfoService.info`) each time the page is shown, and by "Refresh".
"""

from __future__ import annotations

from datetime import timedelta

from PySide6.QtCore import Qt, Slot
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from campaign_desktop.context import DATABASE_URL_ENV, AppContext
from campaign_desktop.domain.errors import DomainError
from campaign_desktop.services.database_info import (
    DatabaseInfo,
    DatabaseInfoService,
    DesktopInfo,
    PasswordSource,
)
from campaign_desktop.ui.common.background import BackgroundTask, hand_to_crash_handler
from campaign_desktop.ui.common.widgets import message_label, named, show_error, show_note

LQ, RQ = "\N{LEFT DOUBLE QUOTATION MARK}", "\N{RIGHT DOUBLE QUOTATION MARK}"
_PASSWORD_WORDS = {
    PasswordSource.KEYRING: "password in this computer's keyring",
    PasswordSource.SESSION: (
        "password given in the URL; no keyring kept it, so it serves this session only"
    ),
    PasswordSource.NONE: (
        "no password in this computer's keyring: the server asks for none, or ~/.pgpass gives it"
    ),
}
SWITCH_HINT = (
    "To use another database, start Campaign Desktop with --database-url URL or set "
    f"{DATABASE_URL_ENV} to the URL (postgresql://user@host:5432/database); without "
    f"either it uses this computer's file. See the README's {LQ}Team mode{RQ}."
)


def _plain_label(name: str, accessible: str) -> QLabel:
    """A word-wrapping label whose text (a path, a URL) is shown as is and can be copied."""
    label = named(QLabel(), name, accessible)
    label.setTextFormat(Qt.TextFormat.PlainText)
    label.setWordWrap(True)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    return label


def location_text(info: DatabaseInfo, *, loaded: bool) -> str:
    """ "This computer's file: …" or "Shared team database: … (password …)"."""
    if info.is_sqlite:
        return f"This computer's file: {info.location}"
    text = f"Shared team database: {info.location}"
    return f"{text} ({_PASSWORD_WORDS[info.password]})" if loaded else text


def backups_text(info: DatabaseInfo, *, loaded: bool) -> str:
    text = f"Backups, taken before each upgrade: {info.backups_dir}"
    if not loaded:
        return text
    count = {0: "none yet", 1: "1 there now"}.get(info.backups, f"{info.backups} there now")
    return f"{text} ({count})"


def age_text(age: timedelta) -> str:
    """ "4 s ago", "3 min ago" (heartbeats come every 10 s, so minutes mean trouble)."""
    seconds = int(age.total_seconds())
    return f"{seconds} s ago" if seconds < 120 else f"{seconds // 60} min ago"


def since_text(desktop: DesktopInfo) -> str:
    """When it started, on this computer's clock: "Mon 04 Jan 09:12"."""
    return f"{desktop.started_at.astimezone():%a %d %b %H:%M}"


def heartbeat_text(desktop: DesktopInfo) -> str:
    local = desktop.heartbeat_at.astimezone()
    return f"{local:%H:%M:%S} ({age_text(desktop.heartbeat_age)})"


class DatabasePage(QWidget):
    """Says which database this desktop uses and who else sends from it; changes nothing
    itself (the dialog's own sections, such as the history setting, go in with
    `add_section`)."""

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("databasePage")
        self._service = DatabaseInfoService(ctx.db, ctx.sending, ctx.credentials)
        self._task: BackgroundTask | None = None
        self.info = self._service.summary()
        self.loaded = False
        self._build()
        self._show_info()

    # --- building ------------------------------------------------------------------------

    def _build(self) -> None:
        self.location = _plain_label("databaseLocation", "Database in use")
        self.backups = _plain_label("databaseBackups", "Backups folder")
        self.load_error = message_label("databaseInfoError", "Problem reading the database")
        in_use = QVBoxLayout()
        in_use.addWidget(self.location)
        in_use.addWidget(self.backups)
        in_use.addWidget(self.load_error)
        self.in_use_box = QGroupBox("Database this desktop uses")
        self.in_use_box.setObjectName("databaseInUse")
        self.in_use_box.setLayout(in_use)

        self.desktops = named(
            QTreeWidget(), "otherDesktops", "Other desktops sending from this database"
        )
        self.desktops.setHeaderLabels(["Computer", "Process", "Running since", "Last heartbeat"])
        self.desktops.setRootIsDecorated(False)
        self.desktops.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.desktops.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.desktops.setMaximumHeight(150)
        self.desktops_note = _plain_label("otherDesktopsNote", "About the other desktops")
        self.refresh_button = named(
            QPushButton("&Refresh"), "refreshDatabaseInfo", "Refresh the list of desktops"
        )
        self.refresh_button.clicked.connect(self.load)
        note_row = QHBoxLayout()
        note_row.addWidget(self.desktops_note, 1)
        note_row.addWidget(self.refresh_button, 0, Qt.AlignmentFlag.AlignTop)
        team = QVBoxLayout()
        team.addWidget(self.desktops)
        team.addLayout(note_row)
        self.team_box = QGroupBox("Other desktops sending from it now")
        self.team_box.setObjectName("otherDesktopsBox")
        self.team_box.setLayout(team)

        self.switch_hint = _plain_label("switchDatabaseHint", "How to use another database")
        self.switch_hint.setText(SWITCH_HINT)
        switch = QVBoxLayout()
        switch.addWidget(self.switch_hint)
        switch_box = QGroupBox("Switching")
        switch_box.setObjectName("switchDatabaseBox")
        switch_box.setLayout(switch)

        layout = QVBoxLayout(self)
        layout.addWidget(self.in_use_box)
        self._sections = layout.count()
        layout.addWidget(self.team_box)
        layout.addWidget(switch_box)
        layout.addStretch(1)

    def add_section(self, box: QGroupBox) -> None:
        """Show `box` after the database's location (a setting of the dialog's own)."""
        layout = self.layout()
        assert isinstance(layout, QVBoxLayout)
        layout.insertWidget(self._sections, box)
        self._sections += 1

    # --- loading -------------------------------------------------------------------------

    @property
    def loading(self) -> bool:
        return self._task is not None

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802  (a Qt override keeps Qt's name)
        super().showEvent(event)
        self.load()  # fresh each time the tab is opened: heartbeats move every 10 s

    @Slot()
    def load(self) -> None:
        """Read the rest (keyring, backups, desktops) on a pool thread; the page updates."""
        if self._task is not None:
            return
        service = self._service
        self._task = BackgroundTask("database info", lambda _report: service.info())
        self._task.finished.connect(self._on_loaded)
        self.refresh_button.setEnabled(False)
        if self.loaded:
            show_note(self.desktops_note, "Refreshing…")
        self._task.start()

    @Slot(object, object)
    def _on_loaded(self, result: DatabaseInfo | None, error: BaseException | None) -> None:
        self._task = None
        self.refresh_button.setEnabled(True)
        if result is not None:
            self.info, self.loaded = result, True
            show_error(self.load_error, "")
            self._show_info()
        elif isinstance(error, DomainError):
            show_error(self.load_error, f"Could not read the database: {error.message}")
            show_note(self.desktops_note, "")
        else:
            show_error(self.load_error, "Reading the database failed unexpectedly.")
            if error is not None:
                hand_to_crash_handler(error)

    def _show_info(self) -> None:
        info = self.info
        self.location.setText(location_text(info, loaded=self.loaded))
        self.location.setToolTip(info.description)
        self.backups.setVisible(info.is_sqlite)
        if info.is_sqlite:
            self.backups.setText(backups_text(info, loaded=self.loaded))
        self.team_box.setVisible(not info.is_sqlite)
        self.desktops.clear()
        others = info.other_desktops
        for desktop in others:
            item = QTreeWidgetItem(
                [desktop.name, str(desktop.pid), since_text(desktop), heartbeat_text(desktop)]
            )
            self.desktops.addTopLevelItem(item)
        for column in range(self.desktops.columnCount()):
            self.desktops.resizeColumnToContents(column)
        if not self.loaded:
            show_note(self.desktops_note, "Looking for other desktops…")
        elif others:
            count = "1 other desktop" if len(others) == 1 else f"{len(others)} other desktops"
            show_note(
                self.desktops_note,
                f"{count} sending scheduled campaigns from this database (heartbeats on "
                "the database server's clock).",
            )
        else:
            show_note(self.desktops_note, "No other desktop is sending from this database now.")
