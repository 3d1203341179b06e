"""The closed vocabularies of the domain: statuses, triggers and policies.

They are `StrEnum`s so the database stores their plain string values.
"""

from __future__ import annotations

from enum import StrEnum


class CampaignStatus(StrEnum):
    DRAFT = "draft"
    SCHEDULED = "scheduled"
    # Keeps its schedule but does not fire; release re-arms it (docs/design.md §12).
    HELD = "held"
    SENDING = "sending"
    PAUSED = "paused"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


#: A run of the campaign is in progress: its content and schedule must hold still (edit,
#: archive, delete and reschedule are refused; docs/design.md §2).
BUSY_STATUSES = frozenset({CampaignStatus.SENDING, CampaignStatus.PAUSED})
#: A campaign in one of these statuses fires by itself, as long as it is not archived and has
#: a next run (`persistence.queries.is_armed`): scheduled, or sending/paused with its next
#: occurrence already set (the claim advanced it; docs/design.md §4).
ARMED_STATUSES = BUSY_STATUSES | {CampaignStatus.SCHEDULED}


class RunTrigger(StrEnum):
    SCHEDULED = "scheduled"
    CATCH_UP = "catch_up"
    MANUAL = "manual"
    TEST = "test"


class RunStatus(StrEnum):
    SENDING = "sending"
    PAUSED = "paused"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    MISSED = "missed"
    SKIPPED = "skipped"  # an occurrence that came while the campaign was on hold


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    IN_FLIGHT = "in_flight"
    SENT = "sent"
    FAILED = "failed"
    SKIPPED = "skipped"
    UNCONFIRMED = "unconfirmed"


class ContactStatus(StrEnum):
    SUBSCRIBED = "subscribed"
    UNSUBSCRIBED = "unsubscribed"
    BOUNCED = "bounced"


class MissedRunPolicy(StrEnum):
    SEND_LATE = "send_late"
    SKIP = "skip"


class SmtpSecurity(StrEnum):
    NONE = "none"
    STARTTLS = "starttls"
    SSL = "ssl"


class DeliveryFeedback(StrEnum):
    """What came back for a delivered message (the reply mailbox, or a 5.1.x at send time)."""

    BOUNCED = "bounced"
    SOFT_BOUNCE = "soft_bounce"
    UNSUBSCRIBED = "unsubscribed"


class InboundKind(StrEnum):
    """What a message in the reply mailbox is (docs/design.md §11)."""

    HARD_BOUNCE = "hard_bounce"
    SOFT_BOUNCE = "soft_bounce"
    UNSUBSCRIBE = "unsubscribe"
    AUTO_REPLY = "auto_reply"
    OTHER = "other"
    IGNORED = "ignored"  # unreadable, or a token that is forged or of another database
