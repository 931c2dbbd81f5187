"""The trade-recovery ordering: a pure function, tested by example and by property."""

from __future__ import annotations

import itertools
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from tradeguard.domain import OrderType, Side
from tradeguard.session.recovery import RecoveryAction, prioritise


def action(
    cid: str,
    *,
    kind: str = "resubmit",
    reduce_only: bool = False,
    closing: bool = False,
    notional: str = "0",
) -> RecoveryAction:
    return RecoveryAction(
        kind=kind,  # type: ignore[arg-type]
        client_order_id=cid,
        symbol="BTC/USDT",
        side=Side.BUY,
        order_type=OrderType.LIMIT,
        amount=Decimal(1),
        price=Decimal(1),
        reduce_only=reduce_only,
        closing=closing,
        notional=Decimal(notional),
    )


def ids(actions: list[RecoveryAction]) -> list[str]:
    return [a.client_order_id for a in actions]


def test_default_order_is_risk_reducing_first_then_notional() -> None:
    actions = [
        action("small", notional="10"),
        action("big", notional="1000"),
        action("closing", closing=True, notional="5"),
        action("reduce", reduce_only=True, notional="1"),
        action("cancel", kind="cancel", notional="1"),
    ]
    assert ids(prioritise(actions)) == ["cancel", "reduce", "closing", "big", "small"]
    assert all(a.risk_reducing for a in prioritise(actions)[:3])


def test_the_order_of_criteria_is_configurable() -> None:
    actions = [
        action("cancel-small", kind="cancel", notional="1"),
        action("big", notional="1000"),
        action("reduce", reduce_only=True, notional="50"),
    ]
    assert ids(prioritise(actions, ("notional",))) == ["big", "reduce", "cancel-small"]
    assert ids(prioritise(actions, ("reduce_only", "cancel"))) == [
        "reduce",
        "cancel-small",
        "big",
    ]
    # No criteria: the input order stays.
    assert ids(prioritise(actions, ())) == ["cancel-small", "big", "reduce"]


_actions = st.lists(
    st.builds(
        action,
        st.uuids().map(str),
        kind=st.sampled_from(["cancel", "resubmit"]),
        reduce_only=st.booleans(),
        closing=st.booleans(),
        notional=st.integers(0, 10**6).map(str),
    ),
    max_size=12,
)


@settings(max_examples=200, deadline=None)
@given(_actions)
def test_properties_of_the_default_order(actions: list[RecoveryAction]) -> None:
    ordered = prioritise(actions)
    assert sorted(ids(ordered)) == sorted(ids(actions))  # a permutation
    assert prioritise(ordered) == ordered  # idempotent
    # Every risk-reducing action comes before every risk-adding one.
    flags = [a.risk_reducing for a in ordered]
    assert flags == sorted(flags, reverse=True)
    # Among the risk-adding ones, larger notional first.
    adding = [a.notional for a in ordered if not a.risk_reducing]
    assert adding == sorted(adding, reverse=True)
    for first, second in itertools.pairwise(ordered):
        if first.kind != "cancel":
            assert second.kind != "cancel"
