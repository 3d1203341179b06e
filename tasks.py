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


def main(argv: list[str]) -> None:
    task = argv[0] if argv else "app"
    rest = argv[1:]
    if task not in {"app", "check", "test", "all", "bench"}:
        sys.exit(f"unknown task {task!r}: use app, check, test, all or bench")
    ensure_venv()
    if task == "app":
        run([str(PYTHON), "main.py", *rest])
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
