"""Cold start (issue 16, docs/design.md §19): the first paint loads only what it shows.

The app runs as a real process (`cold_start_child.py`: `campaign_desktop.app.main`,
offscreen) on a real, migrated SQLite file, and says which modules it had imported when
its window first painted and when the scheduler had started right after. The sending
stack, Jinja2, email-validator, the keyring, APScheduler, the IMAP and iCalendar
libraries, the tabs not shown and the dialogs come later, when needed. A campaign due at
that moment is still sent, as scheduled, to the real SMTP test server.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from benchmarks.data import configure_smtp
from campaign_desktop.context import AppContext
from campaign_desktop.domain.clock import ManualClock
from campaign_desktop.domain.status import RunTrigger
from tests.smtp_server import SmtpServer, running_smtp_server

pytestmark = pytest.mark.gui

CHILD = Path(__file__).with_name("cold_start_child.py")
#: Imported by the start, but only once the scheduler runs (after the first paint).
SCHEDULER_ONLY = {"apscheduler"}
#: How long a loaded machine may take to start the app and send one message.
START_SECONDS = 60


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    with running_smtp_server() as server:
        yield server


def _due_at_start(data_dir: Path, smtp: SmtpServer) -> int:
    """A database with one campaign whose single send fell due 20 s ago (scheduled while
    the clock said it was 10 minutes earlier: a send is never scheduled in the past)."""
    real_now = datetime.now(UTC)
    with AppContext.open(data_dir, clock=ManualClock(real_now - timedelta(minutes=10))) as ctx:
        configure_smtp(ctx, smtp.port)
        ctx.contacts.add("anna@example.com", first_name="Anna", lists=("Customers",))
        campaign = ctx.campaigns.create(
            name="Due at start",
            subject="Hello {{ first_name }}",
            body_text="Hi {{ first_name }}",
            from_email="news@example.com",
            lists=("Customers",),
        )
        due = (real_now - timedelta(seconds=20)).replace(tzinfo=None, microsecond=0)
        ctx.campaigns.schedule(campaign.id, first_local=due, timezone="UTC")
        return campaign.id


def _reports(process: subprocess.Popen[str], count: int) -> list[dict[str, Any]]:
    """The child's first `count` JSON lines (it writes nothing else to stdout)."""
    assert process.stdout is not None
    reports: list[dict[str, Any]] = []
    while len(reports) < count:
        line = process.stdout.readline()
        if not line:
            pytest.fail(f"the app ended before it painted (exit {process.wait()})")
        reports.append(json.loads(line))
    return reports


@pytest.mark.slow
@pytest.mark.skipif(sys.platform == "win32", reason="SIGTERM ends the app cleanly on POSIX")
def test_first_paint_loads_no_sending_stack_and_a_due_send_still_goes_out(
    tmp_path: Path, smtp: SmtpServer
) -> None:
    data_dir = tmp_path / "data"
    campaign_id = _due_at_start(data_dir, smtp)
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "XDG_STATE_HOME": str(tmp_path)}
    process = subprocess.Popen(
        [sys.executable, str(CHILD), str(data_dir)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        painted, started = _reports(process, 2)
        assert painted == {"moment": "painted", "modules": []}
        assert started["moment"] == "scheduler started"
        assert set(started["modules"]) >= SCHEDULER_ONLY
        # The due send goes out right after the paint, to the real server.
        assert smtp.handler.wait_for(1, timeout=START_SECONDS)
        assert smtp.handler.messages[0].message["Subject"] == "Hello Anna"
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        assert process.wait(START_SECONDS) == 0
        assert process.stdout is not None
        process.stdout.close()
    with AppContext.open(data_dir) as ctx:
        (run,) = ctx.runs.for_campaign(campaign_id)
        assert run.trigger == RunTrigger.SCHEDULED  # on time, not a late catch-up
        assert run.sent == 1
