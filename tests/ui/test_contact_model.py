"""The Contacts table's paged model (`PagedTableModel`): rows taken out of it after a delete
read right at every step, from the held pages, and afterwards from the database."""

from __future__ import annotations

from pathlib import Path

import pytest
from pytestqt.modeltest import ModelTester

from campaign_desktop.context import AppContext
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
