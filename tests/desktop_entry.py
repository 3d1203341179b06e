"""Reading freedesktop desktop entries in tests, the way a desktop reads them."""

from __future__ import annotations

import configparser
import subprocess
from pathlib import Path


def read_desktop_entry(path: Path) -> dict[str, str]:
    """The keys of the file's [Desktop Entry] group, as written (case kept)."""
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keys are case-sensitive
    parser.read_string(path.read_text(encoding="utf-8"))
    return dict(parser["Desktop Entry"])


def exec_to_argv(exec_value: str) -> list[str]:
    """The Exec value as a desktop runs it: the string escapes undone, ``%%`` made ``%``, then
    the quoting rules, which are the shell's double quotes (Desktop Entry Specification,
    "The Exec key"; GLib parses it with g_shell_parse_argv): here the real sh parses it."""
    unescaped = exec_value.replace("\\\\", "\\").replace("%%", "%")
    printed = subprocess.run(
        ["sh", "-c", f"printf '%s\\0' {unescaped}"], capture_output=True, check=True
    ).stdout
    return printed.decode().split("\0")[:-1]
