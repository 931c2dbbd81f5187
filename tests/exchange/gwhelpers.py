"""Helpers of the gateway tests: the simulator's admin API and gateway construction."""

from __future__ import annotations

from typing import Any

import aiohttp

from tradeguard.exchange.ccxt_gateway import CcxtGateway
from tradeguard.sim import SimulatorThread

__all__ = ["GATEWAY_TIMEOUT_MS", "Admin", "make_gateway"]

# Short enough that a "delay beyond timeout" fault keeps the suite fast, long enough
# for a loaded 2-core machine to answer normal requests.
GATEWAY_TIMEOUT_MS = 1500


class Admin:
    """The simulator's admin API over real HTTP (``/_sim/...``)."""

    def __init__(self, session: aiohttp.ClientSession, url: str) -> None:
        self.session = session
        self.url = url

    async def post(self, action: str, body: dict[str, Any]) -> Any:
        async with self.session.post(f"{self.url}/_sim/{action}", json=body) as response:
            payload = await response.json()
            assert response.status == 200, payload
            return payload

    async def state(self) -> Any:
        async with self.session.get(f"{self.url}/_sim/state") as response:
            assert response.status == 200
            return await response.json()

    async def fault(self, path: str, action: str, method: str = "*", **extra: Any) -> None:
        await self.post("faults", {"path": path, "action": action, "method": method, **extra})

    async def orders_with_client_id(self, client_order_id: str) -> list[Any]:
        state = await self.state()
        return [o for o in state["orders"] if o["clientOrderId"] == client_order_id]


def make_gateway(sim: SimulatorThread, **kwargs: Any) -> CcxtGateway:
    """A gateway on the simulator with the suite's defaults."""
    options: dict[str, Any] = {
        "api_key": "demo",
        "secret": "demo",
        "url_override": sim.url,
        "timeout_ms": GATEWAY_TIMEOUT_MS,
    }
    options.update(kwargs)
    return CcxtGateway("binance", **options)
