"""Several SMTP connections per run (`sending.connections`), against a real local server.

Counts are taken server-side: sessions opened, the most open at once, messages accepted.
"""

from __future__ import annotations

import collections
from pathlib import Path

import pytest

from campaign_desktop.domain.errors import ValidationError
from campaign_desktop.domain.events import RunEvent, RunPhase
from campaign_desktop.services.sending import engine as engine_module
from tests.services.sending_support import add_contacts, make_campaign, received_recipients
from tests.services.test_ledger_truth import events_of, open_ctx, rows_of, wait_until
from tests.smtp_server import RecordingHandler, running_smtp_server

pytestmark = [pytest.mark.both_backends, pytest.mark.usefixtures("every_backend")]


@pytest.mark.parametrize("pipelining", [False, True], ids=["lockstep", "pipelining"])
@pytest.mark.parametrize("connections", [1, 4, 8])
def test_a_run_opens_as_many_connections_as_set_and_sends_everyone_once(
    data_dir: Path, connections: int, pipelining: bool
) -> None:
    handler = RecordingHandler(data_delay=0.02, pipelining=pipelining)
    with running_smtp_server(handler) as server, open_ctx(data_dir, server) as ctx:
        emails = add_contacts(ctx, 120)
        ctx.settings.set("sending.connections", connections)
        run = ctx.campaigns.send_now(make_campaign(ctx))
        assert ctx.sending.wait_idle(30)
        received = received_recipients(handler.messages)
        assert sorted(received) == emails
        assert [a for a, n in collections.Counter(received).items() if n > 1] == []
        assert handler.sessions == connections
        assert handler.peak_active == connections
        assert ctx.runs.get(run.id).sent == 120
        assert handler.grouped == (120 if pipelining else 0)


def test_connections_setting_is_a_whole_number_from_1_to_16(data_dir: Path) -> None:
    handler = RecordingHandler()
    with running_smtp_server(handler) as server, open_ctx(data_dir, server) as ctx:
        assert ctx.settings.get("sending.connections") == 4  # the default
        for bad in (0, 17, "four", 2.5):
            with pytest.raises(ValidationError):
                ctx.settings.set("sending.connections", bad)
        assert ctx.settings.get("sending.connections") == 4


def test_the_throttle_is_one_limit_over_all_connections(data_dir: Path) -> None:
    handler = RecordingHandler()
    with running_smtp_server(handler) as server, open_ctx(data_dir, server) as ctx:
        add_contacts(ctx, 30)
        ctx.settings.set("sending.connections", 8)
        ctx.settings.set("throttle.per_minute", 5)
        run = ctx.campaigns.send_now(make_campaign(ctx))
        assert wait_until(lambda: ctx.sending.throttle.waiting > 0)
        assert handler.wait_for(5)
        assert len(handler.messages) == 5
        view = ctx.runs.get(run.id)
        assert view.unconfirmed == 0
        ctx.sending.cancel(run.id)
        assert ctx.sending.wait_idle(10)
        # Nobody waiting for the throttle was ever in flight: all skipped, none unconfirmed.
        finished = ctx.runs.get(run.id)
        assert (finished.sent, finished.skipped, finished.unconfirmed) == (5, 25, 0)


def test_too_many_connections_makes_the_run_use_fewer_and_fails_nobody(data_dir: Path) -> None:
    handler = RecordingHandler(max_sessions=2, data_delay=0.01)
    with running_smtp_server(handler) as server, open_ctx(data_dir, server) as ctx:
        emails = add_contacts(ctx, 80)
        ctx.settings.set("sending.connections", 6)
        run = ctx.campaigns.send_now(make_campaign(ctx))
        assert ctx.sending.wait_idle(30)
        assert handler.busy_refusals > 0  # the server did say no
        assert handler.peak_active <= 2
        assert sorted(received_recipients(handler.messages)) == emails
        finished = ctx.runs.get(run.id)
        assert (finished.status, finished.sent, finished.failed) == ("completed", 80, 0)


def test_a_rate_limit_reply_backs_off_without_failing_anyone(data_dir: Path) -> None:
    handler = RecordingHandler(
        data_tempfail_reply="451 4.7.1 Rate limit exceeded, slow down", data_tempfails=6
    )
    with running_smtp_server(handler) as server, open_ctx(data_dir, server) as ctx:
        emails = add_contacts(ctx, 40)
        ctx.settings.set("sending.retry_base_seconds", 0.05)
        run = ctx.campaigns.send_now(make_campaign(ctx))
        assert ctx.sending.wait_idle(30)
        assert sorted(received_recipients(handler.messages)) == emails
        finished = ctx.runs.get(run.id)
        assert (finished.status, finished.sent, finished.failed) == ("completed", 40, 0)
        # A "slow down" answer is not the recipient's try: nobody used up their attempts.
        assert max(row.attempts for row in rows_of(ctx, run.id).values()) <= 2


