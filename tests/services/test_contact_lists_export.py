"""Contact lists in bulk (add to / remove from a list a chunk per transaction, rename, what a
delete would touch), the custom-field names, and the CSV export with its round trip through
the import; on a real migrated database (``both_backends``: an SQLite file and PostgreSQL)."""

from __future__ import annotations

import codecs
import csv
import io
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import select, update

from campaign_desktop.domain.clock import ManualClock
from campaign_desktop.domain.errors import ValidationError
from campaign_desktop.persistence.db import Database
from campaign_desktop.persistence.models import Campaign, Contact
from campaign_desktop.services import contacts as contacts_module
from campaign_desktop.services.contacts import BULK_CHUNK, ContactService
from tests.services.conftest import Snapshot
from tests.services.test_contact_bulk import add_numbered
from tests.services.test_contacts import add_campaign, write_csv

TakeSnapshot = Callable[[], Snapshot]

pytestmark = pytest.mark.both_backends


def read_export(path: Path) -> list[list[str]]:
    raw = path.read_bytes()
    assert raw.startswith(codecs.BOM_UTF8), "Excel needs the BOM to read UTF-8"
    return list(csv.reader(io.StringIO(raw.decode("utf-8-sig"), newline="")))


# --- add to / remove from a list ---------------------------------------------------------


def test_add_to_a_new_list_creates_it_and_adds_a_chunk_per_transaction(
    database: Database, clock: ManualClock
) -> None:
    ids = add_numbered(database, 2 * BULK_CHUNK + 7, clock)
    contacts = ContactService(database, clock)
    contacts.add_to_list(ids[:3], "VIP")
    reports: list[tuple[int, int]] = []

    change = contacts.add_to_list(ids, "VIP", progress=lambda *done: reports.append(done))

    asked = len(ids)
    assert (change.handled, change.changed, change.unchanged) == (asked, asked - 3, 3)
    assert reports == [(BULK_CHUNK, asked), (2 * BULK_CHUNK, asked), (asked, asked)]
    assert {item.name: item.member_count for item in contacts.lists()}["VIP"] == asked


def test_cancelled_add_keeps_the_chunks_done_and_the_new_list(
    database: Database, clock: ManualClock
) -> None:
    ids = add_numbered(database, 2 * BULK_CHUNK, clock)
    contacts = ContactService(database, clock)
    cancel = threading.Event()

    change = contacts.add_to_list(ids, "VIP", progress=lambda *_: cancel.set(), cancel=cancel)

    assert change.cancelled
    assert (change.handled, change.changed) == (BULK_CHUNK, BULK_CHUNK)
    assert contacts.count(list_name="VIP") == BULK_CHUNK


@pytest.mark.parametrize(
    ("ids", "name", "field"),
    [([1], "  ", "list_name"), ([1], "x" * 201, "list_name"), ([], "VIP", "contacts")],
)
def test_add_to_list_refuses_bad_input_before_writing(
    contacts: ContactService,
    snapshot: TakeSnapshot,
    ids: list[int],
    name: str,
    field: str,
) -> None:
    contacts.add("ann@example.com")
    before = snapshot()
    with pytest.raises(ValidationError) as error:
        contacts.add_to_list(ids, name)
    assert error.value.field == field
    assert snapshot() == before


def test_remove_from_list_takes_out_members_only_and_refuses_an_unknown_list(
    database: Database, clock: ManualClock, snapshot: TakeSnapshot
) -> None:
    ids = add_numbered(database, BULK_CHUNK + 10, clock)  # all in "Customers"
    contacts = ContactService(database, clock)
    contacts.remove_from_list(ids[:10], "Customers")

    change = contacts.remove_from_list(ids, "Customers")

    assert (change.handled, change.changed, change.unchanged) == (len(ids), BULK_CHUNK, 10)
    assert contacts.count(list_name="Customers") == 0
    assert contacts.count() == len(ids)  # they stay contacts
    before = snapshot()
    with pytest.raises(ValidationError, match="no contact list called “Nope”") as error:
        contacts.remove_from_list(ids, "Nope")
    assert error.value.field == "list_name"
    assert snapshot() == before


def test_a_renamed_list_stays_the_audience_of_its_campaigns(
    contacts: ContactService, database: Database, snapshot: TakeSnapshot
) -> None:
    contacts.add("ann@example.com", lists=("Customers",))
    contacts.create_list("VIP")
    add_campaign(database, "Spring sale", ("Customers",))
    (customers,) = [item for item in contacts.lists() if item.name == "Customers"]

    contacts.rename_list(customers.id, "Clients")

    with database.read() as session:
        campaign = session.scalars(select(Campaign)).one()
        assert [item.name for item in campaign.lists] == ["Clients"]
    before = snapshot()
    with pytest.raises(ValidationError, match="A list named “VIP” already exists") as error:
        contacts.rename_list(customers.id, " VIP ")
    assert error.value.field == "name"
    with pytest.raises(ValidationError) as empty:
        contacts.rename_list(customers.id, "")
    assert empty.value.field == "name"
    assert snapshot() == before


