"""The reply mailbox end to end (issue 15's "Done when"): a campaign sent to a local SMTP
server, bounces and unsubscribes built from the real sent messages put into a real Dovecot
mailbox with IMAP APPEND, then `ctx.inbound.check_mailbox()`; on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import keyring
import pytest
from keyring.backends.fail import Keyring as FailKeyring

from campaign_desktop.channels.imap import ImapError
from campaign_desktop.context import AppContext
from campaign_desktop.domain.errors import CredentialsError, ValidationError
from campaign_desktop.domain.events import Event, MailboxChecked
from campaign_desktop.domain.status import InboundKind
from campaign_desktop.services.inbound import ACCOUNT_KEYS, password_key
from tests.imap_server import PASSWORD, USERNAME, DovecotServer
from tests.memory_keyring import MemoryKeyring
from tests.services import inbound_samples as samples
from tests.services.sending_support import configure_smtp, make_campaign
from tests.services.test_ledger_truth import wait_until
from tests.smtp_server import HOST, SmtpServer, running_smtp_server

pytestmark = [pytest.mark.both_backends, pytest.mark.usefixtures("every_backend")]

PEOPLE = ("ann@example.com", "bob@example.com", "cy@example.com", "dee@example.com")
PROCESSED = "Processed by Campaign Desktop"


@pytest.fixture
def server() -> Iterator[SmtpServer]:
    with running_smtp_server() as running:
        yield running


@pytest.fixture
def app(data_dir: Path, server: SmtpServer, dovecot: DovecotServer) -> Iterator[AppContext]:
    ctx = AppContext.open(data_dir)
    configure_smtp(ctx, server.port)
    ctx.inbound.set_account(
        host=HOST, port=dovecot.port, security="none", username=USERNAME, password=PASSWORD
    )
    for address in PEOPLE:
        ctx.contacts.add(address, lists=("Customers",))
    yield ctx
    ctx.close()


def send(app: AppContext, server: SmtpServer, campaign_id: int) -> tuple[int, dict[str, bytes]]:
    before = len(server.handler.messages)
    run = app.campaigns.send_now(campaign_id)
    assert app.sending.wait_idle(20)
    received = server.handler.messages[before:]
    return run.id, {message.rcpt_tos[0]: message.content for message in received}


def status(app: AppContext, address: str) -> str:
    view = app.contacts.find(address)
    assert view is not None
    return view.status


def test_bounce_and_unsubscribe_from_the_mailbox_suppress_both_and_the_next_run_skips_them(
    app: AppContext, server: SmtpServer, dovecot: DovecotServer
) -> None:
    campaign_id = make_campaign(app)
    first_run, sent = send(app, server, campaign_id)
    dovecot.append(samples.gmail_style_dsn(sent["bob@example.com"], "bob@example.com"))
    dovecot.append(samples.unsubscribe_request(sent["cy@example.com"], "cy@example.com"))
    dovecot.append(samples.quoting_reply(sent["ann@example.com"], "ann@example.com"))
    told: list[MailboxChecked] = []
    app.events.subscribe(
        lambda event: told.append(event) if isinstance(event, MailboxChecked) else None
    )

    report = app.inbound.check_mailbox()

    assert (report.read, report.bounced, report.unsubscribed, report.moved) == (3, 1, 1, 2)
    assert report.count(InboundKind.OTHER) == 1
    assert [status(app, address) for address in PEOPLE] == [
        "subscribed",
        "bounced",
        "unsubscribed",
        "subscribed",
    ]
    # Both handled messages moved (never deleted); the person's reply stays, unread.
    assert len(dovecot.folder_uids(PROCESSED)) == 2
    assert len(dovecot.folder_uids("INBOX")) == 1
    assert dovecot.unseen_count("INBOX") == 1
    assert told == [MailboxChecked(bounced=1, unsubscribed=1, processed=2)]
    # Activity's numbers for the run.
    run = app.runs.get(first_run)
    assert (run.sent, run.bounced, run.unsubscribed) == (4, 1, 1)

    # Nothing new: a second check reads nothing and changes nothing.
    again = app.inbound.check_mailbox()
    assert (again.read, again.moved) == (0, 0)

    next_run, second = send(app, server, campaign_id)
    assert sorted(second) == ["ann@example.com", "dee@example.com"]
    assert app.runs.get(next_run).skipped == 2


def test_the_same_bounce_twice_in_the_mailbox_has_one_effect_and_both_copies_move(
    app: AppContext, server: SmtpServer, dovecot: DovecotServer
) -> None:
    run_id, sent = send(app, server, make_campaign(app))
    bounce = samples.exim_bounce(sent["dee@example.com"], "dee@example.com")
    dovecot.append(bounce)
    dovecot.append(bounce)

    report = app.inbound.check_mailbox()

    assert (report.read, report.duplicates, report.bounced, report.moved) == (2, 1, 1, 2)
    assert app.runs.get(run_id).bounced == 1
    assert dovecot.folder_uids("INBOX") == []


def test_a_wrong_password_is_an_error_in_words_and_nothing_is_read(
    app: AppContext, dovecot: DovecotServer
) -> None:
    dovecot.append(samples.malformed())
    app.credentials.set_password(password_key(USERNAME, HOST), "wrong")
    with pytest.raises(ImapError, match="refused the username or password"):
        app.inbound.check_mailbox()
    assert len(dovecot.folder_uids("INBOX")) == 1


def test_the_scheduler_reads_the_mailbox_after_a_run_finishes(
    app: AppContext, server: SmtpServer, dovecot: DovecotServer
) -> None:
    campaign_id = make_campaign(app)
    _, sent = send(app, server, campaign_id)
    dovecot.append(samples.qmail_bounce(sent["ann@example.com"], "ann@example.com"))
    checked = threading.Event()

    def on_event(event: Event) -> None:
        if isinstance(event, MailboxChecked):
            checked.set()

    app.events.subscribe(on_event)
    app.scheduler.start()
    send(app, server, campaign_id)  # its end triggers a check

    assert checked.wait(20)
    assert wait_until(lambda: status(app, "ann@example.com") == "bounced")
    assert len(dovecot.folder_uids(PROCESSED)) == 1


def test_test_connection_finds_the_folder_or_says_which_exist(
    app: AppContext, dovecot: DovecotServer
) -> None:
    settings = app.inbound.imap_settings()
    assert "INBOX" in app.inbound.test_connection(settings, "INBOX")
    with pytest.raises(ImapError, match="no folder called “Bounces”"):
        app.inbound.test_connection(settings, "Bounces")


def _typed(app: AppContext, **changes: object) -> dict[str, object]:
    """The saved account as Settings would show it, with `changes` typed over it."""
    saved = app.settings.all()
    return {key: saved[key] for key in ACCOUNT_KEYS} | changes


def test_check_now_with_the_saved_account_processes_the_mailbox(
    app: AppContext, server: SmtpServer, dovecot: DovecotServer
) -> None:
    _, sent = send(app, server, make_campaign(app))
    dovecot.append(samples.exim_bounce(sent["dee@example.com"], "dee@example.com"))

    found = app.inbound.check_now(_typed(app, **{"inbound.port": str(dovecot.port)}))

    assert found.report is not None and found.report.bounced == 1
    assert status(app, "dee@example.com") == "bounced"
    # The same password typed again is still the saved account.
    dovecot.append(samples.gmail_style_dsn(sent["cy@example.com"], "cy@example.com"))
    again = app.inbound.check_now(_typed(app), password=PASSWORD)
    assert again.report is not None and again.report.bounced == 1


def test_check_now_with_a_changed_account_logs_in_and_counts_but_applies_and_saves_nothing(
    app: AppContext, server: SmtpServer, dovecot: DovecotServer, memory_keyring: MemoryKeyring
) -> None:
    _, sent = send(app, server, make_campaign(app))
    dovecot.append(samples.exim_bounce(sent["dee@example.com"], "dee@example.com"))
    app.credentials.set_password(password_key(USERNAME, HOST), "wrong")  # saved: wrong
    settings_before, keyring_before = app.settings.all(), dict(memory_keyring.store)

    found = app.inbound.check_now(_typed(app), password=PASSWORD)  # typed: right

    assert (found.report, found.messages, found.folder) == (None, 1, "INBOX")
    assert status(app, "dee@example.com") == "subscribed"
    assert len(dovecot.folder_uids("INBOX")) == 1
    assert app.settings.all() == settings_before
    assert memory_keyring.store == keyring_before
    # And the other way round: the saved password is right, the typed one is not.
    app.credentials.set_password(password_key(USERNAME, HOST), PASSWORD)
    with pytest.raises(ImapError, match="refused the username or password"):
        app.inbound.check_now(_typed(app), password="wrong")


def test_check_now_refuses_bad_values_in_words_before_connecting(app: AppContext) -> None:
    with pytest.raises(ValidationError) as refused:
        app.inbound.check_now(_typed(app, **{"inbound.port": "not a port"}))
    assert refused.value.field == "inbound.port"
    with pytest.raises(ValidationError) as refused:
        app.inbound.check_now(_typed(app, **{"inbound.host": "  "}))
    assert refused.value.field == "inbound.host"


@pytest.mark.parametrize(("watched", "moved_to"), [("INBOX", "inbox"), (" Inbox", "INBOX ")])
def test_inbox_in_another_case_is_the_watched_folder_not_a_folder_to_move_to(
    app: AppContext, dovecot: DovecotServer, watched: str, moved_to: str
) -> None:
    """From a try-out: "inbox" is INBOX (RFC 3501 §5.1), so processed mail moved "out" went
    straight back, and every check read it again."""
    with pytest.raises(ValidationError) as refused:
        app.inbound.set_account(
            host=HOST,
            port=dovecot.port,
            security="none",
            username=USERNAME,
            folder=watched,
            processed_folder=moved_to,
        )
    assert refused.value.field == "inbound.processed_folder"
    assert app.settings.get("inbound.processed_folder") == PROCESSED  # nothing saved
    typed = _typed(app, **{"inbound.folder": watched, "inbound.processed_folder": moved_to})
    with pytest.raises(ValidationError) as refused:
        app.inbound.check_now(typed)
    assert refused.value.field == "inbound.processed_folder"


def test_a_cancelled_check_stops_after_the_message_in_hand_and_the_next_check_reads_the_rest(
    app: AppContext, server: SmtpServer, dovecot: DovecotServer
) -> None:
    _, sent = send(app, server, make_campaign(app))
    dovecot.append(samples.exim_bounce(sent["cy@example.com"], "cy@example.com"))
    dovecot.append(samples.gmail_style_dsn(sent["dee@example.com"], "dee@example.com"))
    cancel = threading.Event()

    report = app.inbound.check_mailbox(progress=lambda _read: cancel.set(), cancel=cancel)

    assert (report.read, report.moved, report.cancelled) == (1, 1, True)
    assert len(dovecot.folder_uids("INBOX")) == 1
    rest = app.inbound.check_mailbox()
    assert (rest.read, rest.bounced, rest.cancelled) == (1, 1, False)
    assert dovecot.folder_uids("INBOX") == []


def test_check_now_without_a_keyring_logs_in_with_the_typed_password(
    app: AppContext, dovecot: DovecotServer
) -> None:
    dovecot.append(samples.malformed())
    previous = keyring.get_keyring()
    keyring.set_keyring(FailKeyring())  # type: ignore[no-untyped-call]  # keyring is untyped
    try:
        found = app.inbound.check_now(_typed(app), password=PASSWORD)
        with pytest.raises(CredentialsError):  # nothing typed and nothing stored: said so
            app.inbound.check_now(_typed(app))
    finally:
        keyring.set_keyring(previous)
    assert (found.report, found.messages) == (None, 1)
