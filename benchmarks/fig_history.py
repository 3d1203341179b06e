"""Issue 16, the file's own growth: the backup before a migration (SQLite's online backup
API a step at a time, with progress) against a bare `sqlite3` backup of the same file, and
the history retention's compaction of old runs (a chunk per transaction) against one bare
DELETE of the same rows.

Sizes: the issue's 850 MB database and a 5.2 M-row ledger, times ``CAMPAIGN_BENCH_SCALE``
(default 1); ``--quick``: a few MB and 20,000 rows.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import time
from functools import partial
from pathlib import Path

from benchmarks.harness import Bench, Row, Target, emit_note, emit_row, median, stopwatch

SCALE_ENV = "CAMPAIGN_BENCH_SCALE"
ISSUE_BYTES = 850 * 1024 * 1024
ISSUE_DELIVERIES = 5_200_000
_ROW_BYTES = 1_000


def _scale(bench: Bench) -> float:
    return 0.005 if bench.sizes.quick else float(os.environ.get(SCALE_ENV, "1"))


def _database_before_migration(folder: Path, size: int) -> Path:
    """An SQLite file one revision behind the newest, about `size` bytes (filler rows of
    about 1 KB in `setting`, written by one raw statement; not timed)."""
    from campaign_desktop.persistence.db import (  # noqa: PLC0415
        DATABASE_FILENAME,
        create_sqlite_engine,
        upgrade,
    )

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / DATABASE_FILENAME
    engine = create_sqlite_engine(path)
    upgrade(engine, "0008")
    engine.dispose()
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        page_size = int(connection.execute("PRAGMA page_size").fetchone()[0])
        batch, number = 10_000, 0
        # Batches until the file holds `size` bytes of pages (the rows' overhead varies).
        while int(connection.execute("PRAGMA page_count").fetchone()[0]) * page_size < size:
            connection.execute("BEGIN")
            connection.execute(
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?) "
                "INSERT INTO setting (key, value) "
                "SELECT 'filler' || (? + i), hex(randomblob(?)) FROM n",
                (min(batch, max(1, size // _ROW_BYTES)), number, _ROW_BYTES // 2),
            )
            connection.execute("COMMIT")
            number += batch
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        connection.close()
    return path


def _record(steps: list[tuple[int, int]], copied: int, total: int) -> None:
    steps.append((copied, total))


def migration_backup(bench: Bench) -> None:
    """`backup_database` (check + stepped copy with progress) vs `sqlite3` backup in one step."""
    from campaign_desktop.persistence.db import (  # noqa: PLC0415
        BACKUP_STEP_PAGES,
        backup_database,
        check_database_file,
    )

    scale = _scale(bench)
    folder = bench.fresh_dir("migration-backup")
    with stopwatch() as elapsed:
        path = _database_before_migration(folder / "data", round(ISSUE_BYTES * scale))
    size_mb = path.stat().st_size / 1024 / 1024
    ours: list[float] = []
    bare: list[float] = []
    reports: list[int] = []
    checks: list[float] = []
    for _round in range(3):  # alternated, so both see the same load and page cache
        steps: list[tuple[int, int]] = []
        with stopwatch() as took:
            copy = backup_database(path, partial(_record, steps))
        ours.append(took())
        reports.append(len(steps))
        assert copy is not None and steps[-1][0] == steps[-1][1]
        shutil.rmtree(copy.parent)
        target = folder / "bare.sqlite3"
        target.unlink(missing_ok=True)
        with stopwatch() as took:
            source = sqlite3.connect(path)
            destination = sqlite3.connect(target)
            source.backup(destination)
            destination.close()
            source.close()
        bare.append(took())
        target.unlink()
        with stopwatch() as took:
            check_database_file(path)
        checks.append(took())
    emit_row(
        Row(
            key="migration-backup",
            figure=f"backup before a migration, {size_mb:,.0f} MB database (issue: 850 MB)",
            unit="s",
            ours=median(ours),
            baseline=median(bare),
            target=Target("info", text="shows progress; uses SQLite's online backup API"),
        )
    )
    emit_note(
        f"migration backup: a {size_mb:,.0f} MB file at revision 0008 (built in "
        f"{elapsed():.0f} s, not timed; scale {scale:g}); ours = `backup_database` "
        f"(PRAGMA quick_check of the file, {median(checks):.2f} s of it on its own, then the "
        f"online backup API {BACKUP_STEP_PAGES} pages a step: {median(reports):.0f} "
        "progress reports), bare = `sqlite3` "
        "`Connection.backup` in one step; medians of 3, alternated. At start-up it runs on "
        "the pool under a progress dialog (files of 100 MB and more)."
    )


def _ledger_for_compaction(data_dir: Path, deliveries: int) -> list[int]:
    """Old completed runs of 10,000 recipients each, `deliveries` rows in all; their ids."""
    from benchmarks import data  # noqa: PLC0415

    ctx = data.open_context(data_dir)
    ctx.close()
    per_run = 10_000
    runs = max(1, deliveries // per_run)
    connection = sqlite3.connect(data_dir / "campaigns.sqlite3", isolation_level=None)
    try:
        connection.execute("PRAGMA foreign_keys=ON")
        connection.execute("BEGIN")
        connection.execute(
            "INSERT INTO campaign (name, channel, subject, body_text, from_name, from_email, "
            "status, timezone, is_recurring, runs_done, missed_run_policy, archived, "
            "created_at, updated_at) VALUES ('Weekly', 'email', 'News', 'Hi', '', "
            "'news@shop.example', 'scheduled', 'UTC', 1, 0, 'send_late', 0, "
            "'2024-01-01 00:00:00.000000', '2024-01-01 00:00:00.000000')"
        )
        ids = []
        for week in range(runs):
            stamp = f"2024-01-01 09:00:{week % 60:02d}.{week:06d}"
            cursor = connection.execute(
                "INSERT INTO campaign_run (campaign_id, occurrence_at, trigger, status, "
                "finished_at, total, sent, failed, skipped, unconfirmed, bounced, "
                "unsubscribed) VALUES (1, ?, 'scheduled', 'completed', ?, ?, ?, 0, 0, 0, 0, 0)",
                (stamp, stamp, per_run, per_run),
            )
            run_id = cursor.lastrowid
            ids.append(int(run_id or 0))
            connection.execute(
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?) "
                "INSERT INTO delivery (run_id, email, status, attempts, sent_at) "
                "SELECT ?, 'person' || i || '@example.com', 'sent', 1, ? FROM n",
                (per_run, run_id, stamp),
            )
        connection.execute("COMMIT")
    finally:
        connection.close()
    return ids


def compaction(bench: Bench) -> None:
    """`HistoryRetention.compact` (chunks of 2,000, each a transaction) vs one bare DELETE."""
    from benchmarks import data  # noqa: PLC0415
    from campaign_desktop.services import retention  # noqa: PLC0415

    scale = _scale(bench)
    deliveries = max(2, round(ISSUE_DELIVERIES * scale / 10_000)) * 10_000
    folder = bench.fresh_dir("compaction")
    _ledger_for_compaction(folder / "app", deliveries)
    shutil.copytree(folder / "app", folder / "bare")
    ctx = data.open_context(folder / "app")
    chunks: list[float] = []
    remove_chunk = retention.HistoryRetention._remove_chunk

    def timed_chunk(self: retention.HistoryRetention, run_id: int) -> int:
        start = time.perf_counter()
        try:
            return remove_chunk(self, run_id)
        finally:
            chunks.append(time.perf_counter() - start)

    retention.HistoryRetention._remove_chunk = timed_chunk  # type: ignore[method-assign]
    try:
        ctx.settings.set("history.keep_months", 1)
        with stopwatch() as took:
            report = ctx.retention.compact()
        ours = took()
    finally:
        retention.HistoryRetention._remove_chunk = remove_chunk  # type: ignore[method-assign]
        ctx.close()
    assert report.deliveries == deliveries, report
    bare = sqlite3.connect(folder / "bare" / "campaigns.sqlite3", isolation_level=None)
    try:
        bare.execute("PRAGMA foreign_keys=ON")
        with stopwatch() as took:
            bare.execute("BEGIN IMMEDIATE")
            bare.execute("DELETE FROM delivery WHERE run_id IN (SELECT id FROM campaign_run)")
            bare.execute("COMMIT")
        baseline = took()
    finally:
        bare.close()
    emit_row(
        Row(
            key="compaction",
            figure=f"history retention: remove {deliveries:,} delivery rows of old runs",
            unit="s",
            ours=ours,
            baseline=baseline,
            target=Target("info", text="in the background, a short transaction per chunk"),
        )
    )
    emit_row(
        Row(
            key="compaction-chunk",
            figure=f"history retention: longest write transaction ({retention.CHUNK_ROWS:,} rows)",
            unit="ms",
            ours=max(chunks) * 1000,
            baseline=baseline * 1000,
            target=Target("info", text="what a send's commit may wait at most"),
        )
    )
    emit_note(
        f"compaction: {deliveries:,} sent rows in {deliveries // 10_000:,} completed runs of "
        f"10,000 (scale {scale:g}); ours = `ctx.retention.compact()` ({len(chunks):,} "
        f"transactions, median {median(chunks) * 1000:.1f} ms, longest "
        f"{max(chunks) * 1000:.1f} ms, {retention.PAUSE_SECONDS * 1000:.0f} ms rest between "
        "them), bare = one `DELETE … WHERE run_id IN (…)` in one transaction on raw "
        "`sqlite3` (holding the write lock the whole time)."
    )
