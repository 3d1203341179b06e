"""What every figure shares: sizes, rows of the results table, timing and process helpers.

A figure runs in its own worker process (`benchmarks.worker`) and reports through `emit`:
one ``BENCH {json}`` line per row or note on stdout, so the runner keeps what a worker
measured even when it has to stop it at its time budget.
"""

from __future__ import annotations

import json
import math
import os
import resource
import shutil
import sqlite3
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

ROOT = Path(__file__).resolve().parent.parent
PREFIX = "BENCH "

# --- sizes -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sizes:
    """How big each figure's data is; the issue's sizes, or tiny ones for `--quick`."""

    quick: bool
    repeats: int
    send_recipients: int
    firing_campaigns: int
    cold_campaigns: int
    cold_contacts: int
    table_campaigns: int
    table_contacts: int
    csv_rows: int
    patterns: int
    gui_send_recipients: int
    gui_import_rows: int
    memory_contacts: int
    memory_campaigns: int
    # The slow-server figure: messages per measurement at 0 ms; at a delay, about how many
    # seconds one measurement lasts (N connections send N x seconds / delay messages) and
    # how many runs there are (0 ms uses `repeats`: it is the noisy, CPU-bound one).
    slow_server_zero_messages: int
    slow_server_seconds: float
    slow_server_repeats: int
    # Team mode (issue 14): the same app on SQLite and on PostgreSQL, side by side.
    team_send_recipients: int
    team_campaigns: int
    # Seconds: a measurement that takes longer is stopped and reported as "> budget".
    slow_budget: float


FULL = Sizes(
    quick=False,
    repeats=3,
    send_recipients=5_000,
    firing_campaigns=20,
    cold_campaigns=10_000,
    cold_contacts=100_000,
    table_campaigns=100_000,
    table_contacts=100_000,
    csv_rows=100_000,
    patterns=100_000,
    gui_send_recipients=20_000,
    gui_import_rows=100_000,
    memory_contacts=100_000,
    memory_campaigns=100,
    slow_server_zero_messages=2_000,
    slow_server_seconds=3.0,
    slow_server_repeats=1,
    team_send_recipients=3_000,
    team_campaigns=10_000,
    slow_budget=30.0,
)
QUICK = Sizes(
    quick=True,
    repeats=1,
    send_recipients=100,
    firing_campaigns=2,
    cold_campaigns=50,
    cold_contacts=500,
    table_campaigns=300,
    table_contacts=1_000,
    csv_rows=1_000,
    patterns=500,
    gui_send_recipients=200,
    gui_import_rows=1_000,
    memory_contacts=500,
    memory_campaigns=10,
    slow_server_zero_messages=100,
    slow_server_seconds=0.2,
    slow_server_repeats=1,
    team_send_recipients=300,
    team_campaigns=500,
    slow_budget=20.0,
)

# --- rows ------------------------------------------------------------------------------------

TargetKind = Literal["min_ratio", "max_ratio", "max", "info"]


@dataclass(frozen=True)
class Target:
    kind: TargetKind
    limit: float = 0.0
    text: str = ""

    def met(self, row: Row) -> bool | None:
        if self.kind == "info":
            return None
        if row.timed_out:
            return False
        if row.ours is None:
            return None
        if self.kind == "max":
            return row.ours <= self.limit
        ratio = row.ratio
        if ratio is None:
            return None
        return ratio >= self.limit if self.kind == "min_ratio" else ratio <= self.limit


@dataclass
class Row:
    """One line of the table. `ratio` is ours / baseline in the row's unit."""

    key: str
    figure: str
    unit: str
    target: Target
    ours: float | None = None
    baseline: float | None = None
    timed_out: bool = False
    budget: float | None = None  # seconds, when the measurement may be stopped
    ours_text: str | None = None  # overrides the formatted number (e.g. "100,000 of 100,000")
    baseline_text: str | None = None

    @property
    def ratio(self) -> float | None:
        if self.ours is None or not self.baseline:
            return None
        return self.ours / self.baseline

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["target"] = asdict(self.target)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Row:
        data = dict(data)
        data["target"] = Target(**data["target"])
        return cls(**data)


