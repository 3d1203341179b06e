#!/usr/bin/env python3
"""Build the Campaign Desktop bundle: `python3 scripts/build.py [--smoke] [--archive]`.

1. Creates its own clean build venv in `build/venv` (never the developer's `.venv`: whatever
   is installed in the build environment can end up in the bundle) and installs the project
   (non-editable, so its metadata — the version — is real) plus PyInstaller into it. The venv
   is reused while `pyproject.toml`, the PyInstaller pin and the Python version are unchanged
   (hash stamp); otherwise it is deleted and made anew, so no stale package survives.
2. Runs PyInstaller on `installer.spec` into `dist/CampaignDesktop/` and prints its size.
3. With `--smoke`, checks (Linux, ldd) that every bundled binary finds the Qt/Python
   libraries it links, runs the frozen `CampaignDesktop --self-test` offscreen and fails
   unless it prints "self-test ok", or if the bundle is larger than the size budget.
4. With `--archive`, packs the bundle into `dist/CampaignDesktop-<version>-<os>-<arch>.tar.gz`.

See docs/packaging.md.

Exit status 0 only when everything asked for passed. Standard library only.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import shutil
import subprocess
import sys
import time
import tomllib
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "build"
VENV = BUILD / "venv"
WORK = BUILD / "pyinstaller"
DIST = ROOT / "dist"
APP_NAME = "CampaignDesktop"
BUNDLE = DIST / APP_NAME
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / ("python.exe" if os.name == "nt" else "python")
STAMP = VENV / ".build-stamp"
PYINSTALLER = "pyinstaller>=6.10,<7"
SIZE_BUDGET_MB = 160  # issue 6: the onedir bundle stays under 160 MB on Linux
SELF_TEST_TIMEOUT_S = 180


def log(message: str) -> None:
    print(f"[build] {message}", flush=True)


def run(command: list[str], env: dict[str, str] | None = None) -> None:
    result = subprocess.run(command, cwd=ROOT, env=env, check=False)  # noqa: S603  (our tools)
    if result.returncode != 0:
        sys.exit(f"[build] failed ({result.returncode}): {' '.join(command)}")


def wanted_stamp() -> str:
    digest = hashlib.sha256()
    digest.update((ROOT / "pyproject.toml").read_bytes())
    digest.update(PYINSTALLER.encode())
    digest.update(sys.version.encode())
    return digest.hexdigest()


def ensure_build_venv() -> None:
    """A venv holding exactly the project's dependencies and PyInstaller."""
    wanted = wanted_stamp()
    if STAMP.exists() and STAMP.read_text() == wanted and PYTHON.exists():
        log(f"reusing the build venv {VENV.relative_to(ROOT)} (pyproject.toml unchanged)")
        return
    if VENV.exists():
        log("pyproject.toml changed: recreating the build venv from scratch")
        shutil.rmtree(VENV)
    log(f"creating the build venv {VENV.relative_to(ROOT)} …")
    venv.create(VENV, with_pip=True, clear=True)
    # Non-editable: the bundle's version comes from this installed distribution's metadata.
    run([str(PYTHON), "-m", "pip", "install", "--quiet", ".", PYINSTALLER])
    STAMP.write_text(wanted)


def bundle_size(path: Path) -> int:
    """Bytes of the regular files under `path` (symlinks are not followed or counted)."""
    total = 0
    for folder, _dirs, files in os.walk(path):
        for name in files:
            file = Path(folder) / name
            if not file.is_symlink():
                total += file.stat().st_size
    return total


def build(*, slim: bool) -> None:
    env = dict(os.environ)
    for switch in ("CAMPAIGN_DESKTOP_QT_FILTER", "CAMPAIGN_DESKTOP_STRIP"):
        env[switch] = "1" if slim else "0"
    # Run PyInstaller's own script, not `python -m`: with -m the working directory (the repo,
    # with a stale in-tree *.egg-info from a developer's editable install) would come first on
    # sys.path and its metadata could be copied instead of the build venv's.
    pyinstaller = BIN / ("pyinstaller.exe" if os.name == "nt" else "pyinstaller")
    run(
        [
            str(pyinstaller),
            "--noconfirm",
            "--log-level=WARN",
            f"--distpath={DIST}",
            f"--workpath={WORK}",
            str(ROOT / "installer.spec"),
        ],
        env=env,
    )


# Libraries the bundle itself must provide: a Qt plugin that links a dropped Qt library would
# only fail when Qt tries to load it, on someone else's machine.
BUNDLED_FAMILIES = ("libQt6", "libpyside6", "libshiboken6", "libicu", "libpython")


