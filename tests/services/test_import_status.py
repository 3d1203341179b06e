"""The import's status column (docs/design.md §17): other tools' words for an opt-out take
consent away, a word that is no consent to mail refuses its row with a reason, the report
counts what the column did, and the dialog's check reads the whole file the same way; on a
real migrated database (``both_backends``: an SQLite file and PostgreSQL)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from campaign_desktop.domain.errors import ValidationError
from campaign_desktop.services import contacts as contacts_module
from campaign_desktop.services.contacts import IMPORTED_OPT_OUT, ContactService
from campaign_desktop.services.csv_import import (
    ACCEPTED_STATUSES,
    REFUSED_WORDS_KEPT,
    STATUS_WORDS,
    RefusedStatus,
    read_status,
)
from tests.services.conftest import Snapshot
from tests.services.test_contacts import write_csv

pytestmark = pytest.mark.both_backends


def statuses(contacts: ContactService) -> dict[str, str]:
    return {view.email: view.status for view in contacts.search()}


# --- the words ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cell", "opted_out"),
    [
        ("unsubscribed", "unsubscribed"),
        ("Unsubscribed ", "unsubscribed"),
        ("  UNSUBSCRIBED", "unsubscribed"),
        ("opted out", "unsubscribed"),
        ("Opted-Out", "unsubscribed"),
        ("opt-out", "unsubscribed"),
        ("optout", "unsubscribed"),
        ("opt_out", "unsubscribed"),
        ("unsub", "unsubscribed"),
        ("complained", "unsubscribed"),
        ("Spam", "unsubscribed"),
        ("spam complaint", "unsubscribed"),
        ("abuse", "unsubscribed"),
        ("bounced", "bounced"),
        ("Bounce", "bounced"),
        ("hard bounce", "bounced"),
        ("Hard-Bounce", "bounced"),
        ("cleaned", "bounced"),
        ("subscribed", ""),
        ("Subscribed", ""),
        ("active", ""),
        ("opted in", ""),
        ("", ""),
        ("   ", ""),
    ],
)
def test_status_words_of_other_tools_read_ignoring_case_spaces_and_hyphens(
    cell: str, opted_out: str
) -> None:
    assert read_status(cell) == ("", opted_out, False)


@pytest.mark.parametrize("cell", ["yes", "no", "Y", "maybe later", "0", "true", "archived"])
def test_a_word_the_app_does_not_know_refuses_the_row_naming_it_and_the_accepted_words(
    cell: str,
) -> None:
    problem, opted_out, refused = read_status(cell)
    assert (opted_out, refused) == ("", True)
    assert f"The status “{cell}” is not a word the app knows" in problem
    assert "not imported" in problem
    assert ACCEPTED_STATUSES in problem
    assert "subscribed, unsubscribed, bounced, or an empty cell" in ACCEPTED_STATUSES


@pytest.mark.parametrize("cell", ["pending", "Pending", "transactional", "Non-Subscribed"])
def test_not_opted_in_refuses_the_row_saying_so(cell: str) -> None:
    problem, opted_out, refused = read_status(cell)
    assert (opted_out, refused) == ("", True)
    assert f"The status “{cell}” means the person has not opted in" in problem


def test_a_long_unknown_status_is_shortened_in_the_reason() -> None:
    problem, _opted_out, _refused = read_status("x" * 500)
    assert "“" + "x" * 40 + "…”" in problem
    assert "x" * 41 not in problem


def test_every_status_word_reads_as_its_meaning() -> None:
    meanings = {"unsubscribed": "unsubscribed", "bounced": "bounced", "subscribed": ""}
    for meaning, words in STATUS_WORDS.items():
        for word in words:
            problem, opted_out, refused = read_status(word.upper())
            if meaning in meanings:
                assert (problem, opted_out, refused) == ("", meanings[meaning], False), word
            else:
                assert refused, word


# --- the import --------------------------------------------------------------------------


def test_an_unknown_status_never_imports_a_subscribed_contact(
    contacts: ContactService, tmp_path: Path
) -> None:
    """The compliance risk: another tool's opt-out, in words the app did not know, used to
    import as a subscribed contact that the next campaign mailed."""
    contacts.add("known@example.com", first_name="Old")
    source = write_csv(
        tmp_path,
        "email,first_name,status\n"
        "yes@example.com,Yan,yes\n"
        "no@example.com,Noa,no\n"
        "known@example.com,New,maybe later\n"
        "ok@example.com,Oki,\n",
    )

    report = contacts.import_csv(source, "Customers")

    assert (report.created, report.updated, report.status_refused) == (1, 0, 3)
    assert [row for row, _reason in report.skipped] == [2, 3, 4]
    reasons = dict(report.skipped)
    assert reasons[2].startswith("The status “yes” is not a word the app knows")
    assert reasons[3].startswith("The status “no” is not a word the app knows")
    assert reasons[4].startswith("The status “maybe later” is not a word the app knows")
    assert statuses(contacts) == {
        "known@example.com": "subscribed",
        "ok@example.com": "subscribed",
    }
    known = contacts.find("known@example.com")
    assert known is not None
    assert (known.first_name, known.lists) == ("Old", ())  # the refused row changed nothing


def test_other_tools_opt_outs_unsubscribe_or_bounce_new_and_existing_contacts(
    contacts: ContactService, tmp_path: Path
) -> None:
    for address in ("old-spam@example.com", "old-cleaned@example.com", "old-in@example.com"):
        contacts.add(address)
    source = write_csv(
        tmp_path,
        "Email Address,Status\n"  # as Mailchimp's export names its columns
        "old-spam@example.com,Complained\n"
        "old-cleaned@example.com,cleaned\n"
        "old-in@example.com,Subscribed\n"
        "new-optout@example.com,Opted Out \n"
        "new-unsub@example.com,unsub\n"
        "new-hard@example.com,HARD BOUNCE\n"
        "new-in@example.com,subscribed\n",
    )

    report = contacts.import_csv(source, "Imported")

    assert (report.created, report.updated, report.skipped) == (4, 3, [])
    assert (report.status_unsubscribed, report.status_bounced) == (3, 2)
    assert statuses(contacts) == {
        "new-hard@example.com": "bounced",
        "new-in@example.com": "subscribed",
        "new-optout@example.com": "unsubscribed",
        "new-unsub@example.com": "unsubscribed",
        "old-cleaned@example.com": "bounced",
        "old-in@example.com": "subscribed",
        "old-spam@example.com": "unsubscribed",
    }
    spam = contacts.find("old-spam@example.com")
    assert spam is not None
    assert spam.status_reason == IMPORTED_OPT_OUT


@pytest.mark.parametrize("batch_size", [1000, 2], ids=["one batch", "batches of 2"])
def test_a_repeated_address_never_loses_a_later_rows_opt_out(
    contacts: ContactService,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    batch_size: int,
) -> None:
    """From a try-out: the first row of an address won and a later "Unsubscribed" row for
    it was dropped as a repeat, so the person was imported subscribed. In one batch or
    across batches (a repeat far down a big file), the opt-out now reaches the contact."""
    monkeypatch.setattr(contacts_module, "BATCH_SIZE", batch_size)
    source = write_csv(
        tmp_path,
        "Email,First name,Status\n"
        "ann@example.com,Ann,subscribed\n"
        "ann@Example.com,Ann,Unsubscribed \n"
        "bob@example.com,Bob,\n"
        "cy@example.com,Cy,cleaned\n"
        "bob@example.com,Bob,hard bounce\n"
        "cy@example.com,Cy,opted out\n",
    )

    report = contacts.import_csv(source, "Customers")

    assert statuses(contacts) == {
        "ann@example.com": "unsubscribed",
        "bob@example.com": "bounced",
        "cy@example.com": "bounced",  # the first opt-out stays: it already stops the mail
    }
    reasons = dict(report.skipped)
    assert reasons[6] == (
        "Same email as row 4: the contact is imported once, and this row's status (bounced) "
        "still applies to it."
    )
    assert reasons[7].startswith("Same email as row 5")
    assert report.created + report.updated + len(report.skipped) == report.rows_read == 6
    assert (report.status_unsubscribed, report.status_bounced) == (1, 2)


@pytest.mark.parametrize(
    ("batch_size", "refused_first"),
    [(1000, True), (1000, False), (1, True)],
    ids=["one batch, refused first", "one batch, refused later", "batches of 1, refused first"],
)
def test_a_status_the_app_cannot_read_holds_back_every_row_of_that_address(
    contacts: ContactService,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    batch_size: int,
    refused_first: bool,
) -> None:
    """ "Désabonné" may be an opt-out: a row of the same address without a status must not
    import the person as subscribed, whichever comes first in a batch, and across batches
    when the refused row comes first (when it comes in a later batch, the earlier one has
    already imported the contact: the refused row only says why it was skipped)."""
    monkeypatch.setattr(contacts_module, "BATCH_SIZE", batch_size)
    rows = ["dup@example.com,Dee,Désabonné", "dup@example.com,Dee,"]
    if not refused_first:
        rows.reverse()
    source = write_csv(
        tmp_path, "Email,First name,Status\n" + "\n".join(rows) + "\nok@example.com,Oki,\n"
    )

    report = contacts.import_csv(source, "Customers")

    assert statuses(contacts) == {"ok@example.com": "subscribed"}
    assert report.status_refused == 1
    reasons = dict(report.skipped)
    refused_row, other_row = (2, 3) if refused_first else (3, 2)
    assert reasons[refused_row].startswith("The status “Désabonné” is not a word the app knows")
    assert "Désabonné" not in reasons[other_row]
    assert f"row {refused_row}" in reasons[other_row]
    assert report.created + report.updated + len(report.skipped) == report.rows_read == 3


def test_pending_and_transactional_contacts_are_not_imported_and_existing_ones_unchanged(
    contacts: ContactService, tmp_path: Path
) -> None:
    """Not opted in (Mailchimp's double opt-in not confirmed; transactional email only): as
    subscribed they would be mailed, as unsubscribed they would carry an opt-out they never
    made. The row is refused and says so."""
    contacts.add("confirmed-here@example.com", first_name="Cara")
    source = write_csv(
        tmp_path,
        "email,first_name,status\n"
        "confirmed-here@example.com,Changed,pending\n"
        "new-pending@example.com,Pia,Pending\n"
        "new-receipts@example.com,Ted,transactional\n",
    )

    report = contacts.import_csv(source, "Customers")

    assert (report.created, report.updated, report.status_refused) == (0, 0, 3)
    assert all("has not opted in to marketing email" in reason for _row, reason in report.skipped)
    assert statuses(contacts) == {"confirmed-here@example.com": "subscribed"}
    kept = contacts.find("confirmed-here@example.com")
    assert kept is not None
    assert (kept.first_name, kept.lists) == ("Cara", ())


def test_the_report_counts_only_the_contacts_the_status_column_changed(
    contacts: ContactService, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Across batches; a contact already unsubscribed is not "made" so again, and a bounce
    never turns into an unsubscribe."""
    monkeypatch.setattr(contacts_module, "BATCH_SIZE", 3)
    contacts.add("gone@example.com")
    contacts.unsubscribe("gone@example.com")
    contacts.add("bounced@example.com")
    contacts.mark_bounced("bounced@example.com")
    source = write_csv(
        tmp_path,
        "email,status\n"
        "gone@example.com,unsubscribed\n"
        "bounced@example.com,opted out\n"
        "a@example.com,unsubscribed\n"
        "b@example.com,optout\n"
        "c@example.com,cleaned\n"
        "d@example.com,what?\n"
        "e@example.com,bounced\n"
        "f@example.com,subscribed\n"
        "a@example.com,bounced\n",  # a repeat: skipped, changes nothing
    )

    report = contacts.import_csv(source, "Customers")

    assert (report.status_unsubscribed, report.status_bounced, report.status_refused) == (2, 2, 1)
    assert (report.created, report.updated, len(report.skipped)) == (5, 2, 2)
    assert statuses(contacts)["a@example.com"] == "unsubscribed"
    assert statuses(contacts)["bounced@example.com"] == "bounced"


def test_a_refused_status_row_leaves_nothing_half_written(
    contacts: ContactService, tmp_path: Path, snapshot: Callable[[], Snapshot]
) -> None:
    before = snapshot()
    source = write_csv(tmp_path, "email,status\nonly@example.com,yes please\n")

    report = contacts.import_csv(source, "New list")

    assert (report.created, report.status_refused) == (0, 1)
    assert snapshot() == before  # no contact, no list, no membership


# --- the check before importing ----------------------------------------------------------


def test_the_check_reads_the_whole_column_as_the_import_will(
    contacts: ContactService, tmp_path: Path
) -> None:
    rows = ["email,Status,Note"]
    rows += [f"out{number}@example.com,Opted out,x" for number in range(5000)]
    rows += ["late@example.com,yes,", "bounce@example.com,cleaned,", "later@example.com,YES,"]
    rows += ["pend@example.com,pending,", "late2@example.com,yes,", "ok@example.com,,"]
    source = write_csv(tmp_path, "\n".join(rows) + "\n")

    check = contacts.check_csv_status(source, "Status")

    assert (check.header, check.unsubscribed, check.bounced) == ("Status", 5000, 1)
    assert check.refused == (
        RefusedStatus("yes", 2, 5002),
        RefusedStatus("YES", 1, 5004),
        RefusedStatus("pending", 1, 5005),
    )
    assert (check.refused_rows, check.cancelled) == (4, False)
    report = contacts.import_csv(source, "Customers")
    assert report.status_refused == check.refused_rows
    assert (report.status_unsubscribed, report.status_bounced) == (5000, 1)


def test_the_check_reads_any_column_chosen_as_the_status(
    contacts: ContactService, tmp_path: Path
) -> None:
    source = write_csv(
        tmp_path, "email,status,Mailchimp state\na@example.com,,unsubscribed\nb@example.com,,no\n"
    )

    check = contacts.check_csv_status(source, "Mailchimp state")

    assert (check.unsubscribed, check.refused) == (1, (RefusedStatus("no", 1, 3),))
    report = contacts.import_csv(source, "Customers", mapping={"Mailchimp state": "status"})
    assert (report.status_unsubscribed, report.status_refused) == (1, 1)


def test_the_check_names_a_few_words_but_counts_every_refused_row(
    contacts: ContactService, tmp_path: Path
) -> None:
    rows = ["email,status"] + [f"p{n}@example.com,note {n}" for n in range(100)]
    source = write_csv(tmp_path, "\n".join(rows) + "\n")

    check = contacts.check_csv_status(source, "status")

    assert len(check.refused) == REFUSED_WORDS_KEPT
    assert check.refused_rows == 100


def test_a_cancelled_check_says_so(contacts: ContactService, tmp_path: Path) -> None:
    rows = ["email,status"] + [f"p{n}@example.com,bounced" for n in range(5000)]
    source = write_csv(tmp_path, "\n".join(rows) + "\n")
    cancel = threading.Event()
    cancel.set()

    check = contacts.check_csv_status(source, "status", cancel=cancel)

    assert check.cancelled
    assert check.bounced < 5000


def test_checking_a_column_the_file_lacks_is_a_validation_error(
    contacts: ContactService, tmp_path: Path
) -> None:
    source = write_csv(tmp_path, "email,status\na@example.com,\n")
    with pytest.raises(ValidationError) as error:
        contacts.check_csv_status(source, "State")
    assert error.value.field == "mapping"


@pytest.mark.parametrize(
    "header", ["Subscription status", "Email Status", "MEMBER_STATUS", "opt-in status"]
)
def test_other_tools_names_for_the_status_column_are_read_as_the_status(
    contacts: ContactService, tmp_path: Path, header: str
) -> None:
    """From a try-out: "Subscription status" became a custom field, so its opt-outs were
    imported as subscribed contacts."""
    source = write_csv(
        tmp_path,
        f"Email,First name,{header}\ns1@example.com,S1,unsubscribed\ns2@example.com,S2,\n",
    )

    report = contacts.import_csv(source, "Customers")

    assert statuses(contacts) == {
        "s1@example.com": "unsubscribed",
        "s2@example.com": "subscribed",
    }
    assert report.status_unsubscribed == 1
