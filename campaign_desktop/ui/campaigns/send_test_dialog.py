"""The Send test dialog: send one campaign to a few addresses (yours, a colleague's) as a `test`
run, rendered with the first audience member's data; the run shows on the Activity tab.
"""

from __future__ import annotations

import logging
import re

from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from campaign_desktop.context import AppContext
from campaign_desktop.domain.errors import DomainError
from campaign_desktop.domain.views import CampaignView, RunView
from campaign_desktop.ui.common.widgets import (
    message_label,
    named,
    set_default_button,
    show_error,
)

log = logging.getLogger("campaign_desktop.ui.send_test")

_SEPARATORS = re.compile(r"[\s,;]+")


def split_addresses(text: str) -> list[str]:
    """Addresses typed with commas, semicolons, spaces or new lines between them."""
    return [part for part in _SEPARATORS.split(text) if part]


class SendTestDialog(QDialog):
    """Ask for test addresses and start the test run; `run` holds it after Send."""

    # Remembered for the session: the same people usually get every test.
    last_addresses = ""

    def __init__(
        self, ctx: AppContext, campaign: CampaignView, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self._ctx = ctx
        self._campaign = campaign
        self.run: RunView | None = None
        self.setObjectName("sendTestDialog")
        self.setWindowTitle(
            f"Send a test of \N{LEFT DOUBLE QUOTATION MARK}{campaign.name}"
            "\N{RIGHT DOUBLE QUOTATION MARK}"
        )
        self.addresses = named(QLineEdit(), "testAddresses", "Send the test to")
        self.addresses.setPlaceholderText("you@example.com, colleague@example.com")
        # The addresses of the last test, else the sender's own: a first test usually goes to
        # the marketer, and Enter then sends at once.
        self.addresses.setText(SendTestDialog.last_addresses or campaign.from_email)
        self.addresses.textChanged.connect(self._on_text_changed)
        self.error_label = message_label("testAddressesError", "Problem with the addresses")
        explanation = QLabel(
            "The test uses the first contact of the audience for the personal fields, and "
            "its subject starts with [TEST]. It does not count as a send of the campaign; "
            "it shows on the Activity tab."
        )
        explanation.setWordWrap(True)
        form = QFormLayout()
        form.addRow("Send &to:", self.addresses)
        form.addRow("", self.error_label)
        self._buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.send_button = named(QPushButton("&Send test"), "sendTest", "Send the test")
        self._buttons.addButton(self.send_button, QDialogButtonBox.ButtonRole.AcceptRole)
        named(self._buttons.button(QDialogButtonBox.StandardButton.Cancel), "cancelTest", "Cancel")
        self._buttons.accepted.connect(self.accept)
        self._buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(explanation)
        layout.addLayout(form)
        layout.addWidget(self._buttons)
        set_default_button(self, self.send_button)
        self._on_text_changed(self.addresses.text())
        self.resize(520, 180)

    @classmethod
    def ask(cls, parent: QWidget | None, ctx: AppContext, campaign: CampaignView) -> RunView | None:
        """Show the dialog modally; the started test run, or None. Tests replace it."""
        dialog = cls(ctx, campaign, parent)
        try:
            dialog.exec()
            return dialog.run
        finally:
            dialog.deleteLater()

    def _on_text_changed(self, text: str) -> None:
        show_error(self.error_label, "")
        self.send_button.setEnabled(bool(split_addresses(text)))

    def accept(self) -> None:
        """Start the test run; a refused address (or campaign) shows inline, the dialog stays."""
        addresses = split_addresses(self.addresses.text())
        try:
            self.run = self._ctx.campaigns.send_test(self._campaign.id, to=addresses)
        except DomainError as exc:
            log.info("test send refused: %s", exc.message)
            show_error(self.error_label, exc.message)
            return
        SendTestDialog.last_addresses = self.addresses.text().strip()
        super().accept()
