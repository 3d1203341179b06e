"""Cold start and idle memory: the real app in a fresh process vs a bare PySide6 window.

Cold start (issues 7 and 16): the app at 100,000 contacts and 10,000 campaigns against the
floor (a bare window after importing Qt's widgets and SQLAlchemy's ORM), the floor against
the bare window, and the app at 1,000,000 contacts (times ``CAMPAIGN_BENCH_SCALE``) against
the app at 100,000, every launch a fresh process, alternated. With
``CAMPAIGN_BENCH_BEFORE=DIR`` (a source tree, e.g. ``git archive`` of an older commit) the
same databases are also started by that tree's app, in the same alternation: "before" rows.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.harness import (
    PREFIX,
    ROOT,
    Bench,
    Row,
    Target,
    copy_database,
    emit_note,
    emit_row,
    median,
    python_env,
)

DRIVER = Path(__file__).with_name("startup_driver.py")
SCALE_ENV = "CAMPAIGN_BENCH_SCALE"
BEFORE_ENV = "CAMPAIGN_BENCH_BEFORE"


class Launch:
    """One start of the driver: seconds from the spawn to the first painted rows, and RSS."""

    def __init__(self, marks: dict[str, Any], spawned: float, timed_out: bool, error: str):
        self.marks = marks
        self.spawned = spawned
        self.timed_out = timed_out
        self.error = error

    @property
    def ok(self) -> bool:
        return "painted" in self.marks

    @property
    def seconds(self) -> float:
        return float(self.marks["painted"]) - self.spawned

    def phase(self, start: str, end: str) -> float:
        begin = self.spawned if start == "spawn" else float(self.marks[start])
        return float(self.marks[end]) - begin


def launch(
    bench: Bench,
    mode: str,
    data_dir: Path | None,
    timeout: float,
    linger_ms: int = 0,
    *,
    tree: Path | None = None,
) -> Launch:
    """Start the driver once; `tree`: import `campaign_desktop` from that source tree."""
    home = bench.workdir / "home"
    env = python_env(
        {
            # The app's log, settings and state go to the work folder, not the user's.
            "XDG_STATE_HOME": str(home / "state"),
            "XDG_DATA_HOME": str(home / "data"),
            "XDG_CONFIG_HOME": str(home / "config"),
        }
    )
    if tree is not None:
        env["PYTHONPATH"] = str(tree)
    args = [sys.executable, str(DRIVER), mode, "--linger-ms", str(linger_ms)]
    if data_dir is not None:
        args += ["--data-dir", str(data_dir)]
    spawned = time.time()
    proc = subprocess.Popen(
        args, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    timed_out = False
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        timed_out = True
    marks: dict[str, Any] = {}
    for line in out.splitlines():
        if line.startswith(PREFIX):
            marks.update(json.loads(line[len(PREFIX) :]))
    result = Launch(marks, spawned, timed_out, err[-2000:])
    if not result.ok and not timed_out:
        raise RuntimeError(f"{mode} start failed ({proc.returncode}): {err[-2000:]}")
    return result


def warm_up(bench: Bench) -> None:
    """Byte-code, the OS file cache and fontconfig's cache filled before anything is timed."""
    subprocess.run(
        [sys.executable, "-c", "import campaign_desktop.app"],
        cwd=ROOT,
        env=python_env(),
        check=True,
        capture_output=True,
    )
    launch(bench, "bare", None, 60)


def big_contacts(bench: Bench) -> int:
    """The contacts of the second cold-start database: 1,000,000 times the scale."""
    if bench.sizes.quick:
        return bench.sizes.cold_contacts * 4
    return max(bench.sizes.cold_contacts, round(1_000_000 * float(os.environ.get(SCALE_ENV, "1"))))