def test_a_rate_limit_to_every_connection_at_once_leaves_one_that_says_why_it_waits(
    data_dir: Path,
) -> None:
    """All four connections are told to slow down at the same moment (their messages are
    in the server together): three retire and one carries on, instead of each one seeing
    the others' sockets closed and staying; while it waits, the progress says why."""
    handler = RecordingHandler(
        data_delay=0.3,
        data_tempfail_reply="451 4.7.1 Rate limit exceeded, slow down",
        data_tempfails=4,
    )
    with running_smtp_server(handler) as server, open_ctx(data_dir, server) as ctx:
        emails = add_contacts(ctx, 30)
        ctx.settings.set("sending.connections", 4)
        ctx.settings.set("sending.retry_base_seconds", 1.5)  # the lone connection's wait
        seen = events_of(ctx)
        run = ctx.campaigns.send_now(make_campaign(ctx))
        assert wait_until(lambda: handler.data_tempfails_left == 0)
        handler.data_delay = 0.01
        assert wait_until(
            lambda: any(
                isinstance(e, RunEvent)
                and e.phase == RunPhase.PROGRESS
                and e.message.startswith("Trying again in ")
                and ": the mail server asked to slow down (451 4.7.1 Rate limit" in e.message
                for e in seen
            )
        )
        assert wait_until(lambda: len(handler.messages) >= 5)
        assert handler.active == 1  # three connections retired; one sends the rest
        assert ctx.sending.wait_idle(30)
        assert sorted(received_recipients(handler.messages)) == emails
        finished = ctx.runs.get(run.id)
        assert (finished.status, finished.sent, finished.failed) == ("completed", 30, 0)
        last = [e for e in seen if isinstance(e, RunEvent) and e.phase == RunPhase.PROGRESS][-1]
        assert last.message == ""  # once messages go out again, nothing is waited for


def test_a_send_left_with_put_off_recipients_says_how_many_and_when_it_tries_again(
    data_dir: Path,
) -> None:
    handler = RecordingHandler(tempfail={"person0003@example.com": 1, "person0005@example.com": 1})
    with running_smtp_server(handler) as server, open_ctx(data_dir, server) as ctx:
        emails = add_contacts(ctx, 6)
        ctx.settings.set("sending.retry_base_seconds", 2.0)
        seen = events_of(ctx)
        ctx.campaigns.send_now(make_campaign(ctx))
        assert wait_until(
            lambda: any(
                isinstance(e, RunEvent)
                and e.phase == RunPhase.PROGRESS
                and e.run.sent == 4
                and e.message.startswith("Trying again in ")
                and e.message.endswith(": 2 recipients the mail server put off")
                for e in seen
            )
        )
        assert ctx.sending.wait_idle(30)
        assert sorted(received_recipients(handler.messages)) == emails


