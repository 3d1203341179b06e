"""Delivery tokens (docs/design.md §11): an HMAC-SHA256 of the delivery id, checked back."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from campaign_desktop.domain.tokens import TOKEN_PATTERN, DeliveryTokens

SECRET = bytes(range(32))


@pytest.mark.parametrize("secret", [SECRET, b"k" * 16, b"long key " * 20], ids=["32", "16", "180"])
def test_a_token_is_the_hmac_sha256_of_the_delivery_id(secret: bytes) -> None:
    token = DeliveryTokens(secret).token(4711)
    expected = hmac.new(secret, b"delivery:4711", hashlib.sha256).digest()[:10].hex()
    assert token == f"t4711-{expected}"
    assert TOKEN_PATTERN.fullmatch(token)


def test_only_this_databases_tokens_check_out() -> None:
    mine, other = DeliveryTokens(SECRET), DeliveryTokens(b"another secret, 16+")
    token = mine.token(12)
    assert mine.delivery_id(token) == 12
    assert mine.delivery_id(token.upper()) == 12  # a server that upper-cases local parts
    assert other.delivery_id(token) is None
    assert mine.delivery_id(token.replace("t12-", "t13-")) is None  # someone else's id
    assert mine.delivery_id("t12-" + "0" * 20) is None


def test_tokens_are_found_in_text_each_once_and_forgeries_counted() -> None:
    tokens = DeliveryTokens(SECRET)
    good = tokens.token(7)
    text = (
        f"Subject: Unsubscribe {good}\nmailto:a@b.example?subject=Unsubscribe%20{good}\n"
        f"bounces+{good}@shop.example t8-{'f' * 20} xt7-{'0' * 20}"
    )
    assert tokens.find(text) == ([7], 1)


def test_a_short_secret_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 16 bytes"):
        DeliveryTokens(b"short")
