"""The campaign table models (paged, filtered and sorted in SQL), including live updates."""

from __future__ import annotations

import threading
from datetime import datetime

import pytest
from PySide6.QtCore import QModelIndex, Qt
from pytestqt.modeltest import ModelTester
from pytestqt.qtbot import QtBot

from campaign_desktop.context import AppContext
from campaign_desktop.domain.segments import BuiltInField, Condition, Operator, Segment
from campaign_desktop.ui.campaigns import campaign_model
from campaign_desktop.ui.campaigns.campaign_model import (
    ArchiveTableModel,
    CampaignTableModel,
    Column,
    Role,
)
from campaign_desktop.ui.shell.main_window import MainWindow
from tests.ui.conftest import make_campaign

pytestmark = pytest.mark.gui


def _model(ctx: AppContext) -> CampaignTableModel:
    model = CampaignTableModel(ctx.campaigns)
    model.reload()
    return model


def _names(model: CampaignTableModel) -> list[str]:
    return [model.campaign_at(row).name for row in range(model.rowCount())]


def test_models_pass_the_model_tester(gui_ctx: AppContext, qtmodeltester: ModelTester) -> None:
    make_campaign(gui_ctx, "A")
    make_campaign(gui_ctx, "B")
    gui_ctx.campaigns.archive(make_campaign(gui_ctx, "C").id)
    model = _model(gui_ctx)
    qtmodeltester.check(model)  # type: ignore[no-untyped-call]  # pytest-qt leaves it untyped
    model.set_text("a")
    qtmodeltester.check(model)  # type: ignore[no-untyped-call]  # as above
    archive = ArchiveTableModel(gui_ctx.campaigns)
    archive.reload()
    assert archive.rowCount() == 1
    qtmodeltester.check(archive)  # type: ignore[no-untyped-call]  # as above


def test_rows_show_name_status_audience_and_lineage(gui_ctx: AppContext, qtbot: QtBot) -> None:
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
    # Audiences are counted on a pool thread: an ellipsis until the count arrives.
    qtbot.waitUntil(lambda: model.index(copy_row, Column.AUDIENCE).data() == "2")
    assert model.campaign_at(copy_row).audience_size == 2
    assert model.index(copy_row, Column.NAME).data(Role.CampaignIdRole) == source.id + 1


def test_a_fresh_copy_shows_no_schedule_of_its_original(gui_ctx: AppContext) -> None:
    source = make_campaign(gui_ctx, "Spring news")
    gui_ctx.campaigns.schedule(
        source.id,
        first_local=datetime(2027, 1, 11, 9, 0),
        timezone="America/New_York",
        recurrence={"type": "weekly", "days_of_week": [0]},
    )
    copy = gui_ctx.campaigns.duplicate(source.id)
    model = _model(gui_ctx)
    row = model.row_of(copy.id)
    assert row is not None
    assert model.index(row, Column.NEXT_RUN).data() == "\N{EM DASH}"
    assert model.index(row, Column.REPEATS).data() == "\N{EM DASH}"
    tip = model.index(row, Column.REPEATS).data(Qt.ItemDataRole.ToolTipRole)
    assert tip.startswith("Not scheduled.") and "Every week on Monday" in tip
    source_row = model.row_of(source.id)
    assert source_row is not None
    assert model.index(source_row, Column.REPEATS).data().startswith("Every week on Monday")


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


def test_search_and_status_filter_query_again(gui_ctx: AppContext) -> None:
    make_campaign(gui_ctx, "Spring news", subject="Flowers")
    make_campaign(gui_ctx, "Autumn sale", subject="Leaves and SPRING cleaning")
    winter = make_campaign(gui_ctx, "Winter", subject="Snow")
    gui_ctx.campaigns.schedule(
        winter.id, first_local=datetime(2027, 2, 1, 9, 0), timezone="Europe/Paris"
    )
    model = _model(gui_ctx)
    model.set_text("spring")
    assert sorted(_names(model)) == ["Autumn sale", "Spring news"]
    assert model.total() == 2
    model.set_text("")
    model.set_statuses(["scheduled"])
    assert _names(model) == ["Winter"]
    model.set_text("spring")
    assert model.rowCount() == 0


def test_sort_by_a_column_queries_again_in_that_order(gui_ctx: AppContext) -> None:
    for name in ("beta", "Alpha", "gamma"):
        make_campaign(gui_ctx, name)
    model = _model(gui_ctx)
    model.sort(Column.NAME)
    assert _names(model) == ["Alpha", "beta", "gamma"]
    model.sort(Column.NAME, Qt.SortOrder.DescendingOrder)
    assert _names(model) == ["gamma", "beta", "Alpha"]


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


