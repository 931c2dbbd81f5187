"""The live stream (``/api/events``, Server-Sent Events) of a real running service:
journal records in seq order, health changes, heartbeats, a slow reader dropped with
``lagged`` while the session goes on, and the stream ending when the service stops."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from decimal import ROUND_DOWN, Decimal
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from webfixtures import (
    SYMBOL,
    Api,
    RunningService,
    StartService,
    make_runtime,
    until,
    web_config,
)

from tradeguard.errors import ServiceStartingError
from tradeguard.health.checks import HealthConfig
from tradeguard.session.session import Session

AMOUNT = Decimal("0.001")


async def sse_events(resp: aiohttp.ClientResponse) -> AsyncIterator[tuple[str, Any]]:
    """(event name, parsed data) of an SSE response; comments as ("comment", text)."""
    name, data = "message", []
    async for raw in resp.content:
        line = raw.decode().rstrip("\n").rstrip("\r")
        if line == "":
            if data:
                yield name, json.loads("\n".join(data))
            name, data = "message", []
        elif line.startswith(":"):
            yield "comment", line[1:].strip()
        elif line.startswith("event:"):
            name = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].strip())


async def next_event(events: AsyncIterator[tuple[str, Any]], *names: str) -> tuple[str, Any]:
    """The next event named one of ``names`` (others skipped); a generous bound only."""
    async def find() -> tuple[str, Any]:
        async for name, data in events:
            if name in names:
                return name, data
        raise AssertionError(f"the stream ended before any of {names}")

    return await asyncio.wait_for(find(), 30)


async def _limit_price(session: Session) -> Decimal:
    mid = (await session.ticker(SYMBOL)).mid
    assert mid is not None
    return (mid / 2).quantize(session.market(SYMBOL).tick_size, rounding=ROUND_DOWN)


async def test_a_reader_sees_an_orders_journal_records_in_seq_order(
    service: RunningService,
) -> None:
    runtime, api = service.runtime, service.api
    session = runtime.session
    async with api.stream("/api/events") as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/event-stream")
        events = sse_events(resp)
        _, hello = await next_event(events, "status")
        assert hello["change"] == "subscribed"
        assert hello["phase"] == "running"
        start = runtime.service.store.last_seq()

        price = await _limit_price(session)
        order = await session.submit_order(SYMBOL, "buy", "limit", AMOUNT, price)
        await session.cancel_order(order.client_order_id)
        cid = str(order.client_order_id)
        seen: list[dict[str, Any]] = []
        while not any(r["type"] == "order_canceled" and r["fields"].get("client_order_id") == cid
                      for r in seen):
            _, record = await next_event(events, "journal")
            seen.append(record)
        seqs = [r["seq"] for r in seen]
        # Every record from the subscription on, none skipped, none twice, in order.
        assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
        assert seqs[0] <= start + 1
        mine = [r["type"] for r in seen if r["fields"].get("client_order_id") == cid]
        assert mine[:2] == ["order_intended", "order_acknowledged"]
        assert mine[-2:] == ["cancel_requested", "order_canceled"]
        intended = next(r for r in seen if r["type"] == "order_intended")
        assert intended["fields"]["price"] == str(price)
        assert intended["ts_iso"].endswith("Z")
        assert intended["epoch"] == runtime.service.journal.epoch
        # The same records the journal endpoint reads back from the store.
        page = await api.get_json("/api/journal",
                                  params={"after": str(seqs[0] - 1), "limit": str(len(seqs))})
        assert page["records"] == seen

        # A pause and a resume are journaled, and the stream says the run changed.
        await runtime.view.pause(who="tester", note="lunch")
        _, paused = await next_event(events, "status")
        assert paused["change"] == "paused"
        assert (paused["by"], paused["note"]) == ("tester", "lunch")
        await runtime.view.resume(who="tester")
        _, resumed = await next_event(events, "status")
        assert resumed["change"] == "resumed"
        assert resumed["seq"] > paused["seq"]


async def test_health_changes_and_heartbeats_reach_the_stream(
    start_service: StartService, tmp_path: Path,
) -> None:
    # One thread is "too many": the first round finds the threads check not ok.
    config = web_config(tmp_path, health=HealthConfig(interval_seconds=0.3,
                                                      threads_warn_count=1))
    async with start_service(config=config) as svc:
        svc.runtime.view.hub.heartbeat_s = 0.2  # for this test's subscriptions
        async with svc.api.stream("/api/events") as resp:
            events = sse_events(resp)
            await next_event(events, "status")
            _, text = await next_event(events, "comment")
            assert text == "heartbeat"
            _, health = await next_event(events, "health")
            assert health["status"] in ("warn", "critical")
            (change,) = [c for c in health["changes"] if c["check"] == "threads"]
            assert change["status"] == "warn"
            assert change["previous"] == ""
            (check,) = [c for c in health["checks"] if c["name"] == "threads"]
            assert check["status"] == "warn"
            assert check["threshold"] == 1
            assert health["ts_iso"].endswith("Z")


async def test_a_slow_reader_is_dropped_with_lagged_and_never_slows_the_session(
    service: RunningService,
) -> None:
    runtime, api = service.runtime, service.api
    session = runtime.session
    hub = runtime.view.hub
    async with api.stream("/api/events") as resp:  # a reader that keeps up
        events = sse_events(resp)
        await next_event(events, "status")
        hub.queue_size = 20  # for the next subscription only
        slow = runtime.view.live()  # subscribed; never read while the orders go in
        name, _ = await anext(slow)
        assert name == "status"
        assert hub.subscribers == 2
        price = await _limit_price(session)
        orders = [await session.submit_order(SYMBOL, "buy", "limit", AMOUNT, price)
                  for _ in range(15)]  # 30+ journal records: more than the queue holds
        assert all(o.status.value == "open" for o in orders)  # the session went on
        await until(lambda: hub.subscribers == 1, "the slow reader dropped")
        last = orders[-1].client_order_id
        while True:
            _, record = await next_event(events, "journal")
            if (record["type"] == "order_acknowledged"
                    and record["fields"]["client_order_id"] == str(last)):
                break
    await until(lambda: hub.subscribers == 0, "the HTTP reader's subscription ended "
                "when it disconnected")
    name, data = await anext(slow)
    assert name == "lagged"
    assert data["queue_size"] == 20
    assert data["dropped"] >= 1
    remaining = [item async for item in slow]
    assert remaining == []  # and then the stream ends
    assert hub.lagged_total == 1


async def test_the_stream_ends_when_the_service_stops(tmp_path: Path) -> None:
    runtime, _ = make_runtime(tmp_path)
    await runtime.start()
    try:
        base_url = runtime.http_url
        assert base_url is not None
        api = Api(base_url)
        async with api.stream("/api/events") as resp:
            events = sse_events(resp)
            await next_event(events, "status")
            closing = asyncio.create_task(runtime.close())
            _, stopping = await next_event(events, "status")
            assert stopping["change"] == "stopping"
            rest = [item async for item in events if item[0] != "comment"]
            assert all(name == "journal" for name, _ in rest)  # then the end of the body
            await asyncio.wait_for(closing, 30)
        await api.aclose()
        assert runtime.exit_code == 0
        assert runtime.view.hub.closed
        assert runtime.view.hub.subscribers == 0
        assert runtime.view.status()["phase"] == "stopped"
        with pytest.raises(ServiceStartingError, match="stopping"):  # a 503, not a 500
            await runtime.view.journal()
    finally:
        if not runtime.view.hub.closed:
            await runtime.close()


async def test_an_http_reader_that_stops_reading_is_dropped_and_told_so(
    service: RunningService,
) -> None:
    """The stream's writer blocks on a reader whose socket is full; its queue fills
    behind it, and the hub drops it (``lagged``) while orders still go through."""
    runtime = service.runtime
    hub = runtime.view.hub
    hub.queue_size = 20
    host, port = service.base_url.removeprefix("http://").split(":")
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # fills up at once
    reader, writer = await asyncio.open_connection(sock=_connected(sock, host, int(port)))
    writer.write(f"GET /api/events HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode())
    await writer.drain()
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
    assert b" 200 " in head.split(b"\r\n")[0]
    await until(lambda: hub.subscribers == 1, "the reader subscribed")
    # Never read from here on: big events fill the sockets, then the writer's queue.
    session = runtime.session
    price = await _limit_price(session)
    pad = "x" * 20_000
    sent = 0
    while hub.subscribers and sent < 2_000:
        hub.publish("status", {"change": "padding", "pad": pad})
        sent += 1
        await asyncio.sleep(0)
    assert hub.subscribers == 0
    assert hub.lagged_total == 1
    order = await session.submit_order(SYMBOL, "buy", "limit", AMOUNT, price)
    assert order.status.value == "open"  # the session never waited for the reader
    body = b""
    while not body.endswith(b"\r\n0\r\n\r\n"):  # the rest, then the body's last chunk
        chunk = await asyncio.wait_for(reader.read(1 << 16), 30)
        assert chunk, "the connection closed before the stream's end"
        body += chunk
    assert b"event: lagged" in body
    writer.close()


def _connected(sock: socket.socket, host: str, port: int) -> socket.socket:
    sock.connect((host, port))
    sock.setblocking(False)
    return sock


async def test_a_reader_from_before_the_start_sees_the_start_up_progress(
    tmp_path: Path,
) -> None:
    runtime, _ = make_runtime(tmp_path)
    live = runtime.view.live()  # as a page open before the session is: starting
    name, hello = await anext(live)
    assert name == "status"
    assert hello["phase"] == "starting"
    name, first = await anext(live)
    assert name == "recovery"
    assert "state" in first  # the tracker's document (GET /api/recovery), not started yet
    async with runtime:
        seen: list[tuple[str, Any]] = []
        while not seen or seen[-1][0] != "status":
            seen.append(await asyncio.wait_for(anext(live), 30))
        started = seen[-1][1]
        assert started["change"] == "started"
        assert started["phase"] == "running"
        progress = [data for name, data in seen if name == "recovery"]
        assert progress, seen
        assert progress[-1]["state"] == "ready"  # the last word before "started"
        assert progress[-1]["phases"]  # what each phase of the start-up did
        journal = [data for name, data in seen if name == "journal"]
        assert journal  # the start-up's own records (balances, reconciliation report)
        assert [r["seq"] for r in journal] == sorted(r["seq"] for r in journal)
    rest = [item async for item in live]
    assert ("status", {"change": "stopping"}) in rest
