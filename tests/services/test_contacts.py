"""Tests for ContactService on a real migrated database (an SQLite file and PostgreSQL:
``both_backends``, tests/conftest.py): contacts, lists and CSV import.

Every refused call is checked to leave the database exactly as it was.
"""

from __future__ import annotations

import codecs
import io
import threading
import tracemalloc
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from campaign_desktop.domain.clock import ManualClock
from campaign_desktop.domain.errors import NotFoundError, ValidationError
from campaign_desktop.domain.views import ContactView
from campaign_desktop.persistence.db import Database
from campaign_desktop.persistence.models import Campaign, ContactList
from campaign_desktop.persistence.queries import attribute_keys
from campaign_desktop.services import contacts as contacts_module
from campaign_desktop.services.contacts import BATCH_SIZE, ContactService
from tests.services.conftest import Snapshot
from tests.services.test_csv_import import WholeReadRefused

TakeSnapshot = Callable[[], Snapshot]

pytestmark = pytest.mark.both_backends


def write_csv(tmp_path: Path, content: str, encoding: str = "utf-8", name: str = "c.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(content.encode(encoding))
    return path


def numbered_csv(tmp_path: Path, count: int, header: str = "email,first_name,last_name") -> Path:
    """`count` rows person0…@example.com, written line by line."""
    path = tmp_path / f"numbered-{count}.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        handle.write(header + "\n")
        for number in range(count):
            handle.write(f"person{number}@example.com,First{number},Last{number}\n")
    return path


def must_find(contacts: ContactService, email: str) -> ContactView:
    view = contacts.find(email)
    assert view is not None, f"{email} is not in the contacts"
    return view


def add_campaign(database: Database, name: str, list_names: tuple[str, ...]) -> None:
    """A campaign row straight through the models (the campaign service is tested elsewhere)."""
    with database.sessions.begin() as session:
        lists = list(session.scalars(select(ContactList).where(ContactList.name.in_(list_names))))
        session.add(
            Campaign(
                name=name,
                subject="News",
                body_text="Hello",
                from_email="news@shop.example",
                lists=lists,
            )
        )


# --- add, get, find, update, delete ------------------------------------------------------


def test_add_stores_a_subscribed_contact_with_normalised_email_and_new_lists(
    contacts: ContactService, clock: ManualClock
) -> None:
    view = contacts.add(
        "  Ann.Lee@Example.COM ",
        first_name=" Ann ",
        last_name="Lee",
        lists=("Customers", "VIP"),
        attributes={"company": "Acme", "vip_level": 2},
    )
    assert view.email == "Ann.Lee@example.com"
    assert (view.first_name, view.last_name) == ("Ann", "Lee")
    assert view.status == "subscribed"
    assert view.unsubscribed_at is None
    assert view.lists == ("Customers", "VIP")
    assert view.attributes == {"company": "Acme", "vip_level": 2}
    assert view.created_at == view.updated_at == clock.now()
    assert contacts.get(view.id) == view
    assert contacts.find("Ann.Lee@EXAMPLE.com ") == view
    assert contacts.find("ann.lee@example.com") is None  # the local part keeps its case
    assert [(item.name, item.member_count) for item in contacts.lists()] == [
        ("Customers", 1),
        ("VIP", 1),
    ]


def test_add_without_lists_puts_the_contact_in_no_list(contacts: ContactService) -> None:
    assert contacts.add("ann@example.com").lists == ()
    assert contacts.lists() == []


def test_add_accepts_a_single_list_name_as_a_string(contacts: ContactService) -> None:
    assert contacts.add("ann@example.com", lists="Customers").lists == ("Customers",)


def test_adding_an_existing_email_is_refused_and_changes_nothing(
    contacts: ContactService, snapshot: TakeSnapshot
) -> None:
    contacts.add("ann@example.com", first_name="Ann")
    before = snapshot()
    with pytest.raises(ValidationError) as error:
        contacts.add("ann@EXAMPLE.com", first_name="Other", lists=("New list",))
    assert error.value.field == "email"
    assert error.value.message == "ann@example.com is already in your contacts."
    assert snapshot() == before


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"email": "ann@"}, "email"),
        ({"email": ""}, "email"),
        ({"email": "ann@example.com", "first_name": "x" * 201}, "first_name"),
        ({"email": "ann@example.com", "lists": ("",)}, "lists"),
        ({"email": "ann@example.com", "attributes": {"Company Name": "Acme"}}, "attributes"),
        ({"email": "ann@example.com", "attributes": {"full_name": "Ann"}}, "attributes"),
        ({"email": "ann@example.com", "attributes": {"tags": ["a", "b"]}}, "attributes"),
    ],
)
def test_add_with_invalid_input_is_refused_and_changes_nothing(
    contacts: ContactService, snapshot: TakeSnapshot, kwargs: dict[str, object], field: str
) -> None:
    before = snapshot()
    with pytest.raises(ValidationError) as error:
        contacts.add(**kwargs)  # type: ignore[arg-type]
    assert error.value.field == field
    assert error.value.message
    assert snapshot() == before


