#!/usr/bin/env python3
"""Set up and run Campaign Desktop from a fresh clone: `python3 tasks.py app|check|test|all|bench`.

Creates `.venv` beside this file (re-installing when pyproject.toml changes), then runs the
app, the static checks (`check`: ruff lint, ruff format, mypy --strict), the tests (`test`:
pytest; extra arguments go to pytest, e.g. `--skip-slow`), both (`all`: what CI runs), or
the benchmarks.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / ("python.exe" if os.name == "nt" else "python")
STAMP = VENV / ".installed"


def ensure_venv() -> None:
    """Create the virtual environment and install the project with test and dev extras."""
    wanted = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if STAMP.exists() and STAMP.read_text() == wanted and PYTHON.exists():
        return
    if not PYTHON.exists():
        print("Creating .venv …", flush=True)
        venv.create(VENV, with_pip=True)
    print("Installing dependencies (first run takes a minute) …", flush=True)
    run([str(PYTHON), "-m", "pip", "install", "--quiet", "--upgrade", "pip"])
    run([str(PYTHON), "-m", "pip", "install", "--quiet", "-e", ".[test,dev]"])
    STAMP.write_text(wanted)


def run(command: list[str]) -> None:
    result = subprocess.run(command, cwd=ROOT, check=False)  # noqa: S603  (our own tools)
    if result.returncode != 0:
        sys.exit(result.returncode)


def check() -> None:
    """Lint, formatting and types: what pre-commit runs too (.pre-commit-config.yaml)."""
    python = str(PYTHON)
    run([python, "-m", "ruff", "check", "."])
    run([python, "-m", "ruff", "format", "--check", "."])
    run([python, "-m", "mypy"])


def test(pytest_args: list[str]) -> None:
    # As tests/conftest.py does: with no display and no platform Qt aborts the whole run.
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    run([str(PYTHON), "-m", "pytest", *pytest_args])


# What Qt prints when it cannot load its X11 plugin. It names only the first library it
# missed (often xcb-cursor0), though icccm4, keysyms1, shape0, render-util0 or image0 may
# be missing too.
XCB_FAILURE = 'Could not load the Qt platform plugin "xcb"'
XCB_HINT = """
Qt could not open a window on X11. On Debian/Ubuntu install its X11 libraries, then run again:
  sudo apt-get install libxkbcommon-x11-0 libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 \\
    libxcb-shape0 libxcb-render-util0 libxcb-image0
(Qt's message names xcb-cursor0 even when it is icccm4 or keysyms1 that is missing.)
Without a desktop session (no DISPLAY), start one or use QT_QPA_PLATFORM=offscreen."""


def app(args: list[str]) -> None:
    """Run the app; its error output passes through, and a missing X11 library gets a hint."""
    process = subprocess.Popen(  # noqa: S603  (our own app)
        [str(PYTHON), "main.py", *args], cwd=ROOT, stderr=subprocess.PIPE, text=True
    )
    assert process.stderr is not None
    xcb_failed = False
    for line in process.stderr:
        sys.stderr.write(line)
        xcb_failed = xcb_failed or XCB_FAILURE in line
    code = process.wait()
    if code != 0 and xcb_failed:
        print(XCB_HINT, file=sys.stderr)
    if code != 0:
        sys.exit(code)


def main(argv: list[str]) -> None:
    task = argv[0] if argv else "app"
    rest = argv[1:]
    if task not in {"app", "check", "test", "all", "bench"}:
        sys.exit(f"unknown task {task!r}: use app, check, test, all or bench")
    ensure_venv()
    if task == "app":
        app(rest)
    elif task == "check":
        check()
    elif task == "test":
        test(rest)
    elif task == "all":
        check()
        test(rest)
    else:
        run([str(PYTHON), "-m", "benchmarks", *rest])


if __name__ == "__main__":
    main(sys.argv[1:])
