"""Killed mid-send (SIGKILL at random points, throttle on and off): nobody gets the
campaign twice, nobody is lost, and at most one row per open connection is unconfirmed
(docs/design.md §9)."""

from __future__ import annotations

import collections
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from campaign_desktop.context import AppContext
from tests.services.sending_support import add_contacts, configure_smtp, make_campaign
from tests.smtp_server import RecordingHandler, running_smtp_server

ROOT = Path(__file__).resolve().parents[2]
RECIPIENTS = 2000
CONNECTIONS = 4
THROTTLE_PER_MINUTE = 300
TRIALS = 20

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


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int, list[str]]:
    """A data folder with 2,000 subscribed contacts and a campaign, made once and copied."""
    data_dir = tmp_path_factory.mktemp("crash") / "data"
    with AppContext.open(data_dir) as ctx:
        emails = add_contacts(ctx, RECIPIENTS)
        campaign_id = make_campaign(ctx)
    return data_dir, campaign_id, emails


def _trials() -> list[tuple[int, bool, str, bool]]:
    """(seed, throttled, how, pipelining) for each kill: at a random message count, or inside
    a random commit of a connection thread (a `begin` or an outcome write); half of them
    against a server offering PIPELINING, where the commit runs after MAIL, RCPT and DATA
    were written (and perhaps answered with 354)."""
    return [
        (seed, seed % 2 == 1, "commit" if seed % 3 == 0 else "message", seed % 4 < 2)
        for seed in range(TRIALS)
    ]


@pytest.mark.parametrize(("seed", "throttled", "how", "pipelining"), _trials())
def test_killed_send_resumes_without_sending_anyone_twice_or_losing_anyone(
    prepared: tuple[Path, int, list[str]],
    tmp_path: Path,
    seed: int,
    throttled: bool,
    how: str,
    pipelining: bool,
) -> None:
    template_dir, campaign_id, emails = prepared
    data_dir = tmp_path / "data"
    shutil.copytree(template_dir, data_dir)
    rng = random.Random(seed)
    handler = RecordingHandler(pipelining=pipelining)
    with running_smtp_server(handler) as server:
        with AppContext.open(data_dir) as ctx:
            configure_smtp(ctx, server.port)
            ctx.settings.set("sending.connections", CONNECTIONS)
            ctx.settings.set("throttle.per_minute", THROTTLE_PER_MINUTE if throttled else 0)

        limit = THROTTLE_PER_MINUTE if throttled else RECIPIENTS
        if how == "commit":
            # Each message makes one commit (its begin), plus outcome writes before waits.
            child = start_child(data_dir, campaign_id, str(rng.randint(1, limit)))
        else:
            child = start_child(data_dir, campaign_id)
        try:
            if how == "message":
                kill_after = rng.randint(1, limit - 1)
                assert handler.wait_for(kill_after, timeout=60)
                if throttled and kill_after > limit - 20:
                    # Let the throttle's wait begin: the kill then falls inside the wait.
                    time.sleep(rng.uniform(0, 0.3))
                os.kill(child.pid, signal.SIGKILL)
            assert child.wait(timeout=60) == -signal.SIGKILL, (
                child.stderr.read() if child.stderr else ""
            )
        finally:
            if child.poll() is None:
                child.kill()
        before_resume = len(handler.messages)
        assert before_resume < RECIPIENTS  # it really was interrupted

        with AppContext.open(data_dir) as ctx:
            ctx.settings.set("throttle.per_minute", 0)  # finish the rest quickly
            resumed = ctx.sending.resume_interrupted()
            unconfirmed_at_restart = resumed[0].unconfirmed if resumed else 0
            assert ctx.sending.wait_idle(120)
            (run,) = ctx.runs.for_campaign(campaign_id)
            rows = ctx.runs.deliveries(run.id, limit=RECIPIENTS)

    received = [address for m in handler.messages for address in m.rcpt_tos]
    duplicates = [a for a, n in collections.Counter(received).items() if n > 1]
    assert duplicates == []
    status = {row.email: row.status for row in rows}
    assert sorted(status) == emails
    assert set(status.values()) <= {"sent", "unconfirmed"}  # nobody lost, nobody pending
    sent = {email for email, s in status.items() if s == "sent"}
    unconfirmed = {email for email, s in status.items() if s == "unconfirmed"}
    assert sent <= set(received)
    assert set(received) <= sent | unconfirmed
    # At most one row per connection was in its SMTP transaction when the process died.
    assert len(unconfirmed) == unconfirmed_at_restart <= CONNECTIONS
    assert (run.status, run.total) == ("completed", RECIPIENTS)
    assert run.sent + run.unconfirmed == RECIPIENTS
    assert run.sent == len(sent) and run.unconfirmed == len(unconfirmed)
