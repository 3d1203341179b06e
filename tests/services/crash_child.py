"""A child process for the crash tests: sends one campaign until the parent kills it.

`python -m tests.services.crash_child DATA_DIR CAMPAIGN_ID [KILL_AT_COMMIT]` — with
KILL_AT_COMMIT the process kills itself (SIGKILL) inside that commit of the send worker,
i.e. during a batch commit; otherwise the parent picks the moment.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session

from campaign_desktop.context import AppContext


def kill_at_commit(number: int) -> None:
    commits = 0

    def before_commit(session: Session) -> None:
        nonlocal commits
        if threading.current_thread().name.startswith("send"):
            commits += 1
            if commits == number:
                os.kill(os.getpid(), signal.SIGKILL)

    event.listen(Session, "before_commit", before_commit)


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
