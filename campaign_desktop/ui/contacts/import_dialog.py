"""The CSV import dialog: pick a file, check how its columns map in a preview of the first rows,
import it off the GUI thread with progress and Cancel, then read the report.

The file is read (preview, the status column's check and import) on a pool thread: a big
file never freezes the window. The mapping is checked live by `csv_import.plan_columns`,
the same code the import runs; the column imported as the status is read whole by
`ContactService.check_csv_status` as soon as it is chosen, so rows its words would refuse
are named before Import is pressed (docs/design.md §17).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from enum import IntEnum
from pathlib import Path
from typing import Any

from PySide6.QtCore import (
    QAbstractItemModel,
    QAbstractTableModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
    Slot,
)
from PySide6.QtGui import QFont, QGuiApplication
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QStackedWidget,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from campaign_desktop.context import AppContext
from campaign_desktop.domain.errors import DomainError, ValidationError
from campaign_desktop.domain.names import find_named
from campaign_desktop.domain.views import ImportReport
from campaign_desktop.services.csv_import import (
    ACCEPTED_STATUSES,
    ATTRIBUTE_PREFIX,
    EMAIL,
    FIRST_NAME,
    IGNORE,
    LAST_NAME,
    NOT_OPTED_IN,
    STATUS,
    STATUS_WORDS,
    CsvPreview,
    StatusCheck,
    attribute_key_problem,
    normalize_attribute_key,
    plan_columns,
    read_status,
)
from campaign_desktop.ui.common.background import (
    BackgroundTask,
    Report,
    hand_to_crash_handler,
    run_in_background,
)
from campaign_desktop.ui.common.table_model import RowTableModel
from campaign_desktop.ui.common.theme import error_color
from campaign_desktop.ui.common.widgets import (
    buddy_label,
    data_table,
    documents_folder,
    message_label,
    named,
    set_default_button,
    show_error,
    show_note,
)

log = logging.getLogger("campaign_desktop.ui.import")

PREVIEW_ROWS = 5
DEFAULT_LIST = "Customers"
_PROGRESS_STEPS = 1000
_NO_INDEX = QModelIndex()
ModelIndex = QModelIndex | QPersistentModelIndex

_REFUSED_STATUS_ROLES = (Qt.ItemDataRole.ToolTipRole, Qt.ItemDataRole.ForegroundRole)
_DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab"}
_EMPTY_TEXT = (
    "<p>Choose a CSV file to import: one contact per row, with a header row naming the "
    "columns. A column of email addresses is required; first name, last name and any other "
    "columns (company, city, …) are optional and become template variables.</p>"
    "<p>Spreadsheets save CSV with <i>File \N{RIGHTWARDS ARROW} Save as \N{RIGHTWARDS ARROW} "
    "CSV</i>.</p>"
)


def target_label(target: str) -> str:
    """How the "Import as" row names a target."""
    if target == EMAIL:
        return "Email address"
    if target == FIRST_NAME:
        return "First name"
    if target == LAST_NAME:
        return "Last name"
    if target == STATUS:
        return "Status (opt-outs only)"
    if target.startswith(ATTRIBUTE_PREFIX):
        return f"Attribute {{{{ {target.removeprefix(ATTRIBUTE_PREFIX)} }}}}"
    return "Don\N{RIGHT SINGLE QUOTATION MARK}t import"


def _quoted(text: str) -> str:
    return f"\N{LEFT DOUBLE QUOTATION MARK}{text}\N{RIGHT DOUBLE QUOTATION MARK}"


def _rows(count: int) -> str:
    return f"{count:,} row{'s' if count != 1 else ''}"


def _say(count: int) -> str:
    return "says" if count == 1 else "say"


def _contacts(count: int) -> str:
    return f"{count:,} contact{'s' if count != 1 else ''}"


def describe_status_effect(report: ImportReport) -> str:
    """What the file's status column did, in a sentence ("" when it did nothing)."""
    changed = []
    if report.status_unsubscribed:
        changed.append(f"unsubscribed {_contacts(report.status_unsubscribed)}")
    if report.status_bounced:
        changed.append(f"marked {_contacts(report.status_bounced)} as bounced")
    parts = []
    if changed:
        parts.append("The status column " + " and ".join(changed) + ".")
    if report.status_refused:
        refused = report.status_refused
        parts.append(
            f"{_rows(refused)} {'were' if refused != 1 else 'was'} skipped for a status that "
            "is no consent to mail."
        )
    return " ".join(parts)