def cold_start(bench: Bench) -> None:  # noqa: PLR0912, PLR0915  (one scenario, told in order)
    sizes = bench.sizes
    big = big_contacts(bench)
    source = bench.campaigns_db(sizes.cold_contacts, sizes.cold_campaigns)
    source_big = bench.campaigns_db(big, sizes.cold_campaigns)
    statuses = json.loads((source.parent / "statuses.json").read_text())
    data_dir = copy_database(source, bench.fresh_dir("cold-start") / "data")
    data_big = copy_database(source_big, bench.fresh_dir("cold-start-big") / "data")
    before_tree = Path(os.environ[BEFORE_ENV]) if os.environ.get(BEFORE_ENV) else None
    warm_up(bench)
    if before_tree is not None:
        launch(bench, "app", data_dir, sizes.slow_budget, tree=before_tree)  # its byte-code
    row = Row(
        key="cold-start",
        figure=(
            f"cold start to first rows ({sizes.cold_campaigns:,} campaigns, "
            f"{sizes.cold_contacts:,} contacts)"
        ),
        unit="s",
        target=Target("max_ratio", 1.3, "≤ 1.3\N{MULTIPLICATION SIGN} the floor"),
    )
    row_big = Row(
        key="cold-start-big",
        figure=(
            f"cold start at {big:,} contacts ({sizes.cold_campaigns:,} campaigns), "
            f"against {sizes.cold_contacts:,}"
        ),
        unit="s",
        target=Target("max_ratio", 1.1, f"≤ {sizes.cold_contacts:,} + 10%"),
    )
    ours: list[Launch] = []
    ours_big: list[Launch] = []
    bare: list[Launch] = []
    floor: list[Launch] = []
    before: list[Launch] = []
    before_big: list[Launch] = []
    for _ in range(sizes.repeats):
        bare.append(launch(bench, "bare", None, 60))
        floor.append(launch(bench, "floor", None, 60))
        if before_tree is not None:
            before.append(launch(bench, "app", data_dir, sizes.slow_budget, tree=before_tree))
        run = launch(bench, "app", data_dir, sizes.slow_budget)
        if not run.ok:
            row.timed_out, row.budget = True, sizes.slow_budget
            break
        ours.append(run)
        if before_tree is not None:
            before_big.append(launch(bench, "app", data_big, sizes.slow_budget, tree=before_tree))
        run = launch(bench, "app", data_big, sizes.slow_budget)
        if not run.ok:
            row_big.timed_out, row_big.budget = True, sizes.slow_budget
            break
        ours_big.append(run)
    floor_seconds = median([f.seconds for f in floor])
    row.baseline = floor_seconds
    if ours and not row.timed_out:
        row.ours = median([o.seconds for o in ours])
    emit_row(row)
    if ours_big and not row_big.timed_out:
        row_big.ours = median([o.seconds for o in ours_big])
        row_big.baseline = row.ours
    emit_row(row_big)
    emit_row(
        Row(
            key="cold-start-floor",
            figure="cold start floor: bare window after importing Qt widgets + SQLAlchemy ORM",
            unit="s",
            ours=floor_seconds,
            baseline=median([b.seconds for b in bare]),
            target=Target("info", text="(the bare window is the baseline)"),
        )
    )
    if before:
        for key, runs, against in (
            ("cold-start-before", before, ours),
            ("cold-start-big-before", before_big, ours_big),
        ):
            emit_row(
                Row(
                    key=key,
                    figure=f"the same start, before ({before_tree}): after vs before",
                    unit="s",
                    ours=median([o.seconds for o in against]) if against else None,
                    baseline=median([b.seconds for b in runs]),
                    target=Target("info", text="(after ÷ before)"),
                )
            )
    note = (
        f"cold start: a fresh process each time ({len(bare)} bare, {len(floor)} floor, "
        f"{len(ours)} + {len(ours_big)} app launch(es) measured, alternating, after an "
        "untimed warm-up); spawn → the campaign table's viewport has finished its first "
        "paint with rows, offscreen, through `campaign_desktop.app.main` (single-instance "
        "check, migrations check, main window, tray; the scheduler starts after the first "
        f"paint). Campaign statuses: {statuses}. Seconds: floor "
        f"{', '.join(f'{f.seconds:.2f}' for f in floor)}; app "
        f"{', '.join(f'{o.seconds:.2f}' for o in ours)}; app at {big:,} contacts "
        f"{', '.join(f'{o.seconds:.2f}' for o in ours_big)}"
    )
    if before:
        note += (
            f"; before: {', '.join(f'{b.seconds:.2f}' for b in before)}, at {big:,} "
            f"{', '.join(f'{b.seconds:.2f}' for b in before_big)}"
        )
    note += "."
    for label, runs in (("app", ours), (f"app at {big:,}", ours_big), ("before", before)):
        if runs:
            o = runs[len(runs) // 2]
            note += (
                f" Phases ({label}, one run): interpreter {o.phase('spawn', 'py_started'):.2f} s,"
                f" imports {o.phase('py_started', 'imported'):.2f} s, to window built "
                f"{o.phase('imported', 'window_built'):.2f} s, to painted "
                f"{o.phase('window_built', 'painted'):.2f} s."
            )
    if row.timed_out or row_big.timed_out:
        note += f" The app had not painted its first rows after {sizes.slow_budget:.0f} s."
    emit_note(note)


def memory(bench: Bench) -> None:
    sizes = bench.sizes
    source = bench.campaigns_db(sizes.memory_contacts, sizes.memory_campaigns)
    data_dir = copy_database(source, bench.fresh_dir("memory") / "data")
    warm_up(bench)
    linger = 500 if sizes.quick else 3000
    ours: list[Launch] = []
    bare: list[Launch] = []
    timed_out = False
    for _ in range(max(1, sizes.repeats - 1)):
        bare.append(launch(bench, "bare", None, 60, linger))
        run = launch(bench, "app", data_dir, sizes.slow_budget * 2, linger)
        if "rss_peak_mb" not in run.marks:
            timed_out = True
            break
        ours.append(run)
    row = Row(
        key="memory",
        figure=f"memory: idle app, peak RSS ({sizes.memory_contacts:,} contacts)",
        unit="MB",
        target=Target("max", 250, "≤ 250 MB"),
        baseline=median([b.marks["rss_peak_mb"] for b in bare]),
        timed_out=timed_out,
        budget=sizes.slow_budget * 2 if timed_out else None,
    )
    if ours:
        row.ours = median([o.marks["rss_peak_mb"] for o in ours])
    emit_row(row)
    if ours:
        emit_note(
            f"memory: the real app started on a database of {sizes.memory_contacts:,} contacts "
            f"and {sizes.memory_campaigns} campaigns, left idle {linger / 1000:g} s after its "
            "first paint; peak RSS from `getrusage` (ru_maxrss) in that process, RSS at the end "
            f"{median([o.marks['rss_now_mb'] for o in ours]):.0f} MB; first rows painted after "
            f"{median([o.seconds for o in ours]):.1f} s. Bare = the empty PySide6 window, same "
            "idle time."
        )
