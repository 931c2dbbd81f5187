"""The write endpoints against a real running service over real HTTP on 127.0.0.1.

Each endpoint refuses a request without the token (401) or with a wrong one (403) and
then changes nothing (the journal's last seq stays put); with the token it does its
job and the journal says who asked (the token's name, never the token). The flag is
a real one: an order placed on the simulator beside the session, found by a
reconciliation asked for through the API.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from webfixtures import RunningService, StartService, web_config

from tradeguard.config import ReconcileSettings
from tradeguard.domain.enums import OrderStatus
from tradeguard.domain.events import (
    FlagResolved,
    OperatorRequested,
    ReconciliationReported,
    TradingPaused,
    TradingResumed,
)
from tradeguard.errors import TradingPausedError
from tradeguard.health.checks import HealthConfig
from tradeguard.sim import SimulatorConfig, SimulatorThread
from tradeguard.storage import open_store
from tradeguard.storage.codec import decode_records
from tradeguard.web.api_write import MAX_BODY_BYTES

WRITES = ("/api/flags/external_order:BTC%2FUSDT:1/resolve", "/api/reconcile", "/api/pause",
          "/api/resume")


@pytest.fixture
def sim() -> Any:
    with SimulatorThread(SimulatorConfig(seed=7, tick_interval_ms=0)) as running:
        yield running


@pytest.fixture
async def quiet(start_service: StartService, tmp_path: Path, sim: SimulatorThread
                ) -> AsyncIterator[RunningService]:
    """A service on ``sim`` whose background rounds journal nothing during a test."""
    config = web_config(
        tmp_path, reconcile=ReconcileSettings(interval_seconds=3600.0),
        health=HealthConfig(interval_seconds=3600.0),
    )
    async with start_service(config=config, exchange_url=sim.url) as svc:
        yield svc


def _journal(svc: RunningService) -> list[Any]:
    with open_store(svc.config.storage.url, session_id="default", readonly=True) as st:
        return [event for _, event in decode_records(st.read())]


def _raw_journal(svc: RunningService) -> bytes:
    with open_store(svc.config.storage.url, session_id="default", readonly=True) as st:
        return b"".join(record.payload for record in st.read())


async def _external_order(sim: SimulatorThread) -> str:
    """A resting order placed on the exchange beside the session; its exchange id."""
    async with aiohttp.ClientSession() as http, http.post(
        f"{sim.url}/_sim/order",
        json={"market": "spot", "symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT",
              "quantity": "0.001", "price": "50000"},
    ) as resp:
        assert resp.status == 200
        return str((await resp.json())["order"]["orderId"])


async def _sim_order(sim: SimulatorThread, exchange_id: str) -> Any:
    async with aiohttp.ClientSession() as http, http.get(f"{sim.url}/_sim/state") as resp:
        state = await resp.json()
    return next(o for o in state["orders"] if str(o["orderId"]) == exchange_id)


async def test_writes_without_or_with_a_wrong_token_change_nothing(
    quiet: RunningService,
) -> None:
    svc = quiet
    state = svc.runtime.session.state
    before = state.last_seq
    on_disk = len(_journal(svc))
    for path in WRITES:
        missing = await svc.api.post(path, json_body={"action": "ignore"})
        assert missing.status == 401, (path, missing.body)
        assert missing.headers["WWW-Authenticate"].startswith("Bearer")
        assert missing.json()["error"] == "unauthorized"
        assert "Authorization: Bearer" in missing.json()["message"]
        basic = await svc.api.post(path, headers={"Authorization": "Basic b3A6cHc="})
        assert basic.status == 401, (path, basic.body)
        wrong = await svc.api.post(path, json_body={"action": "ignore"}, auth="not-the-token")
        assert wrong.status == 403, (path, wrong.body)
        assert set(wrong.json()) == {"error", "message"}
        assert wrong.json()["error"] == "forbidden"
        assert "set-cookie" not in {h.lower() for h in wrong.headers}
        assert "access-control-allow-origin" not in {h.lower() for h in wrong.headers}
    assert state.last_seq == before  # nothing journaled: no pause, no reconcile
    assert len(_journal(svc)) == on_disk
    assert state.paused is None


async def test_writes_are_off_without_a_configured_token(start_service: StartService) -> None:
    async with start_service(token=None) as svc:
        before = svc.runtime.session.state.last_seq
        for path in WRITES:
            answer = await svc.api.post(path, auth="anything")
            assert answer.status == 403, (path, answer.body)
            assert answer.json()["error"] == "writes_off"
            assert "TRADEGUARD_DASHBOARD_TOKEN" in answer.json()["message"]
        assert svc.runtime.session.state.last_seq == before


async def test_pause_stops_new_orders_but_cancels_still_go_out(quiet: RunningService) -> None:
    svc = quiet
    session = svc.runtime.session
    resting = await session.submit_order("BTC/USDT", "buy", "limit", Decimal("0.001"),
                                         Decimal("20000"))
    assert resting.status is OrderStatus.OPEN

    paused = await svc.api.post("/api/pause", json_body={"note": "exchange maintenance"},
                                auth=True)
    assert paused.status == 200, paused.body
    answer = paused.json()
    assert answer["paused"] is True
    assert answer["changed"] is True
    assert answer["by"] == "operator"
    assert answer["note"] == "exchange maintenance"
    pause_event = next(e for e in _journal(svc) if isinstance(e, TradingPaused))
    assert (pause_event.by, pause_event.note) == ("operator", "exchange maintenance")

    # Idempotent: paused again answers the state, journals nothing.
    seq = session.state.last_seq
    again = await svc.api.post("/api/pause", auth=True)
    assert again.status == 200
    assert again.json()["paused"] is True
    assert again.json()["changed"] is False
    assert session.state.last_seq == seq

    with pytest.raises(TradingPausedError, match="paused by operator") as refused:
        await session.submit_order("BTC/USDT", "buy", "limit", Decimal("0.001"),
                                   Decimal("20000"))
    assert "POST /api/resume" in str(refused.value)
    assert session.state.last_seq == seq  # refused before anything was journaled

    canceled = await session.cancel_order(resting.client_order_id)
    assert canceled.status is OrderStatus.CANCELED  # the exchange confirmed the cancel

    resumed = await svc.api.post("/api/resume", auth=True)
    assert resumed.status == 200, resumed.body
    assert resumed.json() == {"paused": False, "changed": True}
    assert any(isinstance(e, TradingResumed) and e.by == "operator" for e in _journal(svc))
    placed = await session.submit_order("BTC/USDT", "buy", "limit", Decimal("0.001"),
                                        Decimal("20000"))
    assert placed.status is OrderStatus.OPEN
    assert (await svc.api.post("/api/resume", auth=True)).json()["changed"] is False

    wrong_method = await svc.api.get("/api/pause")
    assert wrong_method.status == 405
    assert wrong_method.json()["error"] == "http"
    assert svc.token is not None
    assert svc.token.encode() not in _raw_journal(svc)


async def test_reconcile_finds_a_flag_and_resolve_carries_out_its_action(
    quiet: RunningService, sim: SimulatorThread,
) -> None:
    svc = quiet
    session = svc.runtime.session
    exchange_id = await _external_order(sim)

    reconciled = await svc.api.post("/api/reconcile", auth=True)
    assert reconciled.status == 200, reconciled.body
    report = reconciled.json()
    assert report["complete"] is True
    assert report["requested_by"] == "operator"
    flag_id = next(f for f in report["flags_raised"] if exchange_id in f)
    assert flag_id.startswith("external_order:")
    events = _journal(svc)
    asked = next(i for i, e in enumerate(events) if isinstance(e, OperatorRequested))
    assert (events[asked].by, events[asked].request) == ("operator", "reconcile")
    assert any(isinstance(e, ReconciliationReported) for e in events[asked + 1:])

    path = f"/api/flags/{urllib.parse.quote(flag_id, safe='')}/resolve"
    seq = session.state.last_seq
    bad: list[tuple[str, dict[str, Any], int, str]] = [
        ("/api/flags/no-such-flag/resolve", {"json_body": {"action": "ignore"}}, 404,
         "no flag 'no-such-flag'"),
        (path, {"json_body": {"action": "delete_it"}}, 400,
         "allowed: adopt, cancel_on_exchange, ignore"),
        (path, {"json_body": {"note": "x"}}, 400, "field 'action' is required"),
        (path, {"json_body": {"action": "ignore", "notes": "typo"}}, 400,
         "unknown field(s) 'notes'"),
        (path, {"json_body": {"action": 3}}, 400, "field 'action' must be a string"),
        (path, {"json_body": ["ignore"]}, 400, "must be a JSON object"),
        (path, {"data": b"{not json", "headers": {"Content-Type": "application/json"}}, 400,
         "not valid JSON"),
        (path, {"data": b"x" * (MAX_BODY_BYTES + 1)}, 413, "larger than"),
        (path, {"json_body": {"action": "ignore", "note": "n" * 5000}}, 400, "at most"),
    ]
    for where, kwargs, status, words in bad:
        answer = await svc.api.post(where, auth=True, **kwargs)
        assert answer.status == status, (where, kwargs, answer.body)
        assert words in answer.json()["message"], answer.json()
        assert set(answer.json()) == {"error", "message"}
    assert session.state.last_seq == seq
    assert session.state.flags[flag_id].is_open  # type: ignore[index]

    # The exchange failing to answer is the exchange's fault, not the request's: 502,
    # the flag stays open and nothing is resolved.
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{sim.url}/_sim/faults", json={
            "path": "/api/v3/order", "method": "GET", "action": "status", "status": 503,
            "count": 100}) as armed:
            assert armed.status == 200
        failed = await svc.api.post(path, json_body={"action": "adopt"}, auth=True)
        async with http.delete(f"{sim.url}/_sim/faults") as cleared:
            assert cleared.status == 200
    assert failed.status == 502, failed.body
    assert failed.json()["error"] == "upstream_failed"
    assert session.state.flags[flag_id].is_open  # type: ignore[index]
    assert not any(isinstance(e, FlagResolved) for e in _journal(svc))

    resolved = await svc.api.post(
        path, json_body={"action": "cancel_on_exchange", "note": "not ours"}, auth=True
    )
    assert resolved.status == 200, resolved.body
    answer = resolved.json()
    assert answer["flag"]["status"] == "resolved"
    assert answer["flag"]["resolved_by"] == "operator"
    assert any("canceled on the exchange" in step for step in answer["steps"])
    assert (await _sim_order(sim, exchange_id))["status"] == "CANCELED"
    resolution = next(e for e in _journal(svc) if isinstance(e, FlagResolved))
    assert (resolution.flag_id, resolution.action, resolution.note, resolution.by) == (
        flag_id, "cancel_on_exchange", "not ours", "operator")

    twice = await svc.api.post(path, json_body={"action": "ignore"}, auth=True)
    assert twice.status == 409, twice.body
    assert "already resolved" in twice.json()["message"]
    assert svc.token is not None
    assert svc.token.encode() not in _raw_journal(svc)


async def test_a_pause_survives_a_restart_of_the_service(
    start_service: StartService, tmp_path: Path,
) -> None:
    config = web_config(tmp_path)
    async with start_service(config=config) as svc:
        paused = await svc.api.post("/api/pause", json_body={"note": "until Monday"},
                                    auth=True)
        assert paused.status == 200, paused.body
    async with start_service(config=config) as svc:
        status = svc.runtime.view.pause_status()
        assert (status["paused"], status["by"], status["note"]) == (True, "operator",
                                                                    "until Monday")
        with pytest.raises(TradingPausedError):
            await svc.runtime.session.submit_order("BTC/USDT", "buy", "limit",
                                                   Decimal("0.001"), Decimal("20000"))
        resumed = await svc.api.post("/api/resume", auth=True)
        assert resumed.json() == {"paused": False, "changed": True}


async def test_writes_answer_503_until_the_session_is_open(tmp_path: Path) -> None:
    from tradeguard.app.runtime import Runtime
    from tradeguard.web.app import build_app
    from tradeguard.web.server import HttpServer

    config = web_config(tmp_path)
    runtime = Runtime(config, config.storage.url, handle_signals=False)  # not started
    app = build_app(runtime.view, token="t0ken", token_name="operator")
    async with HttpServer(app, host="127.0.0.1", port=0) as server, aiohttp.ClientSession(
        headers={"Authorization": "Bearer t0ken"}
    ) as http:
        for path in WRITES:
            body = {"action": "ignore"} if path.endswith("/resolve") else {}
            async with http.post(server.base_url + path, json=body) as resp:
                assert resp.status == 503, (path, await resp.text())
                answer = await resp.json()
                assert answer["error"] == "service_starting"
                assert "starting" in answer["message"]
