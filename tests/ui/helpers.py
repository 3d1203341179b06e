"""Helpers shared by the GUI tests: CSV files to import."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path


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