def test_find_returns_none_for_unknown_or_invalid_addresses(contacts: ContactService) -> None:
    contacts.add("ann@example.com")
    assert contacts.find("bob@example.com") is None
    assert contacts.find("not an address") is None


def test_update_changes_names_and_replaces_attributes(
    contacts: ContactService, clock: ManualClock
) -> None:
    view = contacts.add("ann@example.com", first_name="Ann", attributes={"a": "1", "b": "2"})
    clock.advance(timedelta(minutes=5))
    updated = contacts.update(view.id, last_name="Lee", attributes={"b": "3"})
    assert (updated.first_name, updated.last_name) == ("Ann", "Lee")
    assert updated.attributes == {"b": "3"}
    assert updated.updated_at == clock.now() != updated.created_at
    assert contacts.get(view.id) == updated


def test_update_that_changes_nothing_keeps_updated_at(
    contacts: ContactService, clock: ManualClock
) -> None:
    view = contacts.add("ann@example.com", first_name="Ann")
    clock.advance(timedelta(minutes=5))
    assert contacts.update(view.id, first_name="Ann").updated_at == view.updated_at


def test_update_with_a_bad_attribute_key_is_refused_and_changes_nothing(
    contacts: ContactService, snapshot: TakeSnapshot
) -> None:
    view = contacts.add("ann@example.com", first_name="Ann")
    before = snapshot()
    with pytest.raises(ValidationError, match="cannot be an attribute name"):
        contacts.update(view.id, first_name="Bo", attributes={"2nd": "x"})
    assert snapshot() == before


def test_update_changes_the_address_and_sets_exactly_the_given_lists(
    contacts: ContactService, clock: ManualClock
) -> None:
    view = contacts.add("ann@example.com", first_name="Ann", lists=("Customers", "VIP"))
    clock.advance(timedelta(minutes=5))
    updated = contacts.update(view.id, email=" Ann.Lee@Example.COM ", lists=("VIP", "Press"))
    assert updated.email == "Ann.Lee@example.com"  # the domain lower-cased, the rest kept
    assert sorted(updated.lists) == ["Press", "VIP"]
    assert updated.updated_at == clock.now()
    assert contacts.find("ann@example.com") is None
    assert {item.name: item.member_count for item in contacts.lists()} == {
        "Customers": 0,
        "Press": 1,
        "VIP": 1,
    }
    clock.advance(timedelta(minutes=5))
    again = contacts.update(view.id, lists=("Press", "VIP"))
    assert again.updated_at == updated.updated_at  # the same lists: nothing changed


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"email": "bob@example.com"}, "email"),  # another contact's address
        ({"email": "not an address"}, "email"),
        ({"lists": ("",)}, "lists"),
    ],
)
def test_update_refusals_name_the_field_and_change_nothing(
    contacts: ContactService, snapshot: TakeSnapshot, changes: dict[str, object], field: str
) -> None:
    view = contacts.add("ann@example.com", first_name="Ann", lists=("Customers",))
    contacts.add("bob@example.com")
    before = snapshot()
    with pytest.raises(ValidationError) as caught:
        contacts.update(view.id, first_name="Annie", **changes)  # type: ignore[arg-type]
    assert caught.value.field == field
    assert snapshot() == before


def test_unknown_contact_ids_raise_not_found(contacts: ContactService) -> None:
    with pytest.raises(NotFoundError):
        contacts.get(999)
    with pytest.raises(NotFoundError):
        contacts.update(999, first_name="X")
    with pytest.raises(NotFoundError):
        contacts.delete(999)


