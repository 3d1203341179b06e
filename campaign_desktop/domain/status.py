"""The closed vocabularies of the domain: statuses, triggers and policies.

They are `StrEnum`s so the database stores their plain string values.
"""

from __future__ import annotations

from enum import StrEnum


class CampaignStatus(StrEnum):
    DRAFT = "draft"
    SCHEDULED = "scheduled"
    SENDING = "sending"
    PAUSED = "paused"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


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
