"""Every Qt model the app defines passes pytest-qt's model tester, filled with real rows and
then changed the ways the app changes it (the tester stays connected and checks each change).

A model class without an entry in `MODELS` fails `test_every_model_of_the_app_is_checked`, so
a new model cannot skip the tester.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QAbstractItemModel, QEventLoop, Qt, QTimer
from pytestqt.modeltest import ModelTester

import campaign_desktop.ui
from campaign_desktop.context import AppContext
from campaign_desktop.services.csv_import import preview
from campaign_desktop.ui.activity.run_models import DeliveryTableModel, RunRow, RunTableModel
from campaign_desktop.ui.calendar.calendar_model import (
    CalendarGridModel,
    CalendarSend,
    DaySendsModel,
    calendar_sends,
)
from campaign_desktop.ui.campaigns.audience_picker import SegmentChoice, SegmentChoiceModel
from campaign_desktop.ui.campaigns.campaign_model import (
    ArchiveTableModel,
    CampaignTableModel,
    _CampaignRowsModel,
)
from campaign_desktop.ui.common.paged_model import PagedTableModel
from campaign_desktop.ui.common.table_model import RowTableModel, TableModel
from campaign_desktop.ui.contacts.contact_model import (
    PAGE_SIZE,
    ContactFilter,
    ContactTableModel,
)
from campaign_desktop.ui.contacts.import_dialog import CsvPreviewModel, SkippedRowsModel
from campaign_desktop.ui.schedule.schedule_dialog import SchedulePreviewModel
from tests.ui.conftest import make_campaign
from tests.ui.helpers import people_csv, sending_run, write_csv

pytestmark = pytest.mark.gui

# Bases: never shown as they are, each checked through the models built on it.
BASES = {TableModel, RowTableModel, PagedTableModel, _CampaignRowsModel}

# A model filled with real rows, then the changes the app makes to it (after the first check).
Filled = tuple[QAbstractItemModel, Callable[[], None]]


def _campaigns(ctx: AppContext, _tmp: Path) -> Filled:
    for name in ("Autumn", "Spring", "Winter"):
        make_campaign(ctx, name)
    model = CampaignTableModel(ctx.campaigns)
    model.reload()

    def change() -> None:
        first = model.campaign_at(0)
        ctx.campaigns.schedule(first.id, first_local=datetime(2027, 2, 1, 9), timezone="UTC")
        model.update_campaign(ctx.campaigns.get(first.id))  # a row in place
        model.set_text("spring")  # a search: a reset
        model.sort(0)
        archived = ctx.campaigns.archive(model.campaign_at(0).id)
        model.remove_campaign(archived.id)  # as the window does: it moved to the Archive

    return model, change


def _archive(ctx: AppContext, _tmp: Path) -> Filled:
    for name in ("Old", "Older"):
        ctx.campaigns.archive(make_campaign(ctx, name).id)
    model = ArchiveTableModel(ctx.campaigns)
    model.reload()

    def change() -> None:
        restored = ctx.campaigns.restore(model.campaign_at(0).id)
        model.remove_campaign(restored.id)

    return model, change


def _runs(_ctx: AppContext, _tmp: Path) -> Filled:
    model = RunTableModel()
    model.set_runs(RunRow(sending_run(id=n, sent=n), f"News {n}", "UTC") for n in (3, 2, 1))

    def change() -> None:
        model.update_run(RunRow(sending_run(id=2, sent=50), "News 2", "UTC"))  # in place
        model.update_run(RunRow(sending_run(id=4), "News 4", "UTC"))  # a new run: inserted

    return model, change


def _show_run(model: DeliveryTableModel, run_id: int | None, status: str | None = None) -> None:
    """`set_run`, then wait (running Qt's events) until its read on the pool shows."""
    loop = QEventLoop()
    model.loaded.connect(loop.quit)
    model.set_run(run_id, status)
    if model.is_loading():
        QTimer.singleShot(10_000, loop.quit)
        loop.exec()
    model.loaded.disconnect(loop.quit)
    assert not model.is_loading()


def _deliveries(ctx: AppContext, _tmp: Path) -> Filled:
    # No mail server is set up: the run pauses at once, its recipients pending, as a real run.
    run = ctx.campaigns.send_now(make_campaign(ctx).id)
    assert ctx.sending.wait_idle(10)
    model = DeliveryTableModel(ctx.runs)
    _show_run(model, run.id)
    assert model.rowCount() == 2

    def change() -> None:
        _show_run(model, run.id, "sent")  # a status filter: a reset, no rows
        _show_run(model, None)

    return model, change


def _contacts(ctx: AppContext, tmp: Path) -> Filled:
    ctx.contacts.import_csv(people_csv(tmp / "people.csv", PAGE_SIZE + 50), "Customers")
    model = ContactTableModel(ctx.contacts)
    model.set_filter(ContactFilter())

    def change() -> None:
        ann = model.contact_at(0)
        model.replace_contact(ctx.contacts.unsubscribe(ann.email))
        doomed = model.contacts_at([1, 2, 5])
        for contact in doomed:
            ctx.contacts.delete(contact.id)
        model.remove_contacts(contact.id for contact in doomed)
        model.set_attribute_columns(["company", "city"])  # custom fields as columns
        model.set_attribute_columns(["city"])
        model.set_filter(ContactFilter(text="person1"))

    return model, change


def _schedule_preview(_ctx: AppContext, _tmp: Path) -> Filled:
    # Weekly at 09:00 in New York across the March 2027 clock change: one row has the note.
    # (The clocks change on 14 March: 14:00 UTC before, 13:00 UTC after.)
    sends = [
        datetime(2027, 3, 1, 14, tzinfo=UTC) + timedelta(weeks=n, hours=-1 if n >= 2 else 0)
        for n in range(4)
    ]
    model = SchedulePreviewModel()
    model.set_sends(sends, "America/New_York")
    assert [model.index(row, 2).data() != "" for row in range(4)] == [False, False, True, False]

    def change() -> None:
        model.set_sends(sends[:2], "UTC")
        model.clear()

    return model, change


def _csv_preview(_ctx: AppContext, tmp: Path) -> Filled:
    path = write_csv(
        tmp / "a.csv",
        ["email", "First name", "#", "email"],
        [["a@example.com", "Ann", "1", "x"], ["b@example.com", "Bob", "2", "y"]],
    )
    model = CsvPreviewModel()
    model.set_preview(preview(path))
    return model, lambda: model.set_preview(None)


def _skipped_rows(_ctx: AppContext, _tmp: Path) -> Filled:
    model = SkippedRowsModel()
    model.set_rows([(3, "The email address is empty."), (7, "Same email as row 2")])
    return model, lambda: model.set_rows([])


def _calendar_sends(ctx: AppContext) -> list[CalendarSend]:
    campaign = make_campaign(ctx, "News")
    ctx.campaigns.schedule(
        campaign.id,
        first_local=datetime(2027, 1, 11, 9),
        timezone="America/New_York",
        recurrence={"type": "daily"},
    )
    ctx.campaigns.skip_occurrence(campaign.id, datetime(2027, 1, 12, 14, tzinfo=UTC))
    start, end = datetime(2027, 1, 1, tzinfo=UTC), datetime(2027, 2, 8, tzinfo=UTC)
    return calendar_sends(
        ctx.campaigns.calendar(start, end), ctx.campaigns.calendar_skips(start, end)
    )


def _calendar_grid(ctx: AppContext, _tmp: Path) -> Filled:
    model = CalendarGridModel()
    model.set_range(date(2026, 12, 28), 6, (2027, 1))
    sends = _calendar_sends(ctx)
    model.set_sends(sends, date(2027, 1, 4))

    def change() -> None:
        model.set_range(date(2027, 1, 11), 1, None)  # the week view
        model.set_sends(sends[:3], date(2027, 1, 12))

    return model, change


def _day_sends(ctx: AppContext, _tmp: Path) -> Filled:
    model = DaySendsModel()
    sends = _calendar_sends(ctx)
    model.set_sends(sends[:4])
    return model, lambda: model.set_sends(sends[1:2])


def _segment_choices(_ctx: AppContext, _tmp: Path) -> Filled:
    model = SegmentChoiceModel()
    model.set_choices(
        [
            SegmentChoice("Parisians", "city is “Paris”", None, True),
            SegmentChoice("Adults", "age is greater than “17”", 12, False),
        ]
    )

    def change() -> None:
        model.set_counts({"Parisians": 3})
        model.setData(model.index(1), Qt.CheckState.Checked.value, Qt.ItemDataRole.CheckStateRole)
        model.set_choices([SegmentChoice("Adults", "", 12, True)])

    return model, change


MODELS: dict[type[QAbstractItemModel], Callable[[AppContext, Path], Filled]] = {
    CampaignTableModel: _campaigns,
    ArchiveTableModel: _archive,
    RunTableModel: _runs,
    DeliveryTableModel: _deliveries,
    ContactTableModel: _contacts,
    SchedulePreviewModel: _schedule_preview,
    CsvPreviewModel: _csv_preview,
    SkippedRowsModel: _skipped_rows,
    CalendarGridModel: _calendar_grid,
    DaySendsModel: _day_sends,
    SegmentChoiceModel: _segment_choices,
}


def _subclasses(cls: type) -> Iterator[type]:
    subclasses: list[type] = cls.__subclasses__()
    for sub in subclasses:
        yield sub
        yield from _subclasses(sub)


def test_every_model_of_the_app_is_checked() -> None:
    for module in pkgutil.walk_packages(campaign_desktop.ui.__path__, "campaign_desktop.ui."):
        importlib.import_module(module.name)
    ours = {
        cls
        for cls in _subclasses(QAbstractItemModel)
        if cls.__module__.startswith("campaign_desktop.")
    }
    assert ours - BASES == set(MODELS)


@pytest.mark.parametrize("model_class", list(MODELS), ids=lambda cls: cls.__name__)
@pytest.mark.usefixtures("qapp")  # some models read on the pool: their answers need Qt's loop
def test_model_passes_the_model_tester_filled_and_changed(
    model_class: type[QAbstractItemModel],
    gui_ctx: AppContext,
    tmp_path: Path,
    qtmodeltester: ModelTester,
) -> None:
    model, change = MODELS[model_class](gui_ctx, tmp_path)
    assert isinstance(model, model_class)
    assert model.rowCount() > 0
    check: Any = qtmodeltester.check  # pytest-qt leaves it untyped
    check(model)
    change()  # the tester, still connected, checks every signal of each change
    check(model)
