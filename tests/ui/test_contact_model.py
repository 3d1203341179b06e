"""The Contacts table's paged model (`PagedTableModel`): rows taken out of it after a delete
read right at every step, from the held pages, and afterwards from the database."""

from __future__ import annotations

from pathlib import Path

import pytest
from pytestqt.modeltest import ModelTester
from pytestqt.qtbot import QtBot

from campaign_desktop.context import AppContext
from campaign_desktop.domain.errors import StorageError
from campaign_desktop.ui.contacts.contact_model import (
    PAGE_SIZE,
    ContactColumn,
    ContactFilter,
    ContactTableModel,
)
from tests.ui.helpers import people_csv

pytestmark = pytest.mark.gui


@pytest.fixture
def model(gui_ctx: AppContext, tmp_path: Path) -> ContactTableModel:
    gui_ctx.contacts.import_csv(people_csv(tmp_path / "people.csv", 2 * PAGE_SIZE), "Customers")
    contacts = ContactTableModel(gui_ctx.contacts)
    contacts.set_filter(ContactFilter())
    return contacts


def _emails(model: ContactTableModel) -> list[str]:
    return [model.index(row, ContactColumn.EMAIL).data() for row in range(model.rowCount())]


def test_removed_rows_go_one_run_at_a_time_and_every_step_reads_right(
    model: ContactTableModel, gui_ctx: AppContext, qtmodeltester: ModelTester
) -> None:
    before = _emails(model)  # every page held now
    qtmodeltester.check(model)  # type: ignore[no-untyped-call]  # pytest-qt leaves it untyped
    steps: list[list[str]] = []
    model.rowsRemoved.connect(lambda *_args: steps.append(_emails(model)))
    rows = [3, 4, PAGE_SIZE - 1, PAGE_SIZE, PAGE_SIZE + 7]  # runs on both sides of a page
    doomed = model.contacts_at(rows)
    for contact in doomed:
        gui_ctx.contacts.delete(contact.id)
    model.remove_contacts(contact.id for contact in doomed)
    # Last run first, each step showing exactly the runs removed so far.
    expected, shown = list(before), []
    for first, count in ((PAGE_SIZE + 7, 1), (PAGE_SIZE - 1, 2), (3, 2)):
        del expected[first : first + count]
        shown.append(list(expected))
    assert steps == shown
    assert _emails(model) == [c.email for c in gui_ctx.contacts.search(limit=10 * PAGE_SIZE)]


def test_a_page_that_lost_rows_reads_the_rest_from_the_database(
    model: ContactTableModel, gui_ctx: AppContext
) -> None:
    # Only the first page is held: the rows moving up into it come from the database.
    assert model.rows_held() == PAGE_SIZE
    doomed = model.contacts_at([PAGE_SIZE - 2, PAGE_SIZE - 1])
    for contact in doomed:
        gui_ctx.contacts.delete(contact.id)
    model.remove_contacts(contact.id for contact in doomed)
    everyone = [c.email for c in gui_ctx.contacts.search(limit=10 * PAGE_SIZE)]
    assert model.rowCount() == len(everyone) == 2 * PAGE_SIZE
    assert _emails(model) == everyone


def _read_all(model: ContactTableModel) -> list[str]:
    """Every row, read top to bottom as a scrolling view does."""
    return [model.index(row, ContactColumn.EMAIL).data() for row in range(model.rowCount())]


def test_a_page_read_after_a_contact_was_added_above_repeats_no_row(
    model: ContactTableModel, gui_ctx: AppContext
) -> None:
    assert model.rows_held() == PAGE_SIZE  # the first page only
    last_shown = model.index(PAGE_SIZE - 1, ContactColumn.EMAIL).data()
    # Added elsewhere (another window, another desktop) after the first page was read,
    # sorting before its last row: by OFFSET, row PAGE_SIZE would show that row again.
    gui_ctx.contacts.add("aaron@example.com")
    emails = _read_all(model)
    assert len(emails) == len(set(emails)), "a row shown twice"
    assert emails[PAGE_SIZE - 1 : PAGE_SIZE + 1] == [
        last_shown,
        gui_ctx.contacts.search(after_email=last_shown, limit=1)[0].email,
    ]


def test_a_page_read_after_a_contact_was_deleted_above_skips_no_row(
    model: ContactTableModel, gui_ctx: AppContext
) -> None:
    everyone = _read_all(model)  # as the table showed them; then only page 0 is kept
    model.set_filter(ContactFilter())
    gui_ctx.contacts.delete(model.contact_at(5).id)  # elsewhere: the table is not told
    emails = _read_all(model)
    # By OFFSET, the row after the first page's last one would be missing.
    assert emails[PAGE_SIZE] == everyone[PAGE_SIZE]
    assert emails[: PAGE_SIZE + 1] == everyone[: PAGE_SIZE + 1]