def test_scrolling_fetches_the_next_page_in_the_same_order(
    gui_ctx: AppContext, monkeypatch: pytest.MonkeyPatch, qtmodeltester: ModelTester
) -> None:
    monkeypatch.setattr(campaign_model, "PAGE_SIZE", 2)
    for name in ("c", "a", "e", "b", "d"):
        make_campaign(gui_ctx, name)
    model = CampaignTableModel(gui_ctx.campaigns)
    model.sort(Column.NAME)  # before the first load: only sets the order
    assert model.rowCount() == 0
    model.reload()
    assert (_names(model), model.total()) == (["a", "b"], 5)
    while model.canFetchMore(QModelIndex()):
        model.fetchMore(QModelIndex())
    assert _names(model) == ["a", "b", "c", "d", "e"]
    qtmodeltester.check(model)  # type: ignore[no-untyped-call]  # pytest-qt leaves it untyped


def test_live_update_inserts_a_new_campaign_only_when_it_matches_the_filter(
    gui_ctx: AppContext, qtbot: QtBot
) -> None:
    model = _model(gui_ctx)
    model.set_text("spring")
    with qtbot.assertNotEmitted(model.rowsInserted):
        model.update_campaign(make_campaign(gui_ctx, "Winter"))
    spring = make_campaign(gui_ctx, "Spring news")
    with qtbot.waitSignal(model.rowsInserted), qtbot.assertNotEmitted(model.modelReset):
        model.update_campaign(spring)
    assert (_names(model), model.total()) == (["Spring news"], 1)
    # Renamed out of the filter: the row goes.
    with qtbot.waitSignal(model.rowsRemoved):
        model.update_campaign(gui_ctx.campaigns.update(spring.id, name="Summer news"))
    assert model.rowCount() == 0


def test_contacts_change_recounts_audiences_in_place(gui_ctx: AppContext, qtbot: QtBot) -> None:
    campaign = make_campaign(gui_ctx)
    model = _model(gui_ctx)
    qtbot.waitUntil(lambda: model.index(0, Column.AUDIENCE).data() == "2")
    gui_ctx.contacts.add("cy@example.com", lists=("Customers",))
    with qtbot.assertNotEmitted(model.modelReset):
        model.refresh_audiences()
        assert model.index(0, Column.AUDIENCE).data() == "2"  # the old count until the new one
        qtbot.waitUntil(lambda: model.index(0, Column.AUDIENCE).data() == "3")
    assert model.campaign_at(0) == gui_ctx.campaigns.get(campaign.id)


def test_live_update_without_a_count_keeps_the_audience_or_counts_new_lists(
    gui_ctx: AppContext, qtbot: QtBot
) -> None:
    campaign = make_campaign(gui_ctx)
    model = _model(gui_ctx)
    qtbot.waitUntil(lambda: model.index(0, Column.AUDIENCE).data() == "2")
    gui_ctx.campaigns.schedule(campaign.id, first_local=datetime(2027, 2, 1, 9, 0), timezone="UTC")
    with qtbot.assertNotEmitted(model.modelReset):
        model.update_campaign(
            gui_ctx.campaigns.get(campaign.id, audience=False), audience_counted=False
        )
    assert model.index(0, Column.STATUS).data() == "Scheduled"
    assert model.index(0, Column.AUDIENCE).data() == "2"
    assert model.campaign_at(0).audience_size == 2
    gui_ctx.campaigns.unschedule(campaign.id)
    gui_ctx.campaigns.update(campaign.id, lists=["VIP"])
    model.update_campaign(
        gui_ctx.campaigns.get(campaign.id, audience=False), audience_counted=False
    )
    qtbot.waitUntil(lambda: model.index(0, Column.AUDIENCE).data() == "1")
    assert model.campaign_at(0) == gui_ctx.campaigns.get(campaign.id)


def test_the_audience_tooltip_names_the_lists_and_the_segments(gui_ctx: AppContext) -> None:
    gui_ctx.segments.create(
        "Gmail people",
        Segment.of([Condition(BuiltInField.EMAIL, Operator.CONTAINS, "@gmail.com")]),
    )
    both = make_campaign(gui_ctx, "Both")
    gui_ctx.campaigns.update(both.id, segments=["Gmail people"])
    only_segment = make_campaign(gui_ctx, "Segment only")
    gui_ctx.campaigns.update(only_segment.id, lists=[], segments=["Gmail people"])
    model = _model(gui_ctx)

    def tooltip(campaign_id: int) -> str:
        row = model.row_of(campaign_id)
        assert row is not None
        return str(model.index(row, Column.AUDIENCE).data(Qt.ItemDataRole.ToolTipRole))

    assert tooltip(both.id) == "Lists: Customers\nSegments: Gmail people"
    assert tooltip(only_segment.id) == "Segments: Gmail people"  # it said "No lists chosen yet"
