"""The Contacts tab: search and filter contacts, change their subscription, manage lists, and
import CSV files (the Import button, or a .csv file dropped onto the tab).

Slots stay thin: read the selection, call the contact service, show the result. Changed rows
are replaced in place; the table is only re-read when the filter or the set of lists changes
(or when contacts are deleted from rows the model no longer holds: see `ContactTableModel`).

Off the GUI thread (issue 16, a million contacts): searches and filters are read on the pool
(`background.py`), and only the newest one is shown, whatever order they finish in; deleting
and (un)subscribing a selection runs on the pool a chunk at a time
(`ContactService.delete_many` / `set_status_many`), with a progress bar and Cancel.

Lists and exports (issue 17): "Add to list…" / "Remove from list…" for the selection and the
CSV export run on the pool the same way (one bulk action at a time, the same progress bar
and Cancel); "Rename list…" and "Delete list…" act on the list chosen in the filter, and
what a delete would touch is read on the pool before asking. The table's header menu shows
custom fields as extra columns, remembered in the window settings (`window.ini`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from PySide6.QtCore import QMimeData, QPoint, QSettings, Qt, QTimer, Signal, Slot
from PySide6.QtGui import QAction, QDragEnterEvent, QDragMoveEvent, QDropEvent, QKeySequence
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMenu,
    QProgressBar,
    QPushButton,
    QStackedWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from campaign_desktop.context import AppContext
from campaign_desktop.domain.errors import DomainError, ValidationError
from campaign_desktop.domain.status import ContactStatus
from campaign_desktop.domain.views import ContactListView, ContactView
from campaign_desktop.services.contacts import (
    BulkOutcome,
    BulkProgress,
    CancelFlag,
    ContactService,
    ExportReport,
    ListChange,
    ListUsage,
)
from campaign_desktop.ui.common.accessibility import name_toolbar_buttons
from campaign_desktop.ui.common.background import (
    BackgroundTask,
    Report,
    hand_to_crash_handler,
    run_in_background,
)
from campaign_desktop.ui.common.paged_model import runs
from campaign_desktop.ui.common.prompts import Confirm, ErrorMessage, call_service
from campaign_desktop.ui.common.widgets import (
    action_toolbar,
    data_table,
    message_label,
    named,
    named_action,
    show_error,
)
from campaign_desktop.ui.contacts.contact_dialog import ContactDialog
from campaign_desktop.ui.contacts.contact_model import (
    ContactColumn,
    ContactFilter,
    ContactTableModel,
)
from campaign_desktop.ui.contacts.import_dialog import (
    ChooseCsvFile,
    ImportDialog,
    describe_status_effect,
)
from campaign_desktop.ui.contacts.list_dialogs import (
    ChooseContactsExportPath,
    ChooseListDialog,
    ExportScope,
    NewListName,
    RenameListDialog,
)
from campaign_desktop.ui.contacts.segment_panel import SegmentPanel

log = logging.getLogger("campaign_desktop.ui.contacts")

T = TypeVar("T")
BulkWork = Callable[[BulkProgress, CancelFlag], BulkOutcome]

SEARCH_PAUSE_MS = 250
MAX_INSPECTED_ROWS = 1_000  # selected contacts read to decide which actions apply
EMPTY_TEXT = (
    "<h3>No contacts yet</h3>"
    "<p>Press <b>Import CSV…</b> (Ctrl+I) and choose a spreadsheet saved as CSV, or simply "
    "<b>drag a .csv file onto this tab</b>. It needs a header row and a column of email "
    "addresses; names and any other columns are optional.</p>"
    "<p>Or add people one at a time with <b>Add contact…</b>.</p>"
)
_STATUS_FILTERS = (
    ("Any status", None),
    ("Subscribed", ContactStatus.SUBSCRIBED.value),
    ("Unsubscribed", ContactStatus.UNSUBSCRIBED.value),
    ("Bounced", ContactStatus.BOUNCED.value),
)
_Q = ("\N{LEFT DOUBLE QUOTATION MARK}", "\N{RIGHT DOUBLE QUOTATION MARK}")
#: Where the chosen custom-field columns are remembered (`window.ini`, beside the database).
FIELD_COLUMNS_KEY = "contacts/field_columns"
_LIST_ID = Qt.ItemDataRole.UserRole + 1  # the list filter's items: the list's id


def _quoted(text: str) -> str:
    return f"{_Q[0]}{text}{_Q[1]}"


def _contacts(count: int) -> str:
    return f"{count:,} contact{'' if count == 1 else 's'}"


def _membership_message(change: ListChange, *, adding: bool) -> str:
    """ "12 contacts added to “VIP”; 3 were already in it." and the like."""
    name = _quoted(change.list_name)
    unchanged = change.unchanged
    was = "was" if unchanged == 1 else "were"
    if adding:
        text = f"{_contacts(change.changed)} added to {name}"
        rest = f"; {unchanged:,} {was} already in it" if unchanged else ""
    else:
        text = f"{_contacts(change.changed)} taken out of {name}"
        rest = f"; {unchanged:,} {was} not in it" if unchanged else ""
    text += rest + "."
    gone = change.handled - change.changed - unchanged
    if gone:
        text += f" {_contacts(gone)} had been deleted meanwhile."
    return f"Stopped: {text[0].lower()}{text[1:]}" if change.cancelled else text


#: (first address or None for "from the start", last address or None for "to the end",
#: how many rows) for each run of consecutive selected rows.
Span = tuple[str | None, str | None, int]
CHANGED_MEANWHILE = (
    "The contacts shown changed meanwhile, so nothing was done. "
    "Look at the list again and select them once more."
)


def _changed_meanwhile() -> list[int]:
    raise ValidationError("contacts", CHANGED_MEANWHILE)


def _ids_in_spans(contacts: ContactService, shown: ContactFilter, spans: list[Span]) -> list[int]:
    """The ids of the contacts in the selection `spans` under the filter `shown`, for a pool
    thread: each span is read by its first and last address (`ContactService.ids`), so
    contacts added or deleted before it do not shift it; a span that no longer holds as
    many contacts as the user selected (some deleted or added inside it meanwhile) raises
    ValidationError(CHANGED_MEANWHILE) before anything is done."""
    found: list[int] = []
    for first, last, count in spans:
        ids = contacts.ids(
            shown.text,
            **shown.service_filters(),
            from_email=first,
            to_email=last,
            limit=count + 1,
        )
        if len(ids) != count:
            raise ValidationError("contacts", CHANGED_MEANWHILE)
        found.extend(ids)
    return found


def csv_file_in(mime: QMimeData) -> Path | None:
    """The first local .csv file a drag carries, or None."""
    if not mime.hasUrls():
        return None
    for url in mime.urls():
        if url.isLocalFile():
            path = Path(url.toLocalFile())
            if path.suffix.lower() == ".csv":
                return path
    return None


class AddContactDialog(QDialog):
    """Adds one contact through `ContactService.add`; refusals show next to their field.

    The list offered is the one the tab shows, else the last one used here, else none: a
    list is never created without the user naming it.
    """

    # The list the last contact was added to (this session).
    last_list = ""

    def __init__(
        self, ctx: AppContext, list_name: str | None = None, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self._ctx = ctx
        self.added: ContactView | None = None
        self.setObjectName("addContactDialog")
        self.setWindowTitle("Add contact")
        self.email = named(QLineEdit(), "contactEmail", "Email address")
        self.email.setPlaceholderText("name@example.com")
        self.first_name = named(QLineEdit(), "contactFirstName", "First name")
        self.last_name = named(QLineEdit(), "contactLastName", "Last name")
        self.list_combo = named(QComboBox(), "contactList", "Add to list")
        self.list_combo.setEditable(True)
        self.list_combo.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self.list_combo.addItem("")  # the lists to offer are read on the pool; typing works now
        self.list_combo.setCurrentText(list_name or AddContactDialog.last_list)
        editor = self.list_combo.lineEdit()
        assert editor is not None  # an editable combo box has one
        editor.setPlaceholderText("no list")
        self.setMinimumWidth(480)  # the address and a sentence of error side by side
        self._errors = {
            field: message_label(f"{name}Error", f"Problem with the {label}")
            for field, name, label in (
                ("email", "contactEmail", "email address"),
                ("first_name", "contactFirstName", "first name"),
                ("last_name", "contactLastName", "last name"),
                ("lists", "contactList", "list"),
            )
        }
        form = QFormLayout()
        for label, widget, field in (
            ("&Email:", self.email, "email"),
            ("&First name:", self.first_name, "first_name"),
            ("&Last name:", self.last_name, "last_name"),
            ("Add to l&ist:", self.list_combo, "lists"),
        ):
            form.addRow(label, widget)
            form.addRow("", self._errors[field])
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel
        )
        save = buttons.button(QDialogButtonBox.StandardButton.Save)
        named(save, "saveContact", "Save contact")
        named(buttons.button(QDialogButtonBox.StandardButton.Cancel), "cancelContact", "Cancel")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(buttons)
        contacts = ctx.contacts
        run_in_background(
            "add contact: lists",
            lambda _report: [item.name for item in contacts.lists()],
            self._on_lists_read,
        )

    @Slot(object, object)
    def _on_lists_read(self, names: Any, error: BaseException | None) -> None:
        """Offer the lists, keeping what is chosen or typed meanwhile."""
        if error is not None:
            if not isinstance(error, DomainError):
                hand_to_crash_handler(error)
            return  # a name can still be typed
        chosen = self.list_combo.currentText()
        self.list_combo.addItems(names)
        self.list_combo.setCurrentText(chosen)

    def offered_lists(self) -> list[str]:
        """The lists the combo box offers (after the empty choice), once read."""
        return [self.list_combo.itemText(i) for i in range(1, self.list_combo.count())]

    @classmethod
    def ask(
        cls, parent: QWidget | None, ctx: AppContext, list_name: str | None = None
    ) -> ContactView | None:
        """Show the dialog modally; the new contact, or None if cancelled. Tests replace it."""
        dialog = cls(ctx, list_name, parent)
        try:
            dialog.exec()
            return dialog.added
        finally:
            dialog.deleteLater()

    def accept(self) -> None:
        list_name = self.list_combo.currentText().strip()
        for label in self._errors.values():
            show_error(label, "")
        try:
            self.added = self._ctx.contacts.add(
                self.email.text(),
                first_name=self.first_name.text(),
                last_name=self.last_name.text(),
                lists=(list_name,) if list_name else (),
            )
        except ValidationError as exc:
            show_error(self._errors.get(exc.field, self._errors["email"]), exc.message)
            return
        AddContactDialog.last_list = list_name
        super().accept()


class BulkProgressBar(QWidget):
    """What a bulk action is doing ("Deleting 1,000 contacts…"), how far, and Cancel.

    Hidden while no action runs. Cancel stops the action before its next chunk; what is
    done stays done (the tab says how many).
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("bulkProgress")
        self.label = named(QLabel(), "bulkProgressText", "What is being done to the contacts")
        self.bar = named(QProgressBar(), "bulkProgressBar", "Progress of the contact action")
        self.cancel_button = named(QPushButton("Cancel"), "cancelBulkAction", "Cancel the action")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.label, 1)
        layout.addWidget(self.bar, 1)
        layout.addWidget(self.cancel_button)
        self.hide()

    def begin(self, text: str, total: int) -> None:
        self.label.setText(text)
        self.bar.setRange(0, max(total, 1))
        self.bar.setValue(0)
        self.cancel_button.setEnabled(True)
        self.show()

    def advance(self, done: int) -> None:
        self.bar.setValue(done)

    def cancelling(self) -> None:
        self.cancel_button.setEnabled(False)
        self.label.setText(self.label.text().removesuffix("…") + ": stopping after this part…")


