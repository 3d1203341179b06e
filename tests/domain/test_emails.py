"""Email normalisation with the domain check memoized (issue 16): every address gets exactly
the answer email-validator itself gives, and each distinct domain is checked once."""

from __future__ import annotations

import pytest
from email_validator import EmailNotValidError, validate_email
from email_validator.syntax import validate_email_domain_name
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

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


# --- the plain-address shortcut (issue 16) ------------------------------------------------

_ATEXT = "abcxyzABCXYZ0129_!#$%&'*+-/=?^`{|}~"
_LOCALS = [
    "ann",
    "Ann.Lee",
    "a.b.c",
    ".ann",
    "ann.",
    "a..b",
    "INFO",
    "Postmaster",
    "sales",
    "noc.x",
    "x" * 64,
    "x" * 65,
    "x" * 240,
    "o'brien",
    "a+tag",
    "{weird}|~",
    '"quoted"',
    '"with space"',
    "zoë",
    "a b",
    "",
    "a\u0301",
]
_DOMAINS = [
    "example.com",
    "Example.COM",
    "shop.example",
    "localhost",
    "example",
    "test",
    "invalid",
    "x.test",
    "x.local",
    "x.onion",
    "example.com.",
    ".example.com",
    "a..com",
    "-a.com",
    "a-.com",
    "xn--bcher-kva.de",
    "XN--BCHER-KVA.de",
    "xn--.com",
    "bücher.de",
    "a.b",
    "123.com",
    "a.123",
    "192.0.2.1",
    "[192.0.2.1]",
    "l" * 63 + ".com",
    "l" * 64 + ".com",
    ".".join(["abcdefghij"] * 23) + ".com",
    ".".join(["abcdefghij"] * 25) + ".com",
    "ex_ample.com",
    "",
]


def _library(text: str) -> str:
    """What the library alone makes of `text`: the stored form, or its refusal's words."""
    try:
        result = validate_email(text, check_deliverability=False, allow_smtputf8=True)
    except EmailNotValidError as exc:
        return f"refused: {exc}"
    local, _, domain = result.normalized.rpartition("@")
    return f"{local}@{domain.lower()}"


def _agrees_with_the_library(text: str) -> bool:
    """Assert the shortcut and `normalize_email` answer `text` as the library does; True
    when the shortcut answered it. `normalize_email` trims first, so the others get that."""
    text = text.strip()
    expected = _library(text)
    try:
        shortcut = emails._plain_address(text)
    except EmailNotValidError as exc:
        assert expected == f"refused: {exc}", text
        return True
    if shortcut is not None:
        local, _, domain = shortcut.rpartition("@")
        assert expected == f"{local}@{domain.lower()}", text
    try:
        stored = emails.normalize_email(text)
    except ValidationError as exc:
        assert expected.startswith("refused: "), text
        assert not text or exc.message.endswith(expected.removeprefix("refused: ")), text
    else:
        assert stored == expected, text
    return shortcut is not None


def test_the_shortcut_answers_every_listed_shape_as_the_library_does() -> None:
    taken = 0
    for local in _LOCALS:
        for domain in _DOMAINS:
            for text in (f"{local}@{domain}", f"{local}@@{domain}", f"{local}{domain}"):
                taken += _agrees_with_the_library(text)
    # The shortcut does take the common shapes (else the import is slow again).
    assert taken > 100
    assert emails._plain_address("Ann.Lee@Example.COM") == "Ann.Lee@example.com"
    assert emails._plain_address("INFO@example.com") == "info@example.com"
    with pytest.raises(EmailNotValidError, match="special-use or reserved name"):
        emails._plain_address("a@x.local")
    assert emails._plain_address('"quoted"@example.com') is None


def test_the_shortcut_keeps_the_254_octet_limit() -> None:
    domain = ".".join(["abcdefghij"] * 22) + ".com"
    fits = 254 - 1 - len(domain)
    for length in range(fits - 5, fits + 5):
        _agrees_with_the_library(f"{'x' * length}@{domain}")
    assert emails._plain_address(f"{'x' * fits}@{domain}") is not None
    assert emails._plain_address(f"{'x' * (fits + 1)}@{domain}") is None  # the library refuses
    assert not emails.is_valid_email(f"{'x' * (fits + 1)}@{domain}")


_local_parts = st.text(alphabet=_ATEXT + '. "@\\<>()[],;:é\u0301', min_size=0, max_size=70)
_domain_parts = st.one_of(
    st.sampled_from(_DOMAINS),
    st.text(alphabet="abcXYZ019-._@ü", min_size=0, max_size=30),
    st.lists(st.text(alphabet="abcdEF09-", min_size=1, max_size=63), min_size=1, max_size=5).map(
        ".".join
    ),
)


@settings(max_examples=2_000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(local=_local_parts, domain=_domain_parts)
def test_the_shortcut_never_accepts_what_the_library_refuses(local: str, domain: str) -> None:
    _agrees_with_the_library(f"{local}@{domain}")


@settings(max_examples=500, deadline=None)
@given(text=st.text(max_size=40))
def test_any_text_is_stored_as_the_library_would(text: str) -> None:
    _agrees_with_the_library(text)
