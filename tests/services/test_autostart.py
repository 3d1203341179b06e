"""Start at login (docs/design.md §16): the Linux entry written and removed for real in a
temporary XDG_CONFIG_HOME; the Windows Run key and the macOS LaunchAgent on the text they
would write (no such machine here)."""

from __future__ import annotations

import plistlib
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from campaign_desktop.context import AppContext
from campaign_desktop.domain.errors import StorageError
from campaign_desktop.services.autostart import (
    LAUNCH_AGENT_LABEL,
    RUN_KEY,
    RUN_VALUE_NAME,
    AutostartService,
    MacLaunchAgent,
    WindowsRunKey,
    XdgAutostart,
    autostart_entry_text,
    exec_argument,
    launch_agent_plist,
    launch_command,
    run_key_command,
)
from tests.desktop_entry import exec_to_argv, read_desktop_entry


@pytest.fixture
def config_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "config"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home))
    return home


# --- the command ---------------------------------------------------------------------------------


def test_from_source_the_entry_starts_this_python_with_the_package_minimized() -> None:
    assert launch_command() == [sys.executable, "-m", "campaign_desktop", "--minimized"]


def test_a_frozen_build_starts_its_own_executable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "executable", "/opt/campaign-desktop/CampaignDesktop")
    assert launch_command() == ["/opt/campaign-desktop/CampaignDesktop", "--minimized"]


def test_a_data_folder_other_than_the_default_goes_on_the_command(tmp_path: Path) -> None:
    default = tmp_path / "default"
    chosen = tmp_path / "my data"
    assert launch_command(default, default_data_dir=default)[-1] == "--minimized"
    assert launch_command(chosen, default_data_dir=default)[-3:] == [
        "--minimized",
        "--data-dir",
        str(chosen.resolve()),
    ]


def test_the_context_opens_with_the_command_for_its_own_data_folder(
    data_dir: Path, config_home: Path
) -> None:
    with AppContext.open(data_dir) as ctx:
        assert ctx.autostart.supported
        assert ctx.autostart.command[-2:] == ["--data-dir", str(data_dir.resolve())]
        assert ctx.autostart.location == str(config_home / "autostart" / "campaign-desktop.desktop")


# --- Linux ---------------------------------------------------------------------------------------


def test_turning_on_writes_the_entry_and_turning_off_removes_exactly_it(
    config_home: Path, tmp_path: Path
) -> None:
    autostart_dir = config_home / "autostart"
    autostart_dir.mkdir(parents=True)
    neighbour = autostart_dir / "other-app.desktop"
    neighbour.write_text("[Desktop Entry]\nType=Application\nExec=other\nName=Other\n")
    service = AutostartService(XdgAutostart(), launch_command(tmp_path / "data"))
    assert not service.is_enabled()

    service.set_enabled(True)

    entry = autostart_dir / "campaign-desktop.desktop"
    assert service.is_enabled()
    fields = read_desktop_entry(entry)
    assert fields["Type"] == "Application"
    assert fields["Name"] == "Campaign Desktop"
    assert exec_to_argv(fields["Exec"]) == service.command
    assert "--minimized" in exec_to_argv(fields["Exec"])
    assert sorted(p.name for p in autostart_dir.iterdir()) == [
        "campaign-desktop.desktop",
        "other-app.desktop",
    ]

    service.set_enabled(False)

    assert not service.is_enabled()
    assert sorted(p.name for p in autostart_dir.iterdir()) == ["other-app.desktop"]
    service.set_enabled(False)  # off again: nothing to remove, no error


