"""The campaign table model and its filter proxy, including live updates from other threads."""

from __future__ import annotations

import threading
from datetime import datetime

import pytest
from PySide6.QtCore import Qt
from pytestqt.modeltest import ModelTester
from pytestqt.qtbot import QtBot

from campaign_desktop.context import AppContext
from campaign_desktop.ui.campaign_model import (
    ArchiveTableModel,
    CampaignFilterProxy,
    CampaignTableModel,
    Column,
    Role,
)
from campaign_desktop.ui.main_window import MainWindow
from tests.ui.conftest import make_campaign

pytestmark = pytest.mark.gui


def _model(ctx: AppContext) -> CampaignTableModel:
    model = CampaignTableModel()
    model.set_campaigns(ctx.campaigns.list_all())
    return model


def test_model_and_proxy_pass_the_model_tester(
    gui_ctx: AppContext, qtmodeltester: ModelTester
) -> None:
    make_campaign(gui_ctx, "A")
    make_campaign(gui_ctx, "B")
    model = _model(gui_ctx)
    qtmodeltester.check(model)  # type: ignore[no-untyped-call]  # pytest-qt leaves it untyped
    proxy = CampaignFilterProxy()
    proxy.setSourceModel(model)
    qtmodeltester.check(proxy)  # type: ignore[no-untyped-call]  # as above
    archive = ArchiveTableModel()
    archive.set_campaigns(gui_ctx.campaigns.list_all())
    qtmodeltester.check(archive)  # type: ignore[no-untyped-call]  # as above


def test_rows_show_name_status_audience_and_lineage(gui_ctx: AppContext) -> None:
    source = make_campaign(gui_ctx, "Spring news")
    gui_ctx.campaigns.duplicate(source.id)
    model = _model(gui_ctx)
    copy_row = model.row_of(source.id + 1)
    assert copy_row is not None
    assert model.index(copy_row, Column.NAME).data() == "Spring news (copy)\n↳ copy of Spring news"
    assert "Copy of Spring news" in model.index(copy_row, Column.NAME).data(
        Qt.ItemDataRole.ToolTipRole
    )
    assert model.index(copy_row, Column.STATUS).data() == "Draft"
    assert model.index(copy_row, Column.AUDIENCE).data() == "2"
    assert model.index(copy_row, Column.NAME).data(Role.CampaignIdRole) == source.id + 1


def test_scheduled_row_shows_next_run_in_campaign_zone_and_sentence(gui_ctx: AppContext) -> None:
    campaign = make_campaign(gui_ctx)
    gui_ctx.campaigns.schedule(
        campaign.id,
        first_local=datetime(2027, 1, 11, 9, 0),
        timezone="America/New_York",
        recurrence={"type": "weekly", "days_of_week": [0]},
    )
    model = _model(gui_ctx)
    assert model.index(0, Column.NEXT_RUN).data() == "Mon 11 Jan 2027 09:00 EST"
    assert model.index(0, Column.REPEATS).data() == "Every week on Monday at 09:00 New York time"


def test_proxy_filters_by_text_and_status(gui_ctx: AppContext) -> None:
    make_campaign(gui_ctx, "Spring news", subject="Flowers")
    make_campaign(gui_ctx, "Autumn sale", subject="Leaves and SPRING cleaning")
    winter = make_campaign(gui_ctx, "Winter", subject="Snow")
    gui_ctx.campaigns.schedule(
        winter.id, first_local=datetime(2027, 2, 1, 9, 0), timezone="Europe/Paris"
    )
    proxy = CampaignFilterProxy()
    proxy.setSourceModel(_model(gui_ctx))
    proxy.set_text("spring")
    assert sorted(proxy.campaign_at(r).name for r in range(proxy.rowCount())) == [
        "Autumn sale",
        "Spring news",
    ]
    proxy.set_text("")
    proxy.set_statuses(["scheduled"])
    assert [proxy.campaign_at(r).name for r in range(proxy.rowCount())] == ["Winter"]
    proxy.set_text("spring")
    assert proxy.rowCount() == 0


def test_proxy_sorts_by_sort_role(gui_ctx: AppContext) -> None:
    for name in ("beta", "Alpha", "gamma"):
        make_campaign(gui_ctx, name)
    proxy = CampaignFilterProxy()
    proxy.setSourceModel(_model(gui_ctx))
    proxy.sort(Column.NAME)
    assert [proxy.campaign_at(r).name for r in range(3)] == ["Alpha", "beta", "gamma"]


def test_update_campaign_emits_data_changed_for_that_row_only(
    gui_ctx: AppContext, qtbot: QtBot
) -> None:
    first = make_campaign(gui_ctx, "one")
    make_campaign(gui_ctx, "two")
    model = _model(gui_ctx)
    renamed = gui_ctx.campaigns.update(first.id, name="one renamed")
    with qtbot.waitSignal(model.dataChanged) as blocker, qtbot.assertNotEmitted(model.modelReset):
        model.update_campaign(renamed)
    top_left, bottom_right = blocker.args[:2]  # (topLeft, bottomRight, roles)
    row = model.row_of(first.id)
    assert row is not None
    assert top_left.row() == bottom_right.row() == row
    assert model.index(row, Column.NAME).data() == "one renamed"


def test_change_published_from_a_worker_thread_updates_the_row(
    gui_ctx: AppContext, qtbot: QtBot
) -> None:
    campaign = make_campaign(gui_ctx)
    window = MainWindow(gui_ctx)
    qtbot.addWidget(window)
    model = window.campaign_model
    row = model.row_of(campaign.id)
    assert row is not None
    assert model.index(row, Column.STATUS).data() == "Draft"

    def schedule_elsewhere() -> None:
        # The service publishes CampaignChanged on this (non-GUI) thread.
        gui_ctx.campaigns.schedule(
            campaign.id, first_local=datetime(2027, 2, 1, 9, 0), timezone="America/Chicago"
        )

    worker = threading.Thread(target=schedule_elsewhere)
    worker.start()
    worker.join()
    qtbot.waitUntil(lambda: model.index(row, Column.STATUS).data() == "Scheduled")


def test_remove_and_add_campaign_rows(gui_ctx: AppContext, qtbot: QtBot) -> None:
    campaign = make_campaign(gui_ctx)
    model = _model(gui_ctx)
    with qtbot.waitSignal(model.rowsRemoved):
        assert model.remove_campaign(campaign.id)
    assert model.rowCount() == 0
    with qtbot.waitSignal(model.rowsInserted):
        model.update_campaign(campaign)
    assert model.rowCount() == 1
