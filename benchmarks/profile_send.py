"""Where a run's time goes: ``python -m benchmarks.profile_send [--connections N] [--delay-ms D]``.

Not one of the suite's figures: a tool for the analysis in docs/performance.md. It sends
runs of the app (`campaigns.send_now`, throttle off) to the suite's server
(`benchmarks.smtp_sink`, its own process) and prints, per message, the wall-clock time the
run's connection threads spent in each step of `services/sending/delivery.py` (waiting for
the GIL or a lock included: what a connection experiences), next to bare smtplib with as
many threads sending the same messages pre-built as bytes, alternating.

- ``--mode timers`` (default): each step's function is wrapped from here with a clock
  (a microsecond per call); the app is not changed.
- ``--mode cpu``: the same, with each thread's CPU clock (`time.thread_time`): what a
  step costs in CPU, without the waits for the server, the GIL or other processes.
- ``--mode cprofile``: cProfile in each connection thread (`ConnectionSender.run` wrapped),
  the same steps from its cumulative times, then the functions with the most time of their
  own. cProfile slows Python code several times more than C code, so its shares lean
  towards the Python-heavy steps (the ledger's SQLAlchemy calls); read them as an order.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from benchmarks import data
from benchmarks.fig_send import RunWatcher, recipients
from benchmarks.fig_slow import audience_lists
from benchmarks.mail import SmtpSink, bare_send_parallel, prebuilt_bytes, prebuilt_messages
from campaign_desktop.channels.smtp import SmtpConnection
from campaign_desktop.context import AppContext
from campaign_desktop.services.sending import delivery, ledger, throttle

#: (label, class, method, file suffix for cProfile): the steps of one message, in order.
_DELIVERY, _LEDGER = "sending/delivery.py", "sending/ledger.py"
STEPS: tuple[tuple[str, type, str, str], ...] = (
    ("take a recipient (Dispatcher.take)", delivery.Dispatcher, "take", _DELIVERY),
    ("render + bytes (ConnectionSender._build)", delivery.ConnectionSender, "_build", _DELIVERY),
    ("throttle slot (SendThrottle.acquire)", throttle.SendThrottle, "acquire", "throttle.py"),
    (
        "ledger: outcome + mark in flight, one commit (Ledger.begin)",
        ledger.Ledger,
        "begin",
        _LEDGER,
    ),
    # Since the overlap (docs/performance.md), `Ledger.begin` and the next message's `_build`
    # run inside `send_bytes` (its `go` and `meanwhile`): this step includes them.
    (
        "SMTP transaction incl. commit + next build (SmtpConnection.send_bytes)",
        SmtpConnection,
        "send_bytes",
        "smtp.py",
    ),
    ("ledger: last outcomes (Ledger.record)", ledger.Ledger, "record", _LEDGER),
    ("whole connection thread (ConnectionSender.run)", delivery.ConnectionSender, "run", _DELIVERY),
)


@contextmanager
def step_clocks(
    totals: dict[str, float], clock: Callable[[], float] = time.perf_counter
) -> Iterator[None]:
    """Wrap each step's method with `clock` adding to `totals` (seconds, all threads):
    wall time by default, `time.thread_time` for the CPU a step costs its thread."""
    lock = threading.Lock()
    originals = []
    for label, owner, name, _ in STEPS:
        original = owner.__dict__[name]
        originals.append((owner, name, original))
        totals[label] = 0.0

        def timed(
            *args: Any, _f: Callable[..., Any] = original, _label: str = label, **kwargs: Any
        ) -> Any:
            start = clock()
            try:
                return _f(*args, **kwargs)
            finally:
                spent = clock() - start
                with lock:
                    totals[_label] += spent

        setattr(owner, name, timed)
    try:
        yield
    finally:
        for owner, name, original in originals:
            setattr(owner, name, original)


@contextmanager
def thread_profiles(profiles: list[cProfile.Profile]) -> Iterator[None]:
    """cProfile in every connection thread started meanwhile."""
    lock = threading.Lock()
    original = delivery.ConnectionSender.run

    def run(self: delivery.ConnectionSender) -> None:
        profile = cProfile.Profile()
        with lock:
            profiles.append(profile)
        profile.runcall(original, self)

    delivery.ConnectionSender.run = run  # type: ignore[method-assign]
    try:
        yield
    finally:
        delivery.ConnectionSender.run = original  # type: ignore[method-assign]


def cumulative(stats: pstats.Stats) -> dict[str, float]:
    """Cumulative seconds per step from cProfile, summed over the threads."""
    table: dict[tuple[str, int, str], tuple[Any, ...]] = stats.stats  # type: ignore[attr-defined]
    return {
        label: sum(
            entry[3]
            for (filename, _, function), entry in table.items()
            if function == name and filename.endswith(suffix)
        )
        for label, _, name, suffix in STEPS
    }


class Runs:
    """A database with `messages` contacts, a campaign to all of them, the server."""

    def __init__(self, ctx: AppContext, sink: SmtpSink, messages: int, connections: int) -> None:
        self.ctx, self.sink, self.messages = ctx, sink, messages
        data.seed_contacts(ctx, messages, [data.ListPlan("Customers")], all_subscribed=True)
        audience_lists(ctx, [messages])
        data.configure_smtp(ctx, sink.port)
        ctx.settings.set("sending.connections", connections)
        self.connections = connections
        self.campaign_id = data.make_campaign(
            ctx, "Profiled", [f"First {messages}"], "news@shop.example"
        )
        self.wires = prebuilt_bytes(
            prebuilt_messages(
                data.SUBJECT, data.BODY, recipients(ctx), from_email="news@shop.example"
            )
        )
        self.watcher = RunWatcher(ctx)

    def app(self) -> tuple[float, float]:
        """(wall-clock seconds, CPU seconds of this process, every thread)."""
        self.sink.reset()
        self.watcher.ended.clear()
        start, cpu = time.perf_counter(), time.process_time()
        self.ctx.campaigns.send_now(self.campaign_id)
        if not self.watcher.ended.wait(600):
            raise RuntimeError("the run did not finish")
        spent = time.perf_counter() - start, time.process_time() - cpu
        last = self.watcher.last
        assert last is not None and last.run.sent == self.messages, last
        return spent

    def bare(self) -> tuple[float, float]:
        self.sink.reset()
        start, cpu = time.perf_counter(), time.process_time()
        bare_send_parallel(self.sink.host, self.sink.port, self.wires, self.connections)
        return time.perf_counter() - start, time.process_time() - cpu


def _measure(
    args: argparse.Namespace,
    folder: Path,
    *,
    app_times: list[tuple[float, float]],
    bare_times: list[tuple[float, float]],
    steps: list[dict[str, float]],
    profiles: list[cProfile.Profile],
) -> None:
    ctx = data.open_context(folder / "data")
    try:
        with SmtpSink(
            delay=args.delay_ms / 1000, rtt=args.rtt_ms / 1000, pipelining=args.pipelining
        ) as sink:
            runs = Runs(ctx, sink, args.messages, args.connections)
            runs.bare()  # warm-up
            for _ in range(args.repeats):
                bare_times.append(runs.bare())
                totals: dict[str, float] = {}
                if args.mode != "cprofile":
                    clock = time.thread_time if args.mode == "cpu" else time.perf_counter
                    with step_clocks(totals, clock):
                        app_times.append(runs.app())
                    steps.append(totals)
                else:
                    with thread_profiles(profiles):
                        app_times.append(runs.app())
    finally:
        ctx.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.profile_send")
    parser.add_argument("--connections", type=int, default=1)
    parser.add_argument("--delay-ms", type=float, default=0.0)
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3, help="app and bare runs (median)")
    parser.add_argument(
        "--rtt-ms", type=float, default=0.0, help="a network round trip in front of the server"
    )
    parser.add_argument(
        "--pipelining", action="store_true", help="the server offers PIPELINING (RFC 2920)"
    )
    parser.add_argument("--mode", choices=("timers", "cpu", "cprofile"), default="timers")
    parser.add_argument("--top", type=int, default=15, help="cprofile: functions by own time")
    args = parser.parse_args(argv)
    n = args.messages
    app_times: list[tuple[float, float]] = []
    bare_times: list[tuple[float, float]] = []
    steps: list[dict[str, float]] = []
    profiles: list[cProfile.Profile] = []
    with tempfile.TemporaryDirectory(prefix="campaign-profile-") as folder:
        _measure(
            args,
            Path(folder),
            app_times=app_times,
            bare_times=bare_times,
            steps=steps,
            profiles=profiles,
        )
    app = statistics.median(wall for wall, _ in app_times)
    bare = statistics.median(wall for wall, _ in bare_times)
    app_cpu = statistics.median(cpu for _, cpu in app_times) / n * 1000
    bare_cpu = statistics.median(cpu for _, cpu in bare_times) / n * 1000
    print(
        f"{n:,} messages, {args.connections} connection(s), server delay {args.delay_ms:g} ms, "
        f"{args.mode}, medians of {args.repeats}:\n"
        f"- app: {n / app:,.0f} msg/s, {app / n * 1000:.2f} ms per message, CPU of the "
        f"process {app_cpu:.2f} ms per message (runs: "
        f"{', '.join(f'{n / wall:.0f}' for wall, _ in app_times)} msg/s)\n"
        f"- smtplib x{args.connections}: {n / bare:,.0f} msg/s, {bare / n * 1000:.2f} ms per "
        f"message, CPU {bare_cpu:.2f} ms per message (runs: "
        f"{', '.join(f'{n / wall:.0f}' for wall, _ in bare_times)} msg/s)\n"
        f"- app / smtplib: {bare / app:.2f}"
    )
    if args.mode != "cprofile":
        found = {label: statistics.median(s[label] for s in steps) for label, *_ in STEPS}
    else:
        stats = pstats.Stats(profiles[0])
        for profile in profiles[1:]:
            stats.add(profile)
        found = {label: seconds / args.repeats for label, seconds in cumulative(stats).items()}
    print("\n| step | ms per message, summed over the connections |\n|---|---:|")
    for label, seconds in found.items():
        print(f"| {label} | {seconds / n * 1000:.3f} |")
    if args.mode == "cprofile":
        out = io.StringIO()
        stats.stream = out  # type: ignore[attr-defined]
        stats.sort_stats("tottime").print_stats(args.top)
        print("\nFunctions by own time (all connection threads, all runs):")
        print(out.getvalue().split("\n", 4)[-1])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