class ContactsTab(QWidget):
    """The Contacts tab. `contacts_changed` fires after anything that changes who gets mail.

    `filter_applied` fires when the table shows the result of the newest search (searches
    run on the pool); `bulk_finished` when a bulk action has ended and its rows are shown.
    """

    contacts_changed = Signal()
    status_message = Signal(str)
    filter_applied = Signal()
    bulk_finished = Signal()
    field_menu_ready = Signal(QMenu)  # the header's custom-field menu, as it pops up

    def __init__(
        self, ctx: AppContext, settings: QSettings | None = None, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self._ctx = ctx
        # The window's settings store when the window hands it in (tests keep their own).
        self._settings = settings or QSettings(
            str(ctx.data_dir / "window.ini"), QSettings.Format.IniFormat
        )
        self.setObjectName("contactsTab")
        self.setAcceptDrops(True)
        self.model = ContactTableModel(ctx.contacts, self)
        self._search_timer = QTimer(self, singleShot=True, interval=SEARCH_PAUSE_MS)
        self._search_timer.timeout.connect(self.apply_filter)
        # The newest search asked for: an older one that finishes later is dropped.
        self._search_number = 0
        self._bulk: BackgroundTask | None = None
        self._bulk_cancel = threading.Event()
        self._bulk_title = ""
        self._select_when_shown: int | None = None  # a contact to select once shown
        self._build_actions()
        self._build_list_actions()
        self._build()
        self._connect()
        self._build_field_columns()

    # --- building ------------------------------------------------------------------------

    def _build_actions(self) -> None:
        self.action_add = named_action(
            self,
            "actionAddContact",
            "&Add contact…",
            self._on_add,
            icon_name="add-contact",
            tip="Add one contact",
        )
        self.action_import = named_action(
            self,
            "actionImportCsv",
            "&Import CSV…",
            self._on_import,
            icon_name="import",
            tip="Import contacts from a CSV file (or drop a .csv file on this tab)",
            shortcuts=["Ctrl+I"],
        )
        self.action_edit = named_action(
            self,
            "actionEditContact",
            "&Edit contact…",
            self._on_edit,
            icon_name="edit",
            tip="Change the address, names, lists and custom fields (or double-click the row)",
        )
        self.action_unsubscribe = named_action(
            self,
            "actionUnsubscribe",
            "&Unsubscribe",
            self._on_unsubscribe,
            icon_name="unsubscribe",
            tip="Never send to the selected contacts again",
        )
        self.action_resubscribe = named_action(
            self,
            "actionResubscribe",
            "&Resubscribe",
            self._on_resubscribe,
            icon_name="resubscribe",
            tip="Send to the selected contacts again (only with their consent)",
        )
        self.action_delete = named_action(
            self,
            "actionDeleteContacts",
            "&Delete…",
            self._on_delete,
            icon_name="delete",
            tip="Delete the selected contacts for good",
            shortcuts=[QKeySequence(Qt.Key.Key_Delete)],
        )
        self.action_new_list = named_action(
            self,
            "actionNewList",
            "&New list…",
            self._on_new_list,
            icon_name="list-add",
            tip="Make a new contact list",
        )
        self.action_delete_list = named_action(
            self,
            "actionDeleteList",
            "Delete &list…",
            self._on_delete_list,
            icon_name="delete",
            tip="Delete the list chosen in the filter (its contacts stay)",
        )
        self.action_find = named_action(
            self, "actionFindContact", "Find", shortcuts=[QKeySequence.StandardKey.Find]
        )
        for action in (self.action_import, self.action_find):
            # Only while the Contacts tab is the one in use: other tabs have their own.
            action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            self.addAction(action)
        self.action_delete.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)

    def _build(self) -> None:
        toolbar = action_toolbar(
            "Contact actions",
            "contactToolbar",
            (self.action_add, self.action_import, self.action_export),
            (
                self.action_edit,
                self.action_unsubscribe,
                self.action_resubscribe,
                self.action_delete,
            ),
            (self._lists_menu_action(),),
        )
        lists_button = toolbar.widgetForAction(self.action_lists)
        assert isinstance(lists_button, QToolButton)  # a toolbar shows an action as one
        lists_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)

        self.search = named(QLineEdit(), "contactSearch", "Search contacts")
        self.search.setPlaceholderText("Search by email or name")
        self.search.setClearButtonEnabled(True)
        self.list_filter = named(QComboBox(), "contactListFilter", "Show contacts in list")
        self.status_filter = named(QComboBox(), "contactStatusFilter", "Show contacts with status")
        for text, status in _STATUS_FILTERS:
            self.status_filter.addItem(text, status)
        self.count_label = named(QLabel(), "contactCount", "Number of contacts shown")
        # Conditions on the fields, saved as segments (docs/design.md §18): shown on demand.
        self.segment_panel = SegmentPanel(self._ctx)
        self.segment_panel.hide()
        self.field_filter_button = named(
            QPushButton("Filter by &field"), "fieldFilterButton", "Filter by field"
        )
        self.field_filter_button.setCheckable(True)
        self.field_filter_button.setToolTip(
            "Show contacts whose fields match conditions, and save them as a segment."
        )
        top = QHBoxLayout()
        top.addWidget(self.search, 1)
        top.addWidget(self.list_filter)
        top.addWidget(self.status_filter)
        top.addWidget(self.field_filter_button)
        top.addWidget(self.count_label)

        self.view = data_table("contactTable", "Contacts", multi_select=True)
        self.view.setModel(self.model)
        self.view.setContextMenuPolicy(Qt.ContextMenuPolicy.ActionsContextMenu)
        for action in (
            self.action_edit,
            self.action_unsubscribe,
            self.action_resubscribe,
            self.action_delete,
            self.action_add_to_list,
            self.action_remove_from_list,
        ):
            self.view.addAction(action)
        self.view.doubleClicked.connect(self._on_edit)
        header = self.view.horizontalHeader()
        header.setSectionResizeMode(ContactColumn.EMAIL, QHeaderView.ResizeMode.Interactive)
        header.resizeSection(ContactColumn.EMAIL, 280)
        self.bulk_progress = BulkProgressBar()
        self.empty_label = named(QLabel(EMPTY_TEXT), "contactsEmpty", "How to add contacts")
        self.empty_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty_label.setWordWrap(True)
        self.stack = QStackedWidget()
        self.stack.addWidget(self.view)
        self.stack.addWidget(self.empty_label)

        layout = QVBoxLayout(self)
        layout.addWidget(toolbar)
        layout.addLayout(top)
        layout.addWidget(self.segment_panel)
        layout.addWidget(self.bulk_progress)
        layout.addWidget(self.stack, 1)
        for first, second in (
            (self.search, self.list_filter),
            (self.list_filter, self.status_filter),
            (self.status_filter, self.view),
        ):
            QWidget.setTabOrder(first, second)
        name_toolbar_buttons(self)

    def _connect(self) -> None:
        self.search.textChanged.connect(self._search_timer.start)
        self.search.returnPressed.connect(self.apply_filter)
        self.list_filter.currentIndexChanged.connect(self.apply_filter)
        self.status_filter.currentIndexChanged.connect(self.apply_filter)
        self.field_filter_button.toggled.connect(self._on_field_filter_toggled)
        self.segment_panel.changed.connect(self._search_timer.start)
        self.action_find.triggered.connect(self._on_find)
        self.bulk_progress.cancel_button.clicked.connect(self._on_cancel_bulk)
        self.view.selectionModel().selectionChanged.connect(self._update_actions)
        for signal in (self.model.modelReset, self.model.rowsRemoved, self.model.dataChanged):
            signal.connect(self._update_actions)
        self.model.counted.connect(self._update_count)  # a broad search, counted later

    # --- state ---------------------------------------------------------------------------

    def reload(self) -> None:
        """Read the lists and the contacts again (start-up, or after an import), on the pool:
        the table and the list filter fill in when both are read (`filter_applied`)."""
        self._search(with_lists=True)
        if self.field_filter_button.isChecked():
            self.segment_panel.reload()

    def contacts_changed_elsewhere(self) -> None:
        """Contacts changed outside this tab (the reply mailbox's bounces and unsubscribes):
        read the shown page, the lists' counts and the segment's count again, on the pool."""
        self.apply_filter()
        self._refresh_lists()
        if self.field_filter_button.isChecked():
            self.segment_panel.recount()

    def current_filter(self) -> ContactFilter:
        return ContactFilter(
            text=self.search.text().strip(),
            list_name=self.list_filter.currentData(),
            status=self.status_filter.currentData(),
            segment=self.segment_panel.segment() if self.field_filter_button.isChecked() else None,
        )

    @Slot(bool)
    def _on_field_filter_toggled(self, shown: bool) -> None:
        self.segment_panel.setVisible(shown)
        if shown:
            self.segment_panel.reload()  # custom fields and saved segments, on the pool
        if self.segment_panel.segment() is not None:
            self.apply_filter()

    @Slot()
    def apply_filter(self) -> None:
        """Show the contacts matching the search box and filters (read on the pool; the
        newest search wins, `filter_applied` says when it shows)."""
        self._search(with_lists=False)

    def _search(self, *, with_lists: bool) -> None:
        self._search_timer.stop()
        self._search_number += 1
        number = self._search_number
        wanted = self.current_filter()
        contacts = self._ctx.contacts

        def read(_report: Report) -> tuple[int, ContactFilter, Any, Any]:
            lists = contacts.lists() if with_lists else None
            return number, wanted, lists, ContactTableModel.read_filter(contacts, wanted)

        # A bound slot, not a closure: Qt drops it if the tab is deleted before the answer.
        run_in_background("contacts: search", read, self._on_search_read)
        self._update_actions()  # "Delete list" follows the list filter at once

    @Slot(object, object)
    def _on_search_read(self, result: Any, error: BaseException | None) -> None:
        if error is not None:
            if isinstance(error, DomainError):
                ErrorMessage.show(self, "Search", error.message)
            else:
                hand_to_crash_handler(error)
            return
        number, wanted, lists, (first, total) = result
        if number != self._search_number:
            return  # a newer search is on its way: this one is out of date
        if lists is not None:
            self._fill_lists(lists)
            if self.current_filter() != wanted:
                # The chosen list no longer exists: read again with what the filter shows.
                self.apply_filter()
                return
        self.model.show_filter(wanted, first, total)
        self._update_count()
        chosen, self._select_when_shown = self._select_when_shown, None
        row = None if chosen is None else self.model.row_of(chosen)
        if row is not None:
            self.view.selectRow(row)
        self._update_actions()
        self.filter_applied.emit()

    def _fill_lists(self, lists: list[ContactListView], select: str | None = None) -> None:
        chosen = select if select is not None else self.list_filter.currentData()
        self.list_filter.blockSignals(True)
        try:
            self.list_filter.clear()
            self.list_filter.addItem("All lists", None)
            for item in lists:
                self.list_filter.addItem(f"{item.name} ({item.member_count:,})", item.name)
                # The id beside the name: renaming and deleting act on the list, not a name.
                self.list_filter.setItemData(self.list_filter.count() - 1, item.id, _LIST_ID)
            position = self.list_filter.findData(chosen) if chosen is not None else 0
            self.list_filter.setCurrentIndex(max(position, 0))
        finally:
            self.list_filter.blockSignals(False)

    def _update_count(self) -> None:
        total = self.model.total()
        everything = self.model.current_filter.is_empty
        if self.model.is_counting():
            text = f"{total:,}+ contacts match (counting…)"
        elif everything:
            text = f"{total:,} contact{'' if total == 1 else 's'}"
        else:
            text = f"{total:,} {'contact matches' if total == 1 else 'contacts match'}"
        self.count_label.setText(text)
        self.stack.setCurrentWidget(self.empty_label if total == 0 and everything else self.view)

    def selected_rows(self) -> list[int]:
        """The selected rows, in order: read from the selection's ranges, so selecting all
        100,000 rows does not make an index per cell."""
        rows: set[int] = set()
        selection = self.view.selectionModel().selection()
        for selected in (selection.at(i) for i in range(selection.size())):
            rows.update(range(selected.top(), selected.bottom() + 1))
        return sorted(rows)

    def selected_contacts(self) -> list[ContactView]:
        return self.model.contacts_at(self.selected_rows())

    @Slot()
    def _update_actions(self, *_args: object) -> None:
        busy = self._bulk is not None
        for action in (self.action_add, self.action_import, self.action_delete_list):
            action.setEnabled(not busy)
        rows = [] if busy else self.selected_rows()
        if len(rows) > MAX_INSPECTED_ROWS:
            # Reading every contact of a huge selection to grey out an action would stall
            # the window: such a selection enables them all (the service leaves a contact
            # already unsubscribed, or subscribed, as it is).
            unsubscribe = resubscribe = True
        else:
            chosen = self.model.contacts_at(rows)
            unsubscribe = any(c.status != ContactStatus.UNSUBSCRIBED for c in chosen)
            resubscribe = any(c.status != ContactStatus.SUBSCRIBED for c in chosen)
        self.action_unsubscribe.setEnabled(unsubscribe)
        self.action_resubscribe.setEnabled(resubscribe)
        self.action_delete.setEnabled(bool(rows))
        self.action_edit.setEnabled(len(rows) == 1)
        self.action_delete_list.setEnabled(not busy and self.list_filter.currentData() is not None)
        self._update_list_actions(busy, rows)

    def _call(self, title: str, call: Callable[[], T]) -> T | None:
        """The call's result, or None when it was refused (the user was told why).

        Only for calls that always return something (a contact): for those None can only
        mean refused. Anything else takes `call_service`'s outcome itself.
        """
        outcome = call_service(self, title, call)
        return outcome.value if outcome else None

    def _changed(self, message: str, *, lists_too: bool = False) -> None:
        if lists_too:
            self._refresh_lists()
            self._update_actions()
        self.status_message.emit(message)
        self.contacts_changed.emit()
        if self.field_filter_button.isChecked():
            self.segment_panel.recount()  # the same conditions may now pick others

    def _refresh_lists(self) -> None:
        """Recount the lists in the filter on the pool (at a million contacts it takes a
        noticeable fraction of a second)."""
        contacts = self._ctx.contacts
        run_in_background("contacts: lists", lambda _report: contacts.lists(), self._on_lists_read)

    @Slot(object, object)
    def _on_lists_read(self, lists: Any, error: BaseException | None) -> None:
        if error is not None:
            if not isinstance(error, DomainError):
                hand_to_crash_handler(error)
            return
        self._fill_lists(lists)
        self._update_actions()

    # --- slots: contacts -----------------------------------------------------------------

    @Slot()
    def _on_find(self) -> None:
        self.search.setFocus()
        self.search.selectAll()

    @Slot()
    def _on_add(self) -> None:
        added = AddContactDialog.ask(self, self._ctx, self.list_filter.currentData())
        if added is not None:
            self._select_when_shown = added.id
            self.reload()
            self._changed(f"Added {added.email}.")

    @Slot()
    def _on_edit(self) -> None:
        chosen = self.selected_contacts()
        if len(chosen) != 1 or self._bulk is not None:
            return
        names = [str(self.list_filter.itemData(i)) for i in range(1, self.list_filter.count())]
        saved = ContactDialog.ask(self, self._ctx, chosen[0], names)
        if saved is not None:
            self.model.replace_contact(saved)
            self._changed(f"Saved {saved.email}.", lists_too=True)

    def _set_status(self, title: str, status: ContactStatus, doing: str) -> None:
        chosen = self._chosen_ids()
        if chosen is None:
            return
        count, read_ids = chosen
        contacts = self._ctx.contacts

        def work(progress: BulkProgress, cancel: CancelFlag) -> BulkOutcome:
            return contacts.set_status_many(read_ids(), status, progress=progress, cancel=cancel)

        self._run_bulk(title, f"{doing} {_contacts(count)}…", count, work)

    def _chosen_ids(self) -> tuple[int, Callable[[], list[int]]] | None:
        """How many rows are selected and how to read their contacts' ids (on the pool).

        A selection of up to `MAX_INSPECTED_ROWS` rows is read from the table as shown. A
        bigger one (Ctrl+A on a million) is read on the pool, never on the GUI thread, by
        the first and last address of each run of selected rows (`_ids_in_spans`): if the
        contacts inside it changed meanwhile (another desktop, an import) so that it no
        longer holds as many, nothing is done and the user is told. (One contact deleted
        and another added inside the same run between showing and acting still counts the
        same: that one case is not told apart.)
        """
        rows = self.selected_rows()
        if not rows:
            return None
        if len(rows) <= MAX_INSPECTED_ROWS:
            ids = [contact.id for contact in self.selected_contacts()]
            return len(ids), lambda: ids
        spans = self._selection_spans(rows)
        if spans is None:
            return len(rows), _changed_meanwhile
        contacts, shown = self._ctx.contacts, self.model.current_filter
        return len(rows), lambda: _ids_in_spans(contacts, shown, spans)

    def _selection_spans(self, rows: list[int]) -> list[Span] | None:
        """Each run of consecutive `rows` as (first address, last address, count); at the
        table's edges None (no bound). None when an edge row is no longer there."""
        total = self.model.rowCount()
        spans: list[Span] = []
        for first, count in runs(rows):
            last = first + count - 1
            low = high = None
            if first > 0:
                edge = self.model.contacts_at([first])
                if not edge:
                    return None
                low = edge[0].email
            if last < total - 1:
                edge = self.model.contacts_at([last])
                if not edge:
                    return None
                high = edge[0].email
            spans.append((low, high, count))
        return spans

    @Slot()
    def _on_unsubscribe(self) -> None:
        self._set_status("Unsubscribe", ContactStatus.UNSUBSCRIBED, "Unsubscribing")

    @Slot()
    def _on_resubscribe(self) -> None:
        self._set_status("Resubscribe", ContactStatus.SUBSCRIBED, "Resubscribing")

    @Slot()
    def _on_delete(self) -> None:
        chosen = self._chosen_ids()
        if chosen is None:
            return
        count, read_ids = chosen
        what = self.selected_contacts()[0].email if count == 1 else f"these {count:,} contacts"
        if not Confirm.ask(
            self,
            "Delete contacts",
            f"Delete {what} for good? Past send history keeps the addresses.",
            "Delete",
        ):
            return
        contacts = self._ctx.contacts

        def work(progress: BulkProgress, cancel: CancelFlag) -> BulkOutcome:
            return contacts.delete_many(read_ids(), progress=progress, cancel=cancel)

        self._run_bulk("Delete", f"Deleting {_contacts(count)}…", count, work)

    # --- bulk actions on the pool ----------------------------------------------------------

    def _run_bulk(self, title: str, doing: str, total: int, work: BulkWork) -> None:
        """Run `work` on the pool with the progress bar; one bulk action at a time."""
        if self._bulk is not None:
            return
        cancel = threading.Event()
        self._bulk_cancel = cancel
        contacts = self._ctx.contacts
        refresh = self.model.current_filter.status is None

        def run(report: Report) -> tuple[BulkOutcome, list[ContactView]]:
            outcome = work(lambda done, _asked: report(done), cancel)
            # The rows' new state, read here too: few enough to replace in place.
            shown: list[ContactView] = []
            if title != "Delete" and refresh and len(outcome.handled) <= MAX_INSPECTED_ROWS:
                shown = contacts.get_many(outcome.handled)
            return outcome, shown

        self._bulk_title = title
        self.bulk_progress.begin(doing, total)
        # Bound slots: Qt drops them if the tab is deleted while the work runs.
        self._bulk = run_in_background(
            f"contacts: {title.lower()}",
            run,
            self._on_bulk_finished,
            self._on_bulk_progress,
            cancel=cancel,
        )
        self._update_actions()

    @Slot(object)
    def _on_bulk_progress(self, done: object) -> None:
        if isinstance(done, int):
            self.bulk_progress.advance(done)

    @Slot()
    def _on_cancel_bulk(self) -> None:
        self._bulk_cancel.set()
        self.bulk_progress.cancelling()

    @Slot(object, object)
    def _on_bulk_finished(self, result: Any, error: BaseException | None) -> None:
        title = self._bulk_title
        self._bulk = None
        self.bulk_progress.hide()
        if error is not None:
            self._update_actions()
            if isinstance(error, DomainError):
                ErrorMessage.show(self, title, error.message)
            else:
                hand_to_crash_handler(error)
            self.apply_filter()  # some chunks may be done: show what the database holds
            self.bulk_finished.emit()
            return
        outcome, shown = result
        if title == "Delete":
            self.model.remove_contacts(outcome.handled)
            self._update_count()
        elif shown or not outcome.handled:
            for contact in shown:
                self.model.replace_contact(contact)
        else:
            # Too many rows to replace one by one, or a status filter they may no longer match.
            self.apply_filter()
        self._update_actions()
        past = {"Delete": "Deleted", "Unsubscribe": "Unsubscribed", "Resubscribe": "Resubscribed"}
        message = f"{past[title]} {_contacts(outcome.changed)}."
        if outcome.cancelled:
            message = f"Stopped: {message[0].lower()}{message[1:]}"
        if outcome.changed:
            self._changed(message, lists_too=True)
        else:
            self.status_message.emit(message)
        self.bulk_finished.emit()

    # --- slots: lists --------------------------------------------------------------------

    @Slot()
    def _on_new_list(self) -> None:
        made = NewListName.ask(self, self._ctx)  # a taken name is refused in the dialog
        if made is None:
            return
        self._fill_lists(self._ctx.contacts.lists(), select=made.name)
        self.apply_filter()
        self._changed(f"Made the list {_quoted(made.name)}.")

    @Slot()
    def _on_delete_list(self) -> None:
        """Read what deleting the chosen list would touch (on the pool), then ask."""
        list_id = self._chosen_list_id()
        if list_id is None or self._bulk is not None:
            return
        contacts = self._ctx.contacts
        run_in_background(
            "contacts: list usage",
            lambda _report: contacts.list_usage(list_id),
            self._on_list_usage_read,
        )

    @Slot(object, object)
    def _on_list_usage_read(self, usage: Any, error: BaseException | None) -> None:
        if error is not None:
            if isinstance(error, DomainError):  # gone meanwhile: show what is there now
                self.reload()
            else:
                hand_to_crash_handler(error)
            return
        assert isinstance(usage, ListUsage)
        chosen = usage.list
        name = _quoted(chosen.name)
        if usage.campaigns:
            # The service refuses (docs/design.md §2: a campaign's audience is its lists):
            # say so, and which campaigns, instead of asking first.
            names = ", ".join(_quoted(campaign) for campaign in usage.campaigns)
            noun = "campaign" if len(usage.campaigns) == 1 else "campaigns"
            ErrorMessage.show(
                self,
                "Delete list",
                f"{name} is the audience of the {noun} {names}, so it cannot be deleted. "
                f"Remove it from the {noun} first, or rename the list instead.",
            )
            return
        holds = (
            f"It holds {_contacts(chosen.member_count)}; they stay in your contacts."
            if chosen.member_count
            else "It is empty."
        )
        if not Confirm.ask(
            self,
            "Delete list",
            f"Delete the list {name}? {holds} No campaign sends to this list.",
            "Delete list",
        ):
            return
        contacts = self._ctx.contacts
        outcome = call_service(self, "Delete list", lambda: contacts.delete_list(chosen.id))
        if not outcome:
            self.reload()
            return
        self.list_filter.setCurrentIndex(0)
        self.reload()
        self._changed(f"Deleted the list {name} (its contacts stay).")

    # --- lists and exports (issue 17) ------------------------------------------------------

    def _build_list_actions(self) -> None:
        self._last_list_added: str | None = None
        self.action_add_to_list = named_action(
            self,
            "actionAddToList",
            "Add to l&ist\N{HORIZONTAL ELLIPSIS}",
            self._on_add_to_list,
            icon_name="list-add",
            tip="Put the selected contacts in a list, or in a new one",
            shortcuts=["Ctrl+L"],
        )
        self.action_remove_from_list = named_action(
            self,
            "actionRemoveFromList",
            "Remove from lis&t\N{HORIZONTAL ELLIPSIS}",
            self._on_remove_from_list,
            tip="Take the selected contacts out of a list (they stay contacts)",
            shortcuts=["Ctrl+Shift+L"],
        )
        self.action_rename_list = named_action(
            self,
            "actionRenameList",
            "Rena&me list\N{HORIZONTAL ELLIPSIS}",
            self._on_rename_list,
            icon_name="edit",
            tip="Rename the list chosen in the filter (its campaigns keep sending to it)",
        )
        self.action_export = named_action(
            self,
            "actionExportContacts",
            "E&xport contacts\N{HORIZONTAL ELLIPSIS}",
            self._on_export,
            icon_name="export",
            tip="Save the contacts (all of them, or those shown) as a CSV file",
            shortcuts=["Ctrl+E"],
        )
        for action in (self.action_add_to_list, self.action_remove_from_list, self.action_export):
            # Only while the Contacts tab is the one in use: Activity has its own Ctrl+E.
            action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            self.addAction(action)

    def _lists_menu_action(self) -> QAction:
        """The toolbar's "Lists ▾": every list action in one menu, so that the toolbar fits
        a 1024-pixel window without Qt's "»" overflow (docs/design.md §21). Ctrl+L and
        Ctrl+Shift+L stay on the tab, the table's menu keeps add and remove."""
        menu = self.lists_menu = QMenu("Lists", self)
        menu.setObjectName("listsMenu")
        menu.addActions([self.action_add_to_list, self.action_remove_from_list])
        menu.addSeparator()
        menu.addActions([self.action_new_list, self.action_rename_list, self.action_delete_list])
        self.action_lists = named_action(
            self,
            "actionListsMenu",
            "&Lists",
            icon_name="list-add",
            tip="Add the selected contacts to a list or take them out of one; make, rename "
            "or delete lists",
        )
        self.action_lists.setMenu(menu)
        return self.action_lists

    def _update_list_actions(self, busy: bool, rows: list[int]) -> None:
        self.action_add_to_list.setEnabled(bool(rows))
        self.action_remove_from_list.setEnabled(bool(rows) and self.list_filter.count() > 1)
        self.action_rename_list.setEnabled(not busy and self.list_filter.currentData() is not None)
        self.action_export.setEnabled(not busy)

    def _list_names(self) -> list[str]:
        return [str(self.list_filter.itemData(i)) for i in range(1, self.list_filter.count())]

    def _chosen_list_id(self) -> int | None:
        """The id of the list chosen in the filter (kept beside its name), or None."""
        position = self.list_filter.currentIndex()
        list_id = self.list_filter.itemData(position, _LIST_ID)
        return list_id if isinstance(list_id, int) and position > 0 else None

    @Slot()
    def _on_add_to_list(self) -> None:
        self._change_membership(adding=True)

    @Slot()
    def _on_remove_from_list(self) -> None:
        self._change_membership(adding=False)

    def _change_membership(self, *, adding: bool) -> None:
        chosen = None if self._bulk is not None else self._chosen_ids()
        if chosen is None:
            return
        count, read_ids = chosen
        shown_list = self.list_filter.currentData()
        # Adding offers the list last added to (not the one shown: they are in it);
        # removing offers the list shown.
        current = self._last_list_added if adding else shown_list
        if current == shown_list and adding:
            current = None
        name = ChooseListDialog.ask(self, self._list_names(), count, adding=adding, current=current)
        if name is None:
            return
        if adding:
            self._last_list_added = name
        contacts = self._ctx.contacts
        if adding:
            title, doing = "Add to list", f"Adding {_contacts(count)} to {_quoted(name)}…"
        else:
            title = "Remove from list"
            doing = f"Taking {_contacts(count)} out of {_quoted(name)}…"
        change_lists = contacts.add_to_list if adding else contacts.remove_from_list

        def run(report: Report, cancel: CancelFlag) -> tuple[ListChange, list[ContactView]]:
            # The selected rows' ids, read here: selecting all of a million rows must not
            # read them on the GUI thread.
            ids = read_ids()
            change = change_lists(
                ids, name, progress=lambda done, _asked: report(done), cancel=cancel
            )
            # The rows' lists column changed: few enough are replaced in place.
            few = len(ids) <= MAX_INSPECTED_ROWS
            return change, contacts.get_many(ids[: change.handled]) if few else []

        self._start_background_bulk(title, doing, count, run, self._on_membership_changed)

    def _start_background_bulk(
        self,
        title: str,
        doing: str,
        total: int,
        run: Callable[[Report, CancelFlag], Any],
        finished: Callable[[Any, BaseException | None], None],
        *,
        progress: Callable[[Any], None] | None = None,
    ) -> None:
        """Run `run(report, cancel)` on the pool with the progress bar and Cancel, as
        `_run_bulk` does; `finished` calls `_end_background_bulk` first."""
        cancel = threading.Event()
        self._bulk_cancel = cancel
        self._bulk_title = title
        self.bulk_progress.begin(doing, total)
        self._bulk = run_in_background(
            f"contacts: {title.lower()}",
            lambda report: run(report, cancel),
            finished,
            progress or self._on_bulk_progress,
            cancel=cancel,
        )
        self._update_actions()

    def _end_background_bulk(self, error: BaseException | None) -> bool:
        """Hide the progress bar; True when the work succeeded (else the user was told)."""
        title = self._bulk_title
        self._bulk = None
        self.bulk_progress.hide()
        self._update_actions()
        if error is None:
            return True
        if isinstance(error, DomainError):
            ErrorMessage.show(self, title, error.message)
        else:
            hand_to_crash_handler(error)
        return False

    @Slot(object, object)
    def _on_membership_changed(self, result: Any, error: BaseException | None) -> None:
        adding = self._bulk_title == "Add to list"
        if not self._end_background_bulk(error):
            self.reload()  # some chunks may be done: show what the database holds
            self.bulk_finished.emit()
            return
        change, shown = result
        assert isinstance(change, ListChange)
        if self.model.current_filter.list_name == change.list_name or not shown:
            self.reload()  # rows join or leave the list shown, or too many to replace
        else:
            for contact in shown:
                self.model.replace_contact(contact)
            self._refresh_lists()
        self.status_message.emit(_membership_message(change, adding=adding))
        if change.changed:
            self.contacts_changed.emit()
        self.bulk_finished.emit()

    @Slot()
    def _on_rename_list(self) -> None:
        name = self.list_filter.currentData()
        list_id = self._chosen_list_id()
        if name is None or list_id is None:
            return
        current = ContactListView(list_id, name, "", member_count=0, subscribed_count=0)
        renamed = RenameListDialog.ask(self, self._ctx, current)
        if renamed is None:
            return
        self._rename_in_filter(name, renamed.name)
        self.reload()
        self._changed(
            f"Renamed the list {_quoted(name)} to {_quoted(renamed.name)}; its campaigns "
            "keep sending to it."
        )

    def _rename_in_filter(self, old: str, new: str) -> None:
        """Keep the renamed list chosen in the filter until the lists are read again."""
        position = self.list_filter.findData(old)
        if position > 0:
            self.list_filter.blockSignals(True)
            self.list_filter.setItemData(position, new)
            self.list_filter.blockSignals(False)

    # --- export --------------------------------------------------------------------------

    @Slot()
    def _on_export(self) -> None:
        if self._bulk is not None:
            return
        wanted = self.model.current_filter
        if not wanted.is_empty:
            only_shown = ExportScope.ask(self, self.model.total())
            if only_shown is None:
                return
            if not only_shown:
                wanted = ContactFilter()
        path = ChooseContactsExportPath.ask(self, "contacts.csv")
        if path is not None:
            self.export_contacts(path, wanted)

    def export_contacts(self, path: Path, wanted: ContactFilter) -> None:
        """Write the contacts matching `wanted` to `path` on the pool, with progress and
        Cancel; a cancelled or failed export leaves no file (`ContactService.export_csv`)."""
        if self._bulk is not None:
            return
        contacts = self._ctx.contacts

        def run(report: Report, cancel: CancelFlag) -> tuple[ExportReport, Path]:
            done = contacts.export_csv(
                path,
                wanted.text,
                **wanted.service_filters(),
                progress=lambda written, total: report((written, total)),
                cancel=cancel,
            )
            return done, path

        self._start_background_bulk(
            "Export",
            f"Exporting contacts to {path.name}…",
            0,  # the service counts them: `_on_export_progress` sets the bar's end
            run,
            self._on_exported,
            progress=self._on_export_progress,
        )

    @Slot(object)
    def _on_export_progress(self, value: object) -> None:
        if isinstance(value, tuple):
            written, total = value
            self.bulk_progress.bar.setMaximum(max(total, 1))
            self.bulk_progress.advance(written)

    @Slot(object, object)
    def _on_exported(self, result: Any, error: BaseException | None) -> None:
        if self._end_background_bulk(error):
            report, path = result
            if report.cancelled:
                self.status_message.emit(f"Export cancelled: {path.name} was not written.")
            else:
                self.status_message.emit(f"Exported {_contacts(report.rows)} to {path}.")
        self.bulk_finished.emit()

    # --- custom fields as columns --------------------------------------------------------

    def _build_field_columns(self) -> None:
        header = self.view.horizontalHeader()
        header.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        header.customContextMenuRequested.connect(self._on_header_menu)
        self.field_menu: QMenu | None = None
        saved = self._settings.value(FIELD_COLUMNS_KEY, [])
        # An INI file gives one value back as a string, several as a list.
        keys = [saved] if isinstance(saved, str) else saved if isinstance(saved, list) else []
        self.model.set_attribute_columns(str(key) for key in keys if key)

    @Slot(QPoint)
    def _on_header_menu(self, pos: QPoint) -> None:
        """Read the custom-field names on the pool, then offer them as columns."""
        where = self.view.horizontalHeader().mapToGlobal(pos)
        contacts = self._ctx.contacts
        run_in_background(
            "contacts: field names",
            lambda _report: (contacts.attribute_names(), where),
            self._on_field_names_read,
        )

    @Slot(object, object)
    def _on_field_names_read(self, result: Any, error: BaseException | None) -> None:
        if error is not None:
            if not isinstance(error, DomainError):
                hand_to_crash_handler(error)
            return
        names, where = result
        shown = self.model.attribute_columns
        if self.field_menu is not None:
            self.field_menu.deleteLater()  # the one shown last time: one menu at a time
        menu = QMenu(self)
        menu.setObjectName("fieldColumnsMenu")
        if not names and not shown:
            empty = menu.addAction("No custom fields yet (import a CSV with more columns)")
            empty.setEnabled(False)
        for key in sorted({*names, *shown}):
            action = menu.addAction(key)
            action.setObjectName(f"fieldColumn_{key}")
            action.setCheckable(True)
            action.setChecked(key in shown)
            action.toggled.connect(lambda on, key=key: self.show_field_column(key, on))
        self.field_menu = menu
        self.field_menu_ready.emit(menu)
        menu.popup(where)

    def show_field_column(self, key: str, shown: bool) -> None:
        """Show (or hide) the custom field `key` as a column; remembered for next time."""
        keys = [k for k in self.model.attribute_columns if k != key]
        if shown:
            keys.append(key)
        self.model.set_attribute_columns(keys)
        self._settings.setValue(FIELD_COLUMNS_KEY, keys)

    # --- importing -----------------------------------------------------------------------

    @Slot()
    def _on_import(self) -> None:
        path = ChooseCsvFile.ask(self)
        if path is not None:
            self.import_file(path)

    def import_file(self, path: Path) -> None:
        """Open the import dialog on `path`; afterwards show what it changed."""
        report = ImportDialog.ask(self, self._ctx, path)
        if report is None:
            return
        self.reload()
        done = "Import cancelled" if report.cancelled else "Imported"
        status = describe_status_effect(report)
        self._changed(
            f"{done}: {report.created:,} created, {report.updated:,} updated, "
            f"{len(report.skipped):,} skipped." + (f" {status}" if status else "")
        )

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802  (a Qt override keeps Qt's name)
        if csv_file_in(event.mimeData()) is not None:
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event: QDragMoveEvent) -> None:  # noqa: N802  (a Qt override keeps Qt's name)
        if csv_file_in(event.mimeData()) is not None:
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802  (a Qt override keeps Qt's name)
        path = csv_file_in(event.mimeData())
        if path is None:
            event.ignore()
            return
        event.acceptProposedAction()
        # Open the dialog after the drop returns: the file manager waits for the drop to end.
        QTimer.singleShot(0, self, lambda: self.import_file(path))
