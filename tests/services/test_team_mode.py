"""Team mode: several desktops send from one PostgreSQL database (docs/design.md §10).

A real PostgreSQL server started by the tests, a real local SMTP server, real scheduler
threads; the kill test runs three desktops as three processes and kills one with SIGKILL.
"""

from __future__ import annotations

import collections
import functools
import os
import signal
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, text

from campaign_desktop.context import AppContext
from campaign_desktop.domain.clock import ManualClock
from campaign_desktop.domain.errors import ValidationError
from campaign_desktop.domain.events import CampaignChange, CampaignChanged, RunEvent, RunPhase
from campaign_desktop.persistence.models import CampaignRun, Desktop
from tests.conftest import TEMPLATE_DATABASE
from tests.postgres_server import APP_PASSWORD, PostgresServer
from tests.services.sending_support import (
    add_contacts,
    configure_smtp,
    make_campaign,
    received_recipients,
)
from tests.services.test_ledger_truth import rows_of, wait_until
from tests.smtp_server import RecordingHandler, running_smtp_server

ROOT = Path(__file__).resolve().parents[2]
NEW_YORK = "America/New_York"


@pytest.fixture
def team_url(postgres_server: PostgresServer) -> Iterator[str]:
    """A fresh migrated PostgreSQL database for the team; the URL carries the password,
    as a desktop's first start would (the app moves it to that desktop's keyring)."""
    name = f"team_{uuid.uuid4().hex[:12]}"
    postgres_server.create_database(name, template=TEMPLATE_DATABASE)
    try:
        yield postgres_server.url(name, password=APP_PASSWORD).render_as_string(hide_password=False)
    finally:
        postgres_server.drop_database(name)


def open_desktop(tmp_path: Path, name: str, url: str, **kwargs: object) -> AppContext:
    return AppContext.open(tmp_path / name, database_url=url, **kwargs)  # type: ignore[arg-type]


def test_three_desktops_send_each_occurrence_of_a_recurring_campaign_once(
    tmp_path: Path, team_url: str
) -> None:
    clock = ManualClock(datetime(2031, 3, 3, 15, 0, tzinfo=UTC))
    handler = RecordingHandler()
    with running_smtp_server(handler) as server, ExitStack() as stack:
        desktops = [
            stack.enter_context(
                open_desktop(
                    tmp_path,
                    f"desk{number}",
                    team_url,
                    clock=clock,
                    reconcile_seconds=0.05,
                    heartbeat_seconds=0.2,
                )
            )
            for number in range(3)
        ]
        first = desktops[0]
        configure_smtp(first, server.port)
        for desk in desktops[1:]:
            desk.settings.set_smtp(host="127.0.0.1", port=server.port, security="none")
        emails = add_contacts(first, 5)
        campaign_id = make_campaign(first)
        first.campaigns.schedule(
            campaign_id,
            first_local=datetime(2031, 3, 4, 9, 0),
            timezone=NEW_YORK,
            recurrence={"type": "daily", "count": 10},
        )
        for desk in desktops:
            desk.scheduler.start()
        for day in range(10):
            due = datetime(2031, 3, 4, 14, 0, tzinfo=UTC) + timedelta(days=day)
            if day >= 5:  # the clocks changed on 9 March: 09:00 New York is 13:00Z
                due -= timedelta(hours=1)
            clock.set(due + timedelta(seconds=1))
            runs_so_far = day + 1
            assert wait_until(
                functools.partial(
                    lambda n: len(first.runs.for_campaign(campaign_id)) == n, runs_so_far
                )
            )
            assert wait_until(
                functools.partial(lambda n: len(handler.messages) == 5 * n, runs_so_far)
            )
        for desk in desktops:
            assert desk.sending.wait_idle(20)
        runs = first.runs.for_campaign(campaign_id)
        assert len(runs) == 10
        assert all((run.status, run.sent) == ("completed", 5) for run in runs)
        counts = collections.Counter(received_recipients(handler.messages))
        assert counts == {email: 10 for email in emails}


def test_a_live_desktop_s_run_is_never_taken_over_and_a_gone_one_s_is(
    tmp_path: Path, team_url: str
) -> None:
    handler = RecordingHandler(data_delay=0.05)
    with running_smtp_server(handler) as server:
        owner = open_desktop(tmp_path, "owner", team_url, heartbeat_seconds=0.2)
        other = open_desktop(tmp_path, "other", team_url, heartbeat_seconds=0.2)
        try:
            configure_smtp(owner, server.port)
            emails = add_contacts(owner, 60)
            owner.scheduler.start()
            run = owner.campaigns.send_now(make_campaign(owner))
            assert handler.wait_for(3)
            assert other.sending.resume_interrupted() == []  # the owner is alive
            owner.close()  # quits mid-send: its run stays `sending`, its desktop leaves
            assert other.sending.resume_interrupted() != []
            assert other.sending.wait_idle(30)
            finished = other.runs.get(run.id)
            assert (finished.status, finished.sent + finished.unconfirmed) == ("completed", 60)
            received = received_recipients(handler.messages)
            assert [a for a, n in collections.Counter(received).items() if n > 1] == []
            assert set(received) | {
                e for e, r in rows_of(other, run.id).items() if r.status == "unconfirmed"
            } == set(emails)
        finally:
            other.close()


