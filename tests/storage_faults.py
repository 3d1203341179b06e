"""Real storage faults for tests: read-only and full filesystems, a lock held elsewhere.

The filesystems are real Linux mounts (tmpfs, read-only bind mounts): the tests run as
root, whom `chmod` does not stop, so a permission bit proves nothing. Where `mount` is not
allowed (no root, no CAP_SYS_ADMIN) the tests that need it are skipped, saying why.
The lock is held by a second Python process with its own SQLite connection.
"""

from __future__ import annotations

import errno
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


def _run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, check=False)


def _mount(*arguments: str) -> None:
    result = _run("mount", *arguments)
    if result.returncode != 0:
        pytest.skip(f"cannot mount here ({result.stderr.strip() or result.returncode})")


def _unmount(target: Path) -> None:
    result = _run("umount", str(target))
    if result.returncode != 0:  # still in use by a failed test: detach it all the same
        result = _run("umount", "--lazy", str(target))
    assert result.returncode == 0, result.stderr


@contextmanager
def small_filesystem(target: Path, size_kib: int) -> Iterator[Path]:
    """A tmpfs of `size_kib` KiB mounted on `target` (made if missing): a disk that fills."""
    target.mkdir(parents=True, exist_ok=True)
    _mount("-t", "tmpfs", "-o", f"size={size_kib}k,mode=0755", "tmpfs", str(target))
    try:
        yield target
    finally:
        _unmount(target)


@contextmanager
def read_only_view(source: Path, target: Path) -> Iterator[Path]:
    """`source` bind-mounted read-only on `target`: the same files, refused to everyone."""
    target.mkdir(parents=True, exist_ok=True)
    _mount("--bind", str(source), str(target))
    try:
        result = _run("mount", "-o", "remount,bind,ro", str(target))
        if result.returncode != 0:
            pytest.skip(f"cannot remount read-only here ({result.stderr.strip()})")
        yield target
    finally:
        _unmount(target)


def fill(folder: Path) -> None:
    """Write a file in `folder` until its filesystem refuses more (ENOSPC)."""
    handle = (folder / "filler.bin").open("wb", buffering=0)
    try:
        while True:
            handle.write(b"\0" * 4096)
    except OSError as exc:
        assert exc.errno == errno.ENOSPC, exc
    finally:
        handle.close()


_HOLDER = """
import sqlite3, sys
connection = sqlite3.connect(sys.argv[1], isolation_level=None)
for statement in sys.argv[2:]:
    connection.execute(statement)
print("locked", flush=True)
sys.stdin.readline()
connection.execute("ROLLBACK")
"""


@contextmanager
def lock_held_elsewhere(database: Path, *statements: str) -> Iterator[None]:
    """Another process runs `statements` on `database` and holds the lock until the end.

    Default: ``BEGIN IMMEDIATE`` (the write lock; readers still read under WAL).
    ``PRAGMA locking_mode=EXCLUSIVE`` then ``BEGIN EXCLUSIVE`` locks readers out too.
    Waits for the child to say it holds the lock, never for a fixed time.
    """
    process = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(database), *(statements or ("BEGIN IMMEDIATE",))],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdin is not None and process.stdout is not None
    try:
        assert process.stdout.readline().strip() == "locked"
        yield
    finally:
        process.stdin.close()
        assert process.wait(timeout=30) == 0
