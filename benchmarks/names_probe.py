"""``python -m benchmarks.names_probe``: what finding a list by name ignoring case costs
(docs/design.md §21) against the exact lookup it replaced, at 10, 200 and 2,000 lists on one
SQLite file, alternated round by round.

- exact query: ``SELECT id FROM contact_list WHERE name = ?`` (the lookup before §21);
- `queries.named_ids` given the exact spelling (what the GUI passes: one indexed query);
- `queries.named_ids` given another case ("list 5" for "List 5": the table read whole and
  compared with `str.casefold` in Python).

Standalone (not one of `python -m benchmarks`' figures): timings are printed, never asserted.
"""

from __future__ import annotations

import statistics
import tempfile
import timeit
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import insert, select

from campaign_desktop.context import AppContext
from campaign_desktop.persistence import queries
from campaign_desktop.persistence.models import ContactList

ROUNDS = 5
CALLS = 200
SIZES = (10, 200, 2_000)


def per_call_ms(call: Callable[[], object]) -> float:
    return min(timeit.repeat(call, number=CALLS, repeat=3)) / CALLS * 1e3


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        ctx = AppContext.open(Path(folder) / "data")
        try:
            made = 0
            for total in SIZES:
                with ctx.db.write() as session:
                    session.execute(
                        insert(ContactList),
                        [
                            {"name": f"List {n}", "description": "", "created_at": ctx.clock.now()}
                            for n in range(made, total)
                        ],
                    )
                made = total
                print(total, "lists:", measure(ctx), flush=True)
        finally:
            ctx.close()


def measure(ctx: AppContext) -> str:
    def exact_query() -> None:
        with ctx.db.read() as session:
            session.scalar(select(ContactList.id).where(ContactList.name == "List 5"))

    def named(name: str) -> Callable[[], None]:
        def lookup() -> None:
            with ctx.db.read() as session:
                queries.named_ids(session, ContactList, [name])

        return lookup

    rounds = [
        (per_call_ms(exact_query), per_call_ms(named("List 5")), per_call_ms(named("list 5")))
        for _ in range(ROUNDS)
    ]
    old, same, other = (statistics.median(column) for column in zip(*rounds, strict=True))
    return (
        f"exact query {old:.3f} ms; named_ids, exact spelling {same:.3f} ms "
        f"({same / old:.2f}x), other case {other:.3f} ms ({other / old:.2f}x)"
    )


if __name__ == "__main__":
    main()
