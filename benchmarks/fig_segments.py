"""Segments at scale (docs/design.md §18): counting a segment and snapshotting a run's
audience to it, against the same for a list of the same contacts, on SQLite.

    .venv/bin/python -m benchmarks.fig_segments [contacts]

Each figure is the best of 3 (the machine is shared and noisy); ratios are to the list.
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

from sqlalchemy import delete

from benchmarks.data import open_context, seed_contacts
from campaign_desktop.context import AppContext
from campaign_desktop.domain.segments import Condition, Operator, Segment, custom_field
from campaign_desktop.persistence.models import CampaignRun


def best_of(tries: int, work: Callable[[], object]) -> float:
    times = []
    for _ in range(tries):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return min(times)


def snapshot_seconds(ctx: AppContext, campaign_id: int) -> float:
    """The claim's transaction (run row, audience snapshot, counts), best of 3; each run is
    deleted again (not timed) so every try snapshots the same audience."""
    times = []
    for _ in range(3):
        start = time.perf_counter()
        view, _name = ctx.sending.ledger.claim_manual(campaign_id)
        times.append(time.perf_counter() - start)
        with ctx.db.write() as session:
            session.execute(delete(CampaignRun).where(CampaignRun.id == view.id))
    return min(times)


def main(contacts: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        ctx = open_context(Path(folder))
        try:
            started = time.perf_counter()
            seed_contacts(ctx, contacts)
            print(f"seeded {contacts:,} contacts in {time.perf_counter() - started:.1f} s")
            city = custom_field("city")
            segments = {
                "city is boston (ASCII)": Segment.of([Condition(city, Operator.IS, "boston")]),
                "city is bostön (non-ASCII: cd_casefold)": Segment.of(
                    [Condition(city, Operator.IS, "bostön")]
                ),
                "plan contains 'pro' and city starts with 'b'": Segment.of(
                    [
                        Condition(custom_field("plan"), Operator.CONTAINS, "pro"),
                        Condition(city, Operator.STARTS_WITH, "b"),
                    ]
                ),
                "everyone (email contains @)": Segment.of(
                    [Condition("email", Operator.CONTAINS, "@")]
                ),
            }
            base = best_of(3, lambda: ctx.contacts.count(list_name="Customers"))
            print(f"count of list Customers (everyone): {base * 1000:.0f} ms")
            for name, segment in segments.items():
                took = best_of(3, partial(ctx.segments.count, segment))
                print(f"count of {name}: {took * 1000:.0f} ms ({took / base:.1f}x the list)")

            ctx.segments.create("Everyone", segments["everyone (email contains @)"])
            common = {"subject": "Hi", "body_text": "Hello", "from_email": "news@example.com"}
            to_list = ctx.campaigns.create(name="To list", lists=("Customers",), **common).id
            to_segment = ctx.campaigns.create(
                name="To segment", segments=("Everyone",), **common
            ).id
            # Alternated, so both see the same load on a shared machine.
            for name, campaign_id in (("list", to_list), ("segment", to_segment)) * 2:
                took = snapshot_seconds(ctx, campaign_id)
                print(f"claim + audience snapshot to the {name} (everyone): {took:.2f} s")
        finally:
            ctx.close()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 200_000)
