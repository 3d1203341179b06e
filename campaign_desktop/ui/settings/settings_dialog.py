"""The Settings dialog: the SMTP server (with "Test connection"), the default sender, sending
limits and connections, retries, the missed-run grace window, closing to the tray and
starting at login (`ui/settings/start_at_login.py`); the reply mailbox on its own tab
(`ui/settings/inbound_page.py`); and on the Database tab, how long each recipient's delivery
details are kept (`history.keep_months`, docs/design.md §15) beside which database this
desktop uses, read-only (`ui/settings/database_page.py`).

Every value is checked by its declared `SPECS` check before anything is stored, so one bad
value saves nothing. The password goes to the keyring through `set_smtp`, never elsewhere.
The keyring is only ever touched on a pool thread (it may answer slowly over D-Bus, or wait
for an unlock prompt): whether it works and holds a password is read when the dialog opens,
and Save stores on the pool too; the results come back to `_on_keyring_read` / `_on_saved`.
"""

from __future__ import annotations

import itertools
import logging
from pathlib import Path
from typing import Any, NamedTuple

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import (
    QAbstractSpinBox,
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from campaign_desktop.context import AppContext
from campaign_desktop.domain.errors import CredentialsError, DomainError, ValidationError
from campaign_desktop.domain.status import SmtpSecurity
from campaign_desktop.services.credentials import CredentialStore, keyring_help
from campaign_desktop.services.settings import SMTP_KEYS, SPECS, SettingsService
from campaign_desktop.ui.common.background import (
    BackgroundTask,
    Report,
    hand_to_crash_handler,
    run_in_background,
)
from campaign_desktop.ui.common.widgets import (
    buddy_label,
    documents_folder,
    message_label,
    named,
    show_error,
    show_note,
    show_success,
)
from campaign_desktop.ui.settings.database_page import DatabasePage
from campaign_desktop.ui.settings.inbound_page import InboundPage
from campaign_desktop.ui.settings.start_at_login import StartAtLoginField

log = logging.getLogger("campaign_desktop.ui.settings")

LQ, RQ = "\N{LEFT DOUBLE QUOTATION MARK}", "\N{RIGHT DOUBLE QUOTATION MARK}"
DEFAULT_PORTS = {SmtpSecurity.NONE: 25, SmtpSecurity.STARTTLS: 587, SmtpSecurity.SSL: 465}
_SECURITY_CHOICES = (
    ("STARTTLS (usually port 587)", SmtpSecurity.STARTTLS),
    ("SSL/TLS (usually port 465)", SmtpSecurity.SSL),
    ("None: unencrypted (port 25, local servers only)", SmtpSecurity.NONE),
)


class SettingSpinBox(QSpinBox):
    """A whole-number setting's spin box: the arrows, the wheel and Page Up/Down stay within
    `low`-`high`, but a number typed outside them stays as typed, so the setting's own check
    refuses it inline.

    A plain QSpinBox swallows such a keystroke, or silently puts the old value back when
    focus leaves: Save would then store a value the user never chose, and say nothing.
    """

    def __init__(self, low: int, high: int) -> None:
        super().__init__()
        self._low, self._high = low, high
        # Room for one digit more than the highest value allowed, typed in error, and, where
        # 0 is not allowed either, for a minus sign (a range from 0 would drop it: "-3"
        # became 3 without a word). A range from 0 keeps 0 as the minimum, where a special
        # text such as "Forever" shows.
        widest = 10 ** (len(str(high)) + 1) - 1
        self.setRange(-widest if low > 0 else min(low, 0), widest)
        self.setToolTip(f"{low:,} to {high:,}")

    def stepBy(self, steps: int) -> None:  # noqa: N802  (a Qt override keeps Qt's name)
        target = max(self._low, min(self._high, self.value() + steps))
        super().stepBy(target - self.value())

    def stepEnabled(self) -> QAbstractSpinBox.StepEnabledFlag:  # noqa: N802  (a Qt override keeps Qt's name)
        flags = QAbstractSpinBox.StepEnabledFlag.StepNone
        if self.value() > self._low:
            flags |= QAbstractSpinBox.StepEnabledFlag.StepDownEnabled
        if self.value() < self._high:
            flags |= QAbstractSpinBox.StepEnabledFlag.StepUpEnabled
        return flags


def _hint(name: str, accessible: str, text: str) -> QLabel:
    """A one-line explanation under a field, in the form's own colours."""
    label = named(QLabel(text), name, accessible)
    label.setWordWrap(True)
    return label


class ChooseCaFile:
    """Asks for a CA certificate file (PEM); None if cancelled. Tests replace it."""

    @classmethod
    def ask(cls, parent: QWidget | None) -> Path | None:
        name, _filter = QFileDialog.getOpenFileName(
            parent,
            "Choose the CA certificate",
            documents_folder(),
            "Certificates (*.pem *.crt *.cer);;All files (*)",
        )
        return Path(name) if name else None


class KeyringState(NamedTuple):
    """What the dialog shows about the keyring: whether one works, and whether it holds the
    stored user's SMTP password."""

    available: bool
    has_password: bool


def read_keyring_state(credentials: CredentialStore, username: str) -> KeyringState:
    """The keyring's state for `username` (blocking: call it on a pool thread)."""
    if not credentials.available():
        return KeyringState(available=False, has_password=False)
    try:
        return KeyringState(True, bool(credentials.get_password(username)))
    except CredentialsError:
        return KeyringState(True, has_password=False)


def store_settings(
    settings: SettingsService,
    credentials: CredentialStore,
    cleaned: dict[str, Any],
    *,
    typed_password: str,
    stored_username: str,
) -> None:
    """Store the checked form values, the SMTP password in the keyring (blocking: on a pool
    thread). Raises CredentialsError (the keyring refused), ValidationError, StorageError.

    An empty `typed_password` keeps the stored one; when the user name changed, the password
    stored under the old name moves along to the new one.
    """
    others = {key: value for key, value in cleaned.items() if key not in SMTP_KEYS}
    if cleaned["smtp.host"]:
        username = cleaned["smtp.username"]
        password: str | None = typed_password or None
        if password is None and username != stored_username:
            try:
                password = credentials.get_password(stored_username) or None
            except CredentialsError:
                password = None
        settings.set_smtp(
            host=cleaned["smtp.host"],
            port=cleaned["smtp.port"],
            security=cleaned["smtp.security"],
            username=username,
            password=password,
            ca_file=cleaned["smtp.ca_file"],
        )
    else:
        # No server yet: keep the other SMTP fields too, but there is no password.
        others.update({key: cleaned[key] for key in SMTP_KEYS})
    settings.set_many(others)


class SettingsDialog(QDialog):
    """Edit the app's settings; Save stores all of them or, if one is bad, none.

    `saved(bool)` ends every `save()`: True when every value was stored, False when one was
    refused (the reasons show in the form). Save closes the dialog once stored.
    """

    saved = Signal(bool)

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._ctx = ctx
        self._stored = ctx.settings.all()
        self._test: BackgroundTask | None = None
        self._saving: BackgroundTask | None = None
        self._inbound_saving: dict[str, Any] | None = None
        self._close_when_saved = False
        self.keyring_state: KeyringState | None = None  # None until the pool has read it
        self._errors: dict[str, QLabel] = {}
        self._cancelled = False
        self.setObjectName("settingsDialog")
        self.setWindowTitle("Settings")
        self._build()
        self._fill()

    @classmethod
    def ask(cls, parent: QWidget | None, ctx: AppContext) -> bool:
        """Show the dialog modally; True when the settings were saved. Tests replace it."""
        dialog = cls(ctx, parent)
        try:
            return dialog.exec() == QDialog.DialogCode.Accepted
        finally:
            dialog.deleteLater()

    # --- building ------------------------------------------------------------------------

    def _error(self, key: str, what: str) -> QLabel:
        label = message_label(f"{key.replace('.', '_')}Error", f"Problem with the {what}")
        self._errors[key] = label
        return label

    def _row(self, form: QFormLayout, text: str, field: QWidget, key: str) -> None:
        form.addRow(text, field)
        form.addRow("", self._error(key, text.strip(":").replace("&", "").lower()))

    def _layout_row(
        self, form: QFormLayout, text: str, row: QHBoxLayout, buddy: QWidget, key: str
    ) -> None:
        # A row holding a layout: the label's mnemonic needs a buddy to focus.
        form.addRow(buddy_label(text, buddy), row)
        form.addRow("", self._error(key, text.strip(":").replace("&", "").lower()))

    def _build_smtp(self) -> QGroupBox:
        self.host = named(QLineEdit(), "smtpHost", "SMTP server host name")
        self.host.setPlaceholderText("smtp.example.com")
        self.port = named(QLineEdit(), "smtpPort", "SMTP port")
        self.port.setMaximumWidth(90)
        self.security = named(QComboBox(), "smtpSecurity", "Connection security")
        for text, value in _SECURITY_CHOICES:
            self.security.addItem(text, value.value)
        self.port_hint = message_label("smtpPortHint", "Port suggestion")
        self.username = named(QLineEdit(), "smtpUsername", "SMTP user name")
        self.username.setPlaceholderText("empty: the server needs no login")
        self.password = named(QLineEdit(), "smtpPassword", "SMTP password")
        self.password.setEchoMode(QLineEdit.EchoMode.Password)
        self.keyring_label = message_label("keyringHelp", "About the keyring")
        self.password.textChanged.connect(self._on_password_typed)
        self.ca_file = named(QLineEdit(), "smtpCaFile", "CA certificate file")
        self.ca_file.setPlaceholderText("optional: the system's certificates are used")
        self.browse_ca = named(QPushButton("&Browse…"), "browseCaFile", "Choose a CA file")
        self.browse_ca.clicked.connect(self._on_browse_ca)
        self.test_button = named(
            QPushButton("&Test connection"), "testConnection", "Test the connection"
        )
        self.test_button.clicked.connect(self.test_connection)
        self.test_result = message_label("connectionResult", "Connection test result")

        port_row = QHBoxLayout()
        port_row.addWidget(self.port)
        port_row.addWidget(self.security, 1)
        ca_row = QHBoxLayout()
        ca_row.addWidget(self.ca_file, 1)
        ca_row.addWidget(self.browse_ca)
        form = QFormLayout()
        self._row(form, "&Server:", self.host, "smtp.host")
        self._layout_row(form, "&Port:", port_row, self.port, "smtp.port")
        form.addRow("", self._error("smtp.security", "security"))
        form.addRow("", self.port_hint)
        self._row(form, "&User name:", self.username, "smtp.username")
        form.addRow("Pass&word:", self.password)
        form.addRow("", self.keyring_label)
        self._layout_row(form, "&CA file:", ca_row, self.ca_file, "smtp.ca_file")
        test_row = QHBoxLayout()
        test_row.addWidget(self.test_button, 0)
        test_row.addWidget(self.test_result, 1)
        test_row.addStretch(0)
        form.addRow("", test_row)
        box = QGroupBox("Mail server (SMTP)")
        box.setLayout(form)
        return box

    def _build_sender(self) -> QGroupBox:
        self.from_name = named(QLineEdit(), "senderName", "Default sender name")
        self.from_email = named(QLineEdit(), "senderEmail", "Default sender address")
        self.reply_to = named(QLineEdit(), "replyTo", "Default reply-to address")
        self.reply_to.setPlaceholderText("optional")
        form = QFormLayout()
        self._row(form, "Sender &name:", self.from_name, "sender.from_name")
        self._row(form, "Sender &address:", self.from_email, "sender.from_email")
        self._row(form, "&Reply-to:", self.reply_to, "sender.reply_to")
        box = QGroupBox("Default sender (new campaigns start with these)")
        box.setLayout(form)
        return box

    def _build_sending(self) -> QGroupBox:
        self.per_minute = named(QSpinBox(), "throttlePerMinute", "Messages per minute")
        self.per_minute.setRange(0, 100_000)
        self.per_hour = named(QSpinBox(), "throttlePerHour", "Messages per hour")
        self.per_hour.setRange(0, 1_000_000)
        for spin in (self.per_minute, self.per_hour):
            spin.setSpecialValueText("No limit")
            spin.setGroupSeparatorShown(True)
            spin.setMaximumWidth(160)
        self.connections = named(
            SettingSpinBox(1, 16), "sendingConnections", "SMTP connections at once"
        )
        self.connections_hint = _hint(
            "sendingConnectionsHint",
            "About connections",
            "How many messages go to the mail server at once. More is faster; some providers "
            "allow only a few.",
        )
        self.retry_after = named(
            SettingSpinBox(0, 3600), "retryAfterSeconds", "Retry a try again later reply after"
        )
        self.retry_after.setSuffix(" seconds")
        self.retry_after.setSingleStep(30)
        self.retry_after.setSpecialValueText("At once")
        self.max_attempts = named(SettingSpinBox(1, 10), "maxAttempts", "Attempts per recipient")
        self.retry_hint = _hint(
            "retryHint",
            "About retries",
            f"A server that answers {LQ}try again later{RQ} gets that recipient again after "
            "this wait, then twice as long each time, until the attempts run out.",
        )
        for spin in (self.connections, self.retry_after, self.max_attempts):
            spin.setMaximumWidth(160)
        self.grace = named(QDoubleSpinBox(), "graceHours", "Grace window in hours")
        self.grace.setRange(0, 24 * 14)
        self.grace.setDecimals(1)
        self.grace.setSuffix(" hours")
        self.grace.setMaximumWidth(160)
        self.grace.setToolTip(
            "When the app was closed at a send time, it sends late on start if at most this "
            "many hours late; older sends are recorded as missed."
        )
        self.close_to_tray = named(
            QCheckBox("Closing the window keeps Campaign Desktop running in the tray"),
            "closeToTray",
            "Close to the tray",
        )
        form = QFormLayout()
        self._row(form, "Per &minute:", self.per_minute, "throttle.per_minute")
        self._row(form, "Per &hour:", self.per_hour, "throttle.per_hour")
        self._row(form, "C&onnections:", self.connections, "sending.connections")
        form.addRow("", self.connections_hint)
        self._row(
            form,
            f"Retr&y {LQ}try again later{RQ} after:",
            self.retry_after,
            "sending.retry_base_seconds",
        )
        self._row(form, "Attempts per rec&ipient:", self.max_attempts, "sending.max_attempts")
        form.addRow("", self.retry_hint)
        self._row(form, "&Late sends within:", self.grace, "schedule.grace_hours")
        form.addRow("", self.close_to_tray)
        form.addRow("", self._error("ui.close_to_tray", "tray setting"))
        self.start_at_login = StartAtLoginField(self._ctx)
        form.addRow("", self.start_at_login)
        box = QGroupBox("Sending")
        box.setLayout(form)
        return box

    def _build_history(self) -> QGroupBox:
        self.keep_months = named(
            SettingSpinBox(0, 1200), "historyKeepMonths", "Keep delivery details for months"
        )
        self.keep_months.setSpecialValueText("Forever")
        self.keep_months.setSuffix(" months")
        self.keep_months.setMaximumWidth(160)
        self.keep_months.setToolTip("0 to 1,200 months; 0 keeps them forever")
        self.keep_months_hint = _hint(
            "historyKeepMonthsHint",
            "About keeping delivery details",
            "Older sends stay in Activity with their counts; only the list of who got each "
            "message is removed, in the background, to keep the database small.",
        )
        form = QFormLayout()
        self._row(
            form,
            "Keep each recipient's deli&very details for:",
            self.keep_months,
            "history.keep_months",
        )
        form.addRow("", self.keep_months_hint)
        box = QGroupBox("History")
        box.setObjectName("historyBox")
        box.setLayout(form)
        return box

    def _build(self) -> None:
        self.general_error = message_label("settingsError", "Problem saving the settings")
        self._buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel
        )
        named(self.save_button, "saveSettings", "Save settings")
        named(
            self._buttons.button(QDialogButtonBox.StandardButton.Cancel),
            "cancelSettings",
            "Close without saving",
        )
        self._buttons.accepted.connect(self.accept)
        self._buttons.rejected.connect(self.reject)
        mail_fields = QWidget()
        mail = QVBoxLayout(mail_fields)
        mail.addWidget(self._build_smtp())
        mail.addWidget(self._build_sender())
        mail.addWidget(self._build_sending())
        mail.addStretch(1)
        self.mail_page = self._scrolling_page("mailPage", mail_fields)
        self.database_page = DatabasePage(self._ctx)
        self.database_page.add_section(self._build_history())
        self.inbound_page = InboundPage(self._ctx)
        self.tabs = QTabWidget()
        self.tabs.setObjectName("settingsTabs")
        self.tabs.addTab(self.mail_page, "Mail and sending")
        self.tabs.addTab(self.inbound_page, "Replies and &bounces")
        self.tabs.addTab(self.database_page, "&Database")
        layout = QVBoxLayout(self)
        layout.addWidget(self.tabs, 1)
        layout.addWidget(self.general_error)
        layout.addWidget(self._buttons)
        order: list[QWidget] = [
            self.tabs,
            self.host,
            self.port,
            self.security,
            self.username,
            self.password,
            self.ca_file,
            self.browse_ca,
            self.test_button,
            self.from_name,
            self.from_email,
            self.reply_to,
            self.per_minute,
            self.per_hour,
            self.connections,
            self.retry_after,
            self.max_attempts,
            self.grace,
            self.close_to_tray,
            self.start_at_login.checkbox,
            self.keep_months,
            self.database_page.desktops,
            self.database_page.refresh_button,
            self._buttons,
        ]
        for first, second in itertools.pairwise(order):
            QWidget.setTabOrder(first, second)
        # The mail page scrolls, so Save and Cancel stay on a 768-pixel-high screen.
        self.resize(self.sizeHint().width(), 640)

    @staticmethod
    def _scrolling_page(name: str, fields: QWidget) -> QWidget:
        """A tab page whose fields scroll up and down (never sideways) when the dialog is
        shorter than they are: the mail page is about 720 pixels tall, more than a
        1024x768 screen leaves for the dialog."""
        scroll = QScrollArea()
        scroll.setObjectName(f"{name}Scroll")
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setWidget(fields)
        scroll.setMinimumWidth(
            fields.minimumSizeHint().width() + scroll.verticalScrollBar().sizeHint().width()
        )
        page = QWidget()
        page.setObjectName(name)
        layout = QVBoxLayout(page)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(scroll)
        return page

    @property
    def save_button(self) -> QPushButton:
        return self._buttons.button(QDialogButtonBox.StandardButton.Save)

    def _fill(self) -> None:
        s = self._stored
        self.host.setText(str(s["smtp.host"]))
        self.port.setText(str(s["smtp.port"]))
        self.security.blockSignals(True)
        self.security.setCurrentIndex(max(0, self.security.findData(s["smtp.security"])))
        self.security.blockSignals(False)
        self.security.currentIndexChanged.connect(self._on_security_changed)
        self.username.setText(str(s["smtp.username"]))
        self.ca_file.setText(str(s["smtp.ca_file"]))
        self.from_name.setText(str(s["sender.from_name"]))
        self.from_email.setText(str(s["sender.from_email"]))
        self.reply_to.setText(str(s["sender.reply_to"]))
        self.per_minute.setValue(int(s["throttle.per_minute"]))
        self.per_hour.setValue(int(s["throttle.per_hour"]))
        self.connections.setValue(int(s["sending.connections"]))
        self.retry_after.setValue(round(float(s["sending.retry_base_seconds"])))
        self.max_attempts.setValue(int(s["sending.max_attempts"]))
        self.grace.setValue(float(s["schedule.grace_hours"]))
        self.keep_months.setValue(int(s["history.keep_months"]))
        for key, spin in (
            ("sending.connections", self.connections),
            ("sending.retry_base_seconds", self.retry_after),
            ("sending.max_attempts", self.max_attempts),
            ("history.keep_months", self.keep_months),
        ):
            # Connected after filling: only what the user types is checked as it changes.
            spin.valueChanged.connect(lambda value, key=key: self._on_number_typed(key, value))
        self.close_to_tray.setChecked(bool(s["ui.close_to_tray"]))
        credentials, username = self._ctx.credentials, str(s["smtp.username"])
        self.password.setPlaceholderText("looking in the keyring\N{HORIZONTAL ELLIPSIS}")
        run_in_background(
            "read the keyring",
            lambda _report: read_keyring_state(credentials, username),
            self._on_keyring_read,
        )

    @Slot(object, object)
    def _on_keyring_read(self, state: KeyringState | None, error: BaseException | None) -> None:
        if error is not None:  # read_keyring_state catches the keyring's own failures
            hand_to_crash_handler(error)
            return
        assert state is not None
        self.keyring_state = state
        if not state.available:
            self.password.setPlaceholderText("cannot be stored: no keyring")
            self._on_password_typed(self.password.text())
        elif state.has_password:
            self.password.setPlaceholderText("stored in the keyring \N{EM DASH} empty keeps it")
        else:
            self.password.setPlaceholderText("")

    @Slot(str)
    def _on_password_typed(self, text: str) -> None:
        """Without a keyring, say what to install only once a password is typed: a server
        without a login needs none, and a warning about nothing only worries."""
        if self.keyring_state is not None and not self.keyring_state.available:
            show_error(self.keyring_label, keyring_help() if text else "")

    # --- reading the form ----------------------------------------------------------------

    def values(self) -> dict[str, Any]:
        """The form as setting key → value (as typed: the SPECS checks clean them)."""
        return {
            "smtp.host": self.host.text(),
            "smtp.port": self.port.text().strip(),
            "smtp.security": str(self.security.currentData()),
            "smtp.username": self.username.text(),
            "smtp.ca_file": self.ca_file.text(),
            "sender.from_name": self.from_name.text(),
            "sender.from_email": self.from_email.text(),
            "sender.reply_to": self.reply_to.text(),
            "throttle.per_minute": self.per_minute.value(),
            "throttle.per_hour": self.per_hour.value(),
            "sending.connections": self.connections.value(),
            "sending.retry_base_seconds": self.retry_after.value(),
            "sending.max_attempts": self.max_attempts.value(),
            "schedule.grace_hours": self.grace.value(),
            "history.keep_months": self.keep_months.value(),
            "ui.close_to_tray": self.close_to_tray.isChecked(),
        }

    def problems(self) -> tuple[dict[str, Any], dict[str, str]]:
        """(cleaned values, key → message for each value its declared check refuses)."""
        return self._ctx.settings.check(self.values(), password=self.password.text())

    def _show_problems(self, found: dict[str, str]) -> None:
        for key, label in self._errors.items():
            show_error(label, found.get(key, ""))
        unplaced = [message for key, message in found.items() if key not in self._errors]
        show_error(self.general_error, "\n".join(unplaced))
        # A refusal on another tab than the one shown: show that tab, so that Save does not
        # seem to do nothing.
        first = next((self._errors[key] for key in self._errors if key in found), None)
        if first is not None:
            current = self.tabs.currentWidget()
            if current is None or not current.isAncestorOf(first):
                for index in range(self.tabs.count()):
                    page = self.tabs.widget(index)
                    if page is not None and page.isAncestorOf(first):
                        self.tabs.setCurrentIndex(index)
                        break

    # --- saving --------------------------------------------------------------------------

    def accept(self) -> None:
        """Save, and close once every value is stored (a refusal keeps the dialog open).

        A changed "Start at login" is written first (file or registry I/O, on the pool),
        then the rest; a bad value elsewhere stops both.
        """
        if not self.start_at_login.changed():
            self._close_when_saved = True
            self.save()
            return
        _cleaned, found = self.problems()
        self._show_problems(found)
        if not found:
            self.save_button.setEnabled(False)
            self.start_at_login.apply(self._on_start_at_login_written)

    def _on_start_at_login_written(self, ok: bool) -> None:
        self.save_button.setEnabled(True)
        # Cancelled while the entry was written: the entry stands (the box says so if the
        # dialog opens again), the rest is not saved.
        if ok and not self._cancelled:
            self._close_when_saved = True
            self.save()

    def reject(self) -> None:
        self._cancelled = True
        super().reject()

    @property
    def saving(self) -> bool:
        return self._saving is not None

    def save(self) -> None:
        """Check every value here, then store them all on a pool thread, or none when one is
        refused (the reasons show inline). `saved(bool)` tells how it ended."""
        if self._saving is not None:
            return
        cleaned, found = self.problems()
        self._show_problems(found)
        if found:
            self._close_when_saved = False
            self.saved.emit(False)
            return
        inbound, inbound_found = self.inbound_page.problems()
        if inbound_found:
            self.tabs.setCurrentWidget(self.inbound_page)
            self._close_when_saved = False
            self.saved.emit(False)
            return
        self._inbound_saving = inbound
        settings, credentials = self._ctx.settings, self._ctx.credentials
        typed, stored_username = self.password.text(), str(self._stored["smtp.username"])
        ctx, inbound_password = self._ctx, self.inbound_page.password.text()

        def work(_report: Report) -> None:
            store_settings(
                settings,
                credentials,
                cleaned,
                typed_password=typed,
                stored_username=stored_username,
            )
            InboundPage.store(ctx, inbound, inbound_password)

        self.save_button.setEnabled(False)
        self._saving = run_in_background("save the settings", work, self._on_saved)

    @Slot(object, object)
    def _on_saved(self, _result: object, error: BaseException | None) -> None:
        self._saving = None
        self.save_button.setEnabled(True)
        close, self._close_when_saved = self._close_when_saved, False
        if isinstance(error, CredentialsError):
            show_error(self.keyring_label, error.message)
        elif isinstance(error, ValidationError):
            self._show_problems({error.field: error.message})
        elif isinstance(error, DomainError):  # the database: busy, full, read-only
            show_error(self.general_error, error.message)
        elif error is not None:
            show_error(self.general_error, "The settings could not be saved.")
            hand_to_crash_handler(error)
        if error is None and self.keep_months.value() != self._stored["history.keep_months"]:
            self._stored["history.keep_months"] = self.keep_months.value()
            if self.keep_months.value():
                # Remove what the new setting no longer keeps now, on the scheduler's thread.
                self._ctx.scheduler.compact_history_soon()
        if error is None and self._inbound_saving is not None:
            self.inbound_page.stored(self._inbound_saving)
        self._inbound_saving = None
        self.saved.emit(error is None)
        if error is None:
            log.info("settings saved")
            if close:
                super().accept()

    # --- slots ---------------------------------------------------------------------------

    @Slot()
    def _on_security_changed(self) -> None:
        security = SmtpSecurity(self.security.currentData())
        suggested = DEFAULT_PORTS[security]
        current = self.port.text().strip()
        if not current or current in {str(port) for port in DEFAULT_PORTS.values()}:
            self.port.setText(str(suggested))
            show_note(self.port_hint, "")
        elif current != str(suggested):
            show_note(
                self.port_hint,
                f"Servers with this security usually listen on port {suggested}.",
            )

    def _on_number_typed(self, key: str, value: int) -> None:
        """Say at once when a typed number is out of the setting's range (Save refuses it)."""
        try:
            SPECS[key].check(value)
        except ValidationError as exc:
            show_error(self._errors[key], exc.message)
        else:
            show_error(self._errors[key], "")

    @Slot()
    def _on_browse_ca(self) -> None:
        path = ChooseCaFile.ask(self)
        if path is not None:
            self.ca_file.setText(str(path))

    @property
    def testing(self) -> bool:
        return self._test is not None

    @Slot()
    def test_connection(self) -> None:
        """Connect with the form's values on a pool thread; the result shows beside the button."""
        if self._test is not None:
            return
        values = {key: value for key, value in self.values().items() if key in SMTP_KEYS}
        typed = self.password.text()
        settings = self._ctx.settings
        cleaned, found = settings.check(values, password=typed, connecting=True)
        self._show_problems(found)
        if found:
            show_error(self.test_result, "Fix the server settings above first.")
            return

        def work(_report: object) -> str:
            # On the pool thread: the keyring may be slow (D-Bus), the server slower.
            return settings.test_smtp_connection(values, password=typed)

        self._test = BackgroundTask("smtp connection test", work)
        self._test.finished.connect(self._on_tested)
        self.test_button.setEnabled(False)
        show_note(self.test_result, f"Connecting to {cleaned['smtp.host']}:{cleaned['smtp.port']}…")
        self._test.start()

    @Slot(object, object)
    def _on_tested(self, result: str | None, error: BaseException | None) -> None:
        self._test = None
        self.test_button.setEnabled(True)
        if error is None:
            show_success(self.test_result, f"\N{CHECK MARK} {result}")
        elif isinstance(error, DomainError):
            show_error(self.test_result, f"\N{CROSS MARK} {error.message}")
        else:
            show_error(self.test_result, "The test failed unexpectedly.")
            hand_to_crash_handler(error)
