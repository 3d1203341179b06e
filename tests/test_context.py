"""The composition root: where the data lives, and what AppContext.open builds."""

from __future__ import annotations

from pathlib import Path

import platformdirs
import pytest

from campaign_desktop.context import DATA_DIR_ENV, AppContext, default_data_dir
from campaign_desktop.persistence.db import DATABASE_FILENAME, current_revision, head_revision


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


def test_open_creates_and_migrates_the_database_in_the_data_dir(tmp_path: Path) -> None:
    with AppContext.open(tmp_path / "new") as ctx:
        assert ctx.db.path == tmp_path / "new" / DATABASE_FILENAME
        assert current_revision(ctx.db.engine) == head_revision()
        assert not ctx.scheduler.running  # built, not started: start() takes the lock