def test_list_usage_names_the_campaigns_and_counts_the_members(
    contacts: ContactService, database: Database
) -> None:
    contacts.add("ann@example.com", lists=("Customers",))
    contacts.add("bob@example.com", lists=("Customers",))
    contacts.unsubscribe("bob@example.com")
    add_campaign(database, "Spring sale", ("Customers",))
    add_campaign(database, "Autumn news", ("Customers",))
    (customers,) = contacts.lists()

    usage = contacts.list_usage(customers.id)

    assert (usage.list.member_count, usage.list.subscribed_count) == (2, 1)
    assert usage.campaigns == ("Autumn news", "Spring sale")


def test_ids_are_the_ids_of_search_in_its_order(contacts: ContactService) -> None:
    for name in ("dee", "ann", "cid", "bob", "eve"):
        contacts.add(f"{name}@example.com", lists=("VIP",) if name != "cid" else ())
    everyone = contacts.search(list_name="VIP")
    assert contacts.ids(list_name="VIP", offset=1, limit=2) == [c.id for c in everyone[1:3]]
    assert contacts.ids("e", offset=0, limit=10) == [c.id for c in contacts.search("e")]


# --- custom-field names ------------------------------------------------------------------


def test_attribute_names_lists_every_key_once_sorted(
    contacts: ContactService, database: Database
) -> None:
    contacts.add("ann@example.com", attributes={"company": "Acme", "city": "Oslo"})
    contacts.add("bob@example.com", attributes={"company": "Beta", "vip": True})
    contacts.add("cid@example.com")
    odd = contacts.add("dee@example.com")
    with database.write() as session:
        # A JSON null written by hand (another tool): no keys, and no failure either.
        session.execute(update(Contact).where(Contact.id == odd.id).values(attributes=None))

    assert contacts.attribute_names() == ["city", "company", "vip"]


# --- CSV export --------------------------------------------------------------------------


def test_export_writes_every_contact_with_lists_status_and_custom_fields(
    contacts: ContactService, tmp_path: Path
) -> None:
    contacts.add(
        "zoe@example.com",
        "Zoë",
        "Ďurová",
        lists=("VIP", "Customers"),
        attributes={"company": "Acme, Inc.", "score": 7},
    )
    contacts.add("ann@example.com", "Ann", attributes={"city": "Oslo", "vip": True})
    contacts.add("-bob@example.com", "=HYPERLINK(1)", attributes={"note": "@home"})
    contacts.unsubscribe("ann@example.com")
    path = tmp_path / "contacts.csv"

    report = contacts.export_csv(path)

    assert report.rows == 3
    assert not report.cancelled
    assert read_export(path) == [
        [*contacts_module.EXPORT_COLUMNS, "city", "company", "note", "score", "vip"],
        ["'-bob@example.com", "'=HYPERLINK(1)", "", "subscribed", "", "", "", "'@home", "", ""],
        ["ann@example.com", "Ann", "", "unsubscribed", "", "Oslo", "", "", "", "true"],
        [
            *("zoe@example.com", "Zoë", "Ďurová", "subscribed", "Customers; VIP"),
            *("", "Acme, Inc.", "", "7", ""),
        ],
    ]
    assert b"\r\n" in path.read_bytes()  # RFC 4180 line ends, as Excel writes them


def test_export_of_a_filter_has_its_contacts_and_only_their_fields(
    contacts: ContactService, tmp_path: Path
) -> None:
    contacts.add("ann@example.com", lists=("VIP",), attributes={"company": "Acme"})
    contacts.add("anna@example.com", lists=("VIP",), attributes={"city": "Oslo"})
    contacts.add("bob@example.com", lists=("VIP",), attributes={"score": "3"})
    contacts.add("annie@example.com", attributes={"phone": "1"})
    contacts.unsubscribe("anna@example.com")
    path = tmp_path / "vip.csv"

    report = contacts.export_csv(path, "ann", list_name="VIP", status="subscribed")

    assert report.rows == 1
    rows = read_export(path)
    assert rows[0][5:] == ["company"]
    assert [row[0] for row in rows[1:]] == ["ann@example.com"]
    with pytest.raises(ValidationError) as error:
        contacts.export_csv(tmp_path / "x.csv", status="gone")
    assert error.value.field == "status"
    assert not (tmp_path / "x.csv").exists()