def describe_report(report: ImportReport, list_name: str) -> str:
    counts = (
        f"{report.created:,} created, {report.updated:,} updated, {len(report.skipped):,} skipped"
    )
    status = describe_status_effect(report)
    status = f" {status}" if status else ""
    if report.cancelled:
        return (
            f"Import cancelled. Before you cancelled: {counts}.{status} "
            "The rest of the file was not imported."
        )
    return f"Import into {_quoted(list_name)} finished: {counts}.{status}"


def describe_status_check(check: StatusCheck) -> str:
    """What the column chosen as the status will do on import, before it runs."""
    said = []
    if check.unsubscribed:
        said.append(f"{_rows(check.unsubscribed)} {_say(check.unsubscribed)} unsubscribed")
    if check.bounced:
        said.append(f"{_rows(check.bounced)} {_say(check.bounced)} bounced")
    effect = (
        " and ".join(said) + ": those contacts, new or existing, will not be mailed"
        if said
        else "no row says unsubscribed or bounced"
    )
    text = (
        f"Status column {_quoted(check.header)}: {effect}. {_quoted('subscribed')} and "
        "empty cells change nothing (a file never re-subscribes anyone)."
    )
    if not check.refused_rows:
        return text
    words = ", ".join(
        f"{_quoted(word.value)} (row {word.first_row:,}"
        + (f" and {word.rows - 1:,} more)" if word.rows > 1 else ")")
        for word in check.refused
    )
    more = " …" if check.refused_rows > sum(word.rows for word in check.refused) else ""
    unconfirmed = " and ".join(_quoted(word) for word in STATUS_WORDS[NOT_OPTED_IN][:2])
    return (
        f"\N{WARNING SIGN} {_rows(check.refused_rows)} will be skipped for "
        f"{'its' if check.refused_rows == 1 else 'their'} status: "
        f"{words}{more}. Correct the file, or import and find them among the skipped rows.\n"
        f"Statuses the app imports: {ACCEPTED_STATUSES}; {unconfirmed} mean not opted in.\n"
        f"{text}"
    )


class ChooseCsvFile:
    """Asks for a CSV file to import; None if cancelled. Tests replace it."""

    @classmethod
    def ask(cls, parent: QWidget | None) -> Path | None:
        name, _filter = QFileDialog.getOpenFileName(
            parent,
            "Import contacts from CSV",
            documents_folder(),
            "CSV files (*.csv *.txt);;All files (*)",
        )
        return Path(name) if name else None


# --- models -----------------------------------------------------------------------------------


class PreviewRole(IntEnum):
    TargetRole = Qt.ItemDataRole.UserRole + 1
    OptionsRole = Qt.ItemDataRole.UserRole + 2


