"""Shared test set-up: headless Qt, an in-memory keyring, and an AppContext on a real file.

Qt's platform is set before anything imports Qt: with no display Qt would abort the run.
"""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import keyring
import pytest

from tests.memory_keyring import MemoryKeyring

if TYPE_CHECKING:
    from campaign_desktop.context import AppContext


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
def ctx(data_dir: Path) -> Iterator[AppContext]:
    from campaign_desktop.context import AppContext  # noqa: PLC0415  (after Qt's platform is set)

    context = AppContext.open(data_dir)
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
