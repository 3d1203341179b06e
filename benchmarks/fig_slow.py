"""Send over a slow server (issue 11): the app with 1, 4, 8 connections against bare smtplib
with 1, 4, 8 threads, on a server that waits 0, 20, 50 or 100 ms per message.

The server (`benchmarks.smtp_sink`) runs in its own process and sleeps in `handle_DATA`
(`asyncio.sleep`, so the waits of several connections overlap, as a real server's do). It
offers PIPELINING (RFC 2920), as real providers' servers do, so the app writes each
envelope and DATA as one group; smtplib has no pipelining and goes in lockstep. At 0 ms the
rows are measured again against a second server that does not offer it (both clients in
lockstep). The baseline sends the same messages pre-built as bytes (`SMTP.sendmail`), every
N-th message on each of N threads, one connection each: nothing is built while its clock
runs. Both sides connect inside the timed span. App and baseline alternate, in the same
process and against the same server.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import insert, literal, select

from benchmarks import data
from benchmarks.fig_send import RunWatcher, recipients, send_db
from benchmarks.harness import (
    Bench,
    Row,
    Target,
    copy_database,
    emit_note,
    emit_row,
    fmt_number,
    fmt_ratio,
    median,
    stopwatch,
)
from benchmarks.mail import SmtpSink, WireMessage, bare_send_parallel, prebuilt_bytes
from benchmarks.mail import prebuilt_messages as build_messages
from campaign_desktop.context import AppContext
from campaign_desktop.persistence.models import Contact, ContactList, list_membership

DELAYS_MS = (0, 20, 50, 100)
CONNECTIONS = (1, 4, 8)
#: The issue's targets: app with N connections ≥ 0.9 times smtplib with N threads (delays
#: ≥ 20 ms); at 0 ms ≥ 0.8 times one smtplib connection with pre-built bytes.
SLOW_RATIO = 0.9
ZERO_RATIO = 0.8
#: The server of the extra 0 ms rows: without PIPELINING.
LOCKSTEP = "lockstep"
#: The estimate the issue asks for: this many recipients on a server taking ESTIMATE_MS.
ESTIMATE_RECIPIENTS = 50_000
ESTIMATE_MS = 50
X = "\N{MULTIPLICATION SIGN}"


def message_count(bench: Bench, delay_ms: int, connections: int) -> int:
    """How many messages one measurement sends: a fixed number at 0 ms; on a slow server
    as many as N connections send in about `slow_server_seconds` (so every measurement takes
    about as long, whatever N)."""
    sizes = bench.sizes
    if delay_ms == 0:
        return sizes.slow_server_zero_messages
    per_connection = max(2, round(sizes.slow_server_seconds * 1000 / delay_ms))
    return per_connection * connections


def audience_lists(ctx: AppContext, counts: Sequence[int]) -> None:
    """A list "First K" of the first K contacts (in id order) for each K in `counts`."""
    now = datetime.now(UTC)
    with ctx.db.engine.begin() as connection:
        for count in counts:
            list_id = connection.execute(
                insert(ContactList)
                .values(name=f"First {count}", description="", created_at=now)
                .returning(ContactList.id)
            ).scalar_one()
            firsts = select(Contact.id).order_by(Contact.id).limit(count).subquery()
            connection.execute(
                insert(list_membership).from_select(
                    ["list_id", "contact_id"], select(literal(list_id), firsts.c.id)
                )
            )


class _Sides:
    """The measured rates (msg/s), per (side, delay, connections), several runs each."""

    def __init__(self) -> None:
        self.runs: dict[tuple[str, int, int], list[float]] = {}

    def add(self, side: str, delay_ms: int, connections: int, rate: float) -> None:
        self.runs.setdefault((side, delay_ms, connections), []).append(rate)

    def rate(self, side: str, delay_ms: int, connections: int) -> float:
        return median(self.runs[side, delay_ms, connections])


def slow_server(bench: Bench) -> None:
    plan = {(d, n): message_count(bench, d, n) for d in DELAYS_MS for n in CONNECTIONS}
    counts = sorted(set(plan.values()))
    largest = counts[-1]
    data_dir = copy_database(send_db(bench, largest), bench.fresh_dir("slow") / "data")
    sides, lockstep = _Sides(), _Sides()
    with SmtpSink(pipelining=True) as sink, SmtpSink() as plain:
        ctx = data.open_context(data_dir)
        try:
            audience_lists(ctx, counts)
            campaigns = {
                count: data.make_campaign(
                    ctx, f"Slow {count}", [f"First {count}"], "news@shop.example"
                )
                for count in counts
            }
            wires = prebuilt_bytes(
                build_messages(
                    data.SUBJECT,
                    data.BODY,
                    recipients(ctx)[:largest],
                    from_email="news@shop.example",
                )
            )
            measure = _Measure(ctx, RunWatcher(ctx), campaigns, wires, plan)
            for server, delays, into in ((sink, DELAYS_MS, sides), (plain, (0,), lockstep)):
                data.configure_smtp(ctx, server.port)
                bare_send_parallel(server.host, server.port, wires[:300], 1)  # warm-up
                for delay_ms in delays:
                    server.set_delay(delay_ms / 1000)
                    repeats = (
                        bench.sizes.repeats if delay_ms == 0 else bench.sizes.slow_server_repeats
                    )
                    measure.delay(server, delay_ms, repeats, into)
                    _emit_rows(into, plan, delay_ms, lockstep=into is lockstep)
        finally:
            ctx.close()
    _emit_notes(bench, sides, lockstep, plan)


class _Measure:
    """App and bare runs, alternating, at one delay against one server."""

    def __init__(
        self,
        ctx: AppContext,
        watcher: RunWatcher,
        campaigns: dict[int, int],
        wires: list[WireMessage],
        plan: dict[tuple[int, int], int],
    ) -> None:
        self.ctx, self.watcher, self.campaigns = ctx, watcher, campaigns
        self.wires, self.plan = wires, plan

    def delay(self, sink: SmtpSink, delay_ms: int, repeats: int, sides: _Sides) -> None:
        for _ in range(repeats):
            for connections in CONNECTIONS:
                count = self.plan[delay_ms, connections]
                seconds = _bare(sink, self.wires[:count], connections)
                sides.add("bare", delay_ms, connections, count / seconds)
                seconds = _app(
                    ctx=self.ctx,
                    sink=sink,
                    watcher=self.watcher,
                    campaign_id=self.campaigns[count],
                    count=count,
                    connections=connections,
                )
                sides.add("app", delay_ms, connections, count / seconds)


def _bare(sink: SmtpSink, wires: list[WireMessage], connections: int) -> float:
    sink.reset()
    with stopwatch() as elapsed:
        sent = bare_send_parallel(sink.host, sink.port, wires, connections)
    assert sent == len(wires), sent
    assert sink.wait(len(wires), 30)["count"] == len(wires)
    return elapsed()


def _app(
    *,
    ctx: AppContext,
    sink: SmtpSink,
    watcher: RunWatcher,
    campaign_id: int,
    count: int,
    connections: int,
) -> float:
    ctx.settings.set("sending.connections", connections)
    sink.reset()
    watcher.ended.clear()
    with stopwatch() as elapsed:
        ctx.campaigns.send_now(campaign_id)
        if not watcher.ended.wait(max(60.0, count / 5)):
            raise RuntimeError("the send did not finish in time")
    assert watcher.last is not None and watcher.last.run.sent == count, watcher.last
    assert sink.wait(count, 30)["count"] == count
    return elapsed()


def _emit_rows(
    sides: _Sides, plan: dict[tuple[int, int], int], delay_ms: int, *, lockstep: bool = False
) -> None:
    server = ", server without PIPELINING" if lockstep else ""
    for connections in CONNECTIONS:
        count = plan[delay_ms, connections]
        ours = sides.rate("app", delay_ms, connections)
        if delay_ms == 0:
            threads = 1
            target = Target("min_ratio", ZERO_RATIO, f"ratio ≥ {ZERO_RATIO} (vs {X}1)")
        else:
            threads = connections
            target = Target("min_ratio", SLOW_RATIO, f"ratio ≥ {SLOW_RATIO}")
        emit_row(
            Row(
                key=f"slow-{delay_ms}-{connections}" + (f"-{LOCKSTEP}" if lockstep else ""),
                figure=(
                    f"slow server, {delay_ms} ms per message{server}: app, {connections} "
                    f"connection{'s' if connections > 1 else ''} vs smtplib {X}{threads} "
                    f"({count:,} messages)"
                ),
                unit="msg/s",
                ours=ours,
                baseline=sides.rate("bare", delay_ms, threads),
                target=target,
            )
        )


def side_by_side(sides: _Sides, lockstep: _Sides) -> list[str]:
    """The figure's table (Markdown lines): rates of both sides and the ratios, per delay."""
    apps = " | ".join(f"app {X}{n}" for n in CONNECTIONS)
    bares = " | ".join(f"smtplib {X}{n}" for n in CONNECTIONS)
    same = " / ".join(f"{X}{n}" for n in CONNECTIONS)
    lines = [
        f"| delay per message | {apps} | {bares} | app ÷ smtplib, same N ({same}) |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    rows = [(f"{d} ms", sides, d) for d in DELAYS_MS]
    rows.insert(1, ("0 ms, server without PIPELINING", lockstep, 0))
    for label, measured, delay_ms in rows:
        if ("app", delay_ms, CONNECTIONS[-1]) not in measured.runs:
            continue
        app = [measured.rate("app", delay_ms, n) for n in CONNECTIONS]
        bare = [measured.rate("bare", delay_ms, n) for n in CONNECTIONS]
        ratios = " / ".join(fmt_ratio(a / b) for a, b in zip(app, bare, strict=True))
        cells = " | ".join(
            f"{value:,.1f}" if value < 100 else f"{value:,.0f}" for value in app + bare
        )
        lines.append(f"| {label} | {cells} | {ratios} |")
    return lines


def estimate(sides: _Sides) -> str:
    """How long ESTIMATE_RECIPIENTS would take at ESTIMATE_MS, from the measured rates."""

    def minutes(rate: float) -> str:
        return f"{ESTIMATE_RECIPIENTS / rate / 60:.1f} min"

    parts = [
        f"{n} connection{'s' if n > 1 else ''} {minutes(sides.rate('app', ESTIMATE_MS, n))} "
        f"(smtplib {X}{n}: {minutes(sides.rate('bare', ESTIMATE_MS, n))})"
        for n in CONNECTIONS
    ]
    return f"{ESTIMATE_RECIPIENTS:,} recipients at {ESTIMATE_MS} ms per message: " + "; ".join(
        parts
    )


def _emit_notes(
    bench: Bench, sides: _Sides, lockstep: _Sides, plan: dict[tuple[int, int], int]
) -> None:
    sizes = bench.sizes
    runs = "; ".join(
        f"{side} {delay} ms{server} {X}{n}: " + ", ".join(f"{rate:.0f}" for rate in rates)
        for server, measured in (("", sides), (" (no PIPELINING)", lockstep))
        for (side, delay, n), rates in sorted(measured.runs.items(), key=lambda kv: kv[0][1:])
    )
    zero = ", ".join(f"{X}{n} {fmt_number(sides.rate('bare', 0, n), 'msg/s')}" for n in CONNECTIONS)
    emit_note(
        "slow server: aiosmtpd in its own process waiting 0/20/50/100 ms per message "
        "(`asyncio.sleep` in `handle_DATA`), offering PIPELINING as real providers do (the "
        "app groups each envelope with DATA; smtplib cannot), and at 0 ms also a second one "
        "that does not (both in lockstep); app = `campaigns.send_now` → run finished (ledger "
        "written, one commit per message), throttle off, `sending.connections` = N; bare = N "
        "smtplib connections on N threads, `sendmail` of the same messages pre-built as bytes "
        "(every N-th message each); connecting is timed on both sides. Messages per "
        f"measurement: {sizes.slow_server_zero_messages:,} at 0 ms, else as many as N "
        f"connections send in ~{sizes.slow_server_seconds:g} s (e.g. {plan[100, 1]} at "
        f"100 ms {X}1, {plan[20, 8]:,} at 20 ms {X}8); medians of {sizes.repeats} run(s) at "
        f"0 ms, {sizes.slow_server_repeats} run(s) at the other delays, app and bare "
        "alternating. At 0 ms each app row is judged against one smtplib connection; "
        f"smtplib at 0 ms: {zero}. {estimate(sides)}. Runs (msg/s): {runs}."
    )
    table = "\n".join(side_by_side(sides, lockstep))
    emit_note("slow server, side by side:\n\n" + table + "\n")
