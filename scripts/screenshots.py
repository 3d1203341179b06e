"""Render every main view and dialog into docs/screenshots/ from realistic sample data.

    .venv/bin/python scripts/screenshots.py [--out docs/screenshots]

Offscreen, in a temporary data folder, with a fixed clock (Mon 1 March 2027, 10:00 New York)
and this machine set to New York time, so the pictures change only when the GUI does. The
sample mail goes through a stand-in SMTP connection (one message "dropped after hand-over",
so the Activity tab has an unconfirmed delivery to show; one refused mailbox).
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path

# Before Qt starts: headless, and this "machine" on New York time (the preview's second clock).
os.environ["QT_QPA_PLATFORM"] = "offscreen"
os.environ["TZ"] = "America/New_York"
if hasattr(time, "tzset"):
    time.tzset()
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import keyring  # noqa: E402  (after the environment above)
from PySide6.QtCore import (  # noqa: E402
    QEventLoop,
    QMessageLogContext,
    QSettings,
    QTimer,
    QtMsgType,
    qInstallMessageHandler,
)
from PySide6.QtWidgets import QApplication, QWidget  # noqa: E402

from campaign_desktop.channels.smtp import (  # noqa: E402
    SmtpConnection,
    SmtpRecipientRefused,
    SmtpSettings,
    SmtpUnconfirmedError,
)
from campaign_desktop.context import AppContext  # noqa: E402
from campaign_desktop.domain.clock import ManualClock  # noqa: E402
from campaign_desktop.domain.segments import Condition, Operator, Segment, custom_field  # noqa: E402
from campaign_desktop.domain.views import CampaignView  # noqa: E402
from campaign_desktop.ui.campaigns.campaign_editor import CampaignEditor  # noqa: E402
from campaign_desktop.ui.campaigns.send_test_dialog import SendTestDialog  # noqa: E402
from campaign_desktop.ui.common.icons import app_icon  # noqa: E402
from campaign_desktop.ui.contacts.contact_dialog import ContactDialog  # noqa: E402
from campaign_desktop.ui.contacts.import_dialog import ImportDialog  # noqa: E402
from campaign_desktop.ui.schedule.schedule_dialog import ScheduleDialog  # noqa: E402
from campaign_desktop.ui.settings.settings_dialog import SettingsDialog  # noqa: E402
from campaign_desktop.ui.shell.main_window import MainWindow  # noqa: E402
from campaign_desktop.ui.shell.tray import AppTray  # noqa: E402
from tests.memory_keyring import MemoryKeyring  # noqa: E402

NOW = datetime(2027, 3, 1, 15, 0, tzinfo=UTC)  # Mon 1 March 2027, 10:00 in New York
BLACK_FRIDAY = datetime(2026, 11, 27, 14, 0, tzinfo=UTC)
UNCONFIRMED = "dan.ortiz@example.net"
REFUSED = "old.address@example.org"
FIRST = [
    "Ava",
    "Ben",
    "Chloe",
    "Dan",
    "Elena",
    "Farid",
    "Grace",
    "Hiro",
    "Ines",
    "Jonas",
    "Kemi",
    "Liam",
    "Maya",
    "Noah",
    "Olga",
    "Priya",
    "Quinn",
    "Rosa",
    "Sam",
    "Tara",
    "Umar",
    "Vera",
    "Wes",
    "Xin",
    "Yara",
    "Zoe",
    "Arjun",
    "Bea",
    "Cole",
    "Dina",
]
LAST = [
    "Smith",
    "Okafor",
    "Martin",
    "Ortiz",
    "Rossi",
    "Haddad",
    "Kim",
    "Tanaka",
    "Silva",
    "Weber",
    "Adeyemi",
    "Murphy",
    "Patel",
    "Cohen",
    "Ivanova",
    "Shah",
    "Lee",
    "Garcia",
    "Brown",
    "Nguyen",
    "Khan",
    "Novak",
    "Reed",
    "Li",
    "Haddad",
    "Fischer",
    "Rao",
    "Costa",
    "Baker",
    "Aziz",
]
CITIES = ("Boston", "Chicago", "Denver", "Austin", "Seattle", "Portland")


class SampleConnection(SmtpConnection):
    """Accepts every message, except two sample addresses that show what can go wrong."""

    def __init__(self, settings: SmtpSettings) -> None:
        super().__init__(settings)
        self._open = False
        self._count = 0

    @property
    def is_open(self) -> bool:
        return self._open

    def open(self) -> None:
        self._open = True

    def close(self) -> None:
        self._open = False

    def noop(self) -> None:
        self._open = True

    def send_bytes(
        self,
        sender: str,
        recipients: tuple[str, ...],
        data: bytes,
        *,
        go: Callable[[], bool] | None = None,
        meanwhile: Callable[[], None] | None = None,
    ) -> bool:
        # The sending engine hands over ready bytes (MessageTemplate); nothing leaves here.
        # `go` marks the row in the ledger: asked first, as the real connection does.
        if go is not None and not go():
            return False
        to = " ".join(recipients)
        if UNCONFIRMED in to:
            raise SmtpUnconfirmedError("The connection dropped after the message was sent.")
        if REFUSED in to:
            raise SmtpRecipientRefused("550 5.1.1 Mailbox does not exist", 550)
        if meanwhile is not None:
            meanwhile()
        self._count += 1
        return True


# --- sample data -----------------------------------------------------------------------------


def _write_csv(path: Path, rows: list[dict[str, str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def _people(folder: Path) -> tuple[Path, Path]:
    people = []
    for i, (first, last) in enumerate(zip(FIRST, LAST, strict=True)):
        email = f"{first.lower()}.{last.lower()}@example.net"
        if i == 10:
            email = REFUSED
        people.append(
            {
                "email": email,
                "first_name": first,
                "last_name": last,
                "company": ("Northwind", "Contoso", "Fabrikam", "Globex")[i % 4],
                "city": CITIES[i % len(CITIES)],
            }
        )
    customers = _write_csv(folder / "customers.csv", people[:24])
    vip = _write_csv(folder / "vip.csv", people[20:])  # 4 customers are VIPs too
    return customers, vip


def _send_sample(ctx: AppContext, campaign_id: int) -> None:
    """Send through SampleConnection; the pictures are only true if that run completed."""
    run = ctx.campaigns.send_now(campaign_id)
    ctx.sending.wait_idle(30)
    finished = ctx.runs.get(run.id)
    if finished.status != "completed" or not finished.sent:
        raise RuntimeError(f"the sample send did not complete: {finished}")


def _seed(ctx: AppContext, clock: ManualClock, folder: Path) -> dict[str, CampaignView]:
    ctx.settings.set_smtp(
        host="smtp.mapleandco.example",
        port=587,
        security="starttls",
        username="news@mapleandco.example",
        password="sample-password",  # noqa: S106  (the in-memory sample keyring)
    )
    ctx.settings.set_many(
        {
            "sender.from_name": "Maple & Co.",
            "sender.from_email": "news@mapleandco.example",
            "throttle.per_minute": 300,
        }
    )
    customers, vip = _people(folder)
    ctx.contacts.import_csv(customers, "Customers")
    ctx.contacts.import_csv(vip, "VIP")
    ctx.contacts.unsubscribe("olga.ivanova@example.net")
    ctx.contacts.unsubscribe("wes.reed@example.net")

    def create(name: str, subject: str, body: str, lists: tuple[str, ...]) -> CampaignView:
        return ctx.campaigns.create(
            name=name,
            subject=subject,
            body_text=body,
            from_name="Maple & Co.",
            from_email="news@mapleandco.example",
            lists=lists,
        )

    # Black Friday went out last November, and has since been put away.
    clock.set(BLACK_FRIDAY)
    black_friday = create(
        "Black Friday 2026",
        "{{ first_name }}, 30% off everything until midnight",
        "Hi {{ first_name }},\n\nOur biggest sale of the year starts now.\n",
        ("Customers", "VIP"),
    )
    _send_sample(ctx, black_friday.id)

    clock.set(NOW)
    ctx.campaigns.archive(black_friday.id, reason="Season over")
    welcome = create(
        "Welcome offer",
        "Welcome to Maple & Co., {{ first_name }}",
        "Hi {{ first_name }},\n\nThanks for joining us from {{ city }}. Here is 10% off.\n",
        ("Customers",),
    )
    _send_sample(ctx, welcome.id)

    newsletter = create(
        "Spring newsletter",
        "What's new this spring, {{ first_name }}",
        "Hi {{ first_name }},\n\nSpring is here at Maple & Co.: new arrivals, workshops "
        "and a garden party.\n\nSee you soon,\nThe Maple & Co. team\n",
        ("Customers", "VIP"),
    )
    ctx.campaigns.schedule(
        newsletter.id,
        first_local=datetime(2027, 3, 8, 9, 0),  # noqa: DTZ001  (wall clock; DST starts 14 March)
        timezone="America/New_York",
        recurrence={"type": "weekly", "days_of_week": [0], "end_date": "2027-06-28"},
    )
    easter = create(
        "Easter sale",
        "Easter weekend: gifts for {{ first_name }}",
        "Hi {{ first_name }},\n\nOur Easter collection is in store and online.\n",
        ("VIP",),
    )
    ctx.campaigns.schedule(
        easter.id,
        first_local=datetime(2027, 3, 25, 10, 0),  # noqa: DTZ001  (wall clock)
        timezone="America/Chicago",
    )
    copy = ctx.campaigns.duplicate(newsletter.id)
    return {
        "newsletter": ctx.campaigns.get(newsletter.id),
        "welcome": ctx.campaigns.get(welcome.id),
        "easter": ctx.campaigns.get(easter.id),
        "copy": copy,
    }


# --- rendering -------------------------------------------------------------------------------


def _settle(ms: int = 300) -> None:
    """Let layouts, queued events and background previews finish."""
    loop = QEventLoop()
    QTimer.singleShot(ms, loop.quit)
    loop.exec()


def _save(widget: QWidget, out: Path, name: str, saved: list[Path]) -> None:
    widget.show()
    _settle()
    path = out / f"{name}.png"
    if not widget.grab().save(str(path)):
        raise SystemExit(f"could not write {path}")
    saved.append(path)


def _dialog(
    make: Callable[[], QWidget],
    out: Path,
    name: str,
    saved: list[Path],
    size: tuple[int, int] | None = None,
) -> None:
    try:
        dialog = make()
    except Exception as exc:  # a dialog that cannot be built is reported, the rest still shot
        print(f"skipped {name}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return
    if size is not None:  # else the size the app opens it at
        dialog.resize(*size)
    _save(dialog, out, name, saved)
    dialog.close()
    dialog.deleteLater()


def _calendar(
    ctx: AppContext, window: MainWindow, newsletter: CampaignView, out: Path, saved: list[Path]
) -> None:
    """The Calendar tab in March 2027 (clocks go forward on the 14th here), with one skipped
    send. Shot last: the skip and the extra campaign would show in the other pictures."""
    tips = ctx.campaigns.create(
        name="Product tips",
        subject="A tip for {{ first_name }}",
        body_text="Hi {{ first_name }},\n\nThis week's tip.\n",
        from_name="Maple & Co.",
        from_email="news@mapleandco.example",
        lists=("Customers",),
    )
    ctx.campaigns.schedule(
        tips.id,
        first_local=datetime(2027, 3, 3, 7, 0),  # noqa: DTZ001  (wall clock in Los Angeles)
        timezone="America/Los_Angeles",
        recurrence={"type": "weekly", "days_of_week": [2], "count": 8},
    )
    skipped = datetime(2027, 3, 22, 13, 0, tzinfo=UTC)  # Monday 22 March, 09:00 in New York
    ctx.campaigns.skip_occurrence(newsletter.id, skipped)
    window.tabs.setCurrentWidget(window.calendar_tab)
    window.calendar_tab.show_day(date(2027, 3, 22))
    _settle()
    while window.calendar_tab.loading:
        _settle(100)
    _save(window, out, "calendar_tab", saved)


def _tabs(
    window: MainWindow, campaigns: dict[str, CampaignView], out: Path, saved: list[Path]
) -> None:
    """Campaigns, Archive, Contacts (plain, then filtered by field) and Activity."""
    window.tabs.setCurrentIndex(0)
    window.select_campaign(campaigns["newsletter"].id)
    _save(window, out, "campaigns_tab", saved)
    window.tabs.setCurrentIndex(1)
    window.archive_view.selectRow(0)
    _save(window, out, "archive_tab", saved)
    window.tabs.setCurrentIndex(2)
    _save(window, out, "contacts_tab", saved)
    _segment(window, out, saved)
    window.tabs.setCurrentIndex(3)
    welcome_run = campaigns["welcome"].last_run
    if welcome_run is not None:
        window.activity_tab.select_run(welcome_run.id)
    _save(window, out, "activity_tab", saved)
    window.tabs.setCurrentIndex(0)


def _segment(window: MainWindow, out: Path, saved: list[Path]) -> None:
    """The Contacts tab filtered by field (city is Boston or company starts with "North"),
    with the city as a column; then back to the plain tab."""
    tab = window.contacts_tab
    tab.show_field_column("city", True)
    tab.field_filter_button.setChecked(True)
    panel = tab.segment_panel
    _settle()
    panel.show_segment(
        Segment.of(
            [
                Condition(custom_field("city"), Operator.IS, "Boston"),
                Condition(custom_field("company"), Operator.STARTS_WITH, "North"),
            ],
            "any",
        )
    )
    _settle(600)
    _save(window, out, "contacts_segment", saved)
    tab.field_filter_button.setChecked(False)
    tab.show_field_column("city", False)
    _settle()


def _quiet_offscreen_notes(mode: QtMsgType, _context: QMessageLogContext, message: str) -> None:
    # The offscreen platform says it cannot do window-manager things; nothing else is muted.
    if "This plugin does not support" not in message:
        print(f"Qt {mode.name}: {message}", file=sys.stderr)


def render(out: Path) -> list[Path]:
    qInstallMessageHandler(_quiet_offscreen_notes)
    keyring.set_keyring(MemoryKeyring())
    app = QApplication.instance() or QApplication(sys.argv[:1])
    assert isinstance(app, QApplication)
    app.setApplicationName("Campaign Desktop")
    app.setWindowIcon(app_icon())
    out.mkdir(parents=True, exist_ok=True)
    saved: list[Path] = []
    with tempfile.TemporaryDirectory(prefix="campaign-desktop-screenshots-") as tmp:
        folder = Path(tmp)
        clock = ManualClock(NOW)
        ctx = AppContext.open(folder / "data", clock=clock, connect=SampleConnection)
        try:
            campaigns = _seed(ctx, clock, folder)
            ctx.scheduler.start()
            settings = QSettings(str(folder / "window.ini"), QSettings.Format.IniFormat)
            window = MainWindow(ctx, settings)
            AppTray(ctx, window, tray_available=False, settings=settings, quit_app=lambda: None)
            window.resize(1360, 760)
            window.show()
            _settle()

            _tabs(window, campaigns, out, saved)

            newsletter = campaigns["newsletter"]
            _dialog(
                lambda: CampaignEditor(ctx, newsletter, window), out, "editor", saved, (980, 680)
            )
            _dialog(
                lambda: ScheduleDialog(ctx, newsletter, window),
                out,
                "schedule_dialog",
                saved,
            )
            _dialog(lambda: SettingsDialog(ctx, window), out, "settings_dialog", saved)
            _dialog(
                lambda: ImportDialog(ctx, folder / "customers.csv", window),
                out,
                "import_dialog",
                saved,
            )
            _dialog(
                lambda: SendTestDialog(ctx, newsletter, window),
                out,
                "send_test_dialog",
                saved,
            )
            contact = ctx.contacts.search(limit=1)[0]
            lists = [item.name for item in ctx.contacts.lists()]
            _dialog(
                lambda: ContactDialog(ctx, contact, lists, window), out, "contact_dialog", saved
            )
            _calendar(ctx, window, campaigns["newsletter"], out, saved)
            window.close_guard = None
            window.quit()
        finally:
            ctx.close()
    return saved


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    args = parser.parse_args(argv)
    for path in render(args.out):
        print(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
