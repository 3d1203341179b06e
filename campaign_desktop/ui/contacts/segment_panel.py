"""The Contacts tab's "Filter by field" panel (docs/design.md §18): rows of field, operator and
value, all or any of them, a live count, and "Save as segment…" so that a campaign can send
to the contacts it picks; open, rename (F2) and delete saved segments.

The custom field names, the saved segments and every count are read on the pool. A row the
user has not finished is left out of the filter; its problem shows under it only once the
user has typed in it or chosen its operator (no red before the user did anything).
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal, Slot
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QComboBox,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from campaign_desktop.context import AppContext
from campaign_desktop.domain.errors import DomainError, ValidationError
from campaign_desktop.domain.names import find_named
from campaign_desktop.domain.segments import (
    BuiltInField,
    Condition,
    Match,
    Operator,
    Segment,
    custom_field,
    field_label,
    operators_for,
)
from campaign_desktop.domain.status import ContactStatus
from campaign_desktop.domain.views import SegmentView
from campaign_desktop.services.segments import SegmentCount
from campaign_desktop.ui.common.background import Report, hand_to_crash_handler, run_in_background
from campaign_desktop.ui.common.prompts import Confirm, call_service
from campaign_desktop.ui.common.widgets import message_label, named, show_error, show_note
from campaign_desktop.ui.contacts.list_dialogs import RenameSegmentDialog

COUNT_PAUSE_MS = 250
_BUILT_IN = (
    BuiltInField.EMAIL,
    BuiltInField.FIRST_NAME,
    BuiltInField.LAST_NAME,
    BuiltInField.STATUS,
)


class SegmentName:
    """Asks for the name to save a segment under; tests replace `ask`."""

    @classmethod
    def ask(cls, parent: QWidget | None, suggestion: str = "") -> str | None:
        text, ok = QInputDialog.getText(
            parent, "Save as segment", "Name of the segment:", QLineEdit.EchoMode.Normal, suggestion
        )
        return text.strip() if ok else None


class ConditionRow(QWidget):
    """One condition: field, operator, value (a status is chosen, not typed), and a
    remove button."""

    changed = Signal()
    remove_requested = Signal(object)

    def __init__(self, fields: list[str], number: int, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.touched = False
        self.field = named(QComboBox(), f"conditionField{number}", "Field to compare")
        self.field.setPlaceholderText("Choose a field…")
        self.operator = named(QComboBox(), f"conditionOperator{number}", "How to compare")
        self.value = named(QLineEdit(), f"conditionValue{number}", "Value to compare with")
        self.value.setPlaceholderText("value")
        self.status = named(QComboBox(), f"conditionStatus{number}", "Status to compare with")
        for status in ContactStatus:
            self.status.addItem(status.value.capitalize(), status.value)
        self.status.hide()
        self.remove = named(
            QPushButton("\N{MINUS SIGN}"), f"removeCondition{number}", "Remove this condition"
        )
        self.remove.setToolTip("Remove this condition")
        self.remove.setFixedWidth(32)
        self.error = message_label(f"conditionError{number}", "Problem with this condition")
        self.set_fields(fields)

        line = QHBoxLayout()
        line.setContentsMargins(0, 0, 0, 0)
        line.addWidget(self.field, 2)
        line.addWidget(self.operator, 2)
        line.addWidget(self.value, 3)
        line.addWidget(self.status, 3)
        line.addWidget(self.remove)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(line)
        layout.addWidget(self.error)

        self.field.currentIndexChanged.connect(self._on_field_chosen)
        self.operator.currentIndexChanged.connect(self._on_operator_chosen)
        self.value.textEdited.connect(self._on_edited)
        self.status.currentIndexChanged.connect(self._on_edited)
        self.remove.clicked.connect(lambda: self.remove_requested.emit(self))

    def set_fields(self, fields: list[str]) -> None:
        """Offer these fields (condition field keys), keeping the one chosen."""
        chosen = self.field.currentData()
        self.field.blockSignals(True)
        try:
            self.field.clear()
            for key in fields:
                self.field.addItem(field_label(key), key)
            self.field.setCurrentIndex(self.field.findData(chosen) if chosen is not None else -1)
        finally:
            self.field.blockSignals(False)

    def set_condition(self, condition: Condition) -> None:
        """Show a saved condition (its field is offered even if no contact has it now)."""
        if self.field.findData(condition.field) < 0:
            self.field.addItem(field_label(condition.field), condition.field)
        self.field.setCurrentIndex(self.field.findData(condition.field))
        self.operator.setCurrentIndex(self.operator.findData(condition.operator))
        if condition.field == BuiltInField.STATUS:
            self.status.setCurrentIndex(self.status.findData(condition.value))
        else:
            self.value.setText(condition.value)
        self.touched = True

    def condition(self) -> Condition:
        """What the row says, unchecked."""
        field_name = self.field.currentData() or ""
        operator = self.operator.currentData() or Operator.IS
        value = (
            self.status.currentData() if field_name == BuiltInField.STATUS else self.value.text()
        )
        return Condition(str(field_name), Operator(operator), str(value or ""))

    def show_problem(self, message: str) -> None:
        show_error(self.error, message if self.touched else "")

    @Slot()
    def _on_field_chosen(self) -> None:
        field_name = self.field.currentData()
        chosen = self.operator.currentData()
        self.operator.blockSignals(True)
        try:
            self.operator.clear()
            for operator in operators_for(field_name) if field_name else ():
                self.operator.addItem(operator.label, operator.value)
            position = self.operator.findData(chosen) if chosen is not None else -1
            self.operator.setCurrentIndex(max(position, 0))
        finally:
            self.operator.blockSignals(False)
        self._show_value_editor()
        self.changed.emit()

    @Slot()
    def _on_operator_chosen(self) -> None:
        self.touched = True
        self._show_value_editor()
        self.changed.emit()

    @Slot()
    def _on_edited(self) -> None:
        self.touched = True
        self.changed.emit()

    def _show_value_editor(self) -> None:
        operator = self.operator.currentData()
        needs_value = operator is None or Operator(operator).needs_value
        is_status = self.field.currentData() == BuiltInField.STATUS
        self.value.setVisible(needs_value and not is_status)
        self.status.setVisible(needs_value and is_status)


class SegmentPanel(QGroupBox):
    """Conditions on the contacts' fields. `segment()` is what the Contacts tab filters by;
    `changed` fires when it changes."""

    changed = Signal()
    counted = Signal()  # the count on screen is up to date (tests wait on it)
    segments_read = Signal()  # the fields and saved segments are read (tests wait on it)

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__("Filter by field", parent)
        self.setObjectName("segmentPanel")
        self._ctx = ctx
        self._fields: list[str] = [field.value for field in _BUILT_IN]
        self._saved: list[SegmentView] = []
        self._rows: list[ConditionRow] = []
        self._row_numbers = 0
        self._count_number = 0
        self._last: Segment | None = None
        self._select_name = ""  # the saved segment to show as chosen once they are read

        self.match = named(QComboBox(), "segmentMatch", "Contacts must match")
        self.match.addItem("all of these conditions", Match.ALL.value)
        self.match.addItem("any of these conditions", Match.ANY.value)
        self._build_saved_controls()
        self.add_button = named(QPushButton("+ Add condition"), "addCondition", "Add a condition")
        self.save_button = named(
            QPushButton("Save as segment…"), "saveSegment", "Save these conditions as a segment"
        )
        self.save_button.setEnabled(False)
        self.save_button.setToolTip(
            "Campaigns can then send to the contacts these conditions pick."
        )
        self.count_label = named(QLabel(), "segmentCount", "Contacts matching these conditions")
        self.message = message_label("segmentMessage", "Segment message")

        top = QHBoxLayout()
        top.addWidget(QLabel("Show contacts matching"))
        top.addWidget(self.match)
        top.addStretch(1)
        top.addWidget(self.saved_combo)
        top.addWidget(self.rename_button)
        top.addWidget(self.delete_button)
        self._rows_box = QVBoxLayout()
        bottom = QHBoxLayout()
        bottom.addWidget(self.add_button)
        bottom.addWidget(self.count_label, 1)
        bottom.addWidget(self.save_button)
        layout = QGridLayout(self)
        layout.addLayout(top, 0, 0)
        layout.addLayout(self._rows_box, 1, 0)
        layout.addLayout(bottom, 2, 0)
        layout.addWidget(self.message, 3, 0)

        self._count_timer = QTimer(self, singleShot=True, interval=COUNT_PAUSE_MS)
        self._count_timer.timeout.connect(self._count)
        self.match.currentIndexChanged.connect(self._on_rows_changed)
        self.add_button.clicked.connect(self.add_row)
        self.save_button.clicked.connect(self._on_save)
        self.add_row()
        self._show_count(None)

    def _build_saved_controls(self) -> None:
        """Open, rename and delete a saved segment."""
        self.saved_combo = named(QComboBox(), "savedSegments", "Open a saved segment")
        self.saved_combo.setPlaceholderText("Open a saved segment…")
        self.rename_button = named(QPushButton("Rena&me…"), "renameSegment", "Rename saved segment")
        self.rename_button.setToolTip(
            "Give the saved segment another name (F2); campaigns keep sending to it."
        )
        self.delete_button = named(QPushButton("Delete…"), "deleteSegment", "Delete saved segment")
        # F2 renames, as in file managers, while the focus is anywhere in the panel.
        self.action_rename = QAction("Rename segment…", self)
        self.action_rename.setObjectName("actionRenameSegment")
        self.action_rename.setShortcut(QKeySequence(Qt.Key.Key_F2))
        self.action_rename.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        self.addAction(self.action_rename)
        self._enable_saved_actions(False)
        self.saved_combo.activated.connect(self._on_saved_chosen)
        self.rename_button.clicked.connect(self._on_rename)
        self.action_rename.triggered.connect(self._on_rename)
        self.delete_button.clicked.connect(self._on_delete)

    # --- rows ----------------------------------------------------------------------------

    def rows(self) -> list[ConditionRow]:
        return list(self._rows)

    @Slot()
    def add_row(self) -> ConditionRow:
        self._row_numbers += 1
        row = ConditionRow(self._fields, self._row_numbers, self)
        row.changed.connect(self._on_rows_changed)
        row.remove_requested.connect(self._on_remove)
        self._rows.append(row)
        self._rows_box.addWidget(row)
        row.field.setFocus()
        return row

    @Slot(object)
    def _on_remove(self, row: ConditionRow) -> None:
        self._rows.remove(row)
        row.deleteLater()
        if not self._rows:
            self.add_row()
        self._on_rows_changed()

    def clear(self) -> None:
        for row in self._rows:
            row.deleteLater()
        self._rows = []
        self.add_row()
        self._on_rows_changed()

    # --- the segment ---------------------------------------------------------------------

    def segment(self) -> Segment | None:
        """The segment of the finished rows (None when no row is finished)."""
        return self._last

    def _read_rows(self) -> Segment | None:
        valid: list[Condition] = []
        for row in self._rows:
            condition = row.condition()
            if not condition.field:
                row.show_problem("")  # nothing chosen yet: nothing to say
                continue
            try:
                valid.append(condition.checked())
            except ValidationError as exc:
                row.show_problem(exc.message)
            else:
                row.show_problem("")
        if not valid:
            return None
        return Segment.of(valid, self.match.currentData())

    @Slot()
    def _on_rows_changed(self) -> None:
        segment = self._read_rows()
        self.save_button.setEnabled(segment is not None)
        show_error(self.message, "")
        if segment != self._last:
            self._last = segment
            self.changed.emit()
            self._count_timer.start()

    def show_segment(self, segment: Segment) -> None:
        """Put a saved segment's conditions in the rows."""
        for row in self._rows:
            row.deleteLater()
        self._rows = []
        for condition in segment.conditions:
            self.add_row().set_condition(condition)
        self.match.blockSignals(True)
        self.match.setCurrentIndex(self.match.findData(segment.match.value))
        self.match.blockSignals(False)
        self._on_rows_changed()

    # --- reading on the pool -------------------------------------------------------------

    def reload(self) -> None:
        """Read the custom field names and the saved segments again (on the pool)."""
        campaigns, segments = self._ctx.campaigns, self._ctx.segments

        def read(_report: Report) -> tuple[list[str], list[SegmentView]]:
            return campaigns.attribute_keys(), segments.list()

        run_in_background("contacts: fields and segments", read, self._on_read)

    @Slot(object, object)
    def _on_read(self, result: Any, error: BaseException | None) -> None:
        if error is not None:
            self._on_error(error)
            return
        keys, saved = result
        self._fields = [field.value for field in _BUILT_IN] + [custom_field(key) for key in keys]
        for row in self._rows:
            row.set_fields(self._fields)
        self._saved = saved
        chosen = self._select_name or self.saved_combo.currentText()
        self._select_name = ""
        self.saved_combo.clear()
        for view in saved:
            self.saved_combo.addItem(view.name, view.id)
            if view.segment is not None:
                self.saved_combo.setItemData(
                    self.saved_combo.count() - 1,
                    view.segment.describe(),
                    Qt.ItemDataRole.ToolTipRole,
                )
        self.saved_combo.setCurrentIndex(self.saved_combo.findText(chosen))
        self.saved_combo.setEnabled(bool(saved))
        self._enable_saved_actions(self.saved_combo.currentIndex() >= 0)
        self.segments_read.emit()

    def recount(self) -> None:
        """Count the contacts again (they changed), on the pool."""
        self._count_timer.start()

    @Slot()
    def _count(self) -> None:
        self._count_number += 1
        number, segment = self._count_number, self._last
        if segment is None:
            self._show_count(None)
            return
        segments = self._ctx.segments
        self.count_label.setText("Counting…")

        def count(_report: Report) -> tuple[int, SegmentCount]:
            return number, segments.count(segment)

        run_in_background("contacts: segment count", count, self._on_counted)

    @Slot(object, object)
    def _on_counted(self, result: Any, error: BaseException | None) -> None:
        if error is not None:
            self._on_error(error)
            return
        number, count = result
        if number != self._count_number:
            return  # a newer count is on its way
        self._show_count(count)

    def _show_count(self, count: SegmentCount | None) -> None:
        if count is None:
            self.count_label.setText("Choose a field, how to compare and a value.")
        else:
            noun = "contact matches" if count.matching == 1 else "contacts match"
            self.count_label.setText(f"{count.matching:,} {noun} ({count.subscribed:,} subscribed)")
        self.counted.emit()

    def _on_error(self, error: BaseException) -> None:
        if isinstance(error, DomainError):
            show_error(self.message, error.message)
        else:
            hand_to_crash_handler(error)

    # --- saved segments ------------------------------------------------------------------

    @Slot()
    def _on_save(self) -> None:
        segment = self._last
        if segment is None:
            return
        suggestion = self.saved_combo.currentText()
        name = SegmentName.ask(self, suggestion)
        if name is None:
            return
        # "parisians" typed for the saved "Parisians" replaces it (docs/design.md §21).
        existing = find_named(((view, view.name) for view in self._saved), name)
        if existing is not None:
            if not Confirm.ask(
                self,
                "Save as segment",
                f"Replace the conditions of the segment “{existing.name}”? Campaigns that "
                "send to it "
                "will send to the contacts these conditions pick.",
                "Replace",
            ):
                return
            outcome = call_service(
                self,
                "Save as segment",
                lambda: self._ctx.segments.update(existing.id, segment),
                on_refused=lambda message: show_error(self.message, message),
            )
        else:
            outcome = call_service(
                self,
                "Save as segment",
                lambda: self._ctx.segments.create(name, segment),
                on_refused=lambda message: show_error(self.message, message),
            )
        if not outcome:
            return
        self._select_name = outcome.value.name
        self.reload()

    @Slot(int)
    def _on_saved_chosen(self, index: int) -> None:
        segment_id = self.saved_combo.itemData(index)
        view = next((view for view in self._saved if view.id == segment_id), None)
        self._enable_saved_actions(view is not None)
        if view is not None and view.segment is not None:
            self.show_segment(view.segment)

    @Slot()
    def _on_delete(self) -> None:
        segment_id = self.saved_combo.currentData()
        name = self.saved_combo.currentText()
        if segment_id is None or not Confirm.ask(
            self,
            "Delete segment",
            f"Delete the saved segment “{name}”? Its contacts stay; only the conditions go.",
            "Delete",
        ):
            return
        if not call_service(self, "Delete segment", lambda: self._ctx.segments.delete(segment_id)):
            return
        self.saved_combo.removeItem(self.saved_combo.currentIndex())
        self.saved_combo.setCurrentIndex(-1)
        self._enable_saved_actions(False)
        self.reload()

    @Slot()
    def _on_rename(self) -> None:
        segment_id = self.saved_combo.currentData()
        view = next((view for view in self._saved if view.id == segment_id), None)
        if view is None:
            return
        renamed = RenameSegmentDialog.ask(self, self._ctx, view)
        if renamed is None:
            return
        self.saved_combo.setItemText(self.saved_combo.currentIndex(), renamed.name)
        show_note(
            self.message,
            f"Renamed the segment “{view.name}” to “{renamed.name}”; its campaigns keep "
            "sending to it.",
        )
        self._select_name = renamed.name
        self.reload()  # the saved segments in their new order

    def _enable_saved_actions(self, enabled: bool) -> None:
        """Rename and Delete act on the saved segment chosen in the combo box."""
        for widget in (self.rename_button, self.delete_button):
            widget.setEnabled(enabled)
        self.action_rename.setEnabled(enabled)
