"""Email addresses: one normalised form for storage and one plain-words error for bad ones.

Normalised = trimmed, domain lower-cased (the local part is case-sensitive by RFC 5321).

The domain's check is memoized (issue 16): email-validator checks a domain's syntax and
IDNA form again for every address, 57% of a large import's time, while an address book
has few distinct domains. The check is a pure function of its arguments, so each distinct
domain is checked once and every address still gets the library's own answer.

email-validator is imported on the first check, not with this module (issue 16: the
first paint validates nothing, and the library with its tables costs ~20 ms to import).
"""

from __future__ import annotations

import copy
import functools
import importlib
from collections.abc import Callable
from types import ModuleType
from typing import TYPE_CHECKING, Any

from campaign_desktop.domain.errors import ValidationError

if TYPE_CHECKING:
    from email_validator import EmailNotValidError

#: Distinct domains remembered (a few hundred bytes each); the oldest go first.
DOMAINS_REMEMBERED = 20_000


@functools.lru_cache(maxsize=DOMAINS_REMEMBERED)
def _domain_verdict(
    domain: str, test_environment: bool, globally_deliverable: bool
) -> tuple[dict[str, Any] | None, EmailNotValidError | None]:
    from email_validator import EmailNotValidError  # noqa: PLC0415  (imported when first used)
    from email_validator.syntax import validate_email_domain_name  # noqa: PLC0415

    try:
        info = validate_email_domain_name(
            domain, test_environment=test_environment, globally_deliverable=globally_deliverable
        )
    except EmailNotValidError as exc:
        return None, exc
    return dict(info), None


def remembered_domain_check(
    domain: str, test_environment: bool = False, globally_deliverable: bool = True
) -> Any:
    """`email_validator.syntax.validate_email_domain_name`, each distinct domain once.

    Returns a fresh copy of the library's result, or raises a copy of its error (the
    same type and words), so that callers may change what they get.
    """
    info, error = _domain_verdict(domain, test_environment, globally_deliverable)
    if error is not None:
        raise copy.copy(error)
    return dict(info or {})


@functools.cache
def validator_module() -> ModuleType:
    """`email_validator.validate_email` (the module), imported on first use, with the
    memoized domain check put in its place.

    `validate_email` looks the domain check up in its own module at every call: the library
    offers no hook, so the memoized one is put there (tests/domain/test_emails.py checks that
    every answer stays the library's own, and that the name is still there to replace).
    """
    from email_validator.syntax import validate_email_domain_name  # noqa: PLC0415

    module = importlib.import_module("email_validator.validate_email")
    if getattr(module, "validate_email_domain_name", None) is validate_email_domain_name:
        module.validate_email_domain_name = remembered_domain_check  # type: ignore[attr-defined]  # a module, typed as ModuleType
    return module


@functools.cache
def _validator() -> tuple[Callable[..., Any], type[EmailNotValidError]]:
    """(`validate_email`, `EmailNotValidError`), imported once on first use."""
    from email_validator import EmailNotValidError  # noqa: PLC0415  (see the module docstring)

    validator_module()
    from email_validator import validate_email  # noqa: PLC0415

    return validate_email, EmailNotValidError


def normalize_email(raw: str, field: str = "email") -> str:
    """Return the stored form of `raw`, or raise ValidationError saying why it is no address.

    Syntax only: no DNS look-up (the app must work offline and stay fast on big imports).
    """
    text = (raw or "").strip()
    if not text:
        raise ValidationError(field, "Enter an email address.")
    validate_email, not_valid = _validator()
    try:
        result = validate_email(text, check_deliverability=False, allow_smtputf8=True)
    except not_valid as exc:
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