def emit(kind: str, payload: Any) -> None:
    """Hand a row or a note to the runner (a line on stdout; flushed at once)."""
    sys.stdout.write(PREFIX + json.dumps({kind: payload}) + "\n")
    sys.stdout.flush()


def emit_row(row: Row) -> Row:
    emit("row", row.to_json())
    return row


def emit_note(text: str) -> None:
    emit("note", text)


def pending(row: Row, budget: float) -> Row:
    """Announce a measurement that may outrun its budget: if the worker is stopped, the
    runner shows this row as "> budget"."""
    row.budget = budget
    row.timed_out = True
    emit_row(row)
    row.timed_out = False
    return row


# --- numbers ---------------------------------------------------------------------------------


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def fmt_number(value: float, unit: str) -> str:
    if unit == "s" and value < 1:
        value, unit = value * 1000, "ms"
    formats = {
        "ms": "{:,.0f} ms" if value >= 10 else "{:.1f} ms",
        "s": "{:,.2f} s" if value < 100 else "{:,.0f} s",
        "MB": "{:,.0f} MB",
        "msg/s": "{:,.0f} msg/s",
        "rows": "{:,.0f} rows",
    }
    return formats.get(unit, "{:,.3g} " + unit).format(value).strip()


def fmt_ratio(ratio: float | None) -> str:
    if ratio is None or math.isnan(ratio):
        return "—"
    times = "\N{MULTIPLICATION SIGN}"
    return f"{ratio:.2f}{times}" if ratio < 100 else f"{ratio:,.0f}{times}"


# --- time and processes ----------------------------------------------------------------------


@contextmanager
def stopwatch() -> Iterator[Callable[[], float]]:
    """`with stopwatch() as elapsed:` … `elapsed()` seconds so far (and after the block)."""
    start = time.perf_counter()
    end: float | None = None

    def elapsed() -> float:
        return (end if end is not None else time.perf_counter()) - start

    try:
        yield elapsed
    finally:
        end = time.perf_counter()


