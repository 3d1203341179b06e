"""Start at login: the per-user entry that starts Campaign Desktop, hidden in the tray, when the
user logs in (docs/design.md §16). Linux: an XDG autostart file; Windows: the Run key;
macOS: a LaunchAgent. No Qt here.

The truth is whether the entry exists, never a stored flag: a user who removes it by hand (or
from the desktop's own "Startup Applications") sees the setting off. Turning it off removes
exactly what turning it on wrote. The entry starts the build that wrote it: the frozen
executable, or this Python with ``-m campaign_desktop`` from a source install.
"""

from __future__ import annotations

import contextlib
import logging
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from campaign_desktop.domain.errors import StorageError

log = logging.getLogger("campaign_desktop.services.autostart")

MINIMIZED_FLAG = "--minimized"
#: The file name of the Linux autostart entry (also the launcher's: the .deb's
#: /usr/share/applications/campaign-desktop.desktop) and the icon name of the app.
DESKTOP_ID = "campaign-desktop"
#: Windows: the per-user Run key and the value this app writes there.
RUN_KEY = r"Software\Microsoft\Windows\CurrentVersion\Run"
RUN_VALUE_NAME = "Campaign Desktop"
#: macOS: the LaunchAgent's label (the app bundle's identifier, installer.spec).
LAUNCH_AGENT_LABEL = "com.campaigndesktop.CampaignDesktop"


def launch_command(
    data_dir: Path | None = None, *, default_data_dir: Path | None = None
) -> list[str]:
    """The command line that starts this very build hidden in the tray, as a list of arguments.

    Frozen (PyInstaller): ``[sys.executable, "--minimized"]``. From source:
    ``[python, "-m", "campaign_desktop", "--minimized"]`` with the running interpreter
    (``pythonw.exe`` beside it on Windows, which opens no console window). ``--data-dir``
    follows when `data_dir` is given and is not `default_data_dir`, so the entry opens the
    database the user chose.
    """
    if getattr(sys, "frozen", False):
        command = [sys.executable]
    else:
        python = Path(sys.executable)
        windowless = python.with_name("pythonw.exe")
        if sys.platform == "win32" and windowless.exists():
            python = windowless
        command = [str(python), "-m", "campaign_desktop"]
    command.append(MINIMIZED_FLAG)
    if data_dir is not None and (
        default_data_dir is None or Path(data_dir).resolve() != Path(default_data_dir).resolve()
    ):
        command += ["--data-dir", str(Path(data_dir).resolve())]
    return command


# --- Linux: XDG autostart -----------------------------------------------------------------------

# The Desktop Entry Specification, "The Exec key": an argument holding one of these is
# quoted, and inside the quotes these four are escaped with a backslash.
_EXEC_RESERVED = set(" \t\n\"'\\><~|&;$*?#()`")
_EXEC_ESCAPED_IN_QUOTES = set('"`$\\')


def exec_argument(argument: str) -> str:
    """One argument written for an Exec line: quoted where needed, ``%`` doubled."""
    text = argument.replace("%", "%%")
    if argument and not any(char in _EXEC_RESERVED for char in argument):
        return text
    escaped = "".join("\\" + char if char in _EXEC_ESCAPED_IN_QUOTES else char for char in text)
    return f'"{escaped}"'


def desktop_string(value: str) -> str:
    """A value of type string in a desktop file: backslash and line breaks escaped (§ "Possible
    value types"). The Exec line's own backslashes are doubled by this on top."""
    return (
        value.replace("\\", "\\\\").replace("\n", "\\n").replace("\t", "\\t").replace("\r", "\\r")
    )


def autostart_entry_text(command: Sequence[str]) -> str:
    """The XDG autostart file that runs `command` at login (Desktop Entry Specification 1.4,
    Desktop Application Autostart Specification 0.5)."""
    exec_line = " ".join(exec_argument(argument) for argument in command)
    return (
        "[Desktop Entry]\n"
        "Type=Application\n"
        "Version=1.4\n"
        "Name=Campaign Desktop\n"
        "Comment=Sends scheduled email campaigns on time\n"
        f"Exec={desktop_string(exec_line)}\n"
        f"Icon={DESKTOP_ID}\n"
        "Terminal=false\n"
        "X-GNOME-Autostart-enabled=true\n"
    )


def xdg_config_home() -> Path:
    """``$XDG_CONFIG_HOME`` when set to an absolute path, else ``~/.config`` (XDG Base
    Directory Specification)."""
    value = os.environ.get("XDG_CONFIG_HOME", "")
    return Path(value) if value and Path(value).is_absolute() else Path.home() / ".config"


