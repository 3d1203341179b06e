"""Team mode (issue 14): the same app on SQLite and on PostgreSQL, side by side in one run.

Both sides get the same data (`benchmarks.data`) and the same measurements, reused from the
send figure (`timed_send_now`) and the campaign table figure (`campaign_view` +
`campaign_first_rows`), taken alternately. PostgreSQL is a real server started for the run
(`tests.postgres_server`: initdb + pg_ctl on 127.0.0.1); without one the figure says so and
measures nothing. In each row "ours" is PostgreSQL and "baseline" SQLite.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import URL

from benchmarks import qt
from benchmarks.harness import Bench, Row, Target, emit_note, emit_row, median
from campaign_desktop.context import AppContext

SIDES = ("sqlite", "postgresql")


def _seed(ctx: AppContext, recipients: int, campaigns: int) -> int:
    """`recipients` subscribed contacts (all on "Customers"), `campaigns` campaigns in every
    state; returns the id of the campaign that goes to every contact."""
    from benchmarks import data  # noqa: PLC0415

    data.seed_contacts(ctx, recipients, all_subscribed=True)
    data.seed_campaigns(ctx, campaigns)
    return data.make_campaign(ctx, "Throughput", ["Customers"], "news@shop.example")


def team_db(bench: Bench) -> None:
    from tests.postgres_server import APP_PASSWORD, PostgresServer, find_bin_dir  # noqa: PLC0415

    bin_dir = find_bin_dir()
    if isinstance(bin_dir, str):
        emit_note(f"team-db: not measured, no PostgreSQL server to start here: {bin_dir}.")
        return
    import keyring  # noqa: PLC0415

    from tests.memory_keyring import MemoryKeyring  # noqa: PLC0415

    # The app moves the URL's password to the keyring; the OS keyring cannot run headless.
    keyring.set_keyring(MemoryKeyring())
    server = PostgresServer.start(bin_dir)
    try:
        server.create_database("bench_team")
        _measure(bench, server.url("bench_team", password=APP_PASSWORD), server.version)
    finally:
        server.stop()


def _measure(bench: Bench, url: URL, version: int) -> None:
    from benchmarks import data  # noqa: PLC0415
    from benchmarks.fig_send import RunWatcher, timed_send_now  # noqa: PLC0415
    from benchmarks.fig_tables import (  # noqa: PLC0415
        audiences_counted,
        campaign_first_rows,
        campaign_view,
    )
    from benchmarks.mail import SmtpSink  # noqa: PLC0415

    sizes = bench.sizes
    n, m = sizes.team_send_recipients, sizes.team_campaigns
    qt.application()
    contexts: dict[str, AppContext] = {}
    sends: dict[str, list[float]] = {side: [] for side in SIDES}
    firsts: dict[str, list[float]] = {side: [] for side in SIDES}
    with SmtpSink() as sink:
        try:
            campaign_ids: dict[str, int] = {}
            watchers: dict[str, RunWatcher] = {}
            for side in SIDES:
                data_dir: Path = bench.fresh_dir(f"team-{side}") / "data"
                database_url = url if side == "postgresql" else None
                ctx = data.open_context(data_dir, database_url=database_url)
                contexts[side] = ctx
                data.configure_smtp(ctx, sink.port)
                campaign_ids[side] = _seed(ctx, n, m)
                watchers[side] = RunWatcher(ctx)
                # Warm-up (not timed): a first send and a first table on each side.
                timed_send_now(ctx, watchers[side], sink, campaign_ids[side], n=n, bench=bench)
                model, window, view = campaign_view(ctx)
                campaign_first_rows(model, view)
                audiences_counted(model)
                window.close()
            for k in range(sizes.repeats):
                order = SIDES if k % 2 == 0 else SIDES[::-1]
                for side in order:
                    ctx = contexts[side]
                    sends[side].append(
                        timed_send_now(
                            ctx, watchers[side], sink, campaign_ids[side], n=n, bench=bench
                        )
                    )
                for side in order:
                    model, window, view = campaign_view(contexts[side])
                    firsts[side].append(campaign_first_rows(model, view))
                    audiences_counted(model)  # the pool thread done before the next side
                    window.close()
            connections = contexts["sqlite"].settings.get("sending.connections")
        finally:
            for ctx in contexts.values():
                ctx.close()
    pg, lite = "postgresql", "sqlite"
    emit_row(
        Row(
            key="team-send",
            figure=f"team mode: send throughput, PostgreSQL vs SQLite ({n:,} recipients)",
            unit="msg/s",
            ours=n / median(sends[pg]),
            baseline=n / median(sends[lite]),
            target=Target("info"),
        )
    )
    emit_row(
        Row(
            key="team-first-rows",
            figure=f"team mode: campaign table first rows, PostgreSQL vs SQLite ({m:,} campaigns)",
            unit="ms",
            ours=median(firsts[pg]) * 1000,
            baseline=median(firsts[lite]) * 1000,
            target=Target("info"),
        )
    )

    def runs(values: list[float], scale: float = 1.0, fmt: str = "{:.2f}") -> str:
        return ", ".join(fmt.format(value * scale) for value in values)

    emit_note(
        "team-db: the same app and data on PostgreSQL "
        f'{version // 10000}.{version % 10000} ("ours") and on its SQLite file ("baseline"), '
        "in one process, sides alternating, one untimed warm-up each; ratio = PostgreSQL ÷ "
        "SQLite. The server is the test suite's (`tests.postgres_server`: initdb + pg_ctl, "
        "TCP on 127.0.0.1, password login, fsync and synchronous_commit off); SQLite is WAL "
        f"with synchronous=NORMAL. Data: {n:,} subscribed contacts on the standard lists, "
        f"{m:,} campaigns in every state (`benchmarks.data`). Send = `campaigns.send_now` of a "
        f"campaign to all {n:,} → run finished, every message at the SMTP sink, throttle off, "
        f"`sending.connections` = {connections}; runs (s): PostgreSQL {runs(sends[pg])}; "
        f"SQLite {runs(sends[lite])}. First rows = a new `CampaignTableModel` sorted by next "
        "run, `reload()` (count + first page of 200) + paint, as the campaign-table figure "
        f"measures it; runs (ms): PostgreSQL {runs(firsts[pg], 1000, '{:.1f}')}; SQLite "
        f"{runs(firsts[lite], 1000, '{:.1f}')}."
    )