def peak_rss_mb() -> float:
    """This process's peak resident set size (ru_maxrss is KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def current_rss_mb() -> float:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return peak_rss_mb()


def python_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for a child Python: the repo importable, Qt headless."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH", "")]))
    env["QT_QPA_PLATFORM"] = "offscreen"
    env.pop("PYTHONSTARTUP", None)
    if extra:
        env.update(extra)
    return env


def run_child(
    args: Sequence[str], *, timeout: float, env: dict[str, str] | None = None
) -> tuple[list[dict[str, Any]], bool, str]:
    """Run `python args…`; return (its BENCH payloads, timed_out, stderr tail)."""
    proc = subprocess.Popen(
        [sys.executable, *args],
        cwd=ROOT,
        env=env or python_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        out, err = proc.communicate(timeout=timeout)
        timed_out = False
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        timed_out = True
    payloads = [
        json.loads(line[len(PREFIX) :]) for line in out.splitlines() if line.startswith(PREFIX)
    ]
    if proc.returncode not in (0, None) and not timed_out and not payloads:
        raise RuntimeError(f"child {args} failed ({proc.returncode}): {err[-2000:]}")
    return payloads, timed_out, err[-2000:]


# --- data directories ------------------------------------------------------------------------


def copy_database(source_dir: Path, target_dir: Path) -> Path:
    """A consistent copy of a benchmark database (SQLite's backup API, WAL included)."""
    from campaign_desktop.persistence.db import DATABASE_FILENAME  # noqa: PLC0415

    if target_dir.exists():
        shutil.rmtree(target_dir)
    target_dir.mkdir(parents=True)
    source = sqlite3.connect(source_dir / DATABASE_FILENAME)
    try:
        target = sqlite3.connect(target_dir / DATABASE_FILENAME)
        try:
            source.backup(target)
        finally:
            target.close()
    finally:
        source.close()
    return target_dir


@dataclass
class Bench:
    """What a figure's `run` gets: its sizes and the shared work folder (data caches)."""

    sizes: Sizes
    workdir: Path
    notes: list[str] = field(default_factory=list)

    def cached_dir(self, name: str, build: Callable[[Path], None]) -> Path:
        """A data folder built once per suite run (by the first figure that needs it)."""
        path = self.workdir / "cache" / name
        done = path / ".complete"
        if not done.exists():
            if path.exists():
                shutil.rmtree(path)
            path.mkdir(parents=True)
            build(path)
            done.touch()
        return path

    def fresh_dir(self, name: str) -> Path:
        path = self.workdir / "runs" / name
        if path.exists():
            shutil.rmtree(path)
        path.mkdir(parents=True)
        return path

    def contacts_db(self, count: int) -> Path:
        """A database with `count` contacts on the standard lists (no campaigns)."""
        from benchmarks import data  # noqa: PLC0415

        def build(path: Path) -> None:
            ctx = data.open_context(path / "data")
            try:
                data.seed_contacts(ctx, count)
            finally:
                ctx.close()

        return self.cached_dir(f"contacts-{count}", build) / "data"

    def campaigns_db(self, contacts: int, campaigns: int) -> Path:
        """`contacts_db(contacts)` plus `campaigns` campaigns in every state."""
        from benchmarks import data  # noqa: PLC0415

        def build(path: Path) -> None:
            copy_database(self.contacts_db(contacts), path / "data")
            ctx = data.open_context(path / "data")
            try:
                counts = data.seed_campaigns(ctx, campaigns)
            finally:
                ctx.close()
            (path / "statuses.json").write_text(json.dumps(counts))

        return self.cached_dir(f"campaigns-{contacts}-{campaigns}", build) / "data"

    def contacts_csv(self, rows: int) -> Path:
        from benchmarks import data  # noqa: PLC0415

        def build(path: Path) -> None:
            data.write_contacts_csv(path / "contacts.csv", rows)

        return self.cached_dir(f"csv-{rows}", build) / "contacts.csv"


@contextmanager
def bounded(row: Row, budget: float) -> Iterator[Row]:
    """Measure something that may take far too long (`with bounded(row, 45) as row:`).

    If `budget` seconds pass first, the worker reports `row` as stopped ("> 45 s") and
    exits at once, so put such a measurement last in its figure. The row is announced
    beforehand so that the runner shows it even if the worker dies some other way.
    """
    import threading  # noqa: PLC0415

    row.budget = budget

    def give_up() -> None:
        row.timed_out = True
        emit_row(row)
        emit_note(f"{row.figure}: stopped after its budget of {budget:.0f} s.")
        os._exit(0)

    timer = threading.Timer(budget, give_up)
    timer.daemon = True
    timer.start()
    try:
        yield row
    finally:
        timer.cancel()


class GcPauses:
    """The longest pause of Python's cyclic garbage collector while active (`with GcPauses()`).

    A full collection stops every thread, the GUI thread included, for as long as it takes
    to walk all tracked objects: a cause of GUI stalls that no profile of one slot shows.
    """

    def __init__(self) -> None:
        self.longest_ms = 0.0
        self.full_collections = 0
        self.pauses: list[tuple[float, float]] = []  # (perf_counter at start, seconds)
        self._started = 0.0

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
            return
        pause = time.perf_counter() - self._started
        self.pauses.append((self._started, pause))
        self.longest_ms = max(self.longest_ms, pause * 1000)
        if info.get("generation") == 2:
            self.full_collections += 1

    def overlapping(self, start: float, end: float) -> float:
        """Milliseconds of collection inside [start, end] (perf_counter instants)."""
        return 1000 * sum(
            max(0.0, min(end, begin + length) - max(start, begin)) for begin, length in self.pauses
        )

    def __enter__(self) -> GcPauses:
        import gc  # noqa: PLC0415

        gc.callbacks.append(self._callback)
        return self

    def __exit__(self, *exc: object) -> None:
        import gc  # noqa: PLC0415

        gc.callbacks.remove(self._callback)
