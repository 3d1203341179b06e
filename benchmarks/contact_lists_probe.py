"""``python -m benchmarks.contact_lists_probe [CONTACTS]``: the Contacts tab's bulk list action
and CSV export (issue 17) against bare sqlite3 doing the same work, alternated, on one file.

- export: `ContactService.export_csv` of every contact (keyset pages, lists, custom fields,
  formula-safe cells, a temporary file renamed into place) vs one sqlite3 cursor over the
  same columns + the lists (GROUP_CONCAT) into `csv.writer`. Peak Python memory of the
  export (tracemalloc) shows it streams.
- add to list: `ContactService.add_to_list` of every contact (a transaction per 500) vs one
  ``INSERT OR IGNORE … SELECT`` in one transaction.

Standalone (not one of `python -m benchmarks`' figures): timings are printed, never asserted.
"""

from __future__ import annotations

import csv
import json
import sqlite3
import statistics
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import insert, select

from campaign_desktop.context import AppContext
from campaign_desktop.domain.clock import ManualClock
from campaign_desktop.persistence.models import Contact

ROUNDS = 3


def seed(ctx: AppContext, count: int) -> list[int]:
    now = datetime(2027, 1, 4, 9, tzinfo=UTC)
    rows = [
        {
            "email": f"person{n:07d}@example.com",
            "first_name": f"First{n}",
            "last_name": "Last",
            "attributes": {"company": f"Company {n % 97}", "city": "Oslo", "score": n % 10},
            "status": "subscribed",
            "created_at": now,
            "updated_at": now,
        }
        for n in range(count)
    ]
    with ctx.db.write_core() as connection:
        connection.execute(insert(Contact), rows)
        ids = list(connection.scalars(select(Contact.id).order_by(Contact.id)))
    ctx.contacts.add_to_list(ids[::2], "Customers")
    return ids


def bare_export(database: Path, target: Path) -> None:
    connection = sqlite3.connect(database)
    query = (
        "SELECT c.email, c.first_name, c.last_name, c.status, c.attributes,"
        " (SELECT group_concat(l.name, '; ') FROM list_membership m"
        "  JOIN contact_list l ON l.id = m.list_id WHERE m.contact_id = c.id)"
        " FROM contact c ORDER BY c.email"
    )
    keys = ("city", "company", "score")
    with target.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(("email", "first_name", "last_name", "status", "lists", *keys))
        for email, first, last, status, attributes, lists in connection.execute(query):
            values = json.loads(attributes)
            writer.writerow((email, first, last, status, lists or "", *(values[k] for k in keys)))
    connection.close()


def bare_add(database: Path) -> None:
    connection = sqlite3.connect(database, isolation_level=None)
    connection.execute("BEGIN IMMEDIATE")
    connection.execute(
        "INSERT INTO contact_list (name, description, created_at) VALUES (?, '', ?)",
        ("Bare", "2027-01-04 09:00:00.000000"),
    )
    list_id = connection.execute("SELECT id FROM contact_list WHERE name = 'Bare'").fetchone()[0]
    connection.execute(
        "INSERT OR IGNORE INTO list_membership (list_id, contact_id) SELECT ?, id FROM contact",
        (list_id,),
    )
    connection.execute("COMMIT")
    connection.execute("DELETE FROM contact_list WHERE name = 'Bare'")
    connection.close()


def timed(work: Callable[[], object]) -> float:
    start = time.perf_counter()
    work()
    return time.perf_counter() - start


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    with tempfile.TemporaryDirectory() as folder:
        data = Path(folder) / "data"
        ctx = AppContext.open(data, clock=ManualClock(datetime(2027, 1, 4, 9, tzinfo=UTC)))
        try:
            ids = seed(ctx, count)
            database = data / "campaigns.sqlite3"
            ours: list[float] = []
            bare: list[float] = []
            adds: list[float] = []
            bare_adds: list[float] = []
            for round_number in range(ROUNDS):
                ours.append(timed(lambda: ctx.contacts.export_csv(Path(folder) / "ours.csv")))
                bare.append(timed(lambda: bare_export(database, Path(folder) / "bare.csv")))
                name = f"List {round_number}"

                def add_all(name: str = name) -> object:
                    return ctx.contacts.add_to_list(ids, name)

                adds.append(timed(add_all))
                bare_adds.append(timed(lambda: bare_add(database)))
            tracemalloc.start()
            ctx.contacts.export_csv(Path(folder) / "ours.csv")
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
        finally:
            ctx.close()
    export_ours, export_bare = statistics.median(ours), statistics.median(bare)
    add_ours, add_bare = statistics.median(adds), statistics.median(bare_adds)
    print(f"{count:,} contacts, median of {ROUNDS} alternated rounds")
    print(
        f"export CSV:   ours {export_ours:.2f} s, bare {export_bare:.2f} s, "
        f"ratio {export_ours / export_bare:.2f}x; peak Python memory {peak / 2**20:.1f} MB"
    )
    print(
        f"add to list:  ours {add_ours:.2f} s, bare {add_bare:.2f} s, "
        f"ratio {add_ours / add_bare:.2f}x"
    )


if __name__ == "__main__":
    main()