def test_delete_removes_the_contact_and_its_memberships_but_not_the_list(
    contacts: ContactService,
) -> None:
    ann = contacts.add("ann@example.com", lists=("Customers",))
    contacts.add("bob@example.com", lists=("Customers",))
    contacts.delete(ann.id)
    assert contacts.find("ann@example.com") is None
    (customers,) = contacts.lists()
    assert customers.member_count == 1


# --- subscription state ------------------------------------------------------------------


def test_unsubscribe_then_resubscribe(contacts: ContactService, clock: ManualClock) -> None:
    contacts.add("ann@example.com", lists=("Customers",))
    clock.advance(timedelta(hours=1))
    gone = contacts.unsubscribe(" ann@EXAMPLE.com ")
    assert gone.status == "unsubscribed"
    assert gone.unsubscribed_at == clock.now()
    (customers,) = contacts.lists()
    assert (customers.member_count, customers.subscribed_count) == (1, 0)

    back = contacts.resubscribe("ann@example.com")
    assert back.status == "subscribed"
    assert back.unsubscribed_at is None


def test_unsubscribing_twice_keeps_the_first_unsubscribe_time(
    contacts: ContactService, clock: ManualClock
) -> None:
    contacts.add("ann@example.com")
    first = contacts.unsubscribe("ann@example.com").unsubscribed_at
    clock.advance(timedelta(days=1))
    assert contacts.unsubscribe("ann@example.com").unsubscribed_at == first


def test_mark_bounced_stops_a_subscriber_but_never_overrides_an_unsubscribe(
    contacts: ContactService,
) -> None:
    contacts.add("ann@example.com")
    contacts.add("bob@example.com")
    contacts.unsubscribe("bob@example.com")
    assert contacts.mark_bounced("ann@example.com").status == "bounced"
    assert contacts.mark_bounced("bob@example.com").status == "unsubscribed"
    assert contacts.resubscribe("ann@example.com").status == "subscribed"


@pytest.mark.parametrize("action", ["unsubscribe", "resubscribe", "mark_bounced"])
def test_status_changes_for_unknown_or_invalid_emails_are_refused(
    contacts: ContactService, snapshot: TakeSnapshot, action: str
) -> None:
    contacts.add("ann@example.com")
    before = snapshot()
    for email in ("bob@example.com", "bob@"):
        with pytest.raises(ValidationError) as error:
            getattr(contacts, action)(email)
        assert error.value.field == "email"
    assert snapshot() == before


# --- search and count --------------------------------------------------------------------


def test_search_pages_through_contacts_ordered_by_email(contacts: ContactService) -> None:
    for number in reversed(range(25)):
        contacts.add(f"person{number:02d}@example.com")
    first = contacts.search(limit=10)
    second = contacts.search(offset=10, limit=10)
    last = contacts.search(offset=20, limit=10)
    emails = [view.email for view in first + second + last]
    assert emails == [f"person{number:02d}@example.com" for number in range(25)]
    assert len(last) == 5
    assert contacts.count() == 25


def test_search_matches_email_and_names_case_insensitively(contacts: ContactService) -> None:
    contacts.add("ann@example.com", first_name="Ann", last_name="Lee")
    contacts.add("bob@shop.example", first_name="Bob", last_name="Leeds")
    contacts.add("cy@example.com", first_name="Élodie", last_name="Zoë")
    found = {text: [view.email for view in contacts.search(text)] for text in ("LEE", "SHOP")}
    assert found == {"LEE": ["ann@example.com", "bob@shop.example"], "SHOP": ["bob@shop.example"]}
    assert [view.email for view in contacts.search("ann lee")] == ["ann@example.com"]
    # Beyond ASCII too: SQLite's LIKE alone would miss these.
    assert [view.email for view in contacts.search("élodie")] == ["cy@example.com"]
    assert contacts.count("ZOË") == 1


def test_search_text_and_status_filter_both_hold(contacts: ContactService) -> None:
    # The text's "email OR name" must stay one term beside the status and list filters.
    contacts.add("ann@example.com", first_name="Lee", lists=("VIP",))
    contacts.add("lee@example.com", lists=("VIP",))
    contacts.add("bob@example.com")
    contacts.unsubscribe("bob@example.com")
    assert contacts.search("lee", status="unsubscribed") == []
    assert contacts.count("lee", status="subscribed", list_name="VIP") == 2
    assert contacts.count("élodie", status="unsubscribed") == 0


