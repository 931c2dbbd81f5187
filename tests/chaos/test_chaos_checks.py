"""The pure check of a restarted trader's checkpoint against the simulator's truth."""

from __future__ import annotations

import random
from decimal import Decimal
from typing import Any

import msgspec
import pytest

from tradeguard.chaos import ChaosConfig, Checkpoint, check_checkpoint, plan_cycle
from tradeguard.chaos.checks import LocalBalance, LocalOrder, exchange_symbol

PREFIX = "tgchaos"


def _truth(*orders: dict[str, Any], trades: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "orders": list(orders),
        "trades": trades or [],
        "spot": {
            "balances": {
                "BTC": {"free": "1.0005", "locked": "0"},
                "USDT": {"free": "99950", "locked": "30"},
            }
        },
    }


def _row(cid: str, order_id: int, status: str = "NEW", executed: str = "0") -> dict[str, Any]:
    return {
        "market": "spot",
        "symbol": "BTCUSDT",
        "orderId": order_id,
        "clientOrderId": cid,
        "side": "BUY",
        "status": status,
        "executedQty": executed,
    }


def _local(status: str, order_id: int, filled: str = "0") -> LocalOrder:
    return LocalOrder(
        symbol="BTC/USDT",
        side="buy",
        status=status,
        filled=Decimal(filled),
        exchange_order_id=str(order_id),
    )


def _checkpoint(**changes: Any) -> Checkpoint:
    base = Checkpoint(
        prefix=PREFIX,
        unclean_shutdown=True,
        orders={
            f"{PREFIX}-5": _local("open", 1),
            f"{PREFIX}-7": _local("filled", 2, "0.0005"),
            f"{PREFIX}-9": LocalOrder(
                symbol="BTC/USDT",
                side="buy",
                status="not_placed",
                filled=Decimal(0),
                exchange_order_id=None,
            ),
        },
        unresolved=[],
        positions={"BTC/USDT": Decimal("0.0005")},
        balances={
            "BTC": LocalBalance(free=Decimal("1.0005"), used=Decimal(0)),
            "USDT": LocalBalance(free=Decimal(99950), used=Decimal(30)),
        },
        open_flags=[],
        reconcile_complete=True,
    )
    return msgspec.structs.replace(base, **changes)


def _matching_truth(*extra: dict[str, Any]) -> dict[str, Any]:
    trades = [{"market": "spot", "symbol": "BTCUSDT", "orderId": 2, "side": "BUY", "qty": "0.0005"}]
    return _truth(
        _row(f"{PREFIX}-5", 1),
        _row(f"{PREFIX}-7", 2, "FILLED", "0.0005"),
        _row("sim-spot-3", 3),  # not ours: ignored
        *extra,
        trades=trades,
    )


def test_a_matching_checkpoint_passes() -> None:
    result = check_checkpoint(_checkpoint(), _matching_truth(), acked={f"{PREFIX}-5"})
    assert result.ok, result.details
    assert (result.lost, result.duplicates, result.mismatches, result.unresolved) == (0, 0, 0, 0)
    assert result.exchange_orders == 2


def test_a_client_id_placed_twice_is_a_duplicate() -> None:
    truth = _matching_truth(_row(f"{PREFIX}-5", 4))
    result = check_checkpoint(_checkpoint(), truth, acked=set())
    assert result.duplicates == 1
    assert not result.ok


def test_an_acknowledged_order_missing_after_restart_is_lost() -> None:
    result = check_checkpoint(_checkpoint(), _matching_truth(), acked={f"{PREFIX}-11"})
    assert result.lost == 1
    assert any(f"{PREFIX}-11" in d for d in result.details)


def test_an_exchange_order_of_ours_unknown_locally_is_a_mismatch() -> None:
    truth = _matching_truth(_row(f"{PREFIX}-12", 5))
    result = check_checkpoint(_checkpoint(), truth, acked=set())
    assert result.mismatches == 1
    assert "unknown locally" in result.details[0]


@pytest.mark.parametrize(
    ("order", "fragment"),
    [
        (_local("canceled", 1), "canceled locally, NEW"),
        (_local("open", 1, "0.0001"), "filled 0.0001 locally"),
        (_local("open", 99), "exchange id 99"),
    ],
)
def test_an_order_that_differs_is_a_mismatch(order: LocalOrder, fragment: str) -> None:
    checkpoint = _checkpoint(orders={**_checkpoint().orders, f"{PREFIX}-5": order})
    result = check_checkpoint(checkpoint, _matching_truth(), acked=set())
    assert result.mismatches == 1, result.details
    assert fragment in result.details[0]


def test_an_order_working_locally_but_absent_on_the_exchange_is_a_mismatch() -> None:
    checkpoint = _checkpoint(orders={**_checkpoint().orders, f"{PREFIX}-13": _local("open", 6)})
    result = check_checkpoint(checkpoint, _matching_truth(), acked=set())
    assert result.mismatches == 1
    assert "no such order" in result.details[0]


def test_positions_balances_and_incomplete_reconciliation_are_checked() -> None:
    checkpoint = _checkpoint(
        positions={"BTC/USDT": Decimal(0)},
        balances={"BTC": LocalBalance(free=Decimal(1), used=Decimal(0))},
        reconcile_complete=False,
        reconcile_error="incomplete: balances",
    )
    result = check_checkpoint(checkpoint, _matching_truth(), acked=set())
    kinds = sorted(d.split(":")[1].strip().split()[0] for d in result.details)
    # position BTCUSDT; balance BTC differs; balance USDT missing; reconcile incomplete
    assert result.mismatches == 4, result.details
    assert kinds == ["balance", "balance", "position", "reconciliation"]


def test_unresolved_orders_are_counted_separately() -> None:
    checkpoint = _checkpoint(unresolved=[f"{PREFIX}-9"])
    result = check_checkpoint(checkpoint, _matching_truth(), acked=set())
    assert result.unresolved == 1
    assert result.ok  # unresolved is reported, the verdict is about lost/dup/mismatch


def test_exchange_symbol() -> None:
    assert exchange_symbol("BTC/USDT") == "BTCUSDT"
    assert exchange_symbol("BTC/USDT:USDT") == "BTCUSDT"


def test_a_seed_names_the_plan() -> None:
    config = ChaosConfig(cycles=50, seed=11)
    first = [plan_cycle(random.Random(11), config) for _ in range(1)]
    rng_a, rng_b = random.Random(11), random.Random(11)
    plans_a = [plan_cycle(rng_a, config) for _ in range(50)]
    plans_b = [plan_cycle(rng_b, config) for _ in range(50)]
    assert plans_a == plans_b
    assert plans_a[0] == first[0]
    kills = {p.kill for p in plans_a}
    assert {"after_intent_journaled", "after_exchange_ack", "random"} <= kills
    assert any(p.fault for p in plans_a)


def test_kill_kinds_restrict_the_plan_and_bad_config_is_refused() -> None:
    config = ChaosConfig(cycles=5, kill_kinds=("after_exchange_ack",))
    rng = random.Random(3)
    assert {plan_cycle(rng, config).kill for _ in range(20)} == {"after_exchange_ack"}
    with pytest.raises(ValueError, match="unknown kill kinds"):
        ChaosConfig(cycles=5, kill_kinds=("nope",))
    with pytest.raises(ValueError, match="cycles"):
        ChaosConfig(cycles=0)
