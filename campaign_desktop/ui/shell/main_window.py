"""The main window: Campaigns, Archive, Contacts, Activity and Calendar tabs, actions and
status bar.

Slots stay thin (read the selection, call one service, show the result); the table updates
itself from the event bridge, so scheduler-driven changes appear without a reload.

Start-up paints the Campaigns tab only (issue 16, docs/design.md §19): the Contacts,
Activity and Calendar tabs are built (their modules imported, their data read) when first
shown or first asked for (`contacts_tab`, `activity_tab`, `calendar_tab`), and the dialogs'
modules are imported when a dialog first opens.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from PySide6.QtCore import (
    QItemSelection,
    QModelIndex,
    QSettings,
    QSignalBlocker,
    QSize,
    Qt,
    Signal,
    Slot,
)
from PySide6.QtGui import QAction, QCloseEvent, QGuiApplication, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMainWindow,
    QMenu,
    QStackedWidget,
    QTableView,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from campaign_desktop.context import AppContext
from campaign_desktop.domain.errors import NotFoundError
from campaign_desktop.domain.events import (
    CampaignChange,
    ContactsUnsubscribed,
    MailboxChecked,
    RunEvent,
    RunPhase,
    SchedulerStateChanged,
)
from campaign_desktop.domain.status import BUSY_STATUSES, CampaignStatus
from campaign_desktop.domain.views import CampaignView
from campaign_desktop.ui.activity.run_progress import RunProgressIndicator
from campaign_desktop.ui.calendar.ics_export import SCHEDULED_STATUSES, IcsExporter
from campaign_desktop.ui.campaigns.campaign_model import (
    ArchiveTableModel,
    CampaignTableModel,
    Column,
    Role,
)
from campaign_desktop.ui.common import formatting
from campaign_desktop.ui.common.accessibility import name_toolbar_buttons
from campaign_desktop.ui.common.background import run_in_background
from campaign_desktop.ui.common.bridge import EventBridge
from campaign_desktop.ui.common.icons import app_icon, icon
from campaign_desktop.ui.common.prompts import ArchiveReason, Confirm, Outcome, call_service
from campaign_desktop.ui.common.widgets import action_toolbar, named_action

if TYPE_CHECKING:
    from campaign_desktop.ui.activity.activity_tab import ActivityTab
    from campaign_desktop.ui.activity.run_models import RunTableModel
    from campaign_desktop.ui.calendar.calendar_tab import CalendarTab
    from campaign_desktop.ui.contacts.contact_model import ContactTableModel
    from campaign_desktop.ui.contacts.contacts_tab import ContactsTab

log = logging.getLogger("campaign_desktop.ui.shell.main_window")

T = TypeVar("T")

#: The window's first size, before the user gives it another (remembered in window.ini).
DEFAULT_SIZE = QSize(1100, 650)

EMPTY_TEXT = (
    "<h3>No campaigns yet</h3>"
    "<p>Press <b>New</b> (Ctrl+N) to write your first campaign, then <b>Schedule…</b> it "
    "to send once or on a repeat, in any timezone.</p>"
    "<p>Import your contacts on the <b>Contacts</b> tab first if you have not yet.</p>"
)
_STATUS_FILTERS = (
    ("All statuses", ()),
    ("Drafts", (CampaignStatus.DRAFT,)),
    ("Scheduled", (CampaignStatus.SCHEDULED, CampaignStatus.HELD)),  # held ones keep theirs
    ("Sending or paused", (CampaignStatus.SENDING, CampaignStatus.PAUSED)),
    ("Completed", (CampaignStatus.COMPLETED,)),
    ("Failed or cancelled", (CampaignStatus.FAILED, CampaignStatus.CANCELLED)),
)


def _table(name: str, accessible: str) -> QTableView:
    view = QTableView()
    view.setObjectName(name)
    view.setAccessibleName(accessible)
    view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    view.setAlternatingRowColors(True)
    view.verticalHeader().hide()
    view.horizontalHeader().setStretchLastSection(True)
    return view


class MainWindow(QMainWindow):
    """The application's one window; `ctx` is the composition root it talks to."""

    closed = Signal()  # the window really closed (not hidden to the tray): the app ends

    def __init__(
        self, ctx: AppContext, settings: QSettings | None = None, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self._ctx = ctx
        # Window state lives beside the database unless the app hands in its own store:
        # tests and the self-test then never touch the user's real settings.
        self._settings = settings or QSettings(
            str(ctx.data_dir / "window.ini"), QSettings.Format.IniFormat
        )
        # Set by the tray (ui/shell/tray.py): asked before a close; False keeps the window open.
        self.close_guard: Callable[[], bool] | None = None
        self._quitting = False
        self.setObjectName("mainWindow")
        self.setWindowTitle("Campaign Desktop")
        self.setWindowIcon(app_icon())

        self.bridge = EventBridge(ctx.events, self)
        # Paged from SQL: search, status filter and sort re-query (no proxy over every row).
        self.campaign_model = CampaignTableModel(ctx.campaigns, self)
        # Read when the Archive tab is first shown (or `archive_model` first asked for).
        self._archive_model = ArchiveTableModel(ctx.campaigns, self)
        self._archive_loaded = False

        self._build_actions()
        self._build_tabs()
        self._build_tab_shortcuts()
        self._build_status_bar()
        self._build_menus()
        self._build_schedule_control()
        self._connect()
        self.reload()
        self._restore_geometry()
        name_toolbar_buttons(self)

    # --- building ------------------------------------------------------------------------

    def _build_actions(self) -> None:
        self.action_new = named_action(
            self,
            "actionNew",
            "&New",
            self._on_new,
            icon_name="new",
            tip="Write a new campaign",
            shortcuts=[QKeySequence.StandardKey.New],
        )
        self.action_edit = named_action(
            self,
            "actionEdit",
            "&Edit",
            self._on_edit,
            icon_name="edit",
            tip="Edit the campaign",
            shortcuts=[QKeySequence(Qt.Key.Key_Return), QKeySequence(Qt.Key.Key_Enter)],
        )
        self.action_schedule = named_action(
            self,
            "actionSchedule",
            "&Schedule…",
            self._on_schedule,
            icon_name="schedule",
            tip="Choose when it is sent",
            shortcuts=["Ctrl+Shift+S"],
        )
        self.action_send_now = named_action(
            self,
            "actionSendNow",
            "Send &now",
            self._on_send_now,
            icon_name="send",
            tip="Send to the audience now (asks first)",
            shortcuts=["Ctrl+Return"],
        )
        self.action_send_test = named_action(
            self,
            "actionSendTest",
            "Send &test…",
            self._on_send_test,
            icon_name="send-test",
            tip="Send a test to yourself or a colleague",
            shortcuts=["Ctrl+T"],
        )
        self.action_settings = named_action(
            self,
            "actionSettings",
            "Se&ttings…",
            self._on_settings,
            icon_name="settings",
            tip="SMTP server, sender…",
            shortcuts=["Ctrl+,", QKeySequence.StandardKey.Preferences],
        )
        self.action_duplicate = named_action(
            self,
            "actionDuplicate",
            "&Duplicate",
            self._on_duplicate,
            icon_name="duplicate",
            tip="Make a draft copy",
            shortcuts=["Ctrl+D"],
        )
        self.action_archive = named_action(
            self,
            "actionArchive",
            "&Archive…",
            self._on_archive,
            icon_name="archive",
            tip="Put the campaign away",
            shortcuts=[QKeySequence(Qt.Key.Key_Delete)],
        )
        self.action_pause = named_action(
            self,
            "actionPauseResume",
            "&Pause",
            self._on_pause_resume,
            icon_name="pause",
            tip="Pause or resume sending",
        )
        self.action_restore = named_action(
            self,
            "actionRestore",
            "&Restore",
            self._on_restore,
            icon_name="restore",
            tip="Bring back as a draft",
        )
        self.action_delete = named_action(
            self,
            "actionDelete",
            "Delete for &good…",
            self._on_delete,
            icon_name="delete",
            tip="Delete permanently",
        )
        # Return and Del mean "edit/archive this row" only while the table has focus; in the
        # search box they must keep their usual meaning.
        for action in (self.action_edit, self.action_archive):
            action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        self._campaign_actions = (
            self.action_edit,
            self.action_schedule,
            self.action_send_now,
            self.action_send_test,
            self.action_duplicate,
            self.action_archive,
            self.action_pause,
        )
        # Only the Campaigns tab shows the campaign actions (_on_tab_changed); the other tabs
        # have their own toolbars. Settings are the app's, so they stay on every tab.
        self.campaign_toolbar = action_toolbar(
            "Campaign actions",
            "campaignToolbar",
            (self.action_new, *self._campaign_actions),
            parent=self,
        )
        self.addToolBar(self.campaign_toolbar)
        self.app_toolbar = action_toolbar(
            "Application", "appToolbar", (self.action_settings,), parent=self
        )
        self.addToolBar(self.app_toolbar)
        self.addAction(self.action_new)
        self.addAction(self.action_duplicate)
        self.addAction(self.action_settings)

    def _build_tabs(self) -> None:
        self.tabs = QTabWidget()
        self.tabs.setObjectName("tabs")
        # Access keys (Alt+letter) beside Ctrl+1…9 (_build_tab_shortcuts).
        self.tabs.addTab(self._build_campaigns_tab(), "&Campaigns")
        self.tabs.addTab(self._build_archive_tab(), "A&rchive")
        # Built when first shown (the module docstring): an empty page holds the place.
        self._contacts_tab: ContactsTab | None = None
        self._activity_tab: ActivityTab | None = None
        self._calendar_tab: CalendarTab | None = None
        self._pending_tabs: dict[QWidget, Callable[[], QWidget]] = {}
        for build, text in (
            (self._build_contacts_tab, "C&ontacts"),
            (self._build_activity_tab, "Ac&tivity"),
            (self._build_calendar_tab, "Ca&lendar"),
        ):
            placeholder = QWidget()
            self._pending_tabs[placeholder] = build
            self.tabs.addTab(placeholder, text)
        # First among the tab slots, so that the others see the built tab.
        self.tabs.currentChanged.connect(self._on_tab_shown)
        self.setCentralWidget(self.tabs)
        # The first size, never more than the screen offers (a 1024-wide laptop); the size
        # the user last left is restored over it.
        screen = QGuiApplication.primaryScreen()
        room = screen.availableSize() if screen is not None else DEFAULT_SIZE
        self.resize(DEFAULT_SIZE.boundedTo(room))

    @Slot(int)
    def _on_tab_shown(self, index: int) -> None:
        if index == 1:
            self._load_archive()
        else:
            self._build_pending_tab(index)

    def _load_archive(self) -> None:
        if not self._archive_loaded:
            self._archive_loaded = True
            self._archive_model.reload()

    @property
    def archive_model(self) -> ArchiveTableModel:
        """The Archive tab's model, read now if the tab was not yet shown."""
        self._load_archive()
        return self._archive_model

    def _build_pending_tab(self, index: int) -> None:
        """Put the real tab in place of the placeholder at `index` (if it still is one)."""
        placeholder = self.tabs.widget(index)
        build = self._pending_tabs.pop(placeholder, None) if placeholder is not None else None
        if placeholder is None or build is None:
            return
        tab = build()
        current = self.tabs.currentIndex()
        text = self.tabs.tabText(index)
        # The swap is not a change of tab: nobody is told (the slot that asked is running).
        with QSignalBlocker(self.tabs):
            self.tabs.removeTab(index)
            self.tabs.insertTab(index, tab, text)
            self.tabs.setCurrentIndex(current)
        placeholder.deleteLater()

    def _pending_index(self, build: Callable[[], QWidget]) -> int:
        for placeholder, pending in self._pending_tabs.items():
            if pending == build:
                return self.tabs.indexOf(placeholder)
        raise LookupError("that tab is built already")

    @property
    def contacts_tab(self) -> ContactsTab:
        """The Contacts tab, built now if it was not yet shown."""
        if self._contacts_tab is None:
            self._build_pending_tab(self._pending_index(self._build_contacts_tab))
        assert self._contacts_tab is not None
        return self._contacts_tab

    @property
    def contact_model(self) -> ContactTableModel:
        return self.contacts_tab.model

    @property
    def contact_view(self) -> QTableView:
        return self.contacts_tab.view

    @property
    def activity_tab(self) -> ActivityTab:
        """The Activity tab, built now if it was not yet shown."""
        if self._activity_tab is None:
            self._build_pending_tab(self._pending_index(self._build_activity_tab))
        assert self._activity_tab is not None
        return self._activity_tab

    @property
    def run_model(self) -> RunTableModel:
        return self.activity_tab.run_model

    @property
    def run_view(self) -> QTableView:
        return self.activity_tab.run_view

    @property
    def calendar_tab(self) -> CalendarTab:
        """The Calendar tab, built now if it was not yet shown."""
        if self._calendar_tab is None:
            self._build_pending_tab(self._pending_index(self._build_calendar_tab))
        assert self._calendar_tab is not None
        return self._calendar_tab

    def _build_tab_shortcuts(self) -> None:
        """Ctrl+1 … Ctrl+9 show the tabs in order, as in browsers and mail apps."""
        self.tab_actions: list[QAction] = []
        for index in range(min(self.tabs.count(), 9)):
            action = named_action(
                self,
                f"actionShowTab{index + 1}",
                self.tabs.tabText(index).replace("&", ""),
                functools.partial(self.tabs.setCurrentIndex, index),
                shortcuts=[f"Ctrl+{index + 1}"],
            )
            self.addAction(action)
            self.tab_actions.append(action)

    def _build_campaigns_tab(self) -> QWidget:
        page = QWidget()
        self.search = QLineEdit()
        self.search.setObjectName("campaignSearch")
        self.search.setAccessibleName("Search campaigns")
        self.search.setPlaceholderText("Search by name or subject")
        self.search.setClearButtonEnabled(True)
        self.status_filter = QComboBox()
        self.status_filter.setObjectName("statusFilter")
        self.status_filter.setAccessibleName("Show campaigns with status")
        for text, statuses in _STATUS_FILTERS:
            self.status_filter.addItem(text, [str(s) for s in statuses])
        top = QHBoxLayout()
        top.addWidget(self.search, 1)
        top.addWidget(self.status_filter)

        self.campaign_view = _table("campaignTable", "Campaigns")
        self.campaign_view.setModel(self.campaign_model)
        # The header shows the model's order; the model loads its first page in reload().
        self.campaign_view.horizontalHeader().setSortIndicator(*self.campaign_model.default_sort)
        self.campaign_view.setSortingEnabled(True)
        # The repeat sentence and the last result share what is left of the width, cut short
        # with an ellipsis (the tooltip and the editor have all of it): the table never
        # scrolls sideways, down to a 1024-pixel screen.
        header = self.campaign_view.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.resizeSection(Column.NAME, 220)
        header.resizeSection(Column.STATUS, 100)
        header.resizeSection(Column.AUDIENCE, 90)
        header.resizeSection(Column.NEXT_RUN, 190)
        header.setSectionResizeMode(Column.REPEATS, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(Column.LAST_RESULT, QHeaderView.ResizeMode.Stretch)
        self.campaign_view.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.campaign_view.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.campaign_view.addAction(self.action_edit)
        self.campaign_view.addAction(self.action_archive)

        self.empty_label = QLabel(EMPTY_TEXT)
        self.empty_label.setObjectName("campaignsEmpty")
        self.empty_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty_label.setWordWrap(True)
        self.campaign_stack = QStackedWidget()
        self.campaign_stack.addWidget(self.campaign_view)
        self.campaign_stack.addWidget(self.empty_label)

        layout = QVBoxLayout(page)
        layout.addLayout(top)
        layout.addWidget(self.campaign_stack, 1)
        return page

    def _build_archive_tab(self) -> QWidget:
        page = QWidget()
        self.archive_view = _table("archiveTable", "Archived campaigns")
        self.archive_view.setModel(self._archive_model)
        self.archive_view.horizontalHeader().setSortIndicator(*self._archive_model.default_sort)
        self.archive_view.setSortingEnabled(True)
        self.archive_view.horizontalHeader().resizeSection(0, 260)
        self.archive_view.horizontalHeader().resizeSection(1, 200)
        toolbar = action_toolbar(
            "Archive actions", "archiveToolbar", (self.action_restore, self.action_delete)
        )
        layout = QVBoxLayout(page)
        layout.addWidget(toolbar)
        layout.addWidget(self.archive_view, 1)
        return page

    def _build_contacts_tab(self) -> QWidget:
        from campaign_desktop.ui.contacts.contacts_tab import ContactsTab  # noqa: PLC0415

        tab = ContactsTab(self._ctx, self._settings)
        tab.contacts_changed.connect(self._on_contacts_changed)
        tab.status_message.connect(self._show_status_message)
        tab.reload()
        self._contacts_tab = tab
        return tab

    def _build_activity_tab(self) -> QWidget:
        from campaign_desktop.ui.activity.activity_tab import ActivityTab  # noqa: PLC0415

        tab = ActivityTab(self._ctx, self.bridge)
        tab.status_message.connect(self._show_status_message)
        tab.reload()
        self._activity_tab = tab
        return tab

    def _build_status_bar(self) -> None:
        self.scheduler_label = QLabel()
        self.scheduler_label.setObjectName("schedulerState")
        self.next_send_label = QLabel()
        self.next_send_label.setObjectName("nextSend")
        self.run_progress = RunProgressIndicator()
        self.bridge.run_event.connect(self.run_progress.on_run_event)
        for widget in (self.run_progress, self.next_send_label, self.scheduler_label):
            widget.setContentsMargins(8, 0, 8, 0)  # the status bar's own gap is a few pixels
            self.statusBar().addPermanentWidget(widget)

    def _build_menus(self) -> None:
        self.file_menu = self.menuBar().addMenu("&File")
        self.file_menu.setObjectName("fileMenu")
        self.file_menu.addAction(self.action_settings)
        self.help_menu = self.menuBar().addMenu("&Help")
        self.help_menu.setObjectName("helpMenu")
        self.action_about = named_action(
            self, "actionAbout", "&About Campaign Desktop", self.show_about, icon_name="app"
        )
        self.help_menu.addAction(self.action_about)

    def add_app_actions(self, actions: list[QAction]) -> None:
        """App-wide actions (pause all sending, quit) at the end of the File menu."""
        if not self.file_menu.isEmpty():
            self.file_menu.addSeparator()
        self.file_menu.addActions(actions)
        self.addActions(actions)  # their shortcuts work while the window is active

    @Slot()
    def show_about(self) -> None:
        from campaign_desktop.ui.shell.about_dialog import AboutDialog  # noqa: PLC0415

        AboutDialog.ask(self, self._ctx.data_dir)

    def _connect(self) -> None:
        self.bridge.campaign_changed.connect(self._on_campaign_changed)
        self.bridge.scheduler_state.connect(self._on_scheduler_state)
        self.bridge.mailbox_checked.connect(self._on_mailbox_checked)
        self.bridge.contacts_unsubscribed.connect(self._on_contacts_unsubscribed)
        self.bridge.run_event.connect(self._on_run_event)
        self.search.textChanged.connect(self.campaign_model.set_text)
        self.status_filter.currentIndexChanged.connect(self._on_status_filter)
        self.campaign_view.doubleClicked.connect(self._on_edit)
        self.campaign_view.customContextMenuRequested.connect(self._on_context_menu)
        self.campaign_view.selectionModel().selectionChanged.connect(self._on_selection)
        self.archive_view.selectionModel().selectionChanged.connect(self._on_selection)
        self.tabs.currentChanged.connect(self._on_selection)
        self.tabs.currentChanged.connect(self._on_tab_changed)
        for signal in (
            self.campaign_model.modelReset,
            self.campaign_model.rowsInserted,
            self.campaign_model.rowsRemoved,
        ):
            signal.connect(self._update_empty_state)
        self.campaign_model.dataChanged.connect(self._on_selection)

    # --- state ---------------------------------------------------------------------------

    def show_paused_sends(self) -> None:
        """Read the sends paused before this start on the pool and show them in the status
        bar, with why the app paused them (as they were shown before the restart)."""
        runs = self._ctx.runs

        def shown(paused: Any, error: BaseException | None) -> None:
            if error is None:
                self.run_progress.show_paused(paused)

        run_in_background("paused sends", lambda _report: runs.paused(), shown)

    def reload(self) -> None:
        """Read everything again from the services (start-up, or after a big change)."""
        self.campaign_model.reload(recount=True)
        if self._archive_loaded:
            self._archive_model.reload()
        for tab in (self._contacts_tab, self._activity_tab, self._calendar_tab):
            if tab is not None:  # the others read theirs when first shown
                tab.reload()
        self._on_scheduler_state(self.scheduler_state())
        self._update_empty_state()
        self._on_selection()

    def scheduler_state(self) -> SchedulerStateChanged:
        """The scheduler's state now (events keep it current afterwards)."""
        return SchedulerStateChanged(
            running=self._ctx.scheduler.running,
            sending_paused=self._ctx.scheduler.sending_paused,
            next_run_at=self._ctx.campaigns.next_run_at(),
        )

    def selected_campaign(self) -> CampaignView | None:
        """The highlighted campaign on the current tab (Campaigns or Archive)."""
        view = self.archive_view if self.tabs.currentIndex() == 1 else self.campaign_view
        index = view.selectionModel().currentIndex()
        if not index.isValid() or not view.selectionModel().isRowSelected(index.row()):
            return None
        campaign = index.data(Role.CampaignRole)
        return campaign if isinstance(campaign, CampaignView) else None

    def select_campaign(self, campaign_id: int) -> None:
        row = self.campaign_model.row_of(campaign_id)
        if row is None:
            return
        self.campaign_view.selectRow(row)
        self.campaign_view.setCurrentIndex(self.campaign_model.index(row, 0))

    def _call(self, title: str, call: Callable[[], T]) -> Outcome[T]:
        """Run one service call; an expected failure becomes a message (and the status bar's
        words), not a traceback, and a `Refused` outcome."""
        return call_service(
            self,
            title,
            call,
            on_refused=lambda message: self.statusBar().showMessage(message, 10_000),
        )

    # --- slots: campaigns ----------------------------------------------------------------

    @Slot()
    def _on_new(self) -> None:
        from campaign_desktop.ui.campaigns.campaign_editor import CampaignEditor  # noqa: PLC0415

        created = CampaignEditor.ask(self, self._ctx)
        if created is not None:
            self.tabs.setCurrentIndex(0)
            self.campaign_model.update_campaign(created)
            self.select_campaign(created.id)
            self.statusBar().showMessage(f"Saved \u201c{created.name}\u201d as a draft.", 5000)

    @Slot()
    def _on_edit(self) -> None:
        campaign = self.selected_campaign()
        if campaign is None or campaign.archived:
            return
        from campaign_desktop.ui.campaigns.campaign_editor import CampaignEditor  # noqa: PLC0415

        saved = CampaignEditor.ask(self, self._ctx, campaign)
        if saved is not None:
            self.campaign_model.update_campaign(saved)

    @Slot()
    def _on_schedule(self) -> None:
        campaign = self.selected_campaign()
        if campaign is not None:
            self.schedule(campaign)

    def schedule(self, campaign: CampaignView) -> CampaignView | None:
        from campaign_desktop.ui.schedule.schedule_dialog import ScheduleDialog  # noqa: PLC0415

        values = ScheduleDialog.ask(self, self._ctx, campaign)
        if values is None:
            return None
        outcome = self._call(
            "Schedule",
            lambda: self._ctx.campaigns.schedule(
                campaign.id,
                first_local=values.first_local,
                timezone=values.timezone,
                recurrence=values.recurrence,
                missed_run_policy=values.policy,
            ),
        )
        if not outcome:
            return None
        scheduled = outcome.value
        self.campaign_model.update_campaign(scheduled)
        when = formatting.in_zone(scheduled.next_run_at, scheduled.timezone)
        self.statusBar().showMessage(f"\u201c{scheduled.name}\u201d goes out {when}.", 8000)
        return scheduled

    @Slot()
    def _on_send_now(self) -> None:
        campaign = self.selected_campaign()
        if campaign is not None and not self.campaign_model.audience_known(campaign):
            # The table is still counting its audience: ask the service for this one.
            chosen = campaign.id
            counted = self._call("Send now", lambda: self._ctx.campaigns.get(chosen))
            campaign = counted.value if counted else None
        if campaign is None:
            return
        question = (
            f"Send \u201c{campaign.name}\u201d to its {campaign.audience_size:,} recipients now?"
        )
        already = formatting.already_sent(campaign)
        if already:
            question = (
                f"{already}\n\nSend it again to its {campaign.audience_size:,} recipients now? "
                "Everyone on its lists gets it again, including those who had it."
            )
        if not Confirm.ask(self, "Send now", question, "Send now"):
            return
        if self._call("Send now", lambda: self._ctx.campaigns.send_now(campaign.id)):
            self.statusBar().showMessage(f"Sending \u201c{campaign.name}\u201d…", 5000)

    @Slot()
    def _on_send_test(self) -> None:
        campaign = self.selected_campaign()
        if campaign is None or campaign.archived:
            return
        from campaign_desktop.ui.campaigns.send_test_dialog import SendTestDialog  # noqa: PLC0415

        run = SendTestDialog.ask(self, self._ctx, campaign)
        if run is not None:
            self.statusBar().showMessage(
                f"Sending a test of \u201c{campaign.name}\u201d: see the Activity tab.", 8000
            )

    @Slot()
    def _on_settings(self) -> None:
        from campaign_desktop.ui.settings.settings_dialog import SettingsDialog  # noqa: PLC0415

        if SettingsDialog.ask(self, self._ctx):
            self.statusBar().showMessage("Settings saved.", 5000)

    @Slot()
    def _on_duplicate(self) -> None:
        campaign = self.selected_campaign()
        if campaign is None or self.tabs.currentIndex() != 0:
            return
        outcome = self._call("Duplicate", lambda: self._ctx.campaigns.duplicate(campaign.id))
        if not outcome:
            return
        copy = outcome.value
        self.campaign_model.update_campaign(copy)
        self.select_campaign(copy.id)
        self.statusBar().showMessage(f"Made \u201c{copy.name}\u201d, a draft copy.", 5000)
        if Confirm.ask(
            self,
            "Schedule the copy?",
            f"\u201c{copy.name}\u201d is an unscheduled draft. Schedule it now?",
            "Schedule…",
        ):
            self.schedule(copy)

    @Slot()
    def _on_archive(self) -> None:
        campaign = self.selected_campaign()
        if campaign is None or campaign.archived:
            return
        reason = ArchiveReason.ask(
            self, campaign.name, scheduled=campaign.status == CampaignStatus.SCHEDULED
        )
        if reason is None:
            return
        archived = self._call(
            "Archive", lambda: self._ctx.campaigns.archive(campaign.id, reason or None)
        )
        if archived:
            self._place(archived.value)
            self.statusBar().showMessage(f"Archived \u201c{campaign.name}\u201d.", 5000)

    @Slot()
    def _on_pause_resume(self) -> None:
        campaign = self.selected_campaign()
        if campaign is None or campaign.last_run is None:
            return
        run_id = campaign.last_run.id
        if campaign.status == CampaignStatus.SENDING:
            self._call("Pause", lambda: self._ctx.runs.pause(run_id))
        elif campaign.status == CampaignStatus.PAUSED:
            self._call("Resume", lambda: self._ctx.runs.resume(run_id))

    @Slot()
    def _on_restore(self) -> None:
        campaign = self.selected_campaign()
        if campaign is None or not campaign.archived:
            return
        outcome = self._call("Restore", lambda: self._ctx.campaigns.restore(campaign.id))
        if outcome:
            restored = outcome.value
            self._place(restored)
            self.statusBar().showMessage(
                f"\u201c{restored.name}\u201d comes back as a draft: schedule it to send it again.",
                8000,
            )

    @Slot()
    def _on_delete(self) -> None:
        campaign = self.selected_campaign()
        if campaign is None or not campaign.archived:
            return
        if not Confirm.ask(
            self,
            "Delete for good",
            f"Delete \u201c{campaign.name}\u201d and its send history for good? "
            "This cannot be undone.",
            "Delete for good",
        ):
            return
        if self._call("Delete", lambda: self._ctx.campaigns.delete(campaign.id)):
            self._archive_model.remove_campaign(campaign.id)

    @Slot()
    def _on_context_menu(self, pos: object) -> None:
        menu = QMenu(self)
        menu.setObjectName("campaignMenu")
        menu.addAction(self.action_new)
        menu.addSeparator()
        for action in self._campaign_actions:
            menu.addAction(action)
        self._add_schedule_control(menu)
        menu.popup(self.campaign_view.viewport().mapToGlobal(pos))  # type: ignore[call-overload]  # pos is the QPoint the signal carries

    # --- slots: live updates -------------------------------------------------------------

    def _place(self, campaign: CampaignView, *, audience_counted: bool = True) -> None:
        """Show `campaign` in the table it belongs to, and only there."""
        keep, drop = (
            (self._archive_model, self.campaign_model)
            if campaign.archived
            else (self.campaign_model, self._archive_model)
        )
        drop.remove_campaign(campaign.id)
        keep.update_campaign(campaign, audience_counted=audience_counted)

    @Slot(int, str)
    def _on_campaign_changed(self, campaign_id: int, change: str) -> None:
        if change == CampaignChange.DELETED:
            self.campaign_model.remove_campaign(campaign_id)
            self._archive_model.remove_campaign(campaign_id)
            return
        try:
            # Without counting its audience: on large lists that takes too long for the GUI
            # thread while the scheduler and sender keep changing campaigns.
            campaign = self._ctx.campaigns.get(campaign_id, audience=False)
        except NotFoundError:
            self.campaign_model.remove_campaign(campaign_id)
            self._archive_model.remove_campaign(campaign_id)
            return
        self._place(campaign, audience_counted=False)

    @Slot(object)
    def _on_scheduler_state(self, state: SchedulerStateChanged) -> None:
        if not state.running:
            text = "Scheduler stopped"
        elif state.sending_paused:
            text = "Sending paused"
        else:
            text = "Scheduler running"
        self.scheduler_label.setText(text)
        if state.next_run_at is None:
            self.next_send_label.setText("No send scheduled")
        else:
            when = formatting.on_this_machine(state.next_run_at).removesuffix(" (this computer)")
            self.next_send_label.setText(f"Next send: {when}")
        self.next_send_text = self.next_send_label.text()

    @Slot()
    def _on_status_filter(self) -> None:
        self.campaign_model.set_statuses(self.status_filter.currentData() or [])

    @Slot()
    def _on_contacts_changed(self) -> None:
        # Audience sizes follow the contacts: the loaded rows are counted again on a pool
        # thread and change in place (keeps the selection and the scroll position).
        self.campaign_model.refresh_audiences()

    @Slot(object)
    def _on_mailbox_checked(self, event: MailboxChecked) -> None:
        # Bounces and unsubscribes applied from the reply mailbox (the scheduler's check or
        # Settings ▸ Check now, on their own threads) change who gets mail, as an edit in
        # the Contacts tab does: the same recount, and the Contacts tab reads again if built.
        if event.bounced or event.unsubscribed:
            self._follow_contacts()

    @Slot(object)
    def _on_contacts_unsubscribed(self, _event: ContactsUnsubscribed) -> None:
        self._follow_contacts()  # Settings ▸ Import unsubscribes…

    def _follow_contacts(self) -> None:
        """Contacts changed outside the Contacts tab: what a change there does, and the tab
        reads again if it is built (all on the pool)."""
        self._on_contacts_changed()
        if self._contacts_tab is not None:
            self._contacts_tab.contacts_changed_elsewhere()

    @Slot(object)
    def _on_run_event(self, event: RunEvent) -> None:
        # Start, pause and end come as campaign changes (the campaign is read again); a
        # progress event only moves the counts of the campaign's last result.
        if event.phase == RunPhase.PROGRESS:
            self.campaign_model.show_run_progress(event.run)

    @Slot(str)
    def _show_status_message(self, text: str) -> None:
        self.statusBar().showMessage(text, 8000)

    @Slot()
    def _update_empty_state(self) -> None:
        # "No campaigns yet" only when there are none: a search that finds nothing keeps the table.
        empty = self.campaign_model.rowCount() == 0 and not self.campaign_model.filtered
        self.campaign_stack.setCurrentWidget(self.empty_label if empty else self.campaign_view)

    @Slot(int)
    def _on_tab_changed(self, index: int) -> None:
        self.campaign_toolbar.setVisible(index == 0)

    @Slot()
    def _on_selection(self, *_args: QItemSelection | QModelIndex | int | list[int]) -> None:
        campaign = self.selected_campaign()
        on_campaigns = self.tabs.currentIndex() == 0
        live = campaign is not None and on_campaigns
        for action in self._campaign_actions:
            action.setEnabled(live)
        busy = live and campaign is not None and campaign.status in BUSY_STATUSES
        self.action_pause.setEnabled(busy)
        paused = campaign is not None and campaign.status == CampaignStatus.PAUSED
        self.action_pause.setText("&Resume" if paused else "&Pause")
        self.action_pause.setIcon(icon("resume" if paused else "pause"))
        for action in (self.action_schedule, self.action_edit, self.action_archive):
            action.setEnabled(live and not busy)
        on_archive = self.tabs.currentIndex() == 1 and campaign is not None
        self.action_restore.setEnabled(on_archive)
        self.action_delete.setEnabled(on_archive)
        self._update_schedule_control(campaign if live else None)

    # --- calendar, hold/release, unschedule, export (docs/design.md §12) --------------------

    def _build_calendar_tab(self) -> QWidget:
        from campaign_desktop.ui.calendar.calendar_tab import CalendarTab  # noqa: PLC0415

        tab = CalendarTab(self._ctx, self.bridge)
        tab.open_campaign.connect(self._on_open_campaign)
        tab.status_message.connect(self._show_status_message)
        tab.reload()
        self._calendar_tab = tab
        return tab

    def _build_schedule_control(self) -> None:
        self.action_hold = named_action(
            self, "actionHold", "&Hold", self._on_hold, tip="Keep its schedule but do not send"
        )
        self.action_release = named_action(
            self, "actionRelease", "Re&lease", self._on_release, tip="Send on schedule again"
        )
        self.action_unschedule = named_action(
            self,
            "actionUnschedule",
            "&Unschedule",
            self._on_unschedule,
            tip="Back to a draft; the schedule is kept for next time",
        )
        self.action_export_one = named_action(
            self,
            "actionExportCampaignIcs",
            "Export to &calendar\N{HORIZONTAL ELLIPSIS}",
            self._on_export_selected,
            tip="Save the campaign's schedule as an .ics file",
        )
        self.action_export_all = named_action(
            self,
            "actionExportAllIcs",
            "Export to &calendar\N{HORIZONTAL ELLIPSIS}",
            lambda: self.ics_exporter.export(None),
            tip="Save every scheduled campaign's schedule as an .ics file",
        )
        self.ics_exporter = IcsExporter(self._ctx, self)
        self.ics_exporter.exported.connect(
            lambda _path, message: self._show_status_message(message)
        )
        self.file_menu.insertAction(self.action_settings, self.action_export_all)
        # The Contacts tab's export (Ctrl+E there), from any tab: the tab is built when this
        # is first used, not for the menu (the cold start shows only Campaigns).
        self.action_export_contacts = named_action(
            self,
            "actionExportContactsMenu",
            "E&xport contacts\N{HORIZONTAL ELLIPSIS}",
            self._on_export_contacts,
            tip="Save the contacts (all of them, or those shown) as a CSV file",
        )
        self.file_menu.insertAction(self.action_settings, self.action_export_contacts)
        self.file_menu.insertSeparator(self.action_settings)
        self._update_schedule_control(None)

    def _on_export_contacts(self) -> None:
        self.contacts_tab.action_export.trigger()  # builds the Contacts tab if not yet shown

    def _add_schedule_control(self, menu: QMenu) -> None:
        menu.addSeparator()
        for action in (self.action_hold, self.action_release, self.action_unschedule):
            menu.addAction(action)
        menu.addAction(self.action_export_one)

    def _update_schedule_control(self, campaign: CampaignView | None) -> None:
        status = campaign.status if campaign is not None else None
        self.action_hold.setEnabled(status == CampaignStatus.SCHEDULED)
        self.action_release.setEnabled(status == CampaignStatus.HELD)
        self.action_unschedule.setEnabled(status in (CampaignStatus.SCHEDULED, CampaignStatus.HELD))
        self.action_export_one.setEnabled(status in SCHEDULED_STATUSES)

    def _schedule_change(self, title: str, change: Callable[[int], CampaignView]) -> None:
        campaign = self.selected_campaign()
        if campaign is None or campaign.archived:
            return
        outcome = self._call(title, lambda: change(campaign.id))
        if not outcome:
            return
        changed = outcome.value
        self.campaign_model.update_campaign(changed)
        name = f"\u201c{changed.name}\u201d"
        if changed.status == CampaignStatus.HELD:
            text = f"{name} is on hold: it sends nothing until you release it."
        elif changed.status == CampaignStatus.DRAFT:
            text = f"{name} is a draft again; its schedule is kept for next time."
        elif changed.next_run_at is not None:
            text = f"{name} goes out {formatting.in_zone(changed.next_run_at, changed.timezone)}."
        else:
            text = f"{name}: {formatting.status_text(changed.status)}."
        self.statusBar().showMessage(text, 8000)
        self._on_selection()

    @Slot()
    def _on_hold(self) -> None:
        self._schedule_change("Hold", self._ctx.campaigns.hold)

    @Slot()
    def _on_release(self) -> None:
        self._schedule_change("Release", self._ctx.campaigns.release)

    @Slot()
    def _on_unschedule(self) -> None:
        self._schedule_change("Unschedule", self._ctx.campaigns.unschedule)

    @Slot()
    def _on_export_selected(self) -> None:
        campaign = self.selected_campaign()
        if campaign is not None:
            self.ics_exporter.export([campaign.id], [campaign.name])

    @Slot(int)
    def _on_open_campaign(self, campaign_id: int) -> None:
        """The Calendar's double-click: select the campaign on the Campaigns tab and edit it."""
        self.tabs.setCurrentIndex(0)
        self.select_campaign(campaign_id)
        campaign = self.selected_campaign()
        if campaign is None or campaign.id != campaign_id:  # filtered out of the table
            outcome = self._call("Open campaign", lambda: self._ctx.campaigns.get(campaign_id))
            if not outcome:
                return
            campaign = outcome.value
        if campaign.archived:
            return
        from campaign_desktop.ui.campaigns.campaign_editor import CampaignEditor  # noqa: PLC0415

        saved = CampaignEditor.ask(self, self._ctx, campaign)
        if saved is not None:
            self.campaign_model.update_campaign(saved)

    # --- window life ---------------------------------------------------------------------

    def _restore_geometry(self) -> None:
        geometry = self._settings.value("main_window/geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)
        state = self._settings.value("main_window/state")
        if state is not None:
            self.restoreState(state)
        self._on_tab_changed(self.tabs.currentIndex())  # a restored state may show any toolbar

    def quit(self) -> None:
        """Close for real (the tray's Quit), not just hide to the tray."""
        self._quitting = True
        self.close()

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802  (a Qt override keeps Qt's name)
        self._settings.setValue("main_window/geometry", self.saveGeometry())
        self._settings.setValue("main_window/state", self.saveState())
        self._settings.sync()
        if not self._quitting and self.close_guard is not None and not self.close_guard():
            event.ignore()
            return
        self.bridge.close()
        super().closeEvent(event)
        self.closed.emit()
