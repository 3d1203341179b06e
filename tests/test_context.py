"""The composition root: where the data lives, what AppContext.open builds, and how it
refuses storage it cannot use (StorageError, with real read-only, full and locked files).

Team mode (PostgreSQL, ``both_backends``): which database a URL, the command line or the
environment selects, and where its password goes (the keyring, never a log)."""

from __future__ import annotations

import logging
from pathlib import Path

import platformdirs
import pytest
from sqlalchemy import make_url

from campaign_desktop.app import _parse
from campaign_desktop.context import (
    DATA_DIR_ENV,
    DATABASE_URL_ENV,
    AppContext,
    default_data_dir,
)
from campaign_desktop.domain.errors import DomainError, StorageError
from campaign_desktop.persistence.db import (
    DATABASE_FILENAME,
    SERVER_DATABASE_ANCHOR,
    current_revision,
    head_revision,
)
from campaign_desktop.services.credentials import SERVICE_NAME, database_key
from tests.memory_keyring import MemoryKeyring
from tests.postgres_server import APP_PASSWORD
from tests.storage_faults import lock_held_elsewhere, read_only_view, small_filesystem

pytestmark = pytest.mark.both_backends


def test_data_dir_defaults_to_the_platforms_user_data_folder(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(DATA_DIR_ENV, raising=False)
    assert default_data_dir() == Path(platformdirs.user_data_dir("CampaignDesktop", False))


def test_environment_variable_overrides_the_data_dir(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path / "elsewhere"))
    assert default_data_dir() == tmp_path / "elsewhere"