class StartAtLogin(Protocol):
    """One platform's start-at-login entry."""

    @property
    def location(self) -> str:
        """Where the entry lives, in words a user can look up."""
        ...

    def is_enabled(self) -> bool: ...

    def enable(self, command: Sequence[str]) -> None: ...

    def disable(self) -> None: ...


def _refused(action: str, where: object, error: OSError) -> StorageError:
    reason = error.strerror or str(error)
    return StorageError("io", f"Could not {action} {where}: {reason}.")


class XdgAutostart:
    """``$XDG_CONFIG_HOME/autostart/campaign-desktop.desktop`` (default ``~/.config``).

    A desktop's own "Startup Applications" switches an entry off by writing ``Hidden=true``
    or ``X-GNOME-Autostart-enabled=false`` into it: such an entry counts as off, and turning
    the setting on writes it afresh.
    """

    def __init__(self, config_home: Path | None = None) -> None:
        self.path = (config_home or xdg_config_home()) / "autostart" / f"{DESKTOP_ID}.desktop"

    @property
    def location(self) -> str:
        return str(self.path)

    def is_enabled(self) -> bool:
        try:
            text = self.path.read_text(encoding="utf-8")
        except (FileNotFoundError, NotADirectoryError):  # no entry, or not even its folder
            return False
        except OSError as exc:
            raise _refused("read", self.path, exc) from exc
        import configparser  # noqa: PLC0415  (read on the pool when Settings opens, not at start)

        entry = configparser.ConfigParser(interpolation=None, strict=False)
        entry.optionxform = str  # type: ignore[assignment,method-assign]  # keys are case-sensitive
        try:
            entry.read_string(text)
            section = entry["Desktop Entry"]
        except (configparser.Error, KeyError):
            return False
        hidden = section.get("Hidden", "false").strip() == "true"
        switched_off = section.get("X-GNOME-Autostart-enabled", "true").strip() == "false"
        return not hidden and not switched_off

    def enable(self, command: Sequence[str]) -> None:
        """Write the entry (replacing an older one, e.g. of a build that moved)."""
        text = autostart_entry_text(command)
        partial = self.path.with_name(f".{self.path.name}.new")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            partial.write_text(text, encoding="utf-8")
            # Whole or not at all: a session starting now never reads half an entry.
            partial.replace(self.path)
        except OSError as exc:
            with contextlib.suppress(OSError):
                partial.unlink(missing_ok=True)
            raise _refused("write", self.path, exc) from exc
        log.info("start at login: wrote %s", self.path)

    def disable(self) -> None:
        """Remove the entry; the `autostart` folder, shared with other programs, stays."""
        try:
            self.path.unlink(missing_ok=True)
        except OSError as exc:
            raise _refused("remove", self.path, exc) from exc
        log.info("start at login: removed %s", self.path)


# --- Windows: the Run key -----------------------------------------------------------------------


def run_key_command(command: Sequence[str]) -> str:
    """The Run key's value data: one command line, quoted as the C runtime parses it."""
    return subprocess.list2cmdline(list(command))


class RunKeyValues(Protocol):
    """The string values of ``HKEY_CURRENT_USER\\<RUN_KEY>`` (winreg on Windows)."""

    def get(self, name: str) -> str | None: ...

    def set(self, name: str, data: str) -> None: ...

    def delete(self, name: str) -> None: ...


class WinregRunKey:
    """The real Run key, through `winreg` (Windows only)."""

    def get(self, name: str) -> str | None:
        if sys.platform == "win32":
            import winreg  # noqa: PLC0415  (exists on Windows only)

            try:
                with winreg.OpenKey(winreg.HKEY_CURRENT_USER, RUN_KEY) as key:
                    data, _kind = winreg.QueryValueEx(key, name)
            except FileNotFoundError:
                return None
            return str(data)
        raise OSError("the Windows registry exists on Windows only")

    def set(self, name: str, data: str) -> None:
        if sys.platform == "win32":
            import winreg  # noqa: PLC0415

            with winreg.CreateKeyEx(
                winreg.HKEY_CURRENT_USER, RUN_KEY, 0, winreg.KEY_SET_VALUE
            ) as key:
                winreg.SetValueEx(key, name, 0, winreg.REG_SZ, data)
            return
        raise OSError("the Windows registry exists on Windows only")

    def delete(self, name: str) -> None:
        if sys.platform == "win32":
            import winreg  # noqa: PLC0415

            try:
                with winreg.OpenKey(
                    winreg.HKEY_CURRENT_USER, RUN_KEY, 0, winreg.KEY_SET_VALUE
                ) as key:
                    winreg.DeleteValue(key, name)
            except FileNotFoundError:
                pass
            return
        raise OSError("the Windows registry exists on Windows only")


