"""Send throughput and firing latency: the app against bare smtplib/APScheduler, same server."""

from __future__ import annotations

import math
import smtplib
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select

from benchmarks import data
from benchmarks.harness import Bench, Row, Target, emit_note, emit_row, median, stopwatch
from benchmarks.mail import SmtpSink, bare_send_bytes, prebuilt_bytes, prebuilt_messages
from campaign_desktop.context import AppContext
from campaign_desktop.domain.events import Event, RunEvent, RunPhase
from campaign_desktop.persistence.models import Contact

_ENDED = {RunPhase.FINISHED, RunPhase.FAILED, RunPhase.PAUSED, RunPhase.CANCELLED}


class RunWatcher:
    """Sets `ended` when a run finishes (or stops) — from the event bus, on the worker thread."""

    def __init__(self, ctx: AppContext) -> None:
        self.ended = threading.Event()
        self.last: RunEvent | None = None
        ctx.events.subscribe(self._on_event)

    def _on_event(self, event: Event) -> None:
        if isinstance(event, RunEvent) and event.phase in _ENDED:
            self.last = event
            self.ended.set()


def recipients(ctx: AppContext) -> list[tuple[str, str, str, dict[str, object]]]:
    with ctx.db.read() as session:
        rows = session.execute(
            select(Contact.email, Contact.first_name, Contact.last_name, Contact.attributes)
            .where(Contact.status == "subscribed")
            .order_by(Contact.id)
        ).all()
    return [(email, first, last, dict(attributes or {})) for email, first, last, attributes in rows]


def send_db(bench: Bench, count: int) -> Path:
    """`count` subscribed contacts, all on "Customers"."""

    def build(path: Path) -> None:
        ctx = data.open_context(path / "data")
        try:
            data.seed_contacts(ctx, count, [data.ListPlan("Customers")], all_subscribed=True)
        finally:
            ctx.close()

    return bench.cached_dir(f"send-{count}", build) / "data"


def timed_send_now(
    ctx: AppContext, watcher: RunWatcher, sink: SmtpSink, campaign_id: int, *, n: int, bench: Bench
) -> float:
    """Seconds from `campaigns.send_now` to the run finished, all `n` sent and received."""
    sink.reset()
    watcher.ended.clear()
    with stopwatch() as elapsed:
        ctx.campaigns.send_now(campaign_id)
        if not watcher.ended.wait(bench.sizes.slow_budget * 4):
            raise RuntimeError("the send did not finish in time")
    seconds = elapsed()
    assert watcher.last is not None and watcher.last.run.sent == n, watcher.last
    assert sink.wait(n, 30)["count"] == n
    return seconds


def send_throughput(bench: Bench) -> None:
    n = bench.sizes.send_recipients
    data_dir = bench.fresh_dir("send") / "data"
    from benchmarks.harness import copy_database  # noqa: PLC0415

    copy_database(send_db(bench, n), data_dir)
    with SmtpSink() as sink:
        ctx = data.open_context(data_dir)
        try:
            data.configure_smtp(ctx, sink.port)
            campaign_id = data.make_campaign(ctx, "Throughput", ["Customers"], "news@shop.example")
            connections = ctx.settings.get("sending.connections")
            messages = prebuilt_bytes(
                prebuilt_messages(
                    data.SUBJECT, data.BODY, recipients(ctx), from_email="news@shop.example"
                )
            )
            assert len(messages) == n, len(messages)
            watcher = RunWatcher(ctx)
            ours: list[float] = []
            bare: list[float] = []
            bare_send_bytes(sink.host, sink.port, messages[:500])  # warm-up: the server's first
            for _ in range(bench.sizes.repeats):
                sink.reset()
                with stopwatch() as elapsed:
                    sent = bare_send_bytes(sink.host, sink.port, messages)
                bare.append(elapsed())
                assert sent == n and sink.wait(n, 30)["count"] == n
                ours.append(timed_send_now(ctx, watcher, sink, campaign_id, n=n, bench=bench))
        finally:
            ctx.close()
    emit_row(
        Row(
            key="send",
            figure=f"send throughput ({n:,} recipients)",
            unit="msg/s",
            ours=n / median(ours),
            baseline=n / median(bare),
            target=Target("min_ratio", 0.8, "ratio ≥ 0.8"),
        )
    )
    emit_note(
        f"send throughput: {n:,} recipients, {len(ours)} runs each, alternating; app = "
        f"`campaigns.send_now` → run finished (ledger written), throttle off, "
        f"`sending.connections` = {connections}; bare = one smtplib connection, `sendmail` of "
        "the same messages pre-built as bytes (serialized by the app's `flatten` before the "
        "clock starts; until issue 11 the baseline re-serialised each message with "
        "`send_message`). Runs (s): app "
        f"{', '.join(f'{t:.2f}' for t in ours)}; bare {', '.join(f'{t:.2f}' for t in bare)}."
    )


