"""Shared test set-up: headless Qt, an in-memory keyring, and an AppContext on a real
database: an SQLite file, or (team mode) a real PostgreSQL server the tests start.

Qt's platform is set before anything imports Qt: with no display Qt would abort the run.

Both engines: a module (or test) marked ``both_backends`` runs every test that uses the
`backend` fixture (directly, or through `database_url`, `login_url`, `ctx`, …) once per
engine, ids ``[sqlite]`` and ``[postgresql]``; unmarked, `backend` is "sqlite". Build
contexts with ``AppContext.open(data_dir, database_url, …)``: `database_url` is None on
SQLite and a fresh, migrated PostgreSQL database (password in the test keyring) otherwise.
Without PostgreSQL installed, the PostgreSQL cases are skipped and say why.
"""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import keyring
import pytest

from tests.memory_keyring import MemoryKeyring

if TYPE_CHECKING:
    from sqlalchemy import URL

    from campaign_desktop.context import AppContext
    from tests.imap_server import DovecotServer
    from tests.postgres_server import PostgresServer

BACKENDS = ("sqlite", "postgresql")
#: The migrated database each PostgreSQL test's own database is copied from.
TEMPLATE_DATABASE = "cd_template"
_database_numbers = itertools.count(1)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend" not in metafunc.fixturenames:
        return
    if metafunc.definition.get_closest_marker("postgresql_only"):
        # What only a server database has (a password, row locks held by other desktops).
        metafunc.parametrize("backend", ["postgresql"], indirect=True)
    elif metafunc.definition.get_closest_marker("both_backends"):
        metafunc.parametrize("backend", BACKENDS, indirect=True)


@pytest.fixture(autouse=True, scope="session")
def private_config_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """No test writes the user's real ~/.config (start at login's autostart entry lives there:
    services/autostart.py); tests that look at it set their own XDG_CONFIG_HOME."""
    with pytest.MonkeyPatch.context() as patch:
        home = tmp_path_factory.mktemp("config-home")
        patch.setenv("XDG_CONFIG_HOME", str(home))
        yield home


@pytest.fixture(autouse=True)
def memory_keyring() -> Iterator[MemoryKeyring]:
    previous = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    yield backend
    keyring.set_keyring(previous)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def backend(request: pytest.FixtureRequest) -> str:
    """ "sqlite" or "postgresql": see the module docstring (``both_backends``)."""
    return str(getattr(request, "param", "sqlite"))


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One PostgreSQL server for the whole run, with a migrated template database."""
    from campaign_desktop.persistence.db import open_database  # noqa: PLC0415
    from tests.postgres_server import APP_PASSWORD, PostgresServer, find_bin_dir  # noqa: PLC0415

    found = find_bin_dir()
    if isinstance(found, str):
        pytest.skip(found)
    server = PostgresServer.start(found)
    try:
        server.create_database(TEMPLATE_DATABASE)
        url = server.url(TEMPLATE_DATABASE, password=APP_PASSWORD)
        open_database(server.root, database_url=url).dispose()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def dovecot_server() -> Iterator[DovecotServer]:
    """One Dovecot IMAP server for the whole run (tests/imap_server.py); skipped, saying why,
    where Dovecot is not installed."""
    from tests.imap_server import DovecotServer, find_dovecot  # noqa: PLC0415

    reason = find_dovecot()
    if reason is not None:
        pytest.skip(reason)
    server = DovecotServer.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def dovecot_tls() -> Iterator[DovecotServer]:
    """A Dovecot with a self-signed certificate: IMAPS and STARTTLS (see `DovecotServer`)."""
    from tests.imap_server import DovecotServer, find_dovecot  # noqa: PLC0415

    reason = find_dovecot()
    if reason is not None:
        pytest.skip(reason)
    server = DovecotServer.start(tls=True)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def dovecot(dovecot_server: DovecotServer) -> DovecotServer:
    """The IMAP server with an empty mailbox."""
    dovecot_server.clear()
    return dovecot_server


@pytest.fixture
def database_url(
    backend: str, request: pytest.FixtureRequest, memory_keyring: MemoryKeyring
) -> Iterator[str | None]:
    """None on SQLite; on PostgreSQL the URL (no password) of a fresh migrated database.

    The password is in the test keyring, where the app looks for it.
    """
    if backend == "sqlite":
        yield None
        return
    from campaign_desktop.services.credentials import (  # noqa: PLC0415
        SERVICE_NAME,
        database_key,
    )
    from tests.postgres_server import APP_PASSWORD  # noqa: PLC0415

    server: PostgresServer = request.getfixturevalue("postgres_server")
    name = f"test_{next(_database_numbers)}"
    server.create_database(name, template=TEMPLATE_DATABASE)
    url = server.url(name)
    memory_keyring.set_password(SERVICE_NAME, database_key(url), APP_PASSWORD)
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        server.drop_database(name)


@pytest.fixture
def every_backend(database_url: str | None, monkeypatch: pytest.MonkeyPatch) -> str | None:
    """Route every `AppContext.open(data_dir)` of the test to this backend's database.

    For suites written against the SQLite file (sending, scheduler) that should hold on
    PostgreSQL too: use with ``both_backends``. On SQLite it changes nothing.
    """
    if database_url is None:
        return None
    from campaign_desktop.context import AppContext  # noqa: PLC0415  (after Qt's platform is set)

    opener = AppContext.open.__func__  # type: ignore[attr-defined]

    def open_on_backend(
        cls: type[AppContext], data_dir: Path | None = None, url: str | None = None, /, **kw: object
    ) -> AppContext:
        return opener(cls, data_dir, url or database_url, **kw)  # type: ignore[no-any-return]

    monkeypatch.setattr(AppContext, "open", classmethod(open_on_backend))
    return database_url


@pytest.fixture
def login_url(database_url: str | None) -> URL | None:
    """`database_url` with its password from the keyring, as `AppContext.open` makes it:
    for tests that call `open_database` themselves."""
    if database_url is None:
        return None
    from campaign_desktop.persistence.db import parse_database_url  # noqa: PLC0415
    from campaign_desktop.services.credentials import CredentialStore  # noqa: PLC0415

    return CredentialStore().database_login(parse_database_url(database_url))


@pytest.fixture
def ctx(data_dir: Path, database_url: str | None) -> Iterator[AppContext]:
    from campaign_desktop.context import AppContext  # noqa: PLC0415  (after Qt's platform is set)

    context = AppContext.open(data_dir, database_url)
    yield context
    context.close()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--skip-slow",
        action="store_true",
        help="deselect the tests marked slow, for a quick local run (CI runs them all)",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """`--skip-slow`: leave out the `slow` tests, reported as deselected (not skipped)."""
    if not config.getoption("--skip-slow"):
        return
    slow = [item for item in items if item.get_closest_marker("slow") is not None]
    if slow:
        config.hook.pytest_deselected(items=slow)
        items[:] = [item for item in items if item.get_closest_marker("slow") is None]