def test_connections_that_retired_come_back_one_at_a_time_once_the_server_is_quiet(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """From a try-out: one burst of rate-limit replies at the start left a 4-connection
    send on one connection to its end (4 times as long). Once the one left has gone
    without a slow-down for a while, the others are added back, one at a time."""
    monkeypatch.setattr(engine_module, "REGROW_SECONDS", 0.5)
    handler = RecordingHandler(
        data_delay=0.3,
        data_tempfail_reply="451 4.7.1 Rate limit exceeded, slow down",
        data_tempfails=4,
    )
    with running_smtp_server(handler) as server, open_ctx(data_dir, server) as ctx:
        emails = add_contacts(ctx, 400)
        ctx.settings.set("sending.connections", 4)
        ctx.settings.set("sending.retry_base_seconds", 0.05)
        run = ctx.campaigns.send_now(make_campaign(ctx))
        assert wait_until(lambda: handler.data_tempfails_left == 0)
        handler.data_delay = 0.05
        assert wait_until(lambda: handler.active == 1)  # three retired
        assert wait_until(lambda: handler.active == 4)  # and came back
        assert ctx.sending.wait_idle(60)
        assert sorted(received_recipients(handler.messages)) == emails
        assert [
            a
            for a, n in collections.Counter(received_recipients(handler.messages)).items()
            if n > 1
        ] == []
        finished = ctx.runs.get(run.id)
        assert (finished.status, finished.sent, finished.failed) == ("completed", 400, 0)


@pytest.mark.parametrize("pipelining", [False, True], ids=["lockstep", "pipelining"])
@pytest.mark.parametrize("stop", ["pause", "cancel"])
def test_pause_and_cancel_stop_every_connection(
    data_dir: Path, stop: str, pipelining: bool
) -> None:
    handler = RecordingHandler(data_delay=0.05, pipelining=pipelining)
    with running_smtp_server(handler) as server, open_ctx(data_dir, server) as ctx:
        add_contacts(ctx, 200)
        ctx.settings.set("sending.connections", 4)
        run = ctx.campaigns.send_now(make_campaign(ctx))
        assert wait_until(lambda: handler.active == 4)
        getattr(ctx.sending, stop)(run.id)
        assert ctx.sending.wait_idle(10)
        assert wait_until(lambda: handler.active == 0)  # every connection said QUIT
        after_stop = len(handler.messages)
        finished = ctx.runs.get(run.id)
        assert finished.status == ("paused" if stop == "pause" else "cancelled")
        assert finished.sent == after_stop and finished.unconfirmed == 0
        if stop == "pause":
            ctx.sending.resume(run.id)
            assert ctx.sending.wait_idle(30)
            assert len(received_recipients(handler.messages)) == 200


def test_a_refused_login_pauses_the_run_once_not_once_per_connection(data_dir: Path) -> None:
    handler = RecordingHandler()
    with (
        running_smtp_server(handler, auth=("ann", "right")) as server,
        open_ctx(data_dir, server) as ctx,
    ):
        ctx.settings.set_smtp(
            host="127.0.0.1",
            port=server.port,
            security="none",
            username="ann",
            password="wrong",
        )
        add_contacts(ctx, 20)
        ctx.settings.set("sending.connections", 4)
        seen: list[object] = []
        ctx.events.subscribe(seen.append)
        run = ctx.campaigns.send_now(make_campaign(ctx))
        assert ctx.sending.wait_idle(10)
        paused = [e for e in seen if isinstance(e, RunEvent) and e.phase == RunPhase.PAUSED]
        assert len(paused) == 1 and "username or password" in paused[0].message
        finished = ctx.runs.get(run.id)
        assert (finished.status, finished.pending) == ("paused", 20)
        assert handler.messages == []


def test_a_server_that_takes_one_connection_gets_one_without_a_storm_of_refusals(
    data_dir: Path,
) -> None:
    handler = RecordingHandler(max_sessions=1)
    with running_smtp_server(handler) as server, open_ctx(data_dir, server) as ctx:
        emails = add_contacts(ctx, 10)
        ctx.settings.set("sending.connections", 2)
        run = ctx.campaigns.send_now(make_campaign(ctx))
        assert ctx.sending.wait_idle(30)
        assert sorted(received_recipients(handler.messages)) == emails
        assert ctx.runs.get(run.id).status == "completed"
        assert handler.busy_refusals <= 2  # the extra connection retired at its first 421


def test_rows_the_server_accepted_are_recorded_while_others_wait_for_the_throttle(
    data_dir: Path,
) -> None:
    handler = RecordingHandler()
    with running_smtp_server(handler) as server, open_ctx(data_dir, server) as ctx:
        add_contacts(ctx, 5)
        ctx.settings.set("throttle.per_hour", 2)
        run = ctx.campaigns.send_now(make_campaign(ctx))
        assert handler.wait_for(2)
        assert wait_until(lambda: ctx.sending.throttle.waiting > 0)
        # Both accepted messages are `sent` in the ledger; nothing is in flight while the
        # connections wait (a kill now would leave nobody unconfirmed).
        assert wait_until(lambda: ctx.runs.get(run.id).sent == 2)
        assert all(row.status != "in_flight" for row in rows_of(ctx, run.id).values())
        ctx.sending.cancel(run.id)
        assert ctx.sending.wait_idle(10)


def test_no_row_stays_in_flight_while_a_connection_backs_off(data_dir: Path) -> None:
    handler = RecordingHandler(
        data_tempfail_reply="451 4.7.1 Rate limit exceeded, slow down", data_tempfails=1
    )
    with running_smtp_server(handler) as server, open_ctx(data_dir, server) as ctx:
        add_contacts(ctx, 3)
        ctx.settings.set("sending.connections", 1)
        ctx.settings.set("sending.retry_base_seconds", 3)  # a 2 s backoff after "slow down"
        run = ctx.campaigns.send_now(make_campaign(ctx))
        assert wait_until(lambda: handler.data_tempfails_left == 0)
        # During the backoff: nothing delivered yet, and no row marked in flight.
        assert wait_until(
            lambda: (
                not handler.messages
                and all(row.status != "in_flight" for row in rows_of(ctx, run.id).values())
            ),
            timeout=1.5,
        )
        assert ctx.sending.wait_idle(30)
        assert ctx.runs.get(run.id).sent == 3