def firing_latency(bench: Bench) -> None:
    from apscheduler.schedulers.background import BackgroundScheduler  # noqa: PLC0415
    from apscheduler.triggers.date import DateTrigger  # noqa: PLC0415

    count = bench.sizes.firing_campaigns
    audience = 5
    data_dir = bench.fresh_dir("firing") / "data"
    with SmtpSink() as sink:
        ctx = data.open_context(data_dir)
        baseline = BackgroundScheduler(timezone="UTC")
        try:
            data.seed_contacts(ctx, audience, [data.ListPlan("Firing")], all_subscribed=True)
            data.configure_smtp(ctx, sink.port)
            ids = [
                data.make_campaign(ctx, f"Firing {k}", ["Firing"], f"c{k:02d}@shop.example")
                for k in range(count)
            ]
            message = prebuilt_messages(
                data.SUBJECT, data.BODY, recipients(ctx)[:1], from_email="bare@bench.example"
            )[0]

            def bare_job(k: int) -> None:
                # What the app does per due campaign, minus the app: connect, send, quit.
                message.replace_header("From", f"b{k:02d}@bench.example")
                with smtplib.SMTP(sink.host, sink.port, local_hostname="bench.local") as smtp:
                    smtp.send_message(message, from_addr=f"b{k:02d}@bench.example")

            ctx.scheduler.start()
            baseline.start()
            sink.reset()
            base = math.ceil(time.time()) + 2 + math.ceil(count * 0.05)
            dues = [float(base + k) for k in range(count)]
            for campaign_id, due in zip(ids, dues, strict=True):
                wall = datetime.fromtimestamp(due, UTC).replace(tzinfo=None)
                ctx.campaigns.schedule(campaign_id, first_local=wall, timezone="UTC")
            for k, due in enumerate(dues):
                # Half a second after each app send, so the two never share an instant.
                at = datetime.fromtimestamp(due + 0.5, UTC)
                baseline.add_job(bare_job, DateTrigger(run_date=at), args=(k,))
            expected = count * audience + count
            stats = sink.wait(expected, dues[-1] - time.time() + 15)
        finally:
            baseline.shutdown(wait=False)
            ctx.close()
    first = stats["first_by_sender"]
    ours = [
        (first[f"c{k:02d}@shop.example"] - dues[k]) * 1000
        if f"c{k:02d}@shop.example" in first
        else math.inf
        for k in range(count)
    ]
    bare = [
        (first[f"b{k:02d}@bench.example"] - dues[k] - 0.5) * 1000
        if f"b{k:02d}@bench.example" in first
        else math.inf
        for k in range(count)
    ]
    missing = sum(1 for value in ours if math.isinf(value))
    emit_row(
        Row(
            key="firing-median",
            figure=f"firing latency, median ({count} campaigns)",
            unit="ms",
            ours=median(ours),
            baseline=median(bare),
            target=Target("max", 100, "≤ 100 ms"),
        )
    )
    emit_row(
        Row(
            key="firing-max",
            figure="firing latency, max",
            unit="ms",
            ours=max(ours),
            baseline=max(bare),
            target=Target("max", 1000, "≤ 1 s"),
        )
    )
    emit_note(
        f"firing latency: {count} one-off campaigns ({audience} recipients each) due one second "
        "apart on the real scheduler thread; latency = due instant → the server accepted the "
        "campaign's first message. Bare = APScheduler date jobs in the same process, half a "
        "second after each, that connect and send one pre-built message with smtplib. "
        f"App latencies (ms): {', '.join(f'{v:.0f}' for v in ours)}"
        + (f"; {missing} never arrived" if missing else "")
        + "."
    )
