"""Runs one figure in this process: ``python -m benchmarks.worker NAME --workdir DIR [--quick]``.

The runner (`python -m benchmarks`) starts one worker per figure, so each figure gets a fresh
interpreter (no Qt application, threads or caches left over from another figure), and a
figure that hangs or crashes cannot take the others with it.
"""

from __future__ import annotations

import argparse
import os
import traceback
from pathlib import Path

# Before anything imports Qt: headless, and never a real display.
os.environ["QT_QPA_PLATFORM"] = "offscreen"

from benchmarks.figures import BY_NAME
from benchmarks.harness import FULL, QUICK, Bench, emit


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("name", choices=sorted(BY_NAME))
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    bench = Bench(QUICK if args.quick else FULL, args.workdir)
    try:
        BY_NAME[args.name].load()(bench)
    except Exception:
        emit("error", traceback.format_exc())
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
