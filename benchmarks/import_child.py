"""One CSV import in a fresh process, for its time and peak RSS (`ru_maxrss` of this process).

``python -m benchmarks.import_child app|csv|sqlite CSV_FILE DATA_DIR`` — `app` imports the
file with `contacts.import_csv` into a new database; `csv` opens the same app context (same
modules loaded, same starting memory) and only reads the file with the csv module; `sqlite`
(issue 16's baseline) reads it with the csv module and inserts it with plain `sqlite3`,
de-duplicated by lower-cased address, 2,000 rows per transaction, into a table of its own
beside the app's database (no validation, no search index).
"""

from __future__ import annotations

import csv
import sqlite3
import sys
import time
from pathlib import Path

from benchmarks.harness import current_rss_mb, emit, peak_rss_mb, stopwatch
from campaign_desktop.context import AppContext


def main() -> int:
    mode, csv_file, data_dir = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
    ctx = AppContext.open(data_dir)
    try:
        before = peak_rss_mb()
        result: dict[str, object] = {}
        cpu_start = time.process_time()
        with stopwatch() as elapsed:
            if mode == "app":
                report = ctx.contacts.import_csv(csv_file, "Customers")
                result.update(
                    created=report.created, updated=report.updated, skipped=len(report.skipped)
                )
            elif mode == "sqlite":
                result["rows"] = _bare_insert(csv_file, data_dir / "bare.sqlite3")
            else:
                with csv_file.open(newline="", encoding="utf-8") as handle:
                    result["rows"] = sum(1 for _row in csv.reader(handle))
        result.update(
            seconds=elapsed(),
            # CPU time of this process: on a loaded machine a steadier figure than the wall.
            cpu_seconds=time.process_time() - cpu_start,
            rss_before_mb=before,
            rss_peak_mb=peak_rss_mb(),
            rss_end_mb=current_rss_mb(),
        )
        emit("import", result)
    finally:
        ctx.close()
    return 0


def _bare_insert(csv_file: Path, target: Path) -> int:
    connection = sqlite3.connect(target)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")
    connection.execute(
        "CREATE TABLE contact (id INTEGER PRIMARY KEY, email TEXT UNIQUE NOT NULL, "
        "first_name TEXT, last_name TEXT, attributes TEXT)"
    )
    seen: set[str] = set()
    batch: list[tuple[str, str, str, str]] = []
    inserted = 0
    with csv_file.open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        next(reader)
        for email, first, last, *rest in reader:
            address = email.strip().lower()
            if "@" not in address or address in seen:
                continue
            seen.add(address)
            batch.append((address, first, last, ",".join(rest)))
            if len(batch) == 2000:
                with connection:
                    connection.executemany(
                        "INSERT INTO contact (email, first_name, last_name, attributes) "
                        "VALUES (?, ?, ?, ?)",
                        batch,
                    )
                inserted += len(batch)
                batch.clear()
    with connection:
        connection.executemany(
            "INSERT INTO contact (email, first_name, last_name, attributes) VALUES (?, ?, ?, ?)",
            batch,
        )
    connection.close()
    return inserted + len(batch)


if __name__ == "__main__":
    raise SystemExit(main())