def check_links() -> None:
    """Linux: every ELF file in the bundle finds the Qt/Python libraries it links (ldd)."""
    if not sys.platform.startswith("linux") or shutil.which("ldd") is None:
        return
    internal = BUNDLE / "_internal"
    env = dict(os.environ, LD_LIBRARY_PATH=str(internal))  # as PyInstaller's bootloader does
    missing: dict[str, set[str]] = {}
    for file in sorted(BUNDLE.rglob("*")):
        if file.is_symlink() or not file.is_file():
            continue
        with file.open("rb") as stream:
            if stream.read(4) != b"\x7fELF":
                continue
        output = subprocess.run(  # noqa: S603
            ["ldd", str(file)],  # noqa: S607  (the system's ldd)
            env=env,
            capture_output=True,
            text=True,
            check=False,
        ).stdout
        for line in output.splitlines():
            if "=> not found" in line:
                missing.setdefault(line.split()[0], set()).add(str(file.relative_to(BUNDLE)))
    broken = {name: users for name, users in missing.items() if name.startswith(BUNDLED_FAMILIES)}
    system = sorted(set(missing) - set(broken))
    if system:
        log(f"not on this machine (the target system provides them): {', '.join(system)}")
    if broken:
        details = "; ".join(
            f"{name} (needed by {sorted(users)[0]})" for name, users in broken.items()
        )
        sys.exit(f"[build] the bundle lacks libraries it links: {details}")
    log("every bundled binary finds the Qt/Python libraries it links")


def smoke_test() -> None:
    exe = BUNDLE / (f"{APP_NAME}.exe" if os.name == "nt" else APP_NAME)
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    started = time.monotonic()
    try:
        result = subprocess.run(  # noqa: S603  (our own frozen app)
            [str(exe), "--self-test"],
            cwd=BUILD,
            env=env,
            capture_output=True,
            text=True,
            timeout=SELF_TEST_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired:
        sys.exit(f"[build] frozen self-test hung for more than {SELF_TEST_TIMEOUT_S} s")
    elapsed = time.monotonic() - started
    sys.stdout.write(result.stdout)
    sys.stderr.write(result.stderr)
    if result.returncode != 0 or "self-test ok" not in result.stdout:
        sys.exit(f"[build] frozen self-test FAILED (exit {result.returncode})")
    log(f"frozen self-test passed in {elapsed:.1f} s")


def make_archive() -> Path:
    """dist/CampaignDesktop-<version>-<os>-<machine>.tar.gz (.zip on Windows), to hand out."""
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    system = {"win32": "windows", "darwin": "macos"}.get(sys.platform, sys.platform)
    base = DIST / f"{APP_NAME}-{version}-{system}-{platform.machine().lower()}"
    archive = shutil.make_archive(
        str(base), "zip" if os.name == "nt" else "gztar", root_dir=DIST, base_dir=APP_NAME
    )
    return Path(archive)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--smoke", action="store_true", help="run the frozen --self-test and check the size"
    )
    parser.add_argument(
        "--unfiltered",
        action="store_true",
        help="PyInstaller's defaults: no Qt filter, no strip (to measure what they save)",
    )
    parser.add_argument(
        "--max-size-mb",
        type=float,
        default=SIZE_BUDGET_MB,
        help=f"with --smoke, fail above this bundle size (default {SIZE_BUDGET_MB})",
    )
    parser.add_argument(
        "--archive", action="store_true", help="also pack the bundle into a .tar.gz (.zip)"
    )
    args = parser.parse_args(argv)

    started = time.monotonic()
    ensure_build_venv()
    venv_done = time.monotonic()
    build(slim=not args.unfiltered)
    built = time.monotonic()
    size_mb = bundle_size(BUNDLE) / 1_000_000
    log(
        f"built {BUNDLE.relative_to(ROOT)}: {size_mb:.1f} MB "
        f"(venv {venv_done - started:.0f} s, PyInstaller {built - venv_done:.0f} s)"
    )
    if args.smoke:
        check_links()
        smoke_test()
        if size_mb > args.max_size_mb:
            sys.exit(f"[build] bundle is {size_mb:.1f} MB, over the {args.max_size_mb} MB budget")
    if args.archive:
        archive = make_archive()
        log(f"packed {archive.relative_to(ROOT)}: {archive.stat().st_size / 1_000_000:.1f} MB")
    log(f"done in {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