def start_desktop(tmp_path: Path, name: str, url: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.services.team_child", str(tmp_path / name), url],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.slow
def test_three_desktop_processes_one_killed_mid_send_nobody_twice_nobody_lost(
    tmp_path: Path, team_url: str
) -> None:
    recipients = 3000
    handler = RecordingHandler(data_delay=0.002)
    with running_smtp_server(handler) as server:
        with open_desktop(tmp_path, "setup", team_url) as setup:
            configure_smtp(setup, server.port)
            emails = add_contacts(setup, recipients)
            campaign_id = make_campaign(setup)
            connections = int(setup.settings.get("sending.connections"))
            # Due a few seconds from now for all three desktops at once (wall clock, UTC).
            due = (datetime.now(UTC) + timedelta(seconds=8)).replace(microsecond=0)
            setup.campaigns.schedule(
                campaign_id, first_local=due.replace(tzinfo=None), timezone="UTC"
            )
        children = [start_desktop(tmp_path, f"desk{n}", team_url) for n in range(3)]
        try:
            for child in children:
                assert child.stdout is not None
                assert child.stdout.readline().startswith("ready")
            assert handler.wait_for(300, timeout=60)
            with open_desktop(tmp_path, "observer", team_url) as observer:
                with observer.db.read() as session:
                    owner = session.scalar(
                        select(CampaignRun.owner_id).where(CampaignRun.campaign_id == campaign_id)
                    )
                    pid = session.scalar(select(Desktop.pid).where(Desktop.id == owner))
                assert pid in {child.pid for child in children}
                os.kill(pid, signal.SIGKILL)
                assert wait_until(
                    lambda: observer.runs.for_campaign(campaign_id)[0].status == "completed",
                    timeout=120,
                )
                (run,) = observer.runs.for_campaign(campaign_id)
                rows = rows_of(observer, run.id)
        finally:
            for child in children:
                if child.poll() is None:
                    child.kill()
                child.wait(timeout=10)
    received = received_recipients(handler.messages)
    assert [a for a, n in collections.Counter(received).items() if n > 1] == []
    status = {email: row.status for email, row in rows.items()}
    assert sorted(status) == emails
    assert set(status.values()) <= {"sent", "unconfirmed"}
    sent = {e for e, s in status.items() if s == "sent"}
    unconfirmed = {e for e, s in status.items() if s == "unconfirmed"}
    assert sent <= set(received) <= sent | unconfirmed  # the ledger matches the server
    assert len(unconfirmed) <= connections
    assert run.sent + run.unconfirmed == recipients


def test_each_desktop_sees_what_the_others_change(tmp_path: Path, team_url: str) -> None:
    handler = RecordingHandler(data_delay=0.05)
    with (
        running_smtp_server(handler) as server,
        open_desktop(tmp_path, "mine", team_url, heartbeat_seconds=0.2) as mine,
        open_desktop(tmp_path, "theirs", team_url, heartbeat_seconds=0.2) as theirs,
    ):
        configure_smtp(theirs, server.port)
        # One connection: the send lasts ~2 s, several of this desktop's polls, so one of them
        # falls between two of the run's progress writes (with 4 it was over in ~0.5 s and a
        # poll could see only 0 and then the end).
        theirs.settings.set("sending.connections", 1)
        add_contacts(theirs, 40)
        seen: list[object] = []
        mine.events.subscribe(seen.append)
        mine.scheduler.start()
        theirs.scheduler.start()

        created = make_campaign(theirs, "Made over there")
        assert wait_until(
            lambda: CampaignChanged(created, CampaignChange.UPDATED) in seen
        )  # my tables would fetch and show it
        # Counted before the change: the poll may report it before the next line runs.
        count = seen.count(CampaignChanged(created, CampaignChange.UPDATED))
        theirs.campaigns.update(created, subject="New subject for {{ first_name }}")
        assert wait_until(
            lambda: seen.count(CampaignChanged(created, CampaignChange.UPDATED)) > count
        )
        run = theirs.campaigns.send_now(created)
        assert wait_until(
            lambda: any(
                isinstance(e, RunEvent) and e.run.id == run.id and 0 < e.run.sent < 40 for e in seen
            )
        )  # their send's progress shows here too
        assert wait_until(
            lambda: any(
                isinstance(e, RunEvent) and e.run.id == run.id and e.phase == RunPhase.FINISHED
                for e in seen
            ),
            timeout=30,
        )
        other = make_campaign(theirs, "Short-lived")
        assert wait_until(lambda: CampaignChanged(other, CampaignChange.UPDATED) in seen)
        theirs.campaigns.delete(other)
        assert wait_until(lambda: CampaignChanged(other, CampaignChange.DELETED) in seen)


def test_two_desktops_adding_one_address_at_once_get_a_message_not_a_crash(
    tmp_path: Path, team_url: str
) -> None:
    with (
        open_desktop(tmp_path, "first", team_url) as first,
        open_desktop(tmp_path, "second", team_url) as second,
        open_desktop(tmp_path, "watcher", team_url) as watcher,
    ):
        outcome: list[object] = []
        with first.db.write() as session:  # the first desktop's insert, not yet committed
            session.execute(
                text(
                    "INSERT INTO contact (email, first_name, last_name, attributes, status,"
                    " created_at, updated_at) VALUES ('ann@example.com', '', '', '{}',"
                    " 'subscribed', now(), now())"
                )
            )

            def add() -> None:
                try:
                    outcome.append(second.contacts.add("ann@example.com"))
                except ValidationError as exc:
                    outcome.append(exc)

            adding = threading.Thread(target=add)
            adding.start()  # its check sees nothing yet; its insert waits on the first's

            def second_is_waiting_on_the_lock() -> bool:
                with watcher.db.read() as watching:
                    waiting = watching.scalar(
                        text("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'")
                    )
                return bool(waiting)

            assert wait_until(second_is_waiting_on_the_lock)
        adding.join(10)
        (result,) = outcome
        assert isinstance(result, ValidationError) and result.field == "email"
        assert "already in your contacts" in result.message
