"""Helpers shared by the GUI tests: CSV files to import, a run in progress."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from campaign_desktop.domain.status import RunStatus, RunTrigger
from campaign_desktop.domain.views import RunView


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
