#!/usr/bin/env python3
"""Build the Campaign Desktop bundle: `python3 scripts/build.py [--smoke] [--archive] [--deb]`.

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
5. With `--deb` (Debian/Ubuntu), packs it into `dist/campaign-desktop_<version>_<arch>.deb`
   with dpkg-deb: the bundle in /opt/campaign-desktop, a /usr/bin/campaign-desktop link, the
   launcher and the icons, and `Depends:` on the system libraries the bundle links but does
   not carry. `--deb-check` (as root) then installs it, runs `campaign-desktop --self-test`
   and removes it again, failing if anything is left behind.

See docs/packaging.md.

Exit status 0 only when everything asked for passed. Standard library only.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import re
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


def elf_files(root: Path) -> list[Path]:
    """The ELF binaries (executable, libraries, extension modules) under `root`, no symlinks."""
    found = []
    for file in sorted(root.rglob("*")):
        if file.is_symlink() or not file.is_file():
            continue
        with file.open("rb") as stream:
            if stream.read(4) == b"\x7fELF":
                found.append(file)
    return found


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
    for file in elf_files(BUNDLE):
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


# --- the Debian package -------------------------------------------------------------------------

DEB_NAME = "campaign-desktop"
DEB_PREFIX = Path("/opt/campaign-desktop")
DEB_LINK = Path("/usr/bin/campaign-desktop")
DEB_STAGING = BUILD / "deb"
ICON_SIZES = (16, 32, 48, 64, 128, 256)
# What the bundle needs besides libraries: fontconfig's configuration, which brings a font
# (without it Qt warns and every glyph is a box; docs/packaging.md, checked on a bare Debian 12).
DEB_EXTRA_DEPENDS = ("fontconfig-config",)
_GLIBC_VERSION = re.compile(r"\bGLIBC_(\d+)\.(\d+)(?:\.(\d+))?\b")


def project_version() -> str:
    return str(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"])


# How `ldconfig -p` marks libraries of this machine's own word size and architecture.
_LDCONFIG_FLAG = {"x86_64": "x86-64", "aarch64": "AArch64"}


def _system_library_paths() -> dict[str, str]:
    """soname → path of every library of this architecture the dynamic linker knows."""
    listing = subprocess.run(
        ["/sbin/ldconfig", "-p"], capture_output=True, text=True, check=True
    ).stdout
    flag = _LDCONFIG_FLAG.get(platform.machine(), "")
    paths: dict[str, str] = {}
    for line in listing.splitlines()[1:]:
        name, _, path = line.strip().partition(" => ")
        if path and flag in name:
            paths.setdefault(name.split(" ", 1)[0], path)
    return paths


def _package_owning(path: str) -> str:
    """The Debian package that installed `path` (either side of the /usr merge)."""
    candidates = [path]
    if path.startswith("/usr/lib/"):
        candidates.append(path.removeprefix("/usr"))
    elif path.startswith("/lib/"):
        candidates.append("/usr" + path)
    for candidate in candidates:
        found = subprocess.run(  # noqa: S603
            ["dpkg-query", "-S", candidate],  # noqa: S607  (Debian's own tool)
            capture_output=True,
            text=True,
            check=False,
        )
        if found.returncode == 0:
            return found.stdout.split(":", 1)[0].strip()
    sys.exit(f"[build] no Debian package owns {path}: cannot write the .deb's Depends")


def debian_depends(bundle: Path) -> list[str]:
    """`Depends:` for what the bundle links but does not carry.

    Each bundled ELF file's NEEDED libraries (`objdump -p`) that are not in the bundle are
    looked up on this (Debian) build machine: `ldconfig -p` gives the file, `dpkg-query -S`
    the package. glibc gets the newest GLIBC_x.y symbol version any binary requires.
    """
    bundled = {file.name for file in bundle.rglob("*")}
    needed: set[str] = set()
    glibc: tuple[int, ...] = (2, 2, 5)
    for file in elf_files(bundle):
        dump = subprocess.run(  # noqa: S603
            ["objdump", "-p", str(file)],  # noqa: S607  (binutils, as PyInstaller's strip)
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for line in dump.splitlines():
            fields = line.split()
            if len(fields) == 2 and fields[0] == "NEEDED" and fields[1] not in bundled:
                needed.add(fields[1])
        for match in _GLIBC_VERSION.finditer(dump):
            glibc = max(glibc, tuple(int(part or 0) for part in match.groups()))
    system = _system_library_paths()
    missing = sorted(name for name in needed if name not in system)
    if missing:
        sys.exit(f"[build] linked but neither bundled nor on this machine: {', '.join(missing)}")
    packages = {_package_owning(system[name]) for name in needed}
    packages.update(DEB_EXTRA_DEPENDS)
    glibc_text = ".".join(str(part) for part in glibc).removesuffix(".0")
    depends = [
        f"{package} (>= {glibc_text})" if package == "libc6" else package
        for package in sorted(packages)
    ]
    if not any(entry.startswith("libc6") for entry in depends):
        depends.append(f"libc6 (>= {glibc_text})")
    return depends


def _copy(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)


def _normalise_modes(root: Path) -> None:
    """Folders 0755, files 0755 if anyone may run them else 0644: what dpkg installs as root."""
    for folder, dirs, files in os.walk(root):
        Path(folder).chmod(0o755)
        for name in files:
            file = Path(folder) / name
            if not file.is_symlink():
                file.chmod(0o755 if file.stat().st_mode & 0o111 else 0o644)
        for name in dirs:
            (Path(folder) / name).chmod(0o755)


def make_deb() -> Path:
    """dist/campaign-desktop_<version>_<arch>.deb from the built bundle (dpkg-deb)."""
    if shutil.which("dpkg-deb") is None:
        sys.exit("[build] --deb needs dpkg-deb (Debian or Ubuntu)")
    version = project_version()
    arch = subprocess.run(
        ["dpkg", "--print-architecture"],  # noqa: S607
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    if DEB_STAGING.exists():
        shutil.rmtree(DEB_STAGING)
    root = DEB_STAGING / "root"
    shutil.copytree(BUNDLE, root / DEB_PREFIX.relative_to("/"), symlinks=True)
    link = root / DEB_LINK.relative_to("/")
    link.parent.mkdir(parents=True)
    link.symlink_to(DEB_PREFIX / APP_NAME)
    share = root / "usr" / "share"
    resources = ROOT / "resources"
    _copy(
        resources / "desktop" / f"{DEB_NAME}.desktop",
        share / "applications" / f"{DEB_NAME}.desktop",
    )
    hicolor = share / "icons" / "hicolor"
    for size in ICON_SIZES:
        _copy(
            resources / "icons" / f"app-{size}.png",
            hicolor / f"{size}x{size}" / "apps" / f"{DEB_NAME}.png",
        )
    _copy(resources / "icons" / "app.svg", hicolor / "scalable" / "apps" / f"{DEB_NAME}.svg")
    doc = share / "doc" / DEB_NAME
    doc.mkdir(parents=True)
    (doc / "copyright").write_text(
        "Campaign Desktop\nCopyright: the Campaign Desktop maintainers. All rights reserved.\n"
        "The bundled Qt (LGPL-3.0), Python (PSF-2.0) and libraries keep their own licences.\n"
    )
    _normalise_modes(root)
    installed_kib = (bundle_size(root) + 1023) // 1024
    control = root / "DEBIAN" / "control"
    control.parent.mkdir(mode=0o755)
    control.write_text(
        f"Package: {DEB_NAME}\n"
        f"Version: {version}\n"
        f"Architecture: {arch}\n"
        "Maintainer: Campaign Desktop maintainers <maintainers@users.noreply.github.com>\n"
        f"Installed-Size: {installed_kib}\n"
        f"Depends: {', '.join(debian_depends(BUNDLE))}\n"
        "Section: mail\n"
        "Priority: optional\n"
        "Description: write, schedule and send email campaigns\n"
        " Campaign Desktop keeps contacts and lists, writes email campaigns with\n"
        " personalised templates, schedules them once or on a recurrence in any time\n"
        " zone, and sends them on time while it runs in the system tray.\n"
    )
    control.chmod(0o644)
    deb = DIST / f"{DEB_NAME}_{version}_{arch}.deb"
    # zstd: a fraction of xz's time on 150 MB; dpkg reads it since 1.21.18 (Debian 12, Ubuntu
    # 21.10), older than every system the bundle's glibc runs on.
    run(["dpkg-deb", "--root-owner-group", "-Zzstd", "--build", str(root), str(deb)])
    return deb


def _installed(package: str) -> bool:
    status = subprocess.run(  # noqa: S603
        ["dpkg-query", "-W", "-f", "${db:Status-Status}", package],  # noqa: S607
        capture_output=True,
        text=True,
        check=False,
    )
    return status.returncode == 0 and status.stdout.strip() not in {"", "not-installed"}


def check_deb(deb: Path) -> None:
    """As root: install `deb`, run `campaign-desktop --self-test` offscreen from PATH, remove
    it, and fail unless every file it installed is gone again (docs/packaging.md)."""
    if os.geteuid() != 0:
        sys.exit("[build] --deb-check installs the package: run it as root")
    if _installed(DEB_NAME):
        sys.exit(f"[build] {DEB_NAME} is installed already: remove it first (dpkg -r {DEB_NAME})")
    run(["dpkg", "-i", str(deb)])
    try:
        shipped = subprocess.run(  # noqa: S603
            ["dpkg-query", "-L", DEB_NAME],  # noqa: S607
            capture_output=True,
            text=True,
            check=True,
        ).stdout.splitlines()
        found = shutil.which("campaign-desktop")
        if found != str(DEB_LINK):
            sys.exit(f"[build] campaign-desktop on PATH is {found}, not {DEB_LINK}")
        started = time.monotonic()
        result = subprocess.run(
            ["campaign-desktop", "--self-test"],  # noqa: S607  (from PATH, as a user runs it)
            cwd="/",
            env=dict(os.environ, QT_QPA_PLATFORM="offscreen"),
            capture_output=True,
            text=True,
            timeout=SELF_TEST_TIMEOUT_S,
            check=False,
        )
        sys.stdout.write(result.stdout)
        sys.stderr.write(result.stderr)
        if result.returncode != 0 or "self-test ok" not in result.stdout:
            sys.exit(f"[build] the installed self-test FAILED (exit {result.returncode})")
        log(f"installed: the self-test from PATH passed in {time.monotonic() - started:.1f} s")
    finally:
        run(["dpkg", "-r", DEB_NAME])
    if _installed(DEB_NAME):
        sys.exit(f"[build] dpkg -r left {DEB_NAME} installed")
    # Folders such as /usr/share/icons/hicolor/48x48/apps are shared with other packages and
    # stay; every file and link of ours, and /opt/campaign-desktop itself, must be gone.
    left = [
        path
        for path in [*shipped, str(DEB_PREFIX), str(DEB_LINK)]
        if (Path(path).is_symlink() or Path(path).exists())
        and (not Path(path).is_dir() or path.startswith(str(DEB_PREFIX)))
    ]
    if left:
        sys.exit(f"[build] dpkg -r left behind: {', '.join(sorted(left)[:10])}")
    log(f"removed: none of the {len(shipped)} installed paths is left behind")


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
    parser.add_argument(
        "--deb", action="store_true", help="also pack the bundle into a Debian package"
    )
    parser.add_argument(
        "--deb-check",
        action="store_true",
        help="with --deb, as root: install it, run its --self-test, remove it, check it is gone",
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
    if args.deb or args.deb_check:
        packed = time.monotonic()
        deb = make_deb()
        log(
            f"packed {deb.relative_to(ROOT)}: {deb.stat().st_size / 1_000_000:.1f} MB "
            f"in {time.monotonic() - packed:.0f} s"
        )
        if args.deb_check:
            check_deb(deb)
    log(f"done in {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
