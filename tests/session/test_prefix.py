"""Client order id prefixes: stable for a store, different for a recreated one."""

from __future__ import annotations

from tradeguard.domain.ids import CLIENT_ORDER_ID_MAX_LEN, make_client_order_id
from tradeguard.session import SessionSettings
from tradeguard.session.config import store_tag


def test_prefix_is_stable_for_a_store_and_differs_between_stores() -> None:
    settings = SessionSettings()
    created = 1_795_487_436_709_048_708
    assert settings.prefix_for("default", store_tag(created)) == settings.prefix_for(
        "default", store_tag(created)
    )
    assert settings.prefix_for("default", store_tag(created)) != settings.prefix_for(
        "default", store_tag(created + 1_000)
    )


def test_longest_prefix_leaves_room_for_any_sequence() -> None:
    prefix = SessionSettings().prefix_for("a-very-long-session-name-indeed", store_tag(2**62))
    cid = make_client_order_id(prefix, 10**15)
    assert len(cid) <= CLIENT_ORDER_ID_MAX_LEN


def test_configured_prefix_wins() -> None:
    assert SessionSettings(client_id_prefix="bot1").prefix_for("x", "abc") == "bot1"
