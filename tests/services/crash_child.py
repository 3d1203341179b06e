"""A child process for the crash tests: sends one campaign until the parent kills it.

`python -m tests.services.crash_child DATA_DIR CAMPAIGN_ID [KILL_AT_COMMIT]` — with
KILL_AT_COMMIT the process kills itself (SIGKILL) inside that commit made by one of the
run's connection threads (a `begin` or an outcome write); otherwise the parent picks the
moment.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, event

from campaign_desktop.context import AppContext

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

    # Engine-level: the connections commit through Core connections, not Sessions.
    event.listen(Engine, "commit", before_commit)


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