class CsvPreviewModel(QAbstractTableModel):
    """The first rows of a file under its headers, with the editable "Import as" row on top."""

    MAPPING_ROW = 0

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._headers: tuple[str, ...] = ()
        self._rows: tuple[tuple[str, ...], ...] = ()
        self._targets: list[str] = []
        self._reasons: dict[int, str] = {}

    def set_preview(self, preview: CsvPreview | None) -> None:
        self.beginResetModel()
        if preview is None:
            self._headers, self._rows, self._targets, self._reasons = (), (), [], {}
        else:
            self._headers = preview.headers
            self._rows = preview.sample_rows
            # The preview's mapping names the first column of each header; repeats are ignored.
            plan = plan_columns(preview.headers, preview.mapping)
            self._targets = list(plan.targets)
            ignored = dict(preview.ignored)
            self._reasons = {
                column: ignored[header]
                for column, header in enumerate(self._headers)
                if plan.targets[column] == IGNORE and header in ignored
            }
        self.endResetModel()

    @property
    def headers(self) -> tuple[str, ...]:
        return self._headers

    def targets(self) -> list[str]:
        return list(self._targets)

    def mapping(self) -> dict[str, str]:
        """Header → target for the first column of each name (what `import_csv` takes)."""
        result: dict[str, str] = {}
        for header, target in zip(self._headers, self._targets, strict=True):
            result.setdefault(header, target)
        return result

    def options(self, column: int) -> list[tuple[str, str]]:
        """(target, label) choices for a column; a repeated header can only be left out."""
        header = self._headers[column]
        if header in self._headers[:column]:
            return [(IGNORE, target_label(IGNORE))]
        targets = [EMAIL, FIRST_NAME, LAST_NAME, STATUS]
        key = normalize_attribute_key(header)
        if attribute_key_problem(key) is None:
            targets.append(ATTRIBUTE_PREFIX + key)
        current = self._targets[column]
        if current not in targets and current != IGNORE:
            targets.append(current)
        targets.append(IGNORE)
        return [(target, target_label(target)) for target in targets]

    # --- Qt overrides --------------------------------------------------------------------

    def rowCount(self, parent: ModelIndex = _NO_INDEX) -> int:  # noqa: N802  (a Qt override keeps Qt's name)
        if parent.isValid() or not self._headers:
            return 0
        return 1 + len(self._rows)

    def columnCount(self, parent: ModelIndex = _NO_INDEX) -> int:  # noqa: N802  (a Qt override keeps Qt's name)
        return 0 if parent.isValid() else len(self._headers)

    def headerData(  # noqa: N802  (a Qt override keeps Qt's name)
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if role != Qt.ItemDataRole.DisplayRole:
            return None
        if orientation == Qt.Orientation.Horizontal:
            if not 0 <= section < len(self._headers):
                return None
            return self._headers[section] or f"(column {section + 1})"
        if not 0 <= section < self.rowCount():
            return None
        return "Import as" if section == self.MAPPING_ROW else str(section)

    def flags(self, index: ModelIndex) -> Qt.ItemFlag:
        flags = super().flags(index)
        if index.isValid() and index.row() == self.MAPPING_ROW:
            flags |= Qt.ItemFlag.ItemIsEditable
        return flags

    def data(self, index: ModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < self.rowCount():
            return None
        column = index.column()
        if index.row() == self.MAPPING_ROW:
            return self._mapping_data(column, role)
        cells = self._rows[index.row() - 1]
        cell = cells[column] if column < len(cells) else ""
        if self._targets[column] == STATUS and role in _REFUSED_STATUS_ROLES:
            problem, _opted_out, refused = read_status(cell)
            if refused:  # the import will skip this row: say so where the word is
                if role == Qt.ItemDataRole.ToolTipRole:
                    return problem
                return error_color(QGuiApplication.palette())
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole):
            return cell
        return None

    def _mapping_data(self, column: int, role: int) -> Any:
        target = self._targets[column]
        if role == Qt.ItemDataRole.DisplayRole:
            return target_label(target)
        if role in (Qt.ItemDataRole.EditRole, PreviewRole.TargetRole):
            return target
        if role == PreviewRole.OptionsRole:
            return self.options(column)
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._reasons.get(column) or f"What the column becomes: {target_label(target)}"
        if role == Qt.ItemDataRole.FontRole:
            font = QFont()
            font.setBold(True)
            return font
        return None

    def setData(  # noqa: N802  (a Qt override keeps Qt's name)
        self, index: ModelIndex, value: Any, role: int = Qt.ItemDataRole.EditRole
    ) -> bool:
        if (
            not index.isValid()
            or index.row() != self.MAPPING_ROW
            or role != Qt.ItemDataRole.EditRole
            or value not in {target for target, _label in self.options(index.column())}
        ):
            return False
        if self._targets[index.column()] != value:
            self._targets[index.column()] = str(value)
            self._reasons.pop(index.column(), None)
            self.dataChanged.emit(
                index, index, [Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.EditRole]
            )
        return True


class SkippedRowsModel(RowTableModel[tuple[int, str]]):
    """The rows an import skipped: the row number a spreadsheet shows, and why."""

    headers = ("Row", "Reason")

    def set_rows(self, rows: Sequence[tuple[int, str]]) -> None:
        self._reset_rows(rows)

    def _cell(self, skipped: tuple[int, str], column: int, role: int) -> Any:
        row, reason = skipped
        if role == Qt.ItemDataRole.DisplayRole:
            return str(row) if column == 0 else reason
        if role == Qt.ItemDataRole.ToolTipRole and column == 1:
            return reason
        if role == Qt.ItemDataRole.TextAlignmentRole and column == 0:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None


class TargetDelegate(QStyledItemDelegate):
    """A combo box on each "Import as" cell; a choice is written to the model at once."""

    def createEditor(  # noqa: N802  (a Qt override keeps Qt's name)
        self, parent: QWidget, option: QStyleOptionViewItem, index: ModelIndex
    ) -> QWidget:
        header = index.model().headerData(
            index.column(), Qt.Orientation.Horizontal, Qt.ItemDataRole.DisplayRole
        )
        combo = named(
            QComboBox(parent),
            f"mapColumn{index.column()}",
            f"Import the column \N{LEFT DOUBLE QUOTATION MARK}{header}"
            "\N{RIGHT DOUBLE QUOTATION MARK} as",
        )
        for target, label in index.data(PreviewRole.OptionsRole) or []:
            combo.addItem(label, target)
        combo.setToolTip(str(index.data(Qt.ItemDataRole.ToolTipRole) or ""))
        combo.currentIndexChanged.connect(lambda _row: self.commitData.emit(combo))
        return combo

    def setEditorData(self, editor: QWidget, index: ModelIndex) -> None:  # noqa: N802  (a Qt override keeps Qt's name)
        assert isinstance(editor, QComboBox)
        position = editor.findData(index.data(PreviewRole.TargetRole))
        if position >= 0 and position != editor.currentIndex():
            # Quietly: this is the model's value coming in, not a choice to commit back (and
            # on a new editor the view does not know it yet).
            editor.blockSignals(True)
            editor.setCurrentIndex(position)
            editor.blockSignals(False)

    def setModelData(  # noqa: N802  (a Qt override keeps Qt's name)
        self, editor: QWidget, model: QAbstractItemModel, index: ModelIndex
    ) -> None:
        assert isinstance(editor, QComboBox)
        model.setData(index, editor.currentData(), Qt.ItemDataRole.EditRole)


# --- the dialog -------------------------------------------------------------------------------


class ImportDialog(QDialog):
    """Import one CSV file into a contact list; `report` holds the result once it ran."""

    def __init__(self, ctx: AppContext, path: Path | None = None, parent: QWidget | None = None):
        super().__init__(parent)
        self._ctx = ctx
        self._path: Path | None = None
        self._cancel = threading.Event()
        self._task: BackgroundTask | None = None
        self._loading = False
        self._failure = ""  # why the last preview or import failed, until something changes
        self._list_name = DEFAULT_LIST
        #: Whether the existing lists are offered yet (read on the pool).
        self.lists_read = False
        self.report: ImportReport | None = None
        # The status column's check: the header it reads, and its Cancel (a new file or a
        # new status column stops the one running); a result of an earlier round is stale.
        self._status_header: str | None = None
        self._status_cancel = threading.Event()
        self._status_round = 0
        self.status_check: StatusCheck | None = None
        self.setObjectName("importDialog")
        self.setWindowTitle("Import contacts")
        self._build()
        self._refresh()
        contacts = ctx.contacts
        run_in_background(
            "import: lists",
            lambda _report: [item.name for item in contacts.lists()],
            self._on_lists_read,
        )
        if path is not None:
            self.load_file(path)

    @Slot(object, object)
    def _on_lists_read(self, names: Any, error: BaseException | None) -> None:
        """Offer the lists; a list chosen or typed meanwhile stays."""
        if error is not None:
            if not isinstance(error, DomainError):
                hand_to_crash_handler(error)
            return  # a list can still be typed
        # "customers" already there is the default list (names ignore case, design §21).
        default = find_named(((name, name) for name in names), DEFAULT_LIST)
        typed = self.list_combo.currentText()
        chosen = typed if typed != DEFAULT_LIST else (default or DEFAULT_LIST)
        self.lists_read = True
        self.list_combo.blockSignals(True)
        try:
            self.list_combo.clear()
            self.list_combo.addItems(names if default is not None else [DEFAULT_LIST, *names])
            self.list_combo.setCurrentText(chosen)
        finally:
            self.list_combo.blockSignals(False)
        if chosen != typed:
            self._refresh()

    @classmethod
    def ask(
        cls, parent: QWidget | None, ctx: AppContext, path: Path | None = None
    ) -> ImportReport | None:
        """Show the dialog modally; the import's report, or None if nothing was imported."""
        dialog = cls(ctx, path, parent)
        try:
            dialog.exec()
            return dialog.report
        finally:
            dialog.deleteLater()

    # --- building ------------------------------------------------------------------------

    def _build(self) -> None:
        self.file_edit = named(QLineEdit(), "importFile", "File to import")
        self.file_edit.setReadOnly(True)
        self.file_edit.setPlaceholderText("No file chosen")
        self.choose_button = named(QPushButton("Choose &file…"), "chooseFile", "Choose a file")
        self.choose_button.clicked.connect(self._on_choose)
        file_row = QHBoxLayout()
        file_row.addWidget(self.file_edit, 1)
        file_row.addWidget(self.choose_button)

        self.list_combo = named(QComboBox(), "importList", "Contact list to import into")
        self.list_combo.setEditable(True)
        self.list_combo.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        # The lists are read on the pool (`_on_lists_read`); the default until then.
        self.list_combo.addItem(DEFAULT_LIST)
        self.list_combo.setCurrentText(DEFAULT_LIST)
        self.list_combo.setToolTip("Choose a list, or type a new name to create one.")
        self.list_combo.currentTextChanged.connect(self._refresh)
        form = QFormLayout()
        form.addRow(buddy_label("&File:", self.choose_button), file_row)
        form.addRow("Add to &list:", self.list_combo)
        self._build_preview()
        self._build_progress()

        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.file_info)
        layout.addWidget(self.preview_stack, 2)
        layout.addWidget(self.status_check_label)
        layout.addWidget(self.error_label)
        layout.addWidget(self.progress)
        layout.addWidget(self.status_label)
        layout.addWidget(self.skipped_view, 1)
        layout.addLayout(self._button_row)
        set_default_button(self, self.import_button)
        for first, second in (
            (self.choose_button, self.list_combo),
            (self.list_combo, self.preview_view),
            (self.preview_view, self.import_button),
            (self.import_button, self.cancel_button),
        ):
            QWidget.setTabOrder(first, second)
        self.resize(820, 560)

    def _build_preview(self) -> None:
        self.file_info = named(QLabel(), "importFileInfo", "About the file")
        self.file_info.setWordWrap(True)
        self.preview_model = CsvPreviewModel(self)
        self.preview_view = named(QTableView(), "importPreview", "Column mapping preview")
        self.preview_view.setModel(self.preview_model)
        self.preview_view.setItemDelegateForRow(
            CsvPreviewModel.MAPPING_ROW, TargetDelegate(self.preview_view)
        )
        self.preview_view.horizontalHeader().setDefaultSectionSize(190)
        self.preview_view.setWordWrap(False)
        self.preview_view.setToolTip(
            "The first rows of the file. Choose in the \N{LEFT DOUBLE QUOTATION MARK}Import as"
            "\N{RIGHT DOUBLE QUOTATION MARK} row what each column holds."
        )
        self.preview_model.modelReset.connect(self._open_mapping_editors)
        self.preview_model.dataChanged.connect(self._on_mapping_changed)
        self.status_check_label = message_label("importStatusCheck", "What the status column does")
        self.status_check_label.setTextFormat(Qt.TextFormat.PlainText)
        self.empty_label = named(QLabel(_EMPTY_TEXT), "importEmpty", "How to import")
        self.empty_label.setWordWrap(True)
        self.empty_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.preview_stack = QStackedWidget()
        self.preview_stack.addWidget(self.empty_label)
        self.preview_stack.addWidget(self.preview_view)

    def _build_progress(self) -> None:
        self.error_label = message_label("importError", "Import problem")
        self.progress = named(QProgressBar(), "importProgress", "Import progress")
        self.progress.setRange(0, _PROGRESS_STEPS)
        self.progress.hide()
        self.status_label = message_label("importStatus", "Import status")
        self.skipped_model = SkippedRowsModel(self)
        self.skipped_view = data_table("skippedRows", "Skipped rows and reasons")
        self.skipped_view.setModel(self.skipped_model)
        self.skipped_view.hide()

        self.import_button = named(QPushButton("&Import"), "importButton", "Import")
        self.import_button.clicked.connect(self.start_import)
        self.cancel_button = named(QPushButton("Cancel"), "importCancel", "Cancel")
        self.cancel_button.clicked.connect(self._on_cancel)
        self._button_row = QHBoxLayout()
        self._button_row.addStretch(1)
        self._button_row.addWidget(self.import_button)
        self._button_row.addWidget(self.cancel_button)

    @Slot()
    def _open_mapping_editors(self) -> None:
        for column in range(self.preview_model.columnCount()):
            index = self.preview_model.index(CsvPreviewModel.MAPPING_ROW, column)
            self.preview_view.openPersistentEditor(index)
        self.preview_view.resizeRowToContents(CsvPreviewModel.MAPPING_ROW)

    # --- state ---------------------------------------------------------------------------

    @property
    def importing(self) -> bool:
        return self._task is not None

    def mapping_problem(self) -> str:
        """Why the import cannot start yet ("" when it can)."""
        if self._loading:
            return ""
        if self._path is None or not self.preview_model.headers:
            return ""
        try:
            plan = plan_columns(self.preview_model.headers, self.preview_model.mapping())
        except ValidationError as exc:
            return exc.message
        if plan.index_of(EMAIL) is None:
            return (
                "No column is imported as the email address. Choose the column that holds "
                "the addresses in the \N{LEFT DOUBLE QUOTATION MARK}Import as"
                "\N{RIGHT DOUBLE QUOTATION MARK} row."
            )
        if not self.list_combo.currentText().strip():
            return "Name the contact list to add the contacts to."
        return ""

    @Slot()
    def _refresh(self, *_args: object) -> None:
        if self.importing or self.report is not None:
            return
        problem = self.mapping_problem()
        show_error(self.error_label, problem or self._failure)
        ready = (
            not self._loading
            and self._path is not None
            and bool(self.preview_model.headers)
            and not problem
        )
        self.import_button.setEnabled(ready)

    @Slot()
    def _on_mapping_changed(self) -> None:
        self._failure = ""
        self._refresh()
        self._check_status_column()

    def _check_status_column(self) -> None:
        """Read the column now imported as the status, off the GUI thread, unless it is the
        one already read; no status column hides the note."""
        header = next(
            (
                name
                for name, target in zip(
                    self.preview_model.headers, self.preview_model.targets(), strict=True
                )
                if target == STATUS
            ),
            None,
        )
        if header == self._status_header or self._path is None:
            return
        self._stop_status_check()
        self._status_header = header
        if header is None:
            show_note(self.status_check_label, "")
            return
        show_note(self.status_check_label, f"Checking the status column {_quoted(header)}…")
        path, cancel, contacts = self._path, self._status_cancel, self._ctx.contacts
        round_ = self._status_round
        task = BackgroundTask(
            "csv status check",
            lambda _report: (round_, contacts.check_csv_status(path, header, cancel=cancel)),
            cancel,
        )
        task.finished.connect(self._on_status_checked)
        task.start()

    def _stop_status_check(self) -> None:
        self._status_cancel.set()
        self._status_cancel = threading.Event()
        self._status_round += 1
        self._status_header = None
        self.status_check = None

    @Slot(object, object)
    def _on_status_checked(
        self, result: tuple[int, StatusCheck] | None, error: BaseException | None
    ) -> None:
        if error is not None:
            if not isinstance(error, DomainError):
                hand_to_crash_handler(error)
            elif not self.importing and self.status_check is None:
                show_note(self.status_check_label, "")  # the import reports what is wrong
            return
        assert result is not None
        round_, check = result
        if round_ != self._status_round or check.cancelled or self.importing:
            return  # about a column (or file) no longer chosen, or stopped
        self.status_check = check
        text = describe_status_check(check)
        if check.refused_rows:
            show_error(self.status_check_label, text)
        else:
            show_note(self.status_check_label, text)

    def load_file(self, path: Path) -> None:
        """Read the start of `path` (off the GUI thread) and show the mapping preview."""
        self._path = path
        self._loading = True
        self._failure = ""
        self._stop_status_check()
        show_note(self.status_check_label, "")
        self.file_edit.setText(str(path))
        self.preview_model.set_preview(None)
        self.preview_stack.setCurrentWidget(self.empty_label)
        show_note(self.file_info, f"Reading {path.name}…")
        self.choose_button.setEnabled(False)
        self._refresh()
        contacts = self._ctx.contacts
        task = BackgroundTask(
            "csv preview", lambda _report: contacts.preview_csv(path, PREVIEW_ROWS)
        )
        task.finished.connect(self._on_preview)
        task.start()

    @Slot(object, object)
    def _on_preview(self, preview: CsvPreview | None, error: BaseException | None) -> None:
        self._loading = False
        self.choose_button.setEnabled(True)
        if error is not None:
            show_note(self.file_info, "")
            if isinstance(error, DomainError):
                self._failure = f"\N{WARNING SIGN} {error.message}"
            else:
                hand_to_crash_handler(error)
            self._refresh()
            return
        assert preview is not None
        self.preview_model.set_preview(preview)
        self.preview_stack.setCurrentWidget(self.preview_view)
        delimiter = _DELIMITER_NAMES.get(preview.delimiter, repr(preview.delimiter))
        shown = len(preview.sample_rows)
        show_note(
            self.file_info,
            f"{len(preview.headers)} columns, {delimiter}-separated, {preview.encoding} "
            f"encoding. The first {shown} row{'s' if shown != 1 else ''} below.",
        )
        self._refresh()
        self._check_status_column()

    # --- importing -----------------------------------------------------------------------

    @Slot()
    def start_import(self) -> None:
        """Run the import on a pool thread; progress and the report come back as signals."""
        if self.importing or not self.import_button.isEnabled() or self._path is None:
            return
        path = self._path
        typed = self.list_combo.currentText().strip()
        known = (self.list_combo.itemText(i) for i in range(self.list_combo.count()))
        list_name = find_named(((name, name) for name in known), typed) or typed
        mapping = self.preview_model.mapping()
        cancel = self._cancel
        cancel.clear()
        contacts = self._ctx.contacts
        self._list_name = list_name
        log.info("importing %s into %r", path.name, list_name)

        def work(report: Report) -> ImportReport:
            # On the pool thread: only the service and the report function, no widgets.
            return contacts.import_csv(
                path,
                list_name,
                mapping=mapping,
                progress=lambda fraction, rows: report((fraction, rows)),
                cancel=cancel,
            )

        if self.status_check is None:
            self._stop_status_check()  # still reading: the import reads the file itself
            show_note(self.status_check_label, "")
        self._task = BackgroundTask("csv import", work, cancel)
        self._task.progress.connect(self._on_progress)
        self._task.finished.connect(self._on_imported)
        self._set_inputs_enabled(False)
        self._failure = ""
        show_error(self.error_label, "")
        self.progress.setValue(0)
        self.progress.show()
        show_note(self.status_label, f"Importing {path.name}…")
        self.cancel_button.setText("Cancel")
        self._task.start()

    @Slot(object)
    def _on_progress(self, value: tuple[float, int]) -> None:
        fraction, rows = value
        self.progress.setValue(round(fraction * _PROGRESS_STEPS))
        if not self._cancel.is_set():
            show_note(self.status_label, f"{rows:,} rows read…")

    @Slot(object, object)
    def _on_imported(self, report: ImportReport | None, error: BaseException | None) -> None:
        self._task = None
        self.cancel_button.setEnabled(True)
        if error is not None:
            self.progress.hide()
            show_note(self.status_label, "")
            self._set_inputs_enabled(True)
            if isinstance(error, DomainError):
                self._failure = f"\N{WARNING SIGN} {error.message} Nothing was imported."
            else:
                hand_to_crash_handler(error)
            self._refresh()
            self._check_status_column()  # stopped when the import started; read it again
            return
        assert report is not None
        self.report = report
        if not report.cancelled:
            self.progress.setValue(_PROGRESS_STEPS)
        show_note(self.status_label, describe_report(report, self._list_name))
        show_note(self.status_check_label, "")  # the report says what the column did
        self.skipped_model.set_rows(report.skipped)
        self.skipped_view.setVisible(bool(report.skipped))
        self.skipped_view.resizeColumnToContents(0)
        self.import_button.hide()
        self.cancel_button.setText("Close")
        self.cancel_button.setDefault(True)
        self.cancel_button.setFocus()

    def _set_inputs_enabled(self, enabled: bool) -> None:
        for widget in (self.choose_button, self.list_combo, self.preview_view, self.import_button):
            widget.setEnabled(enabled)

    # --- closing -------------------------------------------------------------------------

    @Slot()
    def _on_choose(self) -> None:
        path = ChooseCsvFile.ask(self)
        if path is not None:
            self.load_file(path)

    @Slot()
    def _on_cancel(self) -> None:
        if self.importing:
            self.cancel_import()
        elif self.report is not None:
            self.accept()
        else:
            self.reject()

    def cancel_import(self) -> None:
        """Stop before the next batch; what was imported stays, and the report says so."""
        self._cancel.set()
        self.cancel_button.setEnabled(False)
        show_note(self.status_label, "Cancelling after the rows in hand…")

    def reject(self) -> None:
        """Escape or the window's close button: while importing, that means Cancel."""
        if self.importing:
            self.cancel_import()
            return
        self._stop_status_check()
        super().reject()

    def accept(self) -> None:
        self._stop_status_check()
        super().accept()
