"""Killed mid-send (SIGKILL at several points): nobody gets the campaign twice (DESIGN §5)."""

from __future__ import annotations

import collections
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from campaign_desktop.context import AppContext
from tests.services.sending_support import add_contacts, configure_smtp, make_campaign
from tests.smtp_server import running_smtp_server

ROOT = Path(__file__).resolve().parents[2]
RECIPIENTS = 1500

pytestmark = pytest.mark.slow


def start_child(data_dir: Path, campaign_id: int, *extra: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.services.crash_child",
            str(data_dir),
            str(campaign_id),
            *extra,
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


@pytest.mark.parametrize(
    ("kill_after_messages", "kill_at_commit", "expected_unconfirmed"),
    # The worker commits a batch in flight (odd commits), then its results (even commits).
    # Killed inside a results commit: that whole batch (50) is unconfirmed. Killed inside an
    # in-flight commit: the batch was never marked, never sent, and is simply sent later.
    [(5, None, None), (700, None, None), (None, "8", 50), (None, "13", 0)],
    ids=["early", "middle", "during-sent-commit", "during-in-flight-commit"],
)
def test_killed_send_resumes_without_sending_anyone_twice(
    data_dir: Path,
    kill_after_messages: int | None,
    kill_at_commit: str | None,
    expected_unconfirmed: int | None,
) -> None:
    with running_smtp_server() as server:
        with AppContext.open(data_dir) as ctx:
            configure_smtp(ctx, server.port)
            emails = add_contacts(ctx, RECIPIENTS)
            campaign_id = make_campaign(ctx)

        extra = (kill_at_commit,) if kill_at_commit else ()
        child = start_child(data_dir, campaign_id, *extra)
        try:
            if kill_after_messages is not None:
                assert server.handler.wait_for(kill_after_messages, timeout=60)
                os.kill(child.pid, signal.SIGKILL)
            assert child.wait(timeout=60) == -signal.SIGKILL
        finally:
            if child.poll() is None:
                child.kill()
        before_resume = len(server.handler.messages)
        assert before_resume < RECIPIENTS  # it really was interrupted

        with AppContext.open(data_dir) as ctx:
            ctx.scheduler.start()  # resumes the run the dead process left `sending`
            assert ctx.sending.wait_idle(60)
            (run,) = ctx.runs.for_campaign(campaign_id)
            rows = ctx.runs.deliveries(run.id, limit=RECIPIENTS)

        received = [address for m in server.handler.messages for address in m.rcpt_tos]
        duplicates = [a for a, n in collections.Counter(received).items() if n > 1]
        assert duplicates == []
        status = {row.email: row.status for row in rows}
        assert sorted(status) == emails
        assert set(status.values()) <= {"sent", "unconfirmed"}
        sent = {email for email, s in status.items() if s == "sent"}
        unconfirmed = {email for email, s in status.items() if s == "unconfirmed"}
        assert sent <= set(received)
        assert set(received) <= sent | unconfirmed
        assert len(unconfirmed) <= 100
        if expected_unconfirmed is not None:
            assert len(unconfirmed) == expected_unconfirmed
        assert (run.status, run.total) == ("completed", RECIPIENTS)
        assert run.sent + run.unconfirmed == RECIPIENTS
        assert run.sent == len(sent) and run.unconfirmed == len(unconfirmed)
