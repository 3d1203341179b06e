"""The figures of issues 7, 11, 14 and 16, by the name `--only` takes, in the table's order."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass

from benchmarks.harness import Bench


@dataclass(frozen=True)
class Figure:
    name: str
    module: str
    function: str
    # Seconds the runner lets the worker take before stopping it (full sizes; quick: 60 s).
    budget: float
    what: str

    def load(self) -> Callable[[Bench], None]:
        function: Callable[[Bench], None] = getattr(
            importlib.import_module(f"benchmarks.{self.module}"), self.function
        )
        return function


FIGURES: tuple[Figure, ...] = (
    Figure("send", "fig_send", "send_throughput", 240, "send throughput vs bare smtplib"),
    Figure(
        "slow-server", "fig_slow", "slow_server", 420, "send over a slow server, 1/4/8 connections"
    ),
    Figure("firing", "fig_send", "firing_latency", 120, "due → first message received"),
    Figure("cold-start", "fig_startup", "cold_start", 240, "process start → first rows painted"),
    Figure("campaign-table", "fig_tables", "campaign_table", 150, "campaigns in the table model"),
    Figure("contacts-table", "fig_tables", "contacts_table", 180, "contacts table: search, scroll"),
    Figure("csv-import", "fig_import", "csv_import", 150, "CSV import vs csv module"),
    Figure("next-run", "fig_recurrence", "next_run", 120, "next occurrence of mixed patterns"),
    Figure("gui", "fig_gui", "gui_responsiveness", 300, "GUI heartbeat during send and import"),
    Figure("memory", "fig_startup", "memory", 120, "idle app: peak RSS"),
    Figure("team-db", "fig_team", "team_db", 300, "PostgreSQL vs SQLite: send, campaign table"),
    # Issue 16: sizes times $CAMPAIGN_BENCH_SCALE (fig_ledger.py).
    Figure("ledger", "fig_ledger", "ledger", 900, "deletes, long run scroll and export"),
    Figure("search", "fig_ledger", "contact_search", 600, "contact search at 1 M contacts"),
    Figure("big-import", "fig_ledger", "big_import", 900, "1 M-row CSV import vs csv+sqlite3"),
    Figure("migration-backup", "fig_history", "migration_backup", 600, "backup before a migration"),
    Figure("compaction", "fig_history", "compaction", 900, "history retention vs one DELETE"),
)
BY_NAME = {figure.name: figure for figure in FIGURES}
