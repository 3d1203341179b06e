"""A desktop of a team, in its own process: `python -m tests.services.team_child DATA_DIR URL`.

It opens the shared PostgreSQL database (the password travels in the URL and goes to this
process's keyring), starts its scheduler (heartbeat every 0.3 s, reconcile every 0.3 s),
prints "ready" and sends whatever falls due until the parent kills it.
"""

from __future__ import annotations

import sys
import threading
from pathlib import Path

import keyring

from campaign_desktop.context import AppContext
from tests.memory_keyring import MemoryKeyring

HEARTBEAT_SECONDS = 0.3


def main(argv: list[str]) -> None:
    keyring.set_keyring(MemoryKeyring())
    data_dir, url = Path(argv[0]), argv[1]
    ctx = AppContext.open(
        data_dir,
        database_url=url,
        reconcile_seconds=HEARTBEAT_SECONDS,
        heartbeat_seconds=HEARTBEAT_SECONDS,
    )
    ctx.scheduler.start()
    print("ready", ctx.sending.desktop_id, flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    main(sys.argv[1:])
