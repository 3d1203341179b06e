"""`DatabaseInfoService`: which database is in use, never with a password, and the desktops
sending from a team database now (on SQLite and on a real PostgreSQL server)."""

from __future__ import annotations

from pathlib import Path

import keyring
import pytest
from keyring.backends.fail import Keyring as FailKeyring
from sqlalchemy import make_url

from campaign_desktop.context import AppContext
from campaign_desktop.persistence.db import backup_database, parse_database_url
from campaign_desktop.services.credentials import SERVICE_NAME, CredentialStore, database_key
from campaign_desktop.services.database_info import (
    DatabaseInfoService,
    PasswordSource,
    url_without_password,
)
from tests.memory_keyring import MemoryKeyring
from tests.postgres_server import APP_PASSWORD


@pytest.mark.parametrize(
    ("given", "shown"),
    [
        (
            "postgresql+psycopg://campaign:S3cret@dbhost:5432/campaigns",
            "postgresql://campaign@dbhost:5432/campaigns",
        ),
        ("postgres://campaign@dbhost/campaigns", "postgresql://campaign@dbhost:5432/campaigns"),
        (
            "postgresql://campaign:S3cret@dbhost:6543/c?sslmode=require&PassWord=S3cret",
            "postgresql://campaign@dbhost:6543/c?sslmode=require",
        ),
        (
            "postgresql://campaign@/campaigns?host=/run/postgresql",
            "postgresql://campaign@/campaigns?host=%2Frun%2Fpostgresql",
        ),
    ],
)
def test_the_url_is_shown_without_any_password(given: str, shown: str) -> None:
    assert url_without_password(parse_database_url(given)) == shown


def test_the_keyring_is_asked_whether_it_holds_the_password_not_for_it(
    memory_keyring: MemoryKeyring,
) -> None:
    url = make_url("postgresql+psycopg://campaign@dbhost/campaigns")
    store = CredentialStore()
    assert not store.has_database_password(url)
    memory_keyring.set_password(SERVICE_NAME, database_key(url), "pw")
    assert store.has_database_password(url)
    keyring.set_keyring(FailKeyring())  # type: ignore[no-untyped-call]  # keyring is untyped
    assert not store.has_database_password(url)  # no keyring: no, rather than an error


def test_on_sqlite_the_file_and_its_backups(data_dir: Path) -> None:
    with AppContext.open(data_dir) as ctx:
        service = DatabaseInfoService(ctx.db, ctx.sending)
        assert service.summary().backups == 0  # not counted: no disk read
        backup_database(ctx.db.path)
        ctx.scheduler.start()
        info = service.info()
    assert (info.is_sqlite, info.location) == (True, str(data_dir / "campaigns.sqlite3"))
    assert info.description == f"SQLite file {data_dir / 'campaigns.sqlite3'}"
    assert info.backups_dir == data_dir / "backups"
    assert info.backups == 1
    assert info.password is PasswordSource.NONE
    assert info.desktops == ()  # one sending app per file: no list


@pytest.mark.both_backends
def test_team_mode_names_the_server_the_password_source_and_the_desktops(
    ctx: AppContext, database_url: str | None, tmp_path: Path, memory_keyring: MemoryKeyring
) -> None:
    service = DatabaseInfoService(ctx.db, ctx.sending)
    if database_url is None:  # the SQLite file: this desktop only, never listed
        ctx.scheduler.start()
        assert [d.id for d in service.desktops()] == [ctx.sending.desktop_id]
        assert service.info().other_desktops == ()
        return
    info = service.info()
    url = ctx.db.engine.url
    assert info.location == f"postgresql://{url.username}@{url.host}:{url.port}/{url.database}"
    assert APP_PASSWORD not in repr(info)
    assert info.password is PasswordSource.KEYRING
    assert info.desktops == ()  # no scheduler started: nobody sends
    ctx.scheduler.start()
    with AppContext.open(tmp_path / "second", database_url) as second:
        second.scheduler.start()
        desktops = service.desktops()
        assert {d.id for d in desktops} == {ctx.sending.desktop_id, second.sending.desktop_id}
        (other,) = service.info().other_desktops
        assert other.id == second.sending.desktop_id
        assert other.pid > 0 and other.name
        assert other.heartbeat_at.tzinfo is not None
        assert other.heartbeat_age.total_seconds() < 30
    assert service.info().other_desktops == ()  # it quit: its row is gone
    memory_keyring.store.clear()  # the engine still has it, from this session's URL
    assert service.info().password is PasswordSource.SESSION