def test_without_xdg_config_home_the_entry_goes_to_dot_config(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert XdgAutostart().path == tmp_path / ".config" / "autostart" / "campaign-desktop.desktop"
    monkeypatch.setenv("XDG_CONFIG_HOME", "relative/is/ignored")
    assert XdgAutostart().path == tmp_path / ".config" / "autostart" / "campaign-desktop.desktop"


def test_an_entry_switched_off_by_the_desktop_counts_as_off_and_on_writes_it_afresh(
    config_home: Path,
) -> None:
    entry = XdgAutostart()
    entry.enable(["/opt/campaign-desktop/CampaignDesktop", "--minimized"])
    text = entry.path.read_text()
    entry.path.write_text(
        text.replace("X-GNOME-Autostart-enabled=true", "X-GNOME-Autostart-enabled=false")
    )
    assert not entry.is_enabled()
    entry.path.write_text(text + "Hidden=true\n")
    assert not entry.is_enabled()
    entry.enable(["/opt/campaign-desktop/CampaignDesktop", "--minimized"])
    assert entry.is_enabled()
    assert entry.path.read_text() == text


def test_paths_with_spaces_quotes_dollars_and_percents_survive_the_exec_line(
    config_home: Path,
) -> None:
    command = ['/home/ann/My Apps/50% "off"/$HOME\\python', "-m", "campaign_desktop", "--minimized"]
    entry = XdgAutostart()
    entry.enable(command)
    assert exec_to_argv(read_desktop_entry(entry.path)["Exec"]) == command
    assert exec_argument("--minimized") == "--minimized"
    assert exec_argument("/a b") == '"/a b"'
    assert exec_argument("100%") == "100%%"


def test_the_entry_is_a_valid_desktop_file(config_home: Path) -> None:
    validate = "desktop-file-validate"
    if shutil.which(validate) is None:
        pytest.skip("desktop-file-validate is not installed (apt-get install desktop-file-utils)")
    entry = XdgAutostart()
    entry.enable(['/home/ann/My Apps/python "3"', "-m", "campaign_desktop", "--minimized"])
    result = subprocess.run(
        [validate, str(entry.path)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0 and not result.stdout.strip(), result.stdout + result.stderr


def test_a_folder_that_cannot_be_written_is_a_storage_error_and_leaves_nothing(
    tmp_path: Path,
) -> None:
    blocked = tmp_path / "config"
    blocked.mkdir()
    (blocked / "autostart").write_text("a file where the folder should be")
    entry = XdgAutostart(blocked)
    with pytest.raises(StorageError) as raised:
        entry.enable(["campaign-desktop", "--minimized"])
    assert raised.value.kind == "io"
    assert str(entry.path) in raised.value.message
    assert sorted(p.name for p in blocked.iterdir()) == ["autostart"]


def test_the_entry_text_names_the_app_and_its_icon() -> None:
    text = autostart_entry_text(["/usr/bin/campaign-desktop", "--minimized"])
    assert text.startswith("[Desktop Entry]\n")
    assert "Exec=/usr/bin/campaign-desktop --minimized\n" in text
    assert "Icon=campaign-desktop\n" in text


# --- Windows (on the text) -------------------------------------------------------------------


class RegistryValues:
    """The string values of one registry key, as `winreg` would hold them."""

    def __init__(self) -> None:
        self.values: dict[str, str] = {}

    def get(self, name: str) -> str | None:
        return self.values.get(name)

    def set(self, name: str, data: str) -> None:
        self.values[name] = data

    def delete(self, name: str) -> None:
        self.values.pop(name, None)


def test_windows_writes_one_quoted_command_line_to_the_run_key_and_removes_only_it() -> None:
    key = RegistryValues()
    key.values["OneDrive"] = '"C:\\Program Files\\OneDrive\\OneDrive.exe" /background'
    command = [r"C:\Program Files\Campaign Desktop\CampaignDesktop.exe", "--minimized"]
    service = AutostartService(WindowsRunKey(key), command)
    assert RUN_KEY == r"Software\Microsoft\Windows\CurrentVersion\Run"
    assert service.location == (
        r"HKEY_CURRENT_USER\Software\Microsoft\Windows\CurrentVersion\Run, value Campaign Desktop"
    )

    service.set_enabled(True)

    assert key.values[RUN_VALUE_NAME] == (
        '"C:\\Program Files\\Campaign Desktop\\CampaignDesktop.exe" --minimized'
    )
    assert service.is_enabled()
    service.set_enabled(False)
    assert key.values == {"OneDrive": '"C:\\Program Files\\OneDrive\\OneDrive.exe" /background'}
    assert not service.is_enabled()


def test_windows_command_line_quotes_a_data_folder_with_spaces() -> None:
    line = run_key_command(
        [
            r"C:\Python311\pythonw.exe",
            "-m",
            "campaign_desktop",
            "--minimized",
            "--data-dir",
            r"D:\My Data\Campaigns",
        ]
    )
    assert line == (
        r"C:\Python311\pythonw.exe -m campaign_desktop --minimized "
        r'--data-dir "D:\My Data\Campaigns"'
    )


# --- macOS (on the text) -------------------------------------------------------------------------


def test_macos_launch_agent_runs_the_app_at_load_in_the_graphical_session() -> None:
    command = ["/Applications/CampaignDesktop.app/Contents/MacOS/CampaignDesktop", "--minimized"]
    text = launch_agent_plist(command)
    assert text.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE plist')
    agent = plistlib.loads(text)
    assert agent == {
        "Label": LAUNCH_AGENT_LABEL,
        "ProgramArguments": command,
        "RunAtLoad": True,
        "ProcessType": "Interactive",
        "LimitLoadToSessionType": "Aqua",
    }
    assert b"<key>RunAtLoad</key>\n\t<true/>" in text


def test_macos_agent_file_is_written_to_launch_agents_and_removed(tmp_path: Path) -> None:
    agents = tmp_path / "Library" / "LaunchAgents"
    agents.mkdir(parents=True)
    (agents / "com.example.other.plist").write_bytes(b"other")
    service = AutostartService(MacLaunchAgent(tmp_path), ["/Applications/X.app/X", "--minimized"])
    service.set_enabled(True)
    path = agents / "com.campaigndesktop.CampaignDesktop.plist"
    assert service.location == str(path)
    assert plistlib.loads(path.read_bytes())["ProgramArguments"][-1] == "--minimized"
    service.set_enabled(False)
    assert [p.name for p in agents.iterdir()] == ["com.example.other.plist"]


def test_where_no_entry_is_known_the_setting_is_not_offered() -> None:
    service = AutostartService(None, ["campaign-desktop", "--minimized"])
    assert not service.supported
    assert not service.is_enabled()
    service.set_enabled(True)  # nothing to write, no error
    assert not service.is_enabled()
