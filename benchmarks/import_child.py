"""One CSV import in a fresh process, for its time and peak RSS (`ru_maxrss` of this process).

``python -m benchmarks.import_child app|csv CSV_FILE DATA_DIR`` — `app` imports the file
with `contacts.import_csv` into a new database; `csv` opens the same app context (same
modules loaded, same starting memory) and only reads the file with the csv module.
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

from benchmarks.harness import current_rss_mb, emit, peak_rss_mb, stopwatch
from campaign_desktop.context import AppContext


def main() -> int:
    mode, csv_file, data_dir = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
    ctx = AppContext.open(data_dir)
    try:
        before = peak_rss_mb()
        result: dict[str, object] = {}
        with stopwatch() as elapsed:
            if mode == "app":
                report = ctx.contacts.import_csv(csv_file, "Customers")
                result.update(
                    created=report.created, updated=report.updated, skipped=len(report.skipped)
                )
            else:
                with csv_file.open(newline="", encoding="utf-8") as handle:
                    result["rows"] = sum(1 for _row in csv.reader(handle))
        result.update(
            seconds=elapsed(),
            rss_before_mb=before,
            rss_peak_mb=peak_rss_mb(),
            rss_end_mb=current_rss_mb(),
        )
        emit("import", result)
    finally:
        ctx.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
