"""Sending: the ledger, delivery over several SMTP connections, and the engine that runs them.

- `ledger`: every state change of runs and delivery rows (the guarantees live there);
- `delivery`: one connection's loop with its retry policy, and the run's dispatcher;
- `throttle`: the send-rate limit counted from the ledger;
- `engine`: `SendingEngine`, the one door, and the per-run worker threads.

`delivery` (and with it the SMTP channel and Jinja2) is imported by the first run, not by
this package: `ConnectionFactory` is looked up from it only when asked for (issue 16).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from campaign_desktop.services.sending.engine import SendingEngine

if TYPE_CHECKING:
    from campaign_desktop.services.sending.delivery import ConnectionFactory

__all__ = ["ConnectionFactory", "SendingEngine"]


def __getattr__(name: str) -> Any:
    if name == "ConnectionFactory":
        from campaign_desktop.services.sending import delivery  # noqa: PLC0415

        return delivery.ConnectionFactory
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
