"""Bounces and unsubscribes read back (docs/design.md §11): `ctx.inbound.process_message` on
messages built from what a real local SMTP server received, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from campaign_desktop.context import AppContext
from campaign_desktop.domain.status import InboundKind
from campaign_desktop.domain.tokens import TOKEN_PATTERN, DeliveryTokens
from campaign_desktop.domain.views import ContactView
from campaign_desktop.persistence.models import InboundMessage
from campaign_desktop.services.inbound import _clip
from tests.services import inbound_samples as samples
from tests.services.sending_support import configure_smtp, make_campaign
from tests.smtp_server import RecordingHandler, SmtpServer, running_smtp_server

pytestmark = [pytest.mark.both_backends, pytest.mark.usefixtures("every_backend")]

PEOPLE = ("ann@example.com", "bob@example.com", "cy@example.com", "dee@example.com")


@pytest.fixture
def server() -> Iterator[SmtpServer]:
    with running_smtp_server() as running:
        yield running


@pytest.fixture
def app(data_dir: Path, server: SmtpServer) -> Iterator[AppContext]:
    ctx = AppContext.open(data_dir)
    configure_smtp(ctx, server.port)
    for address in PEOPLE:
        ctx.contacts.add(address, first_name=address.split("@")[0].title(), lists=("Customers",))
    yield ctx
    ctx.close()


def send(app: AppContext, server: SmtpServer, campaign_id: int) -> tuple[int, dict[str, bytes]]:
    """Send the campaign now; (run id, {recipient: the bytes the server received})."""
    before = len(server.handler.messages)
    run = app.campaigns.send_now(campaign_id)
    assert app.sending.wait_idle(20)
    received = server.handler.messages[before:]
    return run.id, {message.rcpt_tos[0]: message.content for message in received}


def status_of(app: AppContext, address: str) -> tuple[str, str | None]:
    view = app.contacts.find(address)
    assert view is not None
    return view.status, view.status_reason


def found(app: AppContext, address: str) -> ContactView:
    view = app.contacts.find(address)
    assert view is not None
    return view


def contact_table(app: AppContext) -> list[tuple[object, ...]]:
    with app.db.read() as session:
        return list(
            session.execute(
                text("SELECT email, status, unsubscribed_at, bounced_at FROM contact ORDER BY id")
            )
        )


HARD_BOUNCES: dict[str, Callable[[bytes, str], bytes]] = {
    "rfc3464-postfix-dsn": samples.rfc3464_bounce,
    "gmail-style-dsn": samples.gmail_style_dsn,
    "postfix-plain-text": samples.postfix_plain_bounce,
    "exim": samples.exim_bounce,
    "qmail": samples.qmail_bounce,
    "exchange": samples.exchange_bounce,
}


@pytest.mark.parametrize("shape", list(HARD_BOUNCES))
def test_a_hard_bounce_marks_the_contact_bounced_once_and_the_run_counts_it(
    app: AppContext, server: SmtpServer, shape: str
) -> None:
    run_id, sent = send(app, server, make_campaign(app))
    raw = HARD_BOUNCES[shape](sent["bob@example.com"], "bob@example.com")

    result = app.inbound.process_message(raw)

    assert (result.kind, result.email, result.bounced) == (
        InboundKind.HARD_BOUNCE,
        "bob@example.com",
        True,
    )
    status, reason = status_of(app, "bob@example.com")
    assert status == "bounced" and reason is not None and "5.1.1" in reason
    assert found(app, "bob@example.com").bounced_at is not None
    assert status_of(app, "ann@example.com")[0] == "subscribed"
    run = app.runs.get(run_id)
    assert (run.bounced, run.unsubscribed, run.sent) == (1, 0, 4)

    # The same message again: recognised, nothing changes.
    before = contact_table(app)
    again = app.inbound.process_message(raw)
    assert again.duplicate and not again.bounced
    assert contact_table(app) == before
    assert app.runs.get(run_id).bounced == 1


def test_an_unsubscribe_email_unsubscribes_with_when_and_why_and_the_next_send_skips(
    app: AppContext, server: SmtpServer
) -> None:
    campaign_id = make_campaign(app)
    run_id, sent = send(app, server, campaign_id)

    result = app.inbound.process_message(
        samples.unsubscribe_request(sent["cy@example.com"], "cy@example.com")
    )

    assert (result.kind, result.email, result.unsubscribed) == (
        InboundKind.UNSUBSCRIBE,
        "cy@example.com",
        True,
    )
    view = found(app, "cy@example.com")
    assert view.status == "unsubscribed" and view.unsubscribed_at is not None
    assert view.status_reason is not None and "unsubscribe" in view.status_reason.lower()
    assert not TOKEN_PATTERN.search(view.status_reason)  # words a marketer reads, no token
    assert app.runs.get(run_id).unsubscribed == 1

    _, second = send(app, server, campaign_id)
    assert sorted(second) == ["ann@example.com", "bob@example.com", "dee@example.com"]


@pytest.mark.parametrize("bounce_first", [True, False])
def test_the_first_answer_for_a_message_stays_its_answer(
    app: AppContext, server: SmtpServer, bounce_first: bool
) -> None:
    """A bounce and then an unsubscribe for the same message (or the other way round): the
    contact, the delivery's "came back" and the run's counts keep the first answer."""
    run_id, sent = send(app, server, make_campaign(app))
    bounce = next(iter(HARD_BOUNCES.values()))(sent["bob@example.com"], "bob@example.com")
    leave = samples.unsubscribe_request(sent["bob@example.com"], "bob@example.com")
    first, second = (bounce, leave) if bounce_first else (leave, bounce)
    app.inbound.process_message(first)
    run = app.runs.get(run_id)
    counts = (run.bounced, run.unsubscribed)
    assert counts == ((1, 0) if bounce_first else (0, 1))
    status = status_of(app, "bob@example.com")[0]
    app.inbound.process_message(second)
    run = app.runs.get(run_id)
    assert (run.bounced, run.unsubscribed) == counts
    assert status_of(app, "bob@example.com")[0] == status
    (delivery,) = [d for d in app.runs.deliveries(run_id) if d.email == "bob@example.com"]
    assert delivery.feedback == ("bounced" if bounce_first else "unsubscribed")


def test_a_delay_notice_is_soft_and_three_in_a_row_make_the_contact_bounced(
    app: AppContext, server: SmtpServer
) -> None:
    campaign_id = make_campaign(app)
    for number in (1, 2, 3):
        run_id, sent = send(app, server, campaign_id)
        result = app.inbound.process_message(
            samples.delay_notice(sent["dee@example.com"], "dee@example.com", number=number)
        )
        assert result.kind == InboundKind.SOFT_BOUNCE
        expected = "bounced" if number == 3 else "subscribed"
        assert status_of(app, "dee@example.com")[0] == expected
    reason = status_of(app, "dee@example.com")[1]
    assert reason is not None and "3 temporary bounces in a row" in reason
    assert app.runs.get(run_id).bounced == 1


def test_a_soft_bounce_between_good_sends_does_not_count_as_in_a_row(
    app: AppContext, server: SmtpServer
) -> None:
    campaign_id = make_campaign(app)
    _, first = send(app, server, campaign_id)
    app.inbound.process_message(samples.delay_notice(first["ann@example.com"], "ann@example.com"))
    send(app, server, campaign_id)  # delivered fine
    _, third = send(app, server, campaign_id)
    app.inbound.process_message(
        samples.delay_notice(third["ann@example.com"], "ann@example.com", number=3)
    )
    assert status_of(app, "ann@example.com")[0] == "subscribed"


@pytest.mark.parametrize(
    ("build", "kind"),
    [
        (samples.out_of_office, InboundKind.AUTO_REPLY),
        (samples.quoting_reply, InboundKind.OTHER),
    ],
    ids=["out-of-office", "reply-quoting-the-campaign"],
)
def test_replies_change_nothing(
    app: AppContext,
    server: SmtpServer,
    build: Callable[[bytes, str], bytes],
    kind: InboundKind,
) -> None:
    run_id, sent = send(app, server, make_campaign(app))
    before = contact_table(app)

    result = app.inbound.process_message(build(sent["ann@example.com"], "ann@example.com"))

    assert result.kind == kind
    assert contact_table(app) == before
    run = app.runs.get(run_id)
    assert (run.bounced, run.unsubscribed) == (0, 0)


def test_bad_input_is_ignored_and_counted_and_changes_nothing(
    app: AppContext, server: SmtpServer
) -> None:
    _, sent = send(app, server, make_campaign(app))
    real_token = str(
        samples._original(sent["ann@example.com"])["X-Campaign-Desktop-Token"]
    )  # ann's real token, to forge bob's from
    delivery_id = int(real_token[1:].split("-", maxsplit=1)[0])
    forged = f"t{delivery_id + 1}-{'a' * 20}"
    foreign = DeliveryTokens(b"another database's secret!").token(delivery_id)
    before = contact_table(app)

    results = [
        app.inbound.process_message(samples.malformed()),
        app.inbound.process_message(samples.huge_attachment("bob@example.com")),
        app.inbound.process_message(samples.unsubscribe_with_token(forged, "bob@example.com", 1)),
        app.inbound.process_message(samples.unsubscribe_with_token(foreign, "ann@example.com", 2)),
    ]

    assert [r.kind for r in results] == [
        InboundKind.OTHER,
        InboundKind.IGNORED,
        InboundKind.IGNORED,
        InboundKind.IGNORED,
    ]
    assert results[2].forged_tokens == 1 and results[3].forged_tokens == 1
    assert not any(r.handled for r in results)
    assert contact_table(app) == before
    with app.db.read() as session:
        assert session.scalar(select(func.count()).select_from(InboundMessage)) == 4


def test_a_verp_bounce_that_quotes_nothing_finds_its_delivery_by_the_envelope(
    app: AppContext, server: SmtpServer
) -> None:
    app.settings.set_many(
        {"inbound.verp": True, "inbound.unsubscribe_address": "replies@shop.example"}
    )
    before = len(server.handler.messages)
    send(app, server, make_campaign(app))
    to_bob = next(m for m in server.handler.messages[before:] if m.rcpt_tos == ("bob@example.com",))
    assert to_bob.mail_from.startswith("replies+t") and to_bob.mail_from.endswith("@shop.example")
    # Another address bounces in the text, so only the envelope can say who it was.
    result = app.inbound.process_message(
        samples.verp_only_bounce(to_bob.mail_from, "someone-else@example.net")
    )
    assert (result.kind, result.email) == (InboundKind.HARD_BOUNCE, "bob@example.com")
    assert status_of(app, "bob@example.com")[0] == "bounced"
    assert "replies@shop.example" in str(to_bob.message["List-Unsubscribe"])


def test_a_bounce_without_a_token_is_found_by_the_original_message_id(
    app: AppContext, server: SmtpServer
) -> None:
    _, sent = send(app, server, make_campaign(app))
    original = sent["ann@example.com"].replace(b"X-Campaign-Desktop-Token", b"X-Removed-Header")
    original = original.replace(b"Unsubscribe%20t", b"Unsubscribe%20x")
    result = app.inbound.process_message(samples.rfc3464_bounce(original, "ann@example.com"))
    assert (result.kind, result.email) == (InboundKind.HARD_BOUNCE, "ann@example.com")


def test_a_no_such_user_refusal_at_send_time_bounces_the_contact_at_once(
    data_dir: Path,
) -> None:
    handler = RecordingHandler(refuse=("bob@example.com",))
    with running_smtp_server(handler) as server, AppContext.open(data_dir) as app:
        configure_smtp(app, server.port)
        for address in PEOPLE:
            app.contacts.add(address, lists=("Customers",))
        run_id, sent = send(app, server, make_campaign(app))
        assert "bob@example.com" not in sent
        status, reason = status_of(app, "bob@example.com")
        assert status == "bounced" and reason is not None and "5.1.1" in reason
        run = app.runs.get(run_id)
        assert (run.failed, run.bounced) == (1, 1)


def test_a_plain_5xx_without_5_1_x_fails_the_row_but_keeps_the_contact(data_dir: Path) -> None:
    handler = RecordingHandler(
        refuse=("bob@example.com",), refuse_reply="550 5.7.1 Message rejected as spam"
    )
    with running_smtp_server(handler) as server, AppContext.open(data_dir) as app:
        configure_smtp(app, server.port)
        app.contacts.add("bob@example.com", lists=("Customers",))
        send(app, server, make_campaign(app))
        assert status_of(app, "bob@example.com")[0] == "subscribed"


def test_unsubscribes_exported_from_the_page_are_imported_by_email_or_token(
    app: AppContext, server: SmtpServer, tmp_path: Path
) -> None:
    _, sent = send(app, server, make_campaign(app))
    token = str(samples._original(sent["dee@example.com"])["X-Campaign-Desktop-Token"])
    path = tmp_path / "unsubscribes.csv"
    path.write_text(
        f"email or token\nann@example.com\n{token}\nnobody@example.com\nt1-aaaaaaaaaaaaaaaaaaaa\n",
        encoding="utf-8",
    )
    done, skipped = app.inbound.import_unsubscribes(path)
    assert done == 2
    assert [row for row, _ in skipped] == [4, 5]
    assert status_of(app, "ann@example.com")[0] == "unsubscribed"
    assert status_of(app, "dee@example.com")[0] == "unsubscribed"


@pytest.mark.parametrize("header", ["E-mail", "Email address", "e_mail", "TOKEN"])
def test_the_unsubscribe_files_header_is_not_a_skipped_row(
    app: AppContext, tmp_path: Path, header: str
) -> None:
    """From a try-out: a header "E-mail" was read as an address and reported skipped."""
    path = tmp_path / "unsubscribes.csv"
    path.write_text(f"{header}\nann@example.com\n", encoding="utf-8")
    done, skipped = app.inbound.import_unsubscribes(path)
    assert (done, skipped) == (1, [])
    assert status_of(app, "ann@example.com")[0] == "unsubscribed"


def test_a_reason_quoting_a_subject_never_shows_a_token_whatever_its_case() -> None:
    """The contact's reason quotes the subject a marketer reads: without the token, also
    when a mail client upper-cased it (the token still counts: `DeliveryTokens.find`)."""
    token = "t12345-4bc3700cc8785cf201db"
    for subject in (
        f"unsubscribe {token}",
        f"UNSUBSCRIBE {token.upper()}",
        f"Re: unsubscribe {token}",
    ):
        assert not TOKEN_PATTERN.search(_clip(subject).lower()), subject
        assert "unsubscribe" in _clip(subject).lower()
