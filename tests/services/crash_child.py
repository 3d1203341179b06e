"""A child process for the crash tests: sends one campaign until the parent kills it.

`python -m tests.services.crash_child DATA_DIR CAMPAIGN_ID [KILL_AT_COMMIT]` — with
KILL_AT_COMMIT the process kills itself (SIGKILL) inside that commit made by one of the
run's connection threads (a `begin` or an outcome write); otherwise the parent picks the
moment.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, cast

from sqlalchemy import Connection, Engine, event

from campaign_desktop.context import AppContext
from campaign_desktop.persistence.db import Database

CONNECTION_THREAD_PREFIX = "send-"


def kill_at_commit(number: int) -> None:
    commits = 0
    lock = threading.Lock()

    def before_commit(connection: Connection) -> None:
        nonlocal commits
        name = threading.current_thread().name
        if name.startswith(CONNECTION_THREAD_PREFIX) and not name.startswith("send-run-"):
            with lock:
                commits += 1
                due = commits == number
            if due:
                os.kill(os.getpid(), signal.SIGKILL)

    # Engine-level: on PostgreSQL the connections commit through Core connections, not
    # Sessions; on the SQLite file through `Database.write_raw`, which SQLAlchemy's events
    # do not see: there the kill comes after the statements, before its COMMIT.
    event.listen(Engine, "commit", before_commit)
    write_raw = Database.write_raw

    @contextmanager
    def killing_write_raw(db: Database) -> Iterator[sqlite3.Connection]:
        with write_raw(db) as connection:
            yield connection
            before_commit(cast(Connection, None))

    Database.write_raw = killing_write_raw  # type: ignore[method-assign,assignment]


def main(argv: list[str]) -> None:
    data_dir, campaign_id = Path(argv[0]), int(argv[1])
    if len(argv) > 2:
        kill_at_commit(int(argv[2]))
    ctx = AppContext.open(data_dir)
    ctx.campaigns.send_now(campaign_id)
    print("sending", flush=True)
    ctx.sending.wait_idle()
    print("finished", flush=True)  # the parent kills us long before this
    stay: Any = threading.Event()
    stay.wait()


if __name__ == "__main__":
    main(sys.argv[1:])
