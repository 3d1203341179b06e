"""Settings ▸ Replies and bounces: the IMAP mailbox the app reads, and the unsubscribe options.

The mailbox (host, port, security, user; the password in the keyring), the folder to watch
and the folder processed messages go to (made by the app, never emptied), how often to
check, the unsubscribe address, VERP and the one-click page (docs/design.md §11).
"Test connection" and "Check now" run on the background pool with the account as typed
(Check now processes the mailbox only when that is the saved account: docs/design.md §20);
"Import unsubscribes…" reads a CSV exported from the unsubscribe page. Values are checked by
their `SPECS` before anything is stored; the dialog's Save stores this page with the others.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any, cast

from PySide6.QtCore import Slot
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from campaign_desktop.context import AppContext
from campaign_desktop.domain.errors import CredentialsError, DomainError, ValidationError
from campaign_desktop.domain.status import SmtpSecurity
from campaign_desktop.services.inbound import (
    ACCOUNT_KEYS,
    AccountCheck,
    MailboxReport,
    same_mailbox,
)
from campaign_desktop.services.inbound import IMAP_PORTS as DEFAULT_PORTS
from campaign_desktop.services.settings import SPECS
from campaign_desktop.ui.common.background import (
    BackgroundTask,
    Report,
    hand_to_crash_handler,
    run_in_background,
)
from campaign_desktop.ui.common.widgets import (
    documents_folder,
    message_label,
    named,
    show_error,
    show_note,
    show_success,
)

log = logging.getLogger("campaign_desktop.ui.settings")

_SECURITY_CHOICES = (
    ("SSL/TLS (usually port 993)", SmtpSecurity.SSL),
    ("STARTTLS (usually port 143)", SmtpSecurity.STARTTLS),
    ("None: unencrypted (local servers only)", SmtpSecurity.NONE),
)
INBOUND_KEYS = (
    *ACCOUNT_KEYS,
    "inbound.check_minutes",
    "inbound.unsubscribe_address",
    "inbound.verp",
    "inbound.unsubscribe_page_url",
)
TEST_TIMEOUT_SECONDS = 15.0


class ChooseUnsubscribeCsv:
    """Asks for the CSV exported from the unsubscribe page; None if cancelled. Tests replace it."""

    @classmethod
    def ask(cls, parent: QWidget | None) -> Path | None:
        name, _filter = QFileDialog.getOpenFileName(
            parent, "Import unsubscribes", documents_folder(), "CSV files (*.csv);;All files (*)"
        )
        return Path(name) if name else None


class InboundPage(QWidget):
    """The "Replies and bounces" tab of the Settings dialog."""

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._ctx = ctx
        self._stored = ctx.settings.all()
        self._errors: dict[str, QLabel] = {}
        self._task: BackgroundTask | None = None
        self._cancel: threading.Event | None = None  # the running Check now's Cancel
        self._importing: BackgroundTask | None = None
        self.setObjectName("inboundPage")
        self._build()
        self._fill()

    # --- building ------------------------------------------------------------------------

    def _row(self, form: QFormLayout, text: str, field: QWidget, key: str) -> None:
        form.addRow(text, field)
        label = message_label(f"{key.replace('.', '_')}Error", f"Problem with {text.strip(':')}")
        self._errors[key] = label
        form.addRow("", label)

    def _build(self) -> None:
        self.host = named(QLineEdit(), "imapHost", "IMAP server host name")
        self.host.setPlaceholderText("imap.example.com (empty: the mailbox is not read)")
        self.port = named(QLineEdit(), "imapPort", "IMAP port")
        self.port.setMaximumWidth(90)
        self.security = named(QComboBox(), "imapSecurity", "IMAP connection security")
        for text, value in _SECURITY_CHOICES:
            self.security.addItem(text, value.value)
        self.username = named(QLineEdit(), "imapUsername", "IMAP user name")
        self.password = named(QLineEdit(), "imapPassword", "IMAP password")
        self.password.setEchoMode(QLineEdit.EchoMode.Password)
        self.keyring_label = message_label("imapKeyringHelp", "About the keyring")
        self.ca_file = named(QLineEdit(), "imapCaFile", "IMAP CA certificate file")
        self.ca_file.setPlaceholderText("optional: the system's certificates are used")
        self.folder = named(QLineEdit(), "imapFolder", "Folder to watch")
        self.processed = named(QLineEdit(), "imapProcessedFolder", "Folder for processed mail")
        self.minutes = named(QLineEdit(), "imapCheckMinutes", "Minutes between checks")
        self.minutes.setMaximumWidth(90)
        buttons = self._build_buttons()

        account = QFormLayout()
        self._row(account, "IMAP &server:", self.host, "inbound.host")
        port_row = QHBoxLayout()
        port_row.addWidget(self.port)
        port_row.addWidget(self.security, 1)
        account.addRow("Po&rt:", port_row)
        for key in ("inbound.port", "inbound.security"):
            self._errors[key] = message_label(f"{key.replace('.', '_')}Error", key)
            account.addRow("", self._errors[key])
        self._row(account, "User &name:", self.username, "inbound.username")
        account.addRow("Pass&word:", self.password)
        account.addRow("", self.keyring_label)
        self._row(account, "CA &file:", self.ca_file, "inbound.ca_file")
        self._row(account, "&Watch folder:", self.folder, "inbound.folder")
        self._row(account, "Move &processed to:", self.processed, "inbound.processed_folder")
        self._row(account, "Check every (min&utes):", self.minutes, "inbound.check_minutes")
        account.addRow("", buttons)
        account.addRow("", self.result)  # a row of its own: errors and counts run long
        mailbox = QGroupBox("Reply mailbox (IMAP): bounces and unsubscribe emails arrive here")
        mailbox.setLayout(account)
        layout = QVBoxLayout(self)
        layout.addWidget(mailbox)
        layout.addWidget(self._build_unsubscribing())
        layout.addStretch(1)

    def _build_buttons(self) -> QHBoxLayout:
        """Test connection and Check now (with its busy bar and Stop); makes the outcome's
        label too, which goes on the row below."""
        self.test_button = named(
            QPushButton("&Test connection"), "testImapConnection", "Test the IMAP connection"
        )
        self.test_button.clicked.connect(self.test_connection)
        self.check_button = named(
            QPushButton("Check &now"), "checkMailboxNow", "Read the mailbox now"
        )
        self.check_button.setToolTip(
            "Logs in with the values on this page. The saved mailbox is read and its bounces "
            "and unsubscribes applied; a changed one is only tested until you save it."
        )
        self.check_button.clicked.connect(self.check_now)
        self.busy_bar = named(QProgressBar(), "imapBusy", "Mailbox check in progress")
        self.busy_bar.setRange(0, 0)  # how many messages are new is not known beforehand
        self.busy_bar.setTextVisible(False)
        self.busy_bar.setMaximumWidth(120)
        self.busy_bar.hide()
        self.cancel_button = named(
            QPushButton("Stop"), "stopMailboxCheck", "Stop reading the mailbox"
        )
        self.cancel_button.clicked.connect(self.cancel_check)
        self.cancel_button.hide()
        self.result = message_label("imapResult", "Mailbox test result")
        buttons = QHBoxLayout()
        for widget in (self.test_button, self.check_button, self.busy_bar, self.cancel_button):
            buttons.addWidget(widget)
        buttons.addStretch(1)
        return buttons

    def _build_unsubscribing(self) -> QGroupBox:
        self.unsubscribe_address = named(
            QLineEdit(), "unsubscribeAddress", "Address that takes unsubscribe requests"
        )
        self.unsubscribe_address.setPlaceholderText("empty: each campaign's reply-to or sender")
        self.verp = named(
            QCheckBox("Send bounces to address+token@ (the provider must support plus-addresses)"),
            "verp",
            "Bounces to a plus-address",
        )
        self.page_url = named(QLineEdit(), "unsubscribePageUrl", "Unsubscribe page URL")
        self.page_url.setPlaceholderText("optional: https://example.com/unsubscribe?t={token}")
        self.import_button = named(
            QPushButton("&Import unsubscribes…"), "importUnsubscribes", "Import unsubscribes"
        )
        self.import_button.clicked.connect(self.import_unsubscribes)
        self.import_result = message_label("importUnsubscribesResult", "Import result")
        options = QFormLayout()
        self._row(
            options,
            "Unsubscribe &address:",
            self.unsubscribe_address,
            "inbound.unsubscribe_address",
        )
        options.addRow("", self.verp)
        self._errors["inbound.verp"] = message_label("inbound_verpError", "VERP")
        self._row(options, "One-click &page:", self.page_url, "inbound.unsubscribe_page_url")
        import_row = QHBoxLayout()
        import_row.addWidget(self.import_button)
        import_row.addWidget(self.import_result, 1)
        options.addRow("", import_row)
        unsubscribing = QGroupBox("Unsubscribing")
        unsubscribing.setLayout(options)
        return unsubscribing

    def _fill(self) -> None:
        s = self._stored
        self.host.setText(str(s["inbound.host"]))
        self.port.setText(str(s["inbound.port"]))
        self.security.setCurrentIndex(max(0, self.security.findData(s["inbound.security"])))
        self.security.currentIndexChanged.connect(self._on_security_changed)
        self.username.setText(str(s["inbound.username"]))
        self.ca_file.setText(str(s["inbound.ca_file"]))
        self.folder.setText(str(s["inbound.folder"]))
        self.processed.setText(str(s["inbound.processed_folder"]))
        self.minutes.setText(str(s["inbound.check_minutes"]))
        self.unsubscribe_address.setText(str(s["inbound.unsubscribe_address"]))
        self.verp.setChecked(bool(s["inbound.verp"]))
        self.page_url.setText(str(s["inbound.unsubscribe_page_url"]))
        if not self._ctx.credentials.available():
            show_error(self.keyring_label, "No keyring: the password cannot be stored.")
            self.password.setPlaceholderText("cannot be stored: no keyring")
        elif str(s["inbound.host"]):
            self.password.setPlaceholderText("stored in the keyring \N{EM DASH} empty keeps it")

    # --- reading and saving --------------------------------------------------------------

    def values(self) -> dict[str, Any]:
        """The page as setting key → value (as typed: the SPECS checks clean them)."""
        return {
            "inbound.host": self.host.text(),
            "inbound.port": self.port.text().strip(),
            "inbound.security": str(self.security.currentData()),
            "inbound.username": self.username.text(),
            "inbound.ca_file": self.ca_file.text(),
            "inbound.folder": self.folder.text(),
            "inbound.processed_folder": self.processed.text(),
            "inbound.check_minutes": self.minutes.text().strip(),
            "inbound.unsubscribe_address": self.unsubscribe_address.text(),
            "inbound.verp": self.verp.isChecked(),
            "inbound.unsubscribe_page_url": self.page_url.text(),
        }

    def problems(self) -> tuple[dict[str, Any], dict[str, str]]:
        """(cleaned values, key → message for each value refused); shown on the page."""
        cleaned: dict[str, Any] = {}
        found: dict[str, str] = {}
        for key, value in self.values().items():
            try:
                cleaned[key] = SPECS[key].check(value)
            except ValidationError as exc:
                found[key] = exc.message
        if "inbound.folder" not in found and same_mailbox(
            str(cleaned.get("inbound.folder", "")), str(cleaned.get("inbound.processed_folder", ""))
        ):
            found["inbound.processed_folder"] = "Processed messages need a folder of their own."
        if self.password.text() and not cleaned.get("inbound.host"):
            found.setdefault("inbound.host", "Enter the IMAP server's host name.")
        for key, label in self._errors.items():
            show_error(label, found.get(key, ""))
        return cleaned, found

    def save(self) -> bool:
        """Store the page (the password in the keyring); False, saying why, when refused.

        Stores on the calling thread: the Settings dialog's Save stores through `store` on
        its pool thread instead, and calls `saved` after.
        """
        cleaned, found = self.problems()
        if found:
            return False
        try:
            self.store(self._ctx, cleaned, self.password.text())
        except CredentialsError as exc:
            show_error(self.keyring_label, exc.message)
            return False
        except ValidationError as exc:
            show_error(self._errors.get(exc.field, self.result), exc.message)
            return False
        self.stored(cleaned)
        return True

    @staticmethod
    def store(ctx: AppContext, cleaned: dict[str, Any], password: str) -> None:
        """Store checked values and the typed password ("" keeps the stored one). No widget
        is touched: safe on a pool thread. CredentialsError / ValidationError when refused."""
        if cleaned["inbound.host"]:
            ctx.inbound.set_account(
                host=cleaned["inbound.host"],
                port=cleaned["inbound.port"],
                security=cleaned["inbound.security"],
                username=cleaned["inbound.username"],
                password=password or None,
                folder=cleaned["inbound.folder"],
                processed_folder=cleaned["inbound.processed_folder"],
                ca_file=cleaned["inbound.ca_file"],
            )
        ctx.settings.set_many(cleaned)

    def stored(self, cleaned: dict[str, Any]) -> None:
        """After a store: a new check interval takes effect at once (GUI thread)."""
        if cleaned["inbound.check_minutes"] != self._stored["inbound.check_minutes"]:
            self._ctx.scheduler.check_mailbox_soon(cleaned["inbound.check_minutes"])
        self._stored = {**self._stored, **cleaned}

    # --- background actions ----------------------------------------------------------------

    @property
    def busy(self) -> bool:
        return self._task is not None

    def _ready(self) -> dict[str, Any] | None:
        """The page's values for a try on the pool, or None (and why beside the buttons)
        while one runs or the values are not fit to connect with."""
        if self._task is not None:
            return None
        cleaned, found = self.problems()
        if found:
            show_error(self.result, "Fix the values above first.")
            return None
        if not cleaned["inbound.host"]:
            show_error(self.result, "Enter the IMAP server first.")
            return None
        return cleaned

    @Slot()
    def test_connection(self) -> None:
        """Log in with the page's values on a pool thread; the result shows beside the button."""
        cleaned = self._ready()
        if cleaned is None:
            return
        inbound, typed = self._ctx.inbound, self.password.text()
        overrides = {**cleaned, "smtp.timeout_seconds": TEST_TIMEOUT_SECONDS}
        folder = cleaned["inbound.folder"]

        def work(_report: object) -> str:
            # On the pool thread: the keyring may be slow (D-Bus), and the network is.
            settings = inbound.imap_settings(overrides, password=typed or None)
            return inbound.test_connection(settings, folder)

        show_note(self.result, f"Connecting to {cleaned['inbound.host']}…")
        self._run("imap connection test", work)

    @Slot()
    def check_now(self) -> None:
        """Check the mailbox as typed on this page, on a pool thread, saving nothing: the
        saved account is read and processed, a changed one only logged in to and counted
        (`InboundService.check_now`, docs/design.md §20). The outcome shows beside the button."""
        cleaned = self._ready()
        if cleaned is None:
            return
        inbound, typed = self._ctx.inbound, self.password.text()
        values = {**cleaned, "smtp.timeout_seconds": TEST_TIMEOUT_SECONDS}
        cancel = threading.Event()

        def work(report: Report) -> AccountCheck:
            # On the pool thread: the keyring may be slow (D-Bus), and the network is.
            return inbound.check_now(values, password=typed, progress=report, cancel=cancel)

        show_note(self.result, f"Checking the mailbox on {cleaned['inbound.host']}…")
        self._cancel = cancel
        self.cancel_button.setEnabled(True)
        self.cancel_button.show()
        self._run("mailbox check", work)

    @Slot()
    def cancel_check(self) -> None:
        """Stop a running Check now after the message being read (what is read stays done)."""
        if self._cancel is not None:
            self._cancel.set()
            self.cancel_button.setEnabled(False)
            show_note(self.result, "Stopping after this message…")

    @Slot()
    def import_unsubscribes(self) -> None:
        """Read the chosen CSV and unsubscribe its contacts on a pool thread (a file and the
        database); the outcome shows beside the button."""
        if self._importing is not None:
            return
        path = ChooseUnsubscribeCsv.ask(self)
        if path is None:
            return
        inbound = self._ctx.inbound
        show_note(self.import_result, f"Reading {path.name}…")
        self.import_button.setEnabled(False)
        self._importing = run_in_background(
            "import unsubscribes",
            lambda _report: inbound.import_unsubscribes(path),
            self._on_imported,
        )

    @property
    def importing(self) -> bool:
        return self._importing is not None

    @Slot(object, object)
    def _on_imported(self, result: object, error: BaseException | None) -> None:
        self._importing = None
        self.import_button.setEnabled(True)
        if isinstance(error, DomainError):
            show_error(self.import_result, error.message)
            return
        if error is not None:
            show_error(self.import_result, "The file could not be imported (an internal error).")
            hand_to_crash_handler(error)
            return
        done, skipped = cast("tuple[int, list[tuple[int, str]]]", result)
        text = f"{done:,} contact{'' if done == 1 else 's'} unsubscribed."
        if skipped:
            row, reason = skipped[0]
            rows = f"{len(skipped):,} row{'' if len(skipped) == 1 else 's'}"
            text += f" {rows} skipped (row {row}: {reason})"
        show_success(self.import_result, text)

    def _run(self, name: str, work: Any) -> None:
        self._task = BackgroundTask(name, work, self._cancel)
        self._task.finished.connect(self._on_done)
        self._task.progress.connect(self._on_progress)
        self.test_button.setEnabled(False)
        self.check_button.setEnabled(False)
        self.busy_bar.show()
        self._task.start()

    @Slot(object)
    def _on_progress(self, read: object) -> None:
        # Check now reports how many new messages it read so far (`check_mailbox`'s progress).
        if isinstance(read, int) and self._cancel is not None and not self._cancel.is_set():
            show_note(self.result, f"Read {_count(read, 'new message')}…")

    @Slot(object, object)
    def _on_done(self, result: object, error: BaseException | None) -> None:
        self._task = None
        self._cancel = None
        self.test_button.setEnabled(True)
        self.check_button.setEnabled(True)
        self.busy_bar.hide()
        self.cancel_button.hide()
        if error is None:
            show_success(self.result, f"\N{CHECK MARK} {_words(result)}")
        elif isinstance(error, DomainError):
            show_error(self.result, f"\N{CROSS MARK} {error.message}")
        else:
            show_error(self.result, "The mailbox could not be read (an internal error).")
            hand_to_crash_handler(error)

    @Slot()
    def _on_security_changed(self) -> None:
        suggested = DEFAULT_PORTS[SmtpSecurity(self.security.currentData())]
        if self.port.text().strip() in {"", *(str(port) for port in DEFAULT_PORTS.values())}:
            self.port.setText(str(suggested))


def _count(number: int, noun: str) -> str:
    return f"{number:,} {noun}" if number == 1 else f"{number:,} {noun}s"


def _words(result: object) -> str:
    if isinstance(result, AccountCheck):
        if result.report is None:
            return (
                f"Logged in to {result.address}; “{result.folder}” holds "
                f"{_count(result.messages or 0, 'message')}. Not read yet: these settings are "
                "not saved. Save them to have the mailbox read and its bounces applied."
            )
        return f"Logged in to {result.address}. {_words(result.report)}"
    if isinstance(result, MailboxReport):
        words = (
            f"Read {_count(result.read, 'new message')}: "
            f"{_count(result.bounced, 'contact')} bounced, "
            f"{result.unsubscribed:,} unsubscribed, {result.moved:,} moved."
        )
        if result.cancelled:
            words += " Stopped before the end: the rest are read at the next check."
        return words
    return str(result)
