"""Email addresses: one normalised form for storage and one plain-words error for bad ones.

Normalised = trimmed, domain lower-cased (the local part is case-sensitive by RFC 5321).
"""

from __future__ import annotations

from email_validator import EmailNotValidError, validate_email

from campaign_desktop.domain.errors import ValidationError


def normalize_email(raw: str, field: str = "email") -> str:
    """Return the stored form of `raw`, or raise ValidationError saying why it is no address.

    Syntax only: no DNS look-up (the app must work offline and stay fast on big imports).
    """
    text = (raw or "").strip()
    if not text:
        raise ValidationError(field, "Enter an email address.")
    try:
        result = validate_email(text, check_deliverability=False, allow_smtputf8=True)
    except EmailNotValidError as exc:
        raise ValidationError(field, f"“{text}” is not a valid email address: {exc}") from None
    local, _, domain = result.normalized.rpartition("@")
    return f"{local}@{domain.lower()}"


def is_valid_email(raw: str) -> bool:
    """True when `raw` normalises without error."""
    try:
        normalize_email(raw)
    except ValidationError:
        return False
    return True