def test_search_treats_like_wildcards_as_plain_characters(contacts: ContactService) -> None:
    contacts.add("ann_lee@example.com")
    contacts.add("annxlee@example.com")
    contacts.add("bob@example.com", first_name="100%")
    assert [view.email for view in contacts.search("ann_")] == ["ann_lee@example.com"]
    assert [view.email for view in contacts.search("%")] == ["bob@example.com"]


def test_search_and_count_filter_by_list_and_status(contacts: ContactService) -> None:
    contacts.add("ann@example.com", lists=("Customers",))
    contacts.add("bob@example.com", lists=("Customers", "VIP"))
    contacts.add("cy@example.com", lists=("VIP",))
    contacts.unsubscribe("bob@example.com")
    assert [view.email for view in contacts.search(list_name="Customers")] == [
        "ann@example.com",
        "bob@example.com",
    ]
    assert contacts.count(list_name="VIP", status="subscribed") == 1
    assert contacts.search(list_name="VIP", status="unsubscribed")[0].lists == (
        "Customers",
        "VIP",
    )
    assert contacts.count(list_name="No such list") == 0


def test_search_with_an_unknown_status_is_a_validation_error(contacts: ContactService) -> None:
    with pytest.raises(ValidationError) as error:
        contacts.search(status="gone")
    assert error.value.field == "status"


# --- lists -------------------------------------------------------------------------------


def test_lists_are_sorted_by_name_with_member_and_subscribed_counts(
    contacts: ContactService,
) -> None:
    contacts.create_list("vip", "Best customers")
    contacts.create_list("Empty")
    contacts.add("ann@example.com", lists=("Customers", "vip"))
    contacts.add("bob@example.com", lists=("Customers",))
    contacts.unsubscribe("bob@example.com")
    assert [
        (item.name, item.description, item.member_count, item.subscribed_count)
        for item in contacts.lists()
    ] == [("Customers", "", 2, 1), ("Empty", "", 0, 0), ("vip", "Best customers", 1, 1)]


@pytest.mark.parametrize("name", ["", "   ", "Customers"])
def test_create_list_refuses_empty_and_duplicate_names(
    contacts: ContactService, snapshot: TakeSnapshot, name: str
) -> None:
    contacts.create_list("Customers")
    before = snapshot()
    with pytest.raises(ValidationError) as error:
        contacts.create_list(name)
    assert error.value.field == "name"
    assert snapshot() == before


def test_rename_list_keeps_members_and_refuses_a_taken_name(
    contacts: ContactService, snapshot: TakeSnapshot
) -> None:
    customers = contacts.create_list("Customers")
    contacts.create_list("VIP")
    contacts.add("ann@example.com", lists=("Customers",))
    renamed = contacts.rename_list(customers.id, "Clients")
    assert (renamed.name, renamed.member_count) == ("Clients", 1)
    assert must_find(contacts, "ann@example.com").lists == ("Clients",)
    before = snapshot()
    with pytest.raises(ValidationError, match="A list named “VIP” already exists"):
        contacts.rename_list(customers.id, "VIP")
    with pytest.raises(NotFoundError):
        contacts.rename_list(999, "Other")
    assert snapshot() == before


def test_delete_list_keeps_its_contacts(contacts: ContactService) -> None:
    contacts.add("ann@example.com", lists=("Customers", "VIP"))
    (customers,) = [item for item in contacts.lists() if item.name == "Customers"]
    contacts.delete_list(customers.id)
    assert [item.name for item in contacts.lists()] == ["VIP"]
    assert must_find(contacts, "ann@example.com").lists == ("VIP",)


def test_delete_list_is_refused_while_a_campaign_sends_to_it(
    contacts: ContactService, database: Database, snapshot: TakeSnapshot
) -> None:
    contacts.add("ann@example.com", lists=("Customers",))
    add_campaign(database, "Spring sale", ("Customers",))
    add_campaign(database, "Autumn news", ("Customers",))
    (customers,) = contacts.lists()
    before = snapshot()
    with pytest.raises(ValidationError) as error:
        contacts.delete_list(customers.id)
    assert error.value.field == "list"
    assert "is the audience of campaigns “Autumn news” and “Spring sale”" in error.value.message
    assert snapshot() == before


