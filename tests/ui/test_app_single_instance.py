"""One app per data folder: a second launch wakes the first and exits, a crash leaves no block.

In-process tests drive two `SingleInstance`s over a real local socket; the process tests run
`main.py` twice (offscreen) and read each process's log, which `XDG_STATE_HOME` puts in the
test's folder (Linux: the log folder follows it).
"""

from __future__ import annotations

import signal
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QDir
from pytestqt.qtbot import QtBot

from campaign_desktop.ui.shell.single_instance import SingleInstance, server_name
from tests.ui.helpers import AppProcess, linux_only, start_app

pytestmark = pytest.mark.gui

START_TIMEOUT_MS = 30_000


@pytest.fixture
def instances() -> Iterator[list[SingleInstance]]:
    made: list[SingleInstance] = []
    yield made
    for instance in made:
        instance.close()


def _instance(made: list[SingleInstance], data_dir: Path) -> SingleInstance:
    instance = SingleInstance(data_dir)
    made.append(instance)
    return instance


def test_name_depends_on_the_resolved_folder_only(tmp_path: Path) -> None:
    data = tmp_path / "data"
    assert server_name(data) == server_name(tmp_path / "x" / ".." / "data")
    assert server_name(data) != server_name(tmp_path / "other")
    assert len(server_name(data)) < 60  # a Unix socket path must stay short


def test_second_instance_wakes_the_first_and_gives_way(
    tmp_path: Path, qtbot: QtBot, instances: list[SingleInstance]
) -> None:
    first = _instance(instances, tmp_path / "data")
    assert first.acquire()
    assert first.listening
    with qtbot.waitSignal(first.activation_requested):
        assert not _instance(instances, tmp_path / "data").acquire()


def test_instances_on_different_folders_do_not_meet(
    tmp_path: Path, qtbot: QtBot, instances: list[SingleInstance]
) -> None:
    first = _instance(instances, tmp_path / "one")
    assert first.acquire()
    with qtbot.assertNotEmitted(first.activation_requested, wait=100):
        assert _instance(instances, tmp_path / "two").acquire()


@pytest.mark.skipif(not hasattr(socket, "AF_UNIX"), reason="named pipes leave no stale file")
def test_socket_left_by_a_crashed_instance_is_replaced(
    tmp_path: Path, qtbot: QtBot, instances: list[SingleInstance]
) -> None:
    data_dir = tmp_path / "data"
    path = Path(QDir.tempPath()) / server_name(data_dir)
    # What a killed instance leaves: a socket file nobody listens on.
    dead = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    dead.bind(str(path))
    dead.close()
    assert path.exists()

    survivor = _instance(instances, data_dir)
    assert survivor.acquire()
    assert survivor.listening
    with qtbot.waitSignal(survivor.activation_requested):
        assert not _instance(instances, data_dir).acquire()


# --- two real processes ----------------------------------------------------------------------


@linux_only
@pytest.mark.slow
def test_second_launch_brings_the_first_forward_and_exits(
    tmp_path: Path, qtbot: QtBot, processes: list[AppProcess]
) -> None:
    data_dir = tmp_path / "data"
    first = start_app(processes, data_dir, tmp_path / "first", "--minimized")
    # Offscreen has no tray, so --minimized means a minimized window.
    qtbot.waitUntil(
        lambda: first.logged("started minimized (no system tray here)"), timeout=START_TIMEOUT_MS
    )

    second = start_app(processes, data_dir, tmp_path / "second")
    assert second.wait() == 0
    assert second.logged("another instance runs on this data folder")
    assert not second.logged("opened")  # it never opened the database, so no 2nd scheduler
    qtbot.waitUntil(lambda: first.logged("a second launch asked this window to show itself"))
    assert first.process.poll() is None

    first.process.send_signal(signal.SIGTERM)  # like a log-out: a clean quit
    assert first.wait() == 0
    assert first.logged("quitting")


@linux_only
@pytest.mark.slow
def test_launch_after_a_crash_takes_over(
    tmp_path: Path, qtbot: QtBot, processes: list[AppProcess]
) -> None:
    data_dir = tmp_path / "data"
    crashed = start_app(processes, data_dir, tmp_path / "crashed")
    qtbot.waitUntil(lambda: crashed.logged("running on"), timeout=START_TIMEOUT_MS)
    crashed.process.kill()
    crashed.wait()

    next_start = start_app(processes, data_dir, tmp_path / "next")
    qtbot.waitUntil(
        lambda: next_start.logged("listening for other launches"), timeout=START_TIMEOUT_MS
    )
    qtbot.waitUntil(lambda: next_start.logged("running on"), timeout=START_TIMEOUT_MS)
    assert next_start.process.poll() is None
    next_start.process.send_signal(signal.SIGTERM)
    assert next_start.wait() == 0
