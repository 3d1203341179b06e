"""The sending engine against a real local SMTP server: ledger, failures, pause, throttle."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from campaign_desktop.context import AppContext
from campaign_desktop.domain.errors import ValidationError
from campaign_desktop.domain.events import Event, RunEvent, RunPhase
from tests.services.sending_support import (
    add_contacts,
    configure_smtp,
    make_campaign,
    received_recipients,
)
from tests.smtp_server import RecordingHandler, SmtpServer, running_smtp_server

pytestmark = [pytest.mark.both_backends, pytest.mark.usefixtures("every_backend")]


def open_ctx(data_dir: Path, server: SmtpServer, **smtp: str) -> AppContext:
    ctx = AppContext.open(data_dir)
    configure_smtp(ctx, server.port, **smtp)
    return ctx


@pytest.fixture
def server() -> Iterator[SmtpServer]:
    with running_smtp_server() as running:
        yield running


@pytest.fixture
def app(data_dir: Path, server: SmtpServer) -> Iterator[AppContext]:
    ctx = open_ctx(data_dir, server)
    yield ctx
    ctx.close()


def deliveries(ctx: AppContext, run_id: int) -> dict[str, tuple[str, int, str | None]]:
    return {
        row.email: (row.status, row.attempts, row.last_error) for row in ctx.runs.deliveries(run_id)
    }


def test_send_now_delivers_personalised_mail_once_to_each_subscriber(
    app: AppContext, server: SmtpServer
) -> None:
    app.contacts.add("ann@example.com", first_name="Ann", lists=("Customers",))
    app.contacts.add("bob@example.com", first_name="Bob", lists=("Customers", "VIP"))
    app.contacts.add("cy@example.com", first_name="Cy", lists=("VIP",))
    app.contacts.unsubscribe("cy@example.com")
    campaign_id = make_campaign(app, lists=("Customers", "VIP"))

    run = app.campaigns.send_now(campaign_id)
    assert run.trigger == "manual" and run.total == 3 and run.skipped == 1
    assert app.sending.wait_idle(10)

    messages = server.handler.messages
    assert sorted(received_recipients(messages)) == ["ann@example.com", "bob@example.com"]
    to_ann = next(m for m in messages if m.rcpt_tos == ("ann@example.com",)).message
    assert to_ann["Subject"] == "News for Ann"
    assert "Hello Ann," in to_ann.get_content()
    # Each message carries its delivery's token (docs/design.md §11), in the header and the
    # unsubscribe subject alike.
    token = str(to_ann["X-Campaign-Desktop-Token"])
    assert re.fullmatch(r"t\d+-[0-9a-f]{20}", token)
    assert to_ann["List-Unsubscribe"] == f"<mailto:news@shop.example?subject=Unsubscribe%20{token}>"
    assert "The Shop" in to_ann["From"]

    finished = app.runs.get(run.id)
    assert (finished.status, finished.sent, finished.skipped, finished.failed) == (
        "completed",
        2,
        1,
        0,
    )
    assert finished.sent + finished.failed + finished.skipped + finished.unconfirmed == 3
    rows = app.runs.deliveries(run.id)
    ann = next(row for row in rows if row.email == "ann@example.com")
    assert ann.status == "sent" and ann.smtp_message_id == to_ann["Message-ID"]
    assert ann.sent_at is not None
    assert deliveries(app, run.id)["cy@example.com"][0] == "skipped"
    assert app.campaigns.get(campaign_id).status == "completed"


def test_run_events_report_start_progress_and_finish(app: AppContext) -> None:
    add_contacts(app, 3)
    seen: list[Event] = []
    app.events.subscribe(seen.append)
    run = app.campaigns.send_now(make_campaign(app))
    assert app.sending.wait_idle(10)
    phases = [e.phase for e in seen if isinstance(e, RunEvent) and e.run.id == run.id]
    assert phases[0] == RunPhase.STARTED
    assert RunPhase.PROGRESS in phases
    assert phases[-1] == RunPhase.FINISHED
    last = [e for e in seen if isinstance(e, RunEvent)][-1]
    assert last.run.sent == 3 and last.campaign_name == "News"


def test_greylisted_recipient_is_retried_and_refused_one_fails_with_the_servers_words(
    data_dir: Path,
) -> None:
    handler = RecordingHandler(
        tempfail={"person0001@example.com": 1}, refuse={"person0002@example.com"}
    )
    with running_smtp_server(handler) as server, open_ctx(data_dir, server) as app:
        add_contacts(app, 4)
        run = app.campaigns.send_now(make_campaign(app))
        assert app.sending.wait_idle(10)
        rows = deliveries(app, run.id)
        assert rows["person0001@example.com"][:2] == ("sent", 2)
        status, attempts, error = rows["person0002@example.com"]
        assert (status, attempts) == ("failed", 1)
        assert error is not None and "User unknown" in error
        assert rows["person0003@example.com"][0] == rows["person0004@example.com"][0] == "sent"
        assert sorted(received_recipients(handler.messages)) == [
            "person0001@example.com",
            "person0003@example.com",
            "person0004@example.com",
        ]
        assert app.runs.get(run.id).status == "completed"


def test_persistent_4xx_fails_after_the_bounded_attempts(data_dir: Path) -> None:
    handler = RecordingHandler(tempfail={"person0001@example.com": 99})
    with running_smtp_server(handler) as server, open_ctx(data_dir, server) as app:
        add_contacts(app, 2)
        run = app.campaigns.send_now(make_campaign(app))
        assert app.sending.wait_idle(10)
        status, attempts, error = deliveries(app, run.id)["person0001@example.com"]
        assert (status, attempts) == ("failed", 3)
        assert error is not None and "try again later" in error
        assert deliveries(app, run.id)["person0002@example.com"][0] == "sent"


def test_dropped_connection_reconnects_and_nobody_gets_it_twice(data_dir: Path) -> None:
    handler = RecordingHandler(drop_after=3, drops=2)
    with running_smtp_server(handler) as server, open_ctx(data_dir, server) as app:
        emails = add_contacts(app, 10)
        run = app.campaigns.send_now(make_campaign(app))
        assert app.sending.wait_idle(10)
        received = received_recipients(handler.messages)
        assert sorted(received) == emails  # everyone, once
        assert handler.drops_done == 2
        assert app.runs.get(run.id).sent == 10


def test_drop_after_data_marks_that_recipient_unconfirmed_not_resent(data_dir: Path) -> None:
    handler = RecordingHandler(drop_after=2, drop_during="data")
    with running_smtp_server(handler) as server, open_ctx(data_dir, server) as app:
        add_contacts(app, 5)
        run = app.campaigns.send_now(make_campaign(app))
        assert app.sending.wait_idle(10)
        rows = deliveries(app, run.id)
        unconfirmed = [email for email, row in rows.items() if row[0] == "unconfirmed"]
        finished = app.runs.get(run.id)
        assert (finished.sent, finished.unconfirmed, finished.status) == (4, 1, "completed")
        # The one whose data reached the server just before the line broke, never resent.
        (dropped,) = handler.dropped_contents
        assert len(unconfirmed) == 1 and unconfirmed[0].encode() in dropped
        assert unconfirmed[0] not in received_recipients(handler.messages)


def test_wrong_password_pauses_the_run_without_failing_anyone(data_dir: Path) -> None:
    handler = RecordingHandler()
    with (
        running_smtp_server(handler, auth=("ann", "right")) as server,
        open_ctx(data_dir, server, username="ann", password="wrong") as app,
    ):
        add_contacts(app, 3)
        campaign_id = make_campaign(app)
        run = app.campaigns.send_now(campaign_id)
        assert app.sending.wait_idle(10)
        paused = app.runs.get(run.id)
        assert paused.status == "paused" and paused.failed == 0 and paused.sent == 0
        assert paused.error is not None and "username or password" in paused.error
        assert app.campaigns.get(campaign_id).status == "paused"
        assert {row[0] for row in deliveries(app, run.id).values()} == {"pending"}

        configure_smtp(app, server.port, username="ann", password="right")
        app.runs.resume(run.id)
        assert app.sending.wait_idle(10)
        assert app.runs.get(run.id).status == "completed"
        assert len(handler.messages) == 3
        assert app.campaigns.get(campaign_id).status == "completed"


def test_unreachable_server_pauses_with_a_clear_message(data_dir: Path) -> None:
    with running_smtp_server() as server:
        port = server.port
    with AppContext.open(data_dir) as app:
        configure_smtp(app, port)
        add_contacts(app, 2)
        run = app.campaigns.send_now(make_campaign(app))
        assert app.sending.wait_idle(10)
        paused = app.runs.get(run.id)
        assert paused.status == "paused"
        assert paused.error is not None and "Could not reach the mail server" in paused.error
        assert {row[0] for row in deliveries(app, run.id).values()} == {"pending"}


def test_throttle_holds_the_run_and_pause_then_cancel_skip_the_rest(
    app: AppContext, server: SmtpServer
) -> None:
    add_contacts(app, 5)
    app.settings.set("throttle.per_minute", 2)
    run = app.campaigns.send_now(make_campaign(app))
    assert server.handler.wait_for(2)
    app.runs.pause(run.id)
    assert app.sending.wait_idle(10)
    paused = app.runs.get(run.id)
    assert (paused.status, paused.sent, paused.pending) == ("paused", 2, 3)
    assert len(server.handler.messages) == 2  # the limit held the third one back

    with pytest.raises(ValidationError, match="being sent"):
        app.campaigns.send_now(run.campaign_id)  # a paused run still holds the campaign
    app.runs.cancel(run.id)
    cancelled = app.runs.get(run.id)
    assert (cancelled.status, cancelled.sent, cancelled.skipped) == ("cancelled", 2, 3)
    with pytest.raises(ValidationError):
        app.runs.resume(run.id)


def test_resume_after_pause_sends_only_the_rest(app: AppContext, server: SmtpServer) -> None:
    emails = add_contacts(app, 6)
    app.settings.set("throttle.per_minute", 3)
    run = app.campaigns.send_now(make_campaign(app))
    assert server.handler.wait_for(3)
    app.runs.pause(run.id)
    assert app.sending.wait_idle(10)
    app.settings.set("throttle.per_minute", 0)
    app.runs.resume(run.id)
    assert app.sending.wait_idle(10)
    assert sorted(received_recipients(server.handler.messages)) == emails
    assert app.runs.get(run.id).status == "completed"


def test_send_test_goes_only_to_the_given_address_with_a_members_data(
    app: AppContext, server: SmtpServer
) -> None:
    app.contacts.add("ann@example.com", first_name="Ann", lists=("Customers",))
    campaign_id = make_campaign(app)
    run = app.campaigns.send_test(campaign_id, ["me@agency.example"])
    assert app.sending.wait_idle(10)
    (message,) = server.handler.messages
    assert message.rcpt_tos == ("me@agency.example",)
    assert message.message["Subject"] == "[TEST] News for Ann"
    assert app.runs.get(run.id).trigger == "test"
    assert app.campaigns.get(campaign_id).status == "draft"
    assert app.campaigns.get(campaign_id).last_run is None
    with pytest.raises(ValidationError) as error:
        app.campaigns.send_test(campaign_id, ["nope"])
    assert error.value.field == "to"


def test_password_never_reaches_the_database_settings_logs_or_errors(
    data_dir: Path, memory_keyring: object, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    secret = "S3cret-Pa55word!"
    with (
        running_smtp_server(auth=("ann", "other")) as server,
        open_ctx(data_dir, server, username="ann", password=secret) as app,
    ):
        add_contacts(app, 1)
        run = app.campaigns.send_now(make_campaign(app))
        assert app.sending.wait_idle(10)
        paused = app.runs.get(run.id)
        assert paused.status == "paused"
        assert secret not in (paused.error or "")
        assert secret not in repr(app.settings.all())
        assert app.settings.smtp_settings().password == secret  # from the keyring
    for path in data_dir.iterdir():
        assert secret.encode() not in path.read_bytes(), path
    assert caplog.records  # the failed login was logged ...
    assert secret not in caplog.text  # ... without the password


def test_throttle_is_shared_by_concurrent_runs(app: AppContext, server: SmtpServer) -> None:
    add_contacts(app, 4, "Customers")
    # More recipients than the minute's 3 slots on each side: whichever run starts first
    # (the first send of a process also imports the SMTP code), neither can finish.
    partners = ["p1@example.com", "p2@example.com", "p3@example.com", "p4@example.com"]
    add_contacts_on(app, "Partners", partners)
    app.settings.set("throttle.per_minute", 3)
    first = app.campaigns.send_now(make_campaign(app, "First", ("Customers",)))
    second = app.campaigns.send_now(make_campaign(app, "Second", ("Partners",)))
    assert server.handler.wait_for(3)
    # Both runs are waiting for the same minute's slots: no fourth message can go out.
    assert not server.handler.wait_for(4, timeout=0.5)
    for run in (first, second):
        app.runs.pause(run.id)
    assert app.sending.wait_idle(10)
    sent = app.runs.get(first.id).sent + app.runs.get(second.id).sent
    assert sent == 3


def test_close_mid_send_leaves_the_run_to_resume_at_the_next_start(
    data_dir: Path, server: SmtpServer
) -> None:
    with open_ctx(data_dir, server) as app:
        emails = add_contacts(app, 5)
        app.settings.set("throttle.per_minute", 2)
        run = app.campaigns.send_now(make_campaign(app))
        assert server.handler.wait_for(2)
    # closed while the throttle held the rest back: nothing in flight, run still `sending`
    with open_ctx(data_dir, server) as app:
        interrupted = app.runs.get(run.id)
        assert (interrupted.status, interrupted.sent, interrupted.unconfirmed) == ("sending", 2, 0)
        app.settings.set("throttle.per_minute", 0)
        app.scheduler.start()
        assert app.sending.wait_idle(10)
        assert app.runs.get(run.id).status == "completed"
    assert sorted(received_recipients(server.handler.messages)) == emails


def add_contacts_on(app: AppContext, list_name: str, emails: list[str]) -> None:
    for address in emails:
        app.contacts.add(address, lists=(list_name,))


def test_a_recipient_whose_message_cannot_be_built_fails_alone(
    app: AppContext, server: SmtpServer
) -> None:
    add_contacts(app, 2)
    with app.db.write() as session:  # an address that slipped past import checks
        session.execute(text("UPDATE contact SET email = 'bad address@example.com' WHERE id = 1"))
    run = app.campaigns.send_now(make_campaign(app))
    assert app.sending.wait_idle(10)
    rows = deliveries(app, run.id)
    status, _, error = rows["bad address@example.com"]
    assert status == "failed" and error
    assert rows["person0002@example.com"][0] == "sent"
    assert app.runs.get(run.id).status == "completed"