def test_add_to_list_and_remove_from_list_count_what_changed(contacts: ContactService) -> None:
    ann = contacts.add("ann@example.com", lists=("VIP",))
    bob = contacts.add("bob@example.com")
    added = contacts.add_to_list([ann.id, bob.id, bob.id], "VIP")
    assert (added.list_name, added.handled, added.changed, added.unchanged) == ("VIP", 2, 1, 1)
    assert contacts.add_to_list([ann.id], "New list").changed == 1
    assert contacts.count(list_name="VIP") == 2
    removed = contacts.remove_from_list([ann.id, bob.id], "VIP")
    assert (removed.changed, removed.unchanged) == (2, 0)
    assert contacts.remove_from_list([ann.id], "VIP").unchanged == 1
    assert contacts.get(ann.id).lists == ("New list",)


def test_add_to_list_skips_a_contact_deleted_meanwhile(contacts: ContactService) -> None:
    ann = contacts.add("ann@example.com")
    added = contacts.add_to_list([ann.id, 999], "VIP")
    assert (added.handled, added.changed, added.unchanged) == (2, 1, 0)
    assert [view.email for view in contacts.search(list_name="VIP")] == ["ann@example.com"]


def test_remove_from_an_unknown_list_is_a_validation_error(contacts: ContactService) -> None:
    ann = contacts.add("ann@example.com")
    with pytest.raises(ValidationError) as error:
        contacts.remove_from_list([ann.id], "Nope")
    assert error.value.field == "list_name"


# --- CSV import: encodings and formats ---------------------------------------------------

NAMES_CSV = (
    "email,first_name,last_name,city\n"
    "zoe@example.com,Zoë,Müller,Köln\n"
    "cafe@example.com,Café,Ñandú,\n"
)


@pytest.mark.parametrize(
    "data",
    [
        NAMES_CSV.encode("utf-8"),
        codecs.BOM_UTF8 + NAMES_CSV.encode("utf-8"),
        NAMES_CSV.encode("cp1252"),
        NAMES_CSV.replace(",", ";").encode("cp1252"),
        NAMES_CSV.replace(",", "\t").encode("utf-16"),
    ],
    ids=["utf-8", "utf-8-bom", "cp1252", "cp1252-semicolon", "utf-16-tab"],
)
def test_import_reads_accented_names_correctly_in_every_encoding(
    contacts: ContactService, tmp_path: Path, data: bytes
) -> None:
    path = tmp_path / "names.csv"
    path.write_bytes(data)
    report = contacts.import_csv(path)
    assert (report.created, report.updated, report.skipped) == (2, 0, [])
    zoe = must_find(contacts, "zoe@example.com")
    cafe = must_find(contacts, "cafe@example.com")
    assert (zoe.first_name, zoe.last_name, zoe.attributes) == ("Zoë", "Müller", {"city": "Köln"})
    # An empty cell is kept as null, so "city" stays a known template variable.
    assert (cafe.first_name, cafe.last_name, cafe.attributes) == ("Café", "Ñandú", {"city": None})
    assert zoe.lists == ("Customers",)


def test_imported_contacts_read_back_as_added_ones_and_are_found_by_search(
    contacts: ContactService, tmp_path: Path, clock: ManualClock
) -> None:
    # On SQLite the import writes with its own statements (issue 16): what it stores must
    # read back exactly as what `add` stores, and the search index must know it at once.
    added = contacts.add(
        "ann@example.com", first_name="Ann", last_name="Lee", attributes={"city": "Köln"}
    )
    path = write_csv(
        tmp_path,
        "email,first_name,last_name,city,vip\n"
        "bob@example.com,Bob,Åberg,Köln,\n"
        'INFO@Shop.Example,"Info, Desk",,"Say ""hi""",yes\n',
    )
    report = contacts.import_csv(path)
    assert (report.created, report.updated, report.skipped) == (2, 0, [])
    bob = must_find(contacts, "bob@example.com")
    assert (bob.first_name, bob.last_name, bob.status) == ("Bob", "Åberg", added.status)
    assert bob.attributes == {"city": "Köln", "vip": None}
    assert (bob.created_at, bob.updated_at) == (added.created_at, added.updated_at)
    assert bob.lists == ("Customers",)
    # RFC 2142's role names are stored lower-case, as email-validator normalises them.
    desk = must_find(contacts, "info@shop.example")
    assert (desk.first_name, desk.attributes) == ("Info, Desk", {"city": 'Say "hi"', "vip": "yes"})
    assert [c.email for c in contacts.search("berg")] == ["bob@example.com"]
    assert [c.email for c in contacts.search("Desk")] == ["info@shop.example"]
    assert [c.email for c in contacts.search("example")] == [
        "ann@example.com",
        "bob@example.com",
        "info@shop.example",
    ]


