"""Where a run's time goes: ``python -m benchmarks.profile_send [--connections N] [--delay-ms D]``.

Not one of the suite's figures: a tool for the analysis in docs/performance.md. It sends
one run of the app (`campaigns.send_now`, throttle off) to the suite's server
(`benchmarks.smtp_sink`, its own process) with cProfile running in each of the run's
connection threads (`ConnectionSender.run` wrapped from here; the app is not changed), and
prints, per message, the wall-clock time each connection spent in the steps of
`services/sending/delivery.py` — waiting for the GIL or a lock included, which is what
a connection experiences — then the functions with the most time of their own.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from benchmarks import data
from benchmarks.fig_send import RunWatcher
from benchmarks.fig_slow import audience_lists
from benchmarks.mail import SmtpSink
from campaign_desktop.services.sending import delivery

#: (label, file suffix, function name): the steps of one message, in the order they run.
STEPS = (
    ("take a recipient (Dispatcher.take)", "sending/delivery.py", "take"),
    ("render + bytes (_build)", "sending/delivery.py", "_build"),
    ("throttle slot (acquire)", "sending/throttle.py", "acquire"),
    ("ledger: outcome + mark in flight, one commit (Ledger.begin)", "sending/ledger.py", "begin"),
    ("SMTP transaction (send_bytes)", "channels/smtp.py", "send_bytes"),
    ("  of which waiting for the server's replies (getreply)", "smtplib.py", "getreply"),
    ("ledger: last outcomes (Ledger.record)", "sending/ledger.py", "record"),
    ("whole connection thread (ConnectionSender.run)", "sending/delivery.py", "run"),
)


def profiled_run(
    connections: int, delay_ms: float, messages: int
) -> tuple[float, pstats.Stats, int]:
    """(seconds from send_now to the run finished, merged stats, threads profiled)."""
    profiles: list[cProfile.Profile] = []
    lock = threading.Lock()
    original = delivery.ConnectionSender.run

    def run(self: delivery.ConnectionSender) -> None:
        profile = cProfile.Profile()
        with lock:
            profiles.append(profile)
        profile.runcall(original, self)

    data_dir = Path(tempfile.mkdtemp(prefix="campaign-profile-")) / "data"
    ctx = data.open_context(data_dir)
    try:
        data.seed_contacts(ctx, messages, [data.ListPlan("Customers")], all_subscribed=True)
        audience_lists(ctx, [messages])
        with SmtpSink(delay=delay_ms / 1000) as sink:
            data.configure_smtp(ctx, sink.port)
            ctx.settings.set("sending.connections", connections)
            campaign_id = data.make_campaign(
                ctx, "Profiled", [f"First {messages}"], "news@shop.example"
            )
            watcher = RunWatcher(ctx)
            delivery.ConnectionSender.run = run  # type: ignore[method-assign]
            try:
                start = time.perf_counter()
                ctx.campaigns.send_now(campaign_id)
                if not watcher.ended.wait(600):
                    raise RuntimeError("the run did not finish")
                seconds = time.perf_counter() - start
            finally:
                delivery.ConnectionSender.run = original  # type: ignore[method-assign]
            assert watcher.last is not None and watcher.last.run.sent == messages, watcher.last
    finally:
        ctx.close()
    stats = pstats.Stats(profiles[0])
    for profile in profiles[1:]:
        stats.add(profile)
    return seconds, stats, len(profiles)


def step_times(stats: pstats.Stats) -> dict[str, float]:
    """Cumulative seconds per step, summed over the connection threads."""
    table: dict[tuple[str, int, str], tuple[Any, ...]] = stats.stats  # type: ignore[attr-defined]
    found = {}
    for label, suffix, name in STEPS:
        found[label] = sum(
            entry[3]
            for (filename, _, function), entry in table.items()
            if function == name and filename.endswith(suffix)
        )
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.profile_send")
    parser.add_argument("--connections", type=int, default=1)
    parser.add_argument("--delay-ms", type=float, default=0.0)
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--top", type=int, default=20, help="functions by own time")
    args = parser.parse_args(argv)
    seconds, stats, threads = profiled_run(args.connections, args.delay_ms, args.messages)
    n = args.messages
    print(
        f"{n:,} messages over {threads} connection(s), server delay {args.delay_ms:g} ms: "
        f"{seconds:.2f} s, {n / seconds:,.0f} msg/s under cProfile (which slows Python code)"
    )
    print("\n| step | ms per message (summed over connections) |\n|---|---:|")
    for label, total in step_times(stats).items():
        print(f"| {label} | {total / n * 1000:.3f} |")
    out = io.StringIO()
    stats.stream = out  # type: ignore[attr-defined]
    stats.sort_stats("tottime").print_stats(args.top)
    print("\nTop functions by own time (all connection threads):")
    print(out.getvalue().split("\n", 4)[-1] if out.getvalue() else "")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