def test_scrolling_back_up_reads_the_page_that_ends_right_before_the_one_held(
    gui_ctx: AppContext, tmp_path: Path
) -> None:
    gui_ctx.contacts.import_csv(people_csv(tmp_path / "people.csv", 4 * PAGE_SIZE), "Customers")
    model = ContactTableModel(gui_ctx.contacts)
    model.set_filter(ContactFilter())
    everyone = [c.email for c in gui_ctx.contacts.search(limit=10 * PAGE_SIZE)]
    # Jump to the fourth page (no neighbour held: read by offset), then scroll back up.
    assert model.index(3 * PAGE_SIZE, ContactColumn.EMAIL).data() == everyone[3 * PAGE_SIZE]
    added = "person00500a@example.com"  # sorts inside the third page
    gui_ctx.contacts.add(added)
    third = [
        model.index(row, ContactColumn.EMAIL).data()
        for row in range(3 * PAGE_SIZE - 1, 2 * PAGE_SIZE - 1, -1)
    ][::-1]
    # It ends right before the first row held below it: no row skipped or repeated there.
    assert third[-1] == everyone[3 * PAGE_SIZE - 1]
    assert added in third
    assert third == sorted(third)


def test_keyset_pages_agree_with_offset_pages_on_an_unchanged_table(
    gui_ctx: AppContext, tmp_path: Path, qtbot: QtBot
) -> None:
    gui_ctx.contacts.import_csv(people_csv(tmp_path / "people.csv", 2 * PAGE_SIZE + 1), "Customers")
    by_offset = [c.email for c in gui_ctx.contacts.search(limit=10 * PAGE_SIZE)]
    model = ContactTableModel(gui_ctx.contacts)
    model.set_filter(ContactFilter(text="example.com"))
    qtbot.waitUntil(lambda: not model.is_counting())
    assert model.total() == len(by_offset) == 2 * PAGE_SIZE + 3
    assert _read_all(model) == by_offset


def test_a_search_everyone_matches_shows_a_page_at_once_and_counts_afterwards(
    model: ContactTableModel, gui_ctx: AppContext, qtbot: QtBot, qtmodeltester: ModelTester
) -> None:
    everyone = [c.email for c in gui_ctx.contacts.search(limit=10 * PAGE_SIZE)]
    with qtbot.waitSignal(model.counted, timeout=10_000) as counted:
        model.set_filter(ContactFilter(text="EXAMPLE.COM"))
        assert model.is_counting()
        assert model.total() == PAGE_SIZE  # the first page, shown before the count
        qtmodeltester.check(model)  # type: ignore[no-untyped-call]  # pytest-qt leaves it untyped
    assert counted.args == [len(everyone)]
    assert not model.is_counting() and model.rowCount() == len(everyone)
    assert _read_all(model) == everyone


def test_a_count_that_comes_back_after_a_newer_search_is_dropped(
    model: ContactTableModel, qtbot: QtBot
) -> None:
    with qtbot.assertNotEmitted(model.counted):
        model.set_filter(ContactFilter(text="example.com"))  # counted on the pool
        model.set_filter(ContactFilter(text="person0001"))  # ten matches: counted at once
        assert not model.is_counting() and model.total() == 10
        qtbot.waitUntil(lambda: model._count_task is None)  # the old count came back
    assert model.total() == 10 and not model.is_counting()


def test_a_count_the_database_refuses_leaves_the_rows_read_and_stops_counting(
    model: ContactTableModel, gui_ctx: AppContext, qtbot: QtBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    def count(*_args: object, **_kwargs: object) -> int:
        raise StorageError("busy", "The database is busy: another program is writing to it.")

    monkeypatch.setattr(gui_ctx.contacts, "count", count)  # as when another program holds it
    with qtbot.waitSignal(model.counted, timeout=10_000) as counted:
        model.set_filter(ContactFilter(text="example.com"))
    assert counted.args == [PAGE_SIZE]
    assert not model.is_counting() and model.rowCount() == PAGE_SIZE


def test_reading_again_starts_at_the_first_contact_whatever_pages_were_held(
    model: ContactTableModel, gui_ctx: AppContext
) -> None:
    _read_all(model)  # every page held
    gui_ctx.contacts.add("aaron@example.com")  # before the first row shown
    model.reload()
    assert model.index(0, ContactColumn.EMAIL).data() == "aaron@example.com"
    assert _read_all(model) == [c.email for c in gui_ctx.contacts.search(limit=10 * PAGE_SIZE)]