def test_import_creates_the_list_when_missing(contacts: ContactService, tmp_path: Path) -> None:
    contacts.add("ann@example.com", lists=("Customers",))
    path = write_csv(tmp_path, "email\nann@example.com\nbob@example.com\n")
    report = contacts.import_csv(path, list_name="Spring fair")
    assert (report.created, report.updated) == (1, 1)
    assert must_find(contacts, "ann@example.com").lists == ("Customers", "Spring fair")
    assert {item.name: item.member_count for item in contacts.lists()} == {
        "Customers": 1,
        "Spring fair": 2,
    }


def test_import_attribute_columns_become_template_variables(
    contacts: ContactService, tmp_path: Path, database: Database
) -> None:
    contacts.import_csv(write_csv(tmp_path, "Email,Company Name,VIP?\nann@example.com,Acme,\n"))
    with database.sessions() as session:
        assert attribute_keys(session) == ["company_name", "vip"]


# --- CSV import: rows that are skipped ---------------------------------------------------


def test_import_skips_invalid_and_duplicate_rows_with_reasons_and_imports_the_rest(
    contacts: ContactService, tmp_path: Path
) -> None:
    path = write_csv(
        tmp_path,
        "email,first_name\n"  # row 1
        "ann@example.com,Ann\n"  # row 2
        "foo@,Foo\n"  # row 3
        "\n"  # row 4: blank, ignored silently
        ",No address\n"  # row 5
        "ANN@Example.com ,Ann again\n"  # row 6: the local part differs in case: another person
        "bob@example.com,Bob\n"  # row 7
        "ann@EXAMPLE.COM,Ann twice\n"  # row 8: same address as row 2 once normalised
        "not an address,X\n",  # row 9
    )
    report = contacts.import_csv(path)
    assert (report.created, report.updated, report.rows_read) == (3, 0, 7)
    assert [row for row, _reason in report.skipped] == [3, 5, 8, 9]
    reasons = dict(report.skipped)
    assert reasons[3].startswith("“foo@” is not a valid email address")
    assert reasons[5] == "The email address is empty."
    assert reasons[8] == "Same email as row 2"
    assert reasons[9].startswith("“not an address” is not a valid email address")
    assert must_find(contacts, "ann@example.com").first_name == "Ann"
    assert contacts.count() == 3


def test_import_finds_duplicates_across_batches(contacts: ContactService, tmp_path: Path) -> None:
    path = numbered_csv(tmp_path, BATCH_SIZE + 10)
    with path.open("a", encoding="utf-8") as handle:
        handle.write("person1@example.com,Again,Again\n")
    report = contacts.import_csv(path)
    assert report.created == BATCH_SIZE + 10
    assert report.skipped == [(BATCH_SIZE + 12, "Same email as row 3")]
    assert must_find(contacts, "person1@example.com").first_name == "First1"


def test_import_skips_names_longer_than_the_database_allows(
    contacts: ContactService, tmp_path: Path
) -> None:
    path = write_csv(
        tmp_path, f"email,first_name\nann@example.com,{'x' * 201}\nbob@example.com,B\n"
    )
    report = contacts.import_csv(path)
    assert report.created == 1
    assert report.skipped == [(2, "The first name is longer than 200 characters.")]


def test_import_where_every_row_is_invalid_creates_no_list(
    contacts: ContactService, tmp_path: Path, snapshot: TakeSnapshot
) -> None:
    before = snapshot()
    report = contacts.import_csv(write_csv(tmp_path, "email\nfoo@\nbar\n"), "New list")
    assert [row for row, _reason in report.skipped] == [2, 3]
    assert snapshot() == before


# --- CSV import: existing contacts -------------------------------------------------------


def test_import_updates_an_existing_contact_instead_of_duplicating_it(
    contacts: ContactService, tmp_path: Path, clock: ManualClock
) -> None:
    ann = contacts.add(
        "ann@example.com", first_name="Ann", last_name="Lee", attributes={"city": "Oslo", "a": "1"}
    )
    clock.advance(timedelta(hours=1))
    path = write_csv(
        tmp_path, "email,first_name,last_name,city,team\nann@example.com,Annie,,,Red\n"
    )
    report = contacts.import_csv(path)
    assert (report.created, report.updated, report.skipped) == (0, 1, [])
    updated = contacts.get(ann.id)
    # Non-empty names overwrite, empty cells never erase; attributes merge.
    assert (updated.first_name, updated.last_name) == ("Annie", "Lee")
    assert updated.attributes == {"city": "Oslo", "a": "1", "team": "Red"}
    assert updated.updated_at == clock.now()
    assert updated.lists == ("Customers",)
    assert contacts.count() == 1


