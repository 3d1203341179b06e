"""Sending: the ledger, delivery over several SMTP connections, and the engine that runs them.

- `ledger`: every state change of runs and delivery rows (the guarantees live there);
- `delivery`: one connection's loop with its retry policy, and the run's dispatcher;
- `throttle`: the send-rate limit counted from the ledger;
- `engine`: `SendingEngine`, the one door, and the per-run worker threads.
"""

from campaign_desktop.services.sending.delivery import ConnectionFactory
from campaign_desktop.services.sending.engine import SendingEngine

__all__ = ["ConnectionFactory", "SendingEngine"]