def test_export_reads_a_page_at_a_time_and_reports_progress(
    contacts: ContactService, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(contacts_module, "EXPORT_PAGE", 4)
    for number in range(10):
        contacts.add(f"p{number:02d}@example.com", lists=("A", "B") if number % 2 else ())
    reports: list[tuple[int, int]] = []
    stream = io.BytesIO()

    report = contacts.export_csv(stream, progress=lambda *done: reports.append(done))

    assert report.rows == 10
    assert reports == [(4, 10), (8, 10), (10, 10)]
    rows = list(csv.reader(io.StringIO(stream.getvalue().decode("utf-8-sig"), newline="")))
    assert [row[0] for row in rows[1:]] == [f"p{number:02d}@example.com" for number in range(10)]
    assert [row[4] for row in rows[1:4]] == ["", "A; B", ""]
    assert not stream.closed


def test_cancelled_export_leaves_no_file_and_an_older_file_as_it_was(
    contacts: ContactService, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(contacts_module, "EXPORT_PAGE", 2)
    for number in range(6):
        contacts.add(f"p{number}@example.com")
    folder = tmp_path / "exports"
    folder.mkdir()
    path = folder / "contacts.csv"
    path.write_text("the old export\n")
    cancel = threading.Event()

    report = contacts.export_csv(path, progress=lambda *_: cancel.set(), cancel=cancel)

    assert report.cancelled
    assert report.rows == 2
    assert path.read_text() == "the old export\n"
    assert sorted(item.name for item in folder.iterdir()) == ["contacts.csv"]


def test_export_to_a_folder_that_cannot_be_written_is_a_validation_error(
    contacts: ContactService, tmp_path: Path
) -> None:
    contacts.add("ann@example.com")
    with pytest.raises(ValidationError, match="could not be saved") as error:
        contacts.export_csv(tmp_path / "missing" / "contacts.csv")
    assert error.value.field == "file"


def test_an_export_imports_back_to_the_same_contacts(
    contacts: ContactService, tmp_path: Path
) -> None:
    source = write_csv(
        tmp_path,
        "Email,First Name,Last Name,Company,Phone,Note\n"
        'zoe@example.com,Zoë,Ďurová,"Acme, Inc.",+47 22 00 00 00,"two\nlines"\n'
        "-bob@example.com,Bob,=1+1,@corp,-5,'quoted\n"
        'ann@example.com,Ann,"O""Neil",,,\n',
        name="source.csv",
    )
    contacts.import_csv(source, "Customers")
    contacts.add_to_list([must.id for must in contacts.search()[:1]], "VIP")
    contacts.unsubscribe("zoe@example.com")  # an opt-out travels with the file
    contacts.mark_bounced("ann@example.com")
    before = [
        (view.email, view.first_name, view.last_name, view.attributes, view.status)
        for view in contacts.search()
    ]
    exported = tmp_path / "exported.csv"
    contacts.export_csv(exported)
    contacts.delete_many([view.id for view in contacts.search()])

    report = contacts.import_csv(exported, "Again")

    assert (report.created, report.skipped) == (3, [])
    after = [
        (view.email, view.first_name, view.last_name, view.attributes, view.status)
        for view in contacts.search()
    ]
    assert after == before
    preview = contacts.preview_csv(exported)
    assert preview.mapping["status"] == "status"
    assert preview.mapping["lists"] == "ignore"


def test_a_status_column_only_ever_takes_consent_away(
    contacts: ContactService, tmp_path: Path
) -> None:
    """New or existing, a row saying unsubscribed or bounced makes its contact so; a row
    saying subscribed never re-subscribes anyone (consent); a word the app does not know
    refuses its row (tests/services/test_import_status.py)."""
    contacts.add("old-out@example.com")
    contacts.unsubscribe("old-out@example.com")
    contacts.add("old-in@example.com")
    source = write_csv(
        tmp_path,
        "email,status\n"
        "old-out@example.com,subscribed\n"
        "old-in@example.com,Unsubscribed\n"
        "new-out@example.com, BOUNCED \n"
        "new-in@example.com,subscribed\n"
        "new-odd@example.com,maybe later\n",
    )
    report = contacts.import_csv(source, "Customers")
    assert (report.created, report.updated, [row for row, _ in report.skipped]) == (2, 2, [6])
    status = {view.email: view.status for view in contacts.search()}
    assert status == {
        "new-in@example.com": "subscribed",
        "new-out@example.com": "bounced",
        "old-in@example.com": "unsubscribed",
        "old-out@example.com": "unsubscribed",
    }
    changed = contacts.find("old-in@example.com")
    assert changed is not None
    assert changed.status_reason == "Marked so by an imported file's status column."