def test_reimporting_the_same_file_changes_no_contact(
    contacts: ContactService, tmp_path: Path, clock: ManualClock, snapshot: TakeSnapshot
) -> None:
    path = write_csv(tmp_path, "email,first_name,city\nann@example.com,Ann,Oslo\n")
    contacts.import_csv(path)
    before = snapshot()
    clock.advance(timedelta(hours=1))
    report = contacts.import_csv(path)
    assert (report.created, report.updated) == (0, 1)
    assert snapshot() == before  # not even updated_at moved


@pytest.mark.parametrize("status", ["unsubscribed", "bounced"])
def test_import_never_resubscribes_an_unsubscribed_or_bounced_contact(
    contacts: ContactService, tmp_path: Path, status: str
) -> None:
    contacts.add("ann@example.com", first_name="Ann")
    gone = (
        contacts.unsubscribe("ann@example.com")
        if status == "unsubscribed"
        else contacts.mark_bounced("ann@example.com")
    )
    report = contacts.import_csv(write_csv(tmp_path, "email,first_name\nann@example.com,Annie\n"))
    assert report.updated == 1
    after = must_find(contacts, "ann@example.com")
    assert (after.status, after.unsubscribed_at) == (status, gone.unsubscribed_at)
    assert after.first_name == "Annie"


# --- CSV import: mapping and refusals ----------------------------------------------------


def test_import_with_a_mapping_override(contacts: ContactService, tmp_path: Path) -> None:
    path = write_csv(
        tmp_path,
        "Email,Work address,Nick,Notes,City\n"
        "old@example.com,ann@work.example,Annie,Likes tea,Oslo\n",
    )
    report = contacts.import_csv(
        path,
        mapping={
            "Work address": "email",
            "Nick": "first_name",
            "Notes": "attr:remarks",
            "City": "ignore",
        },
    )
    assert report.created == 1
    ann = must_find(contacts, "ann@work.example")
    assert (ann.first_name, ann.attributes) == ("Annie", {"remarks": "Likes tea"})
    assert contacts.find("old@example.com") is None


@pytest.mark.parametrize(
    ("content", "kwargs", "field", "words"),
    [
        ("name,phone\nAnn,1\n", {}, "file", "No email column found. The columns are: “name”"),
        ("email,name\n", {}, "file", "no rows"),
        ("email,name\n\n\n", {}, "file", "no rows"),
        ("", {}, "file", "empty"),
        ("email\nann@example.com\n", {"mapping": {"Phone": "email"}}, "mapping", "no column"),
        ("email\nann@example.com\n", {"list_name": "  "}, "list_name", "name"),
    ],
)
def test_import_refused_before_any_row_changes_nothing(
    contacts: ContactService,
    tmp_path: Path,
    snapshot: TakeSnapshot,
    content: str,
    kwargs: dict[str, object],
    field: str,
    words: str,
) -> None:
    contacts.add("bob@example.com", first_name="Bob", lists=("Customers",))
    before = snapshot()
    with pytest.raises(ValidationError) as error:
        contacts.import_csv(write_csv(tmp_path, content), **kwargs)  # type: ignore[arg-type]
    assert error.value.field == field
    assert words in error.value.message
    assert snapshot() == before


def test_preview_csv_shows_the_mapping_the_import_would_use(
    contacts: ContactService, tmp_path: Path
) -> None:
    shown = contacts.preview_csv(write_csv(tmp_path, "E-mail;Vorname\nann@example.com;Ann\n"))
    assert (shown.delimiter, shown.headers) == (";", ("E-mail", "Vorname"))
    assert shown.mapping == {"E-mail": "email", "Vorname": "attr:vorname"}


# --- CSV import: batches, progress, cancel, streaming ------------------------------------