class WindowsRunKey:
    """The value "Campaign Desktop" under ``HKEY_CURRENT_USER\\<RUN_KEY>``: Windows runs its
    command line at every login of this user. Turning off deletes that one value."""

    def __init__(self, values: RunKeyValues | None = None) -> None:
        self._values = values if values is not None else WinregRunKey()

    @property
    def location(self) -> str:
        return f"HKEY_CURRENT_USER\\{RUN_KEY}, value {RUN_VALUE_NAME}"

    def is_enabled(self) -> bool:
        try:
            return bool(self._values.get(RUN_VALUE_NAME))
        except OSError as exc:
            raise _refused("read", self.location, exc) from exc

    def enable(self, command: Sequence[str]) -> None:
        try:
            self._values.set(RUN_VALUE_NAME, run_key_command(command))
        except OSError as exc:
            raise _refused("write", self.location, exc) from exc

    def disable(self) -> None:
        try:
            self._values.delete(RUN_VALUE_NAME)
        except OSError as exc:
            raise _refused("remove", self.location, exc) from exc


# --- macOS: a LaunchAgent -----------------------------------------------------------------------


def launch_agent_plist(command: Sequence[str]) -> bytes:
    """The LaunchAgent property list (XML) that runs `command` when the user logs in
    (launchd.plist(5): `RunAtLoad`, in the graphical session only)."""
    agent = {
        "Label": LAUNCH_AGENT_LABEL,
        "ProgramArguments": list(command),
        "RunAtLoad": True,
        "ProcessType": "Interactive",
        "LimitLoadToSessionType": "Aqua",
    }
    import plistlib  # noqa: PLC0415  (macOS only, when the entry is written)

    return plistlib.dumps(agent, fmt=plistlib.FMT_XML, sort_keys=False)


class MacLaunchAgent:
    """``~/Library/LaunchAgents/com.campaigndesktop.CampaignDesktop.plist``: launchd loads it
    at the next login (nothing is started now)."""

    def __init__(self, home: Path | None = None) -> None:
        base = (home or Path.home()) / "Library" / "LaunchAgents"
        self.path = base / f"{LAUNCH_AGENT_LABEL}.plist"

    @property
    def location(self) -> str:
        return str(self.path)

    def is_enabled(self) -> bool:
        try:
            return self.path.is_file()
        except OSError as exc:
            raise _refused("read", self.path, exc) from exc

    def enable(self, command: Sequence[str]) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.write_bytes(launch_agent_plist(command))
        except OSError as exc:
            raise _refused("write", self.path, exc) from exc

    def disable(self) -> None:
        try:
            self.path.unlink(missing_ok=True)
        except OSError as exc:
            raise _refused("remove", self.path, exc) from exc


# --- the service --------------------------------------------------------------------------------


def entry_for_this_system() -> StartAtLogin | None:
    """The start-at-login entry of the platform we run on; None where there is none we know."""
    if sys.platform == "win32":
        return WindowsRunKey()
    if sys.platform == "darwin":
        return MacLaunchAgent()
    if sys.platform.startswith(("linux", "freebsd", "openbsd", "netbsd")):
        return XdgAutostart()
    return None


class AutostartService:
    """Turns "Start Campaign Desktop when I log in" on and off for this user on this computer.

    Per computer, never in the (maybe shared, team-mode) database. Every method does file or
    registry I/O: the GUI calls them on the background pool. Failures to read or write the
    entry raise StorageError (kind "io") with the path and the reason.
    """

    def __init__(self, entry: StartAtLogin | None, command: Sequence[str]) -> None:
        self._entry = entry
        self.command = list(command)

    @property
    def supported(self) -> bool:
        """False on a platform without a known entry: the setting is not offered there."""
        return self._entry is not None

    @property
    def location(self) -> str:
        return self._entry.location if self._entry is not None else ""

    def is_enabled(self) -> bool:
        return self._entry is not None and self._entry.is_enabled()

    def set_enabled(self, enabled: bool) -> None:
        """Write the entry (starting `command`) or remove it; does nothing where unsupported."""
        if self._entry is None:
            return
        if enabled:
            self._entry.enable(self.command)
        else:
            self._entry.disable()
