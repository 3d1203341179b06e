"""The composition root: opens the database and builds services, the channel and scheduler.

The GUI, the tests and the benchmarks all start from `AppContext.open(data_dir)` (with a
`database_url` in team mode).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import platformdirs
from sqlalchemy import URL

from campaign_desktop.domain.clock import Clock, SystemClock
from campaign_desktop.domain.events import EventBus
from campaign_desktop.persistence.db import (
    BackupProgress,
    Database,
    open_database,
    parse_database_url,
)
from campaign_desktop.scheduling.scheduler import CampaignScheduler
from campaign_desktop.services.autostart import (
    AutostartService,
    entry_for_this_system,
    launch_command,
)
from campaign_desktop.services.campaigns import CampaignService
from campaign_desktop.services.contacts import ContactService
from campaign_desktop.services.credentials import CredentialStore
from campaign_desktop.services.inbound import InboundService
from campaign_desktop.services.retention import HistoryRetention
from campaign_desktop.services.runs import RunService
from campaign_desktop.services.segments import SegmentService
from campaign_desktop.services.sending import SendingEngine
from campaign_desktop.services.settings import SettingsService
from campaign_desktop.services.team import TeamChanges

if TYPE_CHECKING:
    from campaign_desktop.services.sending.delivery import ConnectionFactory

log = logging.getLogger("campaign_desktop")

APP_NAME = "CampaignDesktop"
DATA_DIR_ENV = "CAMPAIGN_DESKTOP_DATA"
#: Team mode without a command-line flag: the PostgreSQL URL (no password in it, please).
DATABASE_URL_ENV = "CAMPAIGN_DESKTOP_DATABASE_URL"


def platform_data_dir() -> Path:
    """The platform's per-user data folder (what a start with no flag and no environment
    variable opens, as a login session does)."""
    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def default_data_dir() -> Path:
    """`$CAMPAIGN_DESKTOP_DATA` if set, else the platform's per-user data folder."""
    override = os.environ.get(DATA_DIR_ENV)
    if override:
        return Path(override).expanduser()
    return platform_data_dir()


def default_database_url() -> str | None:
    """`$CAMPAIGN_DESKTOP_DATABASE_URL` if set (team mode), else None: the SQLite file."""
    return os.environ.get(DATABASE_URL_ENV) or None


def default_log_dir() -> Path:
    return Path(platformdirs.user_log_dir(APP_NAME, appauthor=False))


@dataclass
class AppContext:
    data_dir: Path
    db: Database
    events: EventBus
    clock: Clock
    credentials: CredentialStore
    settings: SettingsService
    contacts: ContactService
    segments: SegmentService
    campaigns: CampaignService
    runs: RunService
    sending: SendingEngine
    scheduler: CampaignScheduler
    inbound: InboundService
    autostart: AutostartService
    retention: HistoryRetention

    @classmethod
    def open(
        cls,
        data_dir: Path | None = None,
        database_url: str | URL | None = None,
        *,
        clock: Clock | None = None,
        connect: ConnectionFactory | None = None,
        reconcile_seconds: float = 30.0,
        busy_timeout: float = 5.0,
        heartbeat_seconds: float = 10.0,
        backup_progress: BackupProgress | None = None,
    ) -> AppContext:
        """Open (creating and migrating) the database in `data_dir` and wire everything.

        `database_url` (team mode) is a PostgreSQL URL, ``postgresql+psycopg://user@host:
        port/database``; None means the SQLite file in `data_dir` (which then still holds
        what stays per desktop). Its password comes from the keyring; one written in the
        URL is moved there first (`CredentialStore.database_login`).

        The scheduler is built but not started: `ctx.scheduler.start()` takes the lock.
        Raises StorageError when the database cannot be used (read-only or full folder,
        damaged file, locked by another program for longer than `busy_timeout` seconds; a
        server that cannot be reached, refuses the login or has no such database): see
        `open_database`, which also offers the way back for a damaged file.
        `backup_progress(pages copied, pages in all)` follows the backup before a migration.
        """
        data_dir = Path(data_dir) if data_dir is not None else default_data_dir()
        clock = clock or SystemClock()
        # Start at login opens what this start opened: the data folder and the team database,
        # whether named by a flag or by the environment, which a login session does not
        # have (never with the database's password: that stays in the keyring).
        start_command = launch_command(data_dir, default_data_dir=platform_data_dir())
        if database_url is not None:
            database_url = CredentialStore().database_login(parse_database_url(database_url))
            team = database_url.set(password=None).render_as_string(hide_password=False)
            start_command += ["--database-url", team]
        db = open_database(
            data_dir,
            database_url=database_url,
            busy_timeout=busy_timeout,
            backup_progress=backup_progress,
        )
        try:
            return cls._wire(
                data_dir,
                db,
                clock,
                connect,
                AutostartService(entry_for_this_system(), start_command),
                reconcile_seconds=reconcile_seconds,
                heartbeat_seconds=heartbeat_seconds,
            )
        except BaseException:
            db.dispose()
            raise

    @classmethod
    def _wire(
        cls,
        data_dir: Path,
        db: Database,
        clock: Clock,
        connect: ConnectionFactory | None,
        autostart: AutostartService,
        *,
        reconcile_seconds: float,
        heartbeat_seconds: float,
    ) -> AppContext:
        events = EventBus()
        credentials = CredentialStore()
        settings = SettingsService(db, credentials)
        sending = SendingEngine(
            db,
            events,
            clock,
            settings,
            connect=connect,
            heartbeat_seconds=heartbeat_seconds,
        )
        campaigns = CampaignService(db, events, clock, sending)
        contacts = ContactService(db, clock)
        inbound = InboundService(db, clock, events, settings, credentials)
        retention = HistoryRetention(db, clock, settings, events)
        scheduler = CampaignScheduler(
            campaigns,
            events,
            clock,
            sending,
            settings,
            # One sending app per SQLite file (a lock file beside it); in team mode several
            # desktops send from one PostgreSQL database and coordinate in it instead.
            lock_path=Path(f"{db.path}.lock"),
            team_changes=None if db.is_sqlite else TeamChanges(db, sending.desktop_id),
            reconcile_seconds=reconcile_seconds,
            heartbeat_seconds=heartbeat_seconds,
            check_mailbox=inbound.check_if_configured,
            compact_history=retention.compact,
        )
        log.info("opened the %s", db.description)
        return cls(
            data_dir=data_dir,
            db=db,
            events=events,
            clock=clock,
            credentials=credentials,
            settings=settings,
            contacts=contacts,
            segments=SegmentService(db, clock, contacts),
            campaigns=campaigns,
            runs=RunService(db, sending),
            sending=sending,
            scheduler=scheduler,
            inbound=inbound,
            autostart=autostart,
            retention=retention,
        )

    def close(self) -> None:
        """Stop the scheduler, stop sends cleanly (they resume next start), close the database."""
        self.scheduler.stop()
        self.sending.shutdown()
        self.db.dispose()

    def __enter__(self) -> AppContext:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