def test_import_reports_progress_after_each_batch(contacts: ContactService, tmp_path: Path) -> None:
    path = numbered_csv(tmp_path, 2 * BATCH_SIZE + 500)
    calls: list[tuple[float, int]] = []
    report = contacts.import_csv(
        path, progress=lambda fraction, rows: calls.append((fraction, rows))
    )
    assert report.created == 2 * BATCH_SIZE + 500
    assert [rows for _fraction, rows in calls] == [BATCH_SIZE, 2 * BATCH_SIZE, 2 * BATCH_SIZE + 500]
    fractions = [fraction for fraction, _rows in calls]
    assert fractions == sorted(fractions)
    assert 0 < fractions[0] < 1
    assert fractions[-1] == 1.0


def test_cancel_after_the_first_batch_keeps_that_batch_and_says_cancelled(
    contacts: ContactService, tmp_path: Path
) -> None:
    path = numbered_csv(tmp_path, 3 * BATCH_SIZE)
    cancel = threading.Event()
    report = contacts.import_csv(path, progress=lambda _f, _r: cancel.set(), cancel=cancel)
    assert report.cancelled
    assert (report.created, report.rows_read) == (BATCH_SIZE, BATCH_SIZE)
    assert contacts.count() == BATCH_SIZE
    assert contacts.count(list_name="Customers") == BATCH_SIZE


def test_cancel_before_the_start_imports_nothing(
    contacts: ContactService, tmp_path: Path, snapshot: TakeSnapshot
) -> None:
    cancel = threading.Event()
    cancel.set()
    before = snapshot()
    report = contacts.import_csv(numbered_csv(tmp_path, 10), cancel=cancel)
    assert report.cancelled and report.rows_read == 0
    assert snapshot() == before


def test_import_through_a_file_object_never_reads_it_whole(
    contacts: ContactService, tmp_path: Path
) -> None:
    path = numbered_csv(tmp_path, 3 * BATCH_SIZE)
    with io.BufferedReader(WholeReadRefused(path)) as stream:
        report = contacts.import_csv(stream)
        assert not stream.closed
    assert report.created == 3 * BATCH_SIZE


def test_import_memory_does_not_grow_with_the_length_of_the_file(
    contacts: ContactService, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Small batches keep this quick under tracemalloc. Ten times the rows must cost about
    # the same memory: a batch's worth. Holding every row would cost ten times as much.
    monkeypatch.setattr(contacts_module, "BATCH_SIZE", 100)
    short = numbered_csv(tmp_path, 500)
    long = tmp_path / "long.csv"
    with long.open("w", encoding="utf-8") as handle:
        handle.write("email,first_name,last_name\n")
        for number in range(5000):
            handle.write(f"other{number}@example.com,First{number},Last{number}\n")
    # Statements are compiled once per process: do that before measuring.
    contacts.import_csv(write_csv(tmp_path, "email\nwarm@example.com\n", name="warm.csv"))
    peaks = []
    for path in (short, long):
        tracemalloc.start()
        try:
            contacts.import_csv(path)
            peaks.append(tracemalloc.get_traced_memory()[1])
        finally:
            tracemalloc.stop()
    assert contacts.count() == 5501
    short_peak, long_peak = peaks
    assert long_peak < 1.5 * short_peak, f"{short_peak=} {long_peak=}"


@pytest.mark.slow
def test_import_of_100_000_rows_streams_and_keeps_every_row(
    contacts: ContactService, tmp_path: Path
) -> None:
    count = 100_000
    path = tmp_path / "big.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        handle.write("Email,First Name,Last Name,Company,City\n")
        for number in range(count):
            handle.write(
                f"person{number}@example{number % 97}.com,First{number},Last{number},"
                f"Company {number % 1000},City {number % 50}\n"
            )
        handle.write("person7@example7.com,Dup,Dup,,\n")

    # Through a file object that fails the test if the file is ever read whole. How long it
    # takes is a benchmark figure ("CSV import, 100,000 rows", benchmarks/fig_import.py,
    # ≤ 10 s), not a test: a clock bound here flakes on a busy machine.
    with io.BufferedReader(WholeReadRefused(path)) as stream:
        report = contacts.import_csv(stream)
    assert (report.created, report.updated, report.rows_read) == (count, 0, count + 1)
    assert report.skipped == [(count + 2, "Same email as row 9")]
    assert contacts.count() == count
    assert contacts.count(list_name="Customers", status="subscribed") == count
    person = must_find(contacts, "person99999@example89.com")
    assert person.attributes == {"company": "Company 999", "city": "City 49"}
