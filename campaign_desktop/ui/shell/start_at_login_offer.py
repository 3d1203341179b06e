"""Offering "Start at login" when it matters (docs/design.md §16): at start, when sends were
missed because the app was not running; and once, when the user first schedules a campaign.

Nothing is offered when the entry exists already or the platform has none. The entry is read
and written on the background pool; the question is `OfferStartAtLogin.ask` (tests replace it).
"""

from __future__ import annotations

import logging

from PySide6.QtCore import QObject, QSettings, Slot
from PySide6.QtWidgets import QWidget

from campaign_desktop.context import AppContext
from campaign_desktop.domain.errors import DomainError
from campaign_desktop.domain.events import CampaignChange, CatchUpReport
from campaign_desktop.ui.common.background import hand_to_crash_handler, run_in_background
from campaign_desktop.ui.common.prompts import ErrorMessage, ask_two_ways
from campaign_desktop.ui.shell.main_window import MainWindow

log = logging.getLogger("campaign_desktop.ui.shell.start_at_login_offer")

#: window.ini: the one-time offer on the first schedule was made (or was not needed).
OFFERED_ON_FIRST_SCHEDULE_KEY = "autostart/offered_on_first_schedule"
OFFER_TITLE = "Start Campaign Desktop when you log in?"
_AT_LOGIN = "Start it, hidden in the tray, whenever you log in to this computer?"
FIRST_SCHEDULE_TEXT = (
    f"Scheduled campaigns go out only while Campaign Desktop is running. {_AT_LOGIN}"
)


def missed_offer_text(report: CatchUpReport) -> str | None:
    """What the offer says after a start-up catch-up that missed sends or sent them late
    (the default policy); None when there were none, or when it happened while the app ran
    (asleep, a clock jump)."""
    if not report.at_start or not (report.missed or report.sent_late):
        return None
    parts = []
    for count, done in ((len(report.missed), "missed"), (len(report.sent_late), "sent late")):
        if count:
            parts.append(
                f"{count:,} scheduled send was {done}"
                if count == 1
                else f"{count:,} scheduled sends were {done}"
            )
    return f"{' and '.join(parts)} because Campaign Desktop was not running. {_AT_LOGIN}"


class OfferStartAtLogin:
    """Asks whether to turn on start at login; True for yes. Tests replace `ask`."""

    @classmethod
    def ask(cls, parent: QWidget | None, text: str) -> bool:
        return ask_two_ways(
            parent,
            OFFER_TITLE,
            text,
            name="startAtLogin",
            action="Start at login",
            other="Not now",
        )


class StartAtLoginOffer(QObject):
    """Listens to the window's event bridge and offers start at login at the two moments."""

    def __init__(
        self, ctx: AppContext, window: MainWindow, settings: QSettings | None = None
    ) -> None:
        super().__init__(window)
        self._ctx = ctx
        self._window = window
        self._settings = settings or QSettings(
            str(ctx.data_dir / "window.ini"), QSettings.Format.IniFormat
        )
        self._asking = False
        self._text, self._remember_key = "", ""
        window.bridge.catch_up.connect(self._on_catch_up)
        window.bridge.campaign_changed.connect(self._on_campaign_changed)

    @Slot(object)
    def _on_catch_up(self, report: CatchUpReport) -> None:
        text = missed_offer_text(report)
        if text is not None:
            self.offer(text)

    @Slot(int, str)
    def _on_campaign_changed(self, _campaign_id: int, change: str) -> None:
        if change != CampaignChange.SCHEDULED:
            return
        if self._settings.value(OFFERED_ON_FIRST_SCHEDULE_KEY, False, bool):
            return
        self.offer(FIRST_SCHEDULE_TEXT, remember_key=OFFERED_ON_FIRST_SCHEDULE_KEY)

    def offer(self, text: str, remember_key: str = "") -> None:
        """Ask with `text` unless the entry exists; `remember_key` is set in window.ini once
        the entry's state is known (asked, or no need to)."""
        if self._asking or not self._ctx.autostart.supported:
            return
        self._asking = True
        self._text, self._remember_key = text, remember_key
        run_in_background(
            "read start at login", lambda _r: self._ctx.autostart.is_enabled(), self._on_checked
        )

    @Slot(object, object)
    def _on_checked(self, enabled: object, error: BaseException | None) -> None:
        text, remember_key = self._text, self._remember_key
        if error is not None:
            self._asking = False
            if not isinstance(error, DomainError):
                hand_to_crash_handler(error)
            return  # an unreadable entry is for Settings to show, not worth a question
        if remember_key:
            self._settings.setValue(remember_key, True)
            self._settings.sync()
        if enabled:
            self._asking = False
            return
        parent = self._window if self._window.isVisible() else None
        if not OfferStartAtLogin.ask(parent, text):
            self._asking = False
            log.info("start at login offered, declined")
            return
        run_in_background(
            "write start at login",
            lambda _r: self._ctx.autostart.set_enabled(True),
            self._on_enabled,
        )

    @Slot(object, object)
    def _on_enabled(self, _result: object, error: BaseException | None) -> None:
        self._asking = False
        if error is None:
            self._window.statusBar().showMessage(
                "Campaign Desktop now starts, hidden in the tray, when you log in "
                "(Settings turns it off).",
                10_000,
            )
        elif isinstance(error, DomainError):
            ErrorMessage.show(self._window, "Start at login", error.message)
        else:
            hand_to_crash_handler(error)
