"""Domain errors: the expected failures a marketer is shown as a message.

Anything that is not one of these is a bug and goes to the crash handler.
"""

from __future__ import annotations


class DomainError(Exception):
    """An expected failure (bad input, environment refusing) shown to the user as a message."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ValidationError(DomainError):
    """Bad input: names the field at fault and says what is wrong in plain words."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"

    def __repr__(self) -> str:
        return f"ValidationError({self.field!r}, {self.message!r})"


class NotFoundError(DomainError):
    """The thing asked for does not exist (any more)."""


class CredentialsError(DomainError):
    """The SMTP password cannot be stored or read (no working keyring)."""


class SchedulerLockedError(DomainError):
    """Another running copy of the app already runs the scheduler on this database."""


class StorageError(DomainError):
    """The database cannot be read or written: busy, full, read-only, failing or damaged.

    `kind` is one of "busy", "full", "readonly", "io", "corrupt" so that callers can decide
    (the sending engine retries "busy" and "full" before it pauses a run); `message` says
    what the user can do about it. Opening a team database (PostgreSQL) adds
    "unreachable", "login", "missing" (no such database) and "foreign" (not one the app
    can use: another program's tables, or an encoding that cannot hold every character).
    """

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
