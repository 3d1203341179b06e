"""Helpers shared by the GUI tests: CSV files to import, a run in progress, the app run as a
process (`main.py`, offscreen, with its own log folder)."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import threading
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from campaign_desktop.domain.status import RunStatus, RunTrigger
from campaign_desktop.domain.views import RunView


def record_threads(monkeypatch: pytest.MonkeyPatch, service: object, name: str) -> list[bool]:
    """Wrap `service.name` so that each call records whether it ran on the GUI (main) thread;
    the list it returns fills as the calls come."""
    on_gui_thread: list[bool] = []
    method = getattr(service, name)

    def recording(*args: Any, **kwargs: Any) -> Any:
        on_gui_thread.append(threading.current_thread() is threading.main_thread())
        return method(*args, **kwargs)

    monkeypatch.setattr(service, name, recording)
    return on_gui_thread


def write_csv(path: Path, header: Sequence[str], rows: Sequence[Sequence[str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def people_csv(path: Path, count: int, start: int = 1) -> Path:
    """`count` rows person00001@example.com … with first and last names and a company."""
    return write_csv(
        path,
        ["Email", "First Name", "Last Name", "Company"],
        [
            [f"person{n:05d}@example.com", f"First{n}", f"Last{n}", f"Company {n % 7}"]
            for n in range(start, start + count)
        ],
    )


def sending_run(**changes: Any) -> RunView:
    """A manual run of 5,000 recipients, sending since 2027-01-04 12:00 UTC, nobody sent yet;
    `changes` override any field (e.g. ``sent=120``)."""
    at = datetime(2027, 1, 4, 12, 0, tzinfo=UTC)
    run = RunView(
        id=1,
        campaign_id=1,
        occurrence_at=at,
        trigger=RunTrigger.MANUAL,
        status=RunStatus.SENDING,
        started_at=at,
        finished_at=None,
        total=5000,
        sent=0,
        failed=0,
        skipped=0,
        unconfirmed=0,
        error=None,
    )
    return replace(run, **changes)


# --- the app as a process -------------------------------------------------------------------

ROOT = Path(__file__).resolve().parents[2]


class AppProcess:
    """`python main.py --data-dir …` offscreen, with its own log folder."""

    def __init__(self, data_dir: Path, state_home: Path, *args: str) -> None:
        env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "XDG_STATE_HOME": str(state_home)}
        self.log_dir = state_home / "CampaignDesktop" / "log"
        self.log = self.log_dir / "campaign-desktop.log"
        self.process = subprocess.Popen(
            [sys.executable, str(ROOT / "main.py"), "--data-dir", str(data_dir), *args],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )

    def log_text(self) -> str:
        return self.log.read_text(encoding="utf-8") if self.log.exists() else ""

    def logged(self, text: str) -> bool:
        return text in self.log_text()

    def wait(self, timeout: float = 30) -> int:
        try:
            return self.process.wait(timeout)
        finally:
            assert self.process.stdout is not None
            self.process.stdout.close()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.wait()


def start_app(
    started: list[AppProcess], data_dir: Path, state_home: Path, *args: str
) -> AppProcess:
    """Start the app as a process (kept in `started`, which the `processes` fixture stops)."""
    process = AppProcess(data_dir, state_home, *args)
    started.append(process)
    return process


linux_only = pytest.mark.skipif(
    sys.platform != "linux", reason="the log folder follows XDG_STATE_HOME on Linux only"
)
