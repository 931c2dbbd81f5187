"""Client order id rules: deterministic, Binance's alphabet, at most 36 characters."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tradeguard.domain import make_client_order_id
from tradeguard.domain.ids import CLIENT_ORDER_ID_MAX_LEN
from tradeguard.errors import DomainError

BINANCE = re.compile(r"^[.A-Z:/a-z0-9_-]{1,36}$")


def test_id_is_prefix_and_sequence() -> None:
    assert make_client_order_id("tg", 17) == "tg-17"
    assert make_client_order_id("tg", 17) == make_client_order_id("tg", 17)


@given(
    prefix=st.text(alphabet=".ABCXYZ:/abcxyz0189_-", min_size=1, max_size=16),
    seq=st.integers(0, 10**18),
)
def test_valid_prefixes_give_ids_binance_accepts(prefix: str, seq: int) -> None:
    client_id = make_client_order_id(prefix, seq)
    assert BINANCE.match(client_id)
    assert client_id.endswith(f"-{seq}")


@pytest.mark.parametrize("prefix", ["", "has space", "ünï", "semi;colon", "a" * 37])
def test_bad_prefix_is_refused_with_its_name(prefix: str) -> None:
    with pytest.raises(DomainError) as info:
        make_client_order_id(prefix, 1)
    assert repr(prefix) in str(info.value)


def test_prefix_too_long_for_the_sequence_is_refused() -> None:
    prefix = "p" * (CLIENT_ORDER_ID_MAX_LEN - 2)  # "<34 chars>-1" is 36: fits
    assert len(make_client_order_id(prefix, 1)) == CLIENT_ORDER_ID_MAX_LEN
    with pytest.raises(DomainError, match="too long"):
        make_client_order_id(prefix, 10)


def test_negative_sequence_is_refused() -> None:
    with pytest.raises(DomainError, match="tg"):
        make_client_order_id("tg", -1)