def test_start_at_login_names_a_data_dir_given_by_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A login session has no CAMPAIGN_DESKTOP_DATA: the entry must name the folder itself."""
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path / "elsewhere"))
    with AppContext.open() as ctx:
        command = ctx.autostart.command
    assert command[-2:] == ["--data-dir", str((tmp_path / "elsewhere").resolve())]


def test_open_creates_and_migrates_the_database_in_the_data_dir(
    tmp_path: Path, database_url: str | None
) -> None:
    with AppContext.open(tmp_path / "new", database_url) as ctx:
        if database_url is None:
            assert ctx.db.path == tmp_path / "new" / DATABASE_FILENAME
            assert ctx.db.description == f"SQLite file {ctx.db.path}"
        else:
            assert ctx.db.path == tmp_path / "new" / SERVER_DATABASE_ANCHOR
            assert ctx.db.description.startswith("PostgreSQL database test_")
            assert not ctx.db.path.exists()
        assert current_revision(ctx.db.engine) == head_revision()
        assert not ctx.scheduler.running  # built, not started: start() takes the lock


# --- team mode: which database, and where its password lives ---------------------------


def test_the_database_url_comes_from_the_command_line_or_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(DATABASE_URL_ENV, raising=False)
    assert _parse([]).database_url is None  # no URL: the SQLite file
    monkeypatch.setenv(DATABASE_URL_ENV, "postgresql://ann@db.example/campaigns")
    assert _parse([]).database_url == "postgresql://ann@db.example/campaigns"
    flag = ["--database-url", "postgresql://bob@db.example/team"]
    assert _parse(flag).database_url == "postgresql://bob@db.example/team"


@pytest.mark.postgresql_only
def test_a_password_in_the_url_moves_to_the_keyring_and_is_never_logged(
    tmp_path: Path,
    database_url: str | None,
    memory_keyring: MemoryKeyring,
    caplog: pytest.LogCaptureFixture,
) -> None:
    assert database_url is not None
    url = make_url(database_url)
    key = (SERVICE_NAME, database_key(url))
    memory_keyring.store.clear()
    caplog.set_level(logging.DEBUG)
    with_password = url.set(password=APP_PASSWORD).render_as_string(hide_password=False)

    AppContext.open(tmp_path / "a", with_password).close()
    assert memory_keyring.store == {key: APP_PASSWORD}
    # The next start (another data folder on the same desktop) needs only the URL.
    with AppContext.open(tmp_path / "b", database_url) as ctx:
        assert not ctx.db.is_sqlite
    assert APP_PASSWORD not in caplog.text
    assert "team-secret" not in caplog.text


@pytest.mark.postgresql_only
def test_without_the_password_the_login_is_refused_in_plain_words(
    tmp_path: Path, database_url: str | None, memory_keyring: MemoryKeyring
) -> None:
    assert database_url is not None
    memory_keyring.store.clear()

    with pytest.raises(StorageError) as raised:
        AppContext.open(tmp_path, database_url)

    assert raised.value.kind == "login"
    assert isinstance(raised.value, DomainError)  # shown as a message, never the crash dialog


# --- storage failures at start-up (issue 12): StorageError, in words a user can act on ---

EXCLUSIVE = ("PRAGMA locking_mode=EXCLUSIVE", "BEGIN EXCLUSIVE")


def test_open_refuses_a_damaged_database_and_keeps_it(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / DATABASE_FILENAME).write_bytes(b"\x89PNG not a database" * 50)

    with pytest.raises(StorageError) as raised:
        AppContext.open(data)

    assert isinstance(raised.value, DomainError)
    assert raised.value.kind == "corrupt"
    assert (data / DATABASE_FILENAME).read_bytes() == b"\x89PNG not a database" * 50


def test_open_in_a_read_only_data_folder_is_a_storage_error(tmp_path: Path) -> None:
    with AppContext.open(tmp_path / "real"):
        pass

    with (
        read_only_view(tmp_path / "real", tmp_path / "view") as view,
        pytest.raises(StorageError) as raised,
    ):
        AppContext.open(view)

    assert raised.value.kind == "readonly"
    assert "read-only" in raised.value.message


def test_open_on_a_full_disk_is_a_storage_error(tmp_path: Path) -> None:
    with (
        small_filesystem(tmp_path / "disk", size_kib=48) as disk,
        pytest.raises(StorageError) as raised,
    ):
        AppContext.open(disk / "data")

    assert raised.value.kind == "full"


def test_a_write_lock_held_elsewhere_does_not_stop_opening_an_up_to_date_database(
    tmp_path: Path,
) -> None:
    with AppContext.open(tmp_path) as first:
        path = first.db.path

    with lock_held_elsewhere(path), AppContext.open(tmp_path, busy_timeout=0.2) as ctx:
        assert ctx.campaigns.list_all() == []  # WAL: reading goes on beside a writer


def test_scheduler_start_on_a_database_locked_elsewhere_is_a_storage_error_then_works(
    tmp_path: Path,
) -> None:
    with AppContext.open(tmp_path, busy_timeout=0.2, reconcile_seconds=3600) as ctx:
        ctx.db.engine.dispose()  # an exclusive lock needs every connection closed
        with lock_held_elsewhere(ctx.db.path, *EXCLUSIVE), pytest.raises(StorageError) as raised:
            ctx.scheduler.start()
        assert raised.value.kind == "busy"
        assert not ctx.scheduler.running

        ctx.scheduler.start()  # the other program let go
        assert ctx.scheduler.running


def test_counting_audiences_on_a_locked_database_is_a_refusal_not_a_bug(
    tmp_path: Path,
) -> None:
    # ui/campaigns/campaign_model.py hands non-DomainErrors to the crash handler: a locked database
    # must reach it as a DomainError (StorageError), which the table shrugs off.
    with AppContext.open(tmp_path, busy_timeout=0.2) as ctx:
        ctx.contacts.add("ann@example.com", lists=("Customers",))
        ctx.db.engine.dispose()
        with lock_held_elsewhere(ctx.db.path, *EXCLUSIVE), pytest.raises(DomainError) as raised:
            ctx.campaigns.audience_sizes([("Customers",)])

    assert isinstance(raised.value, StorageError)
    assert raised.value.kind == "busy"
