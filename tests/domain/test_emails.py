"""Email normalisation with the domain check memoized (issue 16): every address gets exactly
the answer email-validator itself gives, and each distinct domain is checked once."""

from __future__ import annotations

import pytest
from email_validator.syntax import validate_email_domain_name

from campaign_desktop.domain import emails
from campaign_desktop.domain.errors import ValidationError

ADDRESSES = [
    "ann@example.com",
    " Ann.Lee@EXAMPLE.com ",
    "bob@Shop.Example",
    "zoë@bücher.de",
    "zoë@BÜCHER.de",
    "x@xn--bcher-kva.de",
    "a@-bad.com",
    "a@bad-.com",
    "a@double..dot.com",
    "a@trailing.dot.",
    "a@localhost",
    "a@[192.0.2.1]",
    "a@" + "l" * 64 + ".com",
    "a@" + ".".join(["abcdefghij"] * 25) + ".com",
    "no-at-sign",
    "two@@example.com",
    "spaces in@example.com",
    '"quoted local"@example.com',
    "a@exa mple.com",
    "a@例え.テスト",
    "a@xn--.com",
    "",
]


def _answer(address: str) -> str:
    try:
        return emails.normalize_email(address)
    except ValidationError as exc:
        return f"refused: {exc.message}"


def test_the_memoized_domain_check_is_the_one_email_validator_uses() -> None:
    module = emails.validator_module()
    assert module.validate_email_domain_name is emails.remembered_domain_check


def test_every_answer_is_the_librarys_own(monkeypatch: pytest.MonkeyPatch) -> None:
    emails._domain_verdict.cache_clear()
    memoized = [_answer(address) for address in ADDRESSES]
    again = [_answer(address) for address in ADDRESSES]  # from the memo this time
    monkeypatch.setattr(
        emails.validator_module(), "validate_email_domain_name", validate_email_domain_name
    )
    assert memoized == again == [_answer(address) for address in ADDRESSES]
    assert any(answer.startswith("refused") for answer in memoized)
    assert "zoë@bücher.de" in memoized


def test_each_distinct_domain_is_checked_once() -> None:
    emails._domain_verdict.cache_clear()
    for number in range(1_000):
        emails.normalize_email(f"person{number}@example.com")
        emails.is_valid_email(f"person{number}@-bad.example")
    info = emails._domain_verdict.cache_info()
    assert (info.misses, info.hits) == (2, 1_998)
