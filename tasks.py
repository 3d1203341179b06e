#!/usr/bin/env python3
"""Set up and run Campaign Desktop from a fresh clone: `python3 tasks.py app|test|bench`.

Creates `.venv` beside this file (re-installing when pyproject.toml changes), then runs
the app, the full check suite (ruff, mypy --strict, pytest) or the benchmarks.
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


def main(argv: list[str]) -> None:
    task = argv[0] if argv else "app"
    rest = argv[1:]
    ensure_venv()
    python = str(PYTHON)
    if task == "app":
        run([python, "main.py", *rest])
    elif task == "test":
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
        run([python, "-m", "ruff", "check", "."])
        run([python, "-m", "ruff", "format", "--check", "."])
        run([python, "-m", "mypy"])
        run([python, "-m", "pytest", *rest])
    elif task == "bench":
        run([python, "-m", "benchmarks", *rest])
    else:
        sys.exit(f"unknown task {task!r}: use app, test or bench")


if __name__ == "__main__":
    main(sys.argv[1:])
