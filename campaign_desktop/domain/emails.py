"""Email addresses: one normalised form for storage and one plain-words error for bad ones.

Normalised = trimmed, domain lower-cased (the local part is case-sensitive by RFC 5321).

The domain's check is memoized (issue 16): email-validator checks a domain's syntax and
IDNA form again for every address, 57% of a large import's time, while an address book
has few distinct domains. The check is a pure function of its arguments, so each distinct
domain is checked once and every address still gets the library's own answer.

The common shape skips the rest of the library too (issue 16, `_plain_address`): a plain
ASCII ``local@domain`` whose local part is a dot-atom is what email-validator accepts
unchanged, and parsing it character by character (`split_email` normalises each character
to NFC) was most of the ~98 µs an address cost. Anything else goes to the library, which
also words every refusal; tests/domain/test_emails.py checks on generated addresses that
the shortcut never accepts what the library refuses and normalises exactly as it does.

email-validator is imported on the first check, not with this module (issue 16: the
first paint validates nothing, and the library with its tables costs ~20 ms to import).
"""

from __future__ import annotations

import copy
import functools
import importlib
import re
from collections.abc import Callable
from types import ModuleType
from typing import TYPE_CHECKING, Any, NamedTuple

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


class _Library(NamedTuple):
    """What `normalize_email` uses of email-validator, imported once on first use."""

    validate_email: Callable[..., Any]
    not_valid: type[EmailNotValidError]
    settings: ModuleType  # the package: TEST_ENVIRONMENT, GLOBALLY_DELIVERABLE
    plain_address: re.Pattern[str]
    case_insensitive_locals: frozenset[str]
    max_length: int


@functools.cache
def _library() -> _Library:
    import email_validator  # noqa: PLC0415  (see the module docstring)
    from email_validator.rfc_constants import (  # noqa: PLC0415
        ATEXT,
        CASE_INSENSITIVE_MAILBOX_NAMES,
        EMAIL_MAX_LENGTH,
    )

    validator_module()
    return _Library(
        validate_email=email_validator.validate_email,
        not_valid=email_validator.EmailNotValidError,
        settings=email_validator,
        # RFC 5322 3.2.3 dot-atom (the library's own ASCII character class) "@" an ASCII
        # host name of letters, digits, dots and hyphens; the domain's rules are the library's.
        plain_address=re.compile(rf"([{ATEXT}]+(?:\.[{ATEXT}]+)*)@([A-Za-z0-9.\-]+)"),
        case_insensitive_locals=frozenset(CASE_INSENSITIVE_MAILBOX_NAMES),
        max_length=EMAIL_MAX_LENGTH,
    )


def _plain_address(text: str) -> str | None:
    """`validate_email(text).normalized` for the plain shape, or None for anything else.

    The same steps as `email_validator.validate_email` for an unquoted ASCII dot-atom local
    part (no display name, no quotes, no Unicode, so its NFC form is itself): the domain
    through the library's own (memoized) check, RFC 2142's case-insensitive mailbox names
    lower-cased, and the 254-octet limit on the address as given, normalised and in
    IDNA ASCII. Raises the library's own EmailNotValidError when it refuses the domain
    (for this shape the first thing it would refuse); None, and the library decides,
    when a length is over.
    """
    library = _library()
    match = library.plain_address.fullmatch(text)
    if match is None:
        return None
    local, domain = match.groups()
    # The memo itself, not `remembered_domain_check`: nothing here changes what it holds.
    info, error = _domain_verdict(
        domain, library.settings.TEST_ENVIRONMENT, library.settings.GLOBALLY_DELIVERABLE
    )
    if error is not None:
        raise copy.copy(error)
    assert info is not None
    if local.lower() in library.case_insensitive_locals:
        local = local.lower()
    normalized = f"{local}@{info['domain']}"
    longest = max(len(text), len(normalized.encode()), len(local) + 1 + len(info["ascii_domain"]))
    return normalized if longest <= library.max_length else None


def normalize_email(raw: str, field: str = "email") -> str:
    """Return the stored form of `raw`, or raise ValidationError saying why it is no address.

    Syntax only: no DNS look-up (the app must work offline and stay fast on big imports).
    """
    text = (raw or "").strip()
    if not text:
        raise ValidationError(field, "Enter an email address.")
    library = _library()
    try:
        normalized = _plain_address(text)
        if normalized is None:
            normalized = library.validate_email(
                text, check_deliverability=False, allow_smtputf8=True
            ).normalized
    except library.not_valid as exc:
        raise ValidationError(field, f"“{text}” is not a valid email address: {exc}") from None
    local, _, domain = normalized.rpartition("@")
    return f"{local}@{domain.lower()}"


def is_valid_email(raw: str) -> bool:
    """True when `raw` normalises without error."""
    try:
        normalize_email(raw)
    except ValidationError:
        return False
    return True
