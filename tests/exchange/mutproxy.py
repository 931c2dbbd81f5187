"""A loopback HTTP proxy in front of the simulator that garbles chosen JSON answers.

The simulator's faults drop, delay or fail requests; they never answer *wrongly*.
This proxy forwards every request unchanged (method, raw path and query, body, the
API-key header, so signatures stay valid) and, for the next ``count`` answers matching
a rule, hands the decoded JSON to a function that mutates it. Real ccxt then parses
the garbled answer exactly as it would parse one from the exchange.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp import web

__all__ = ["MutatingProxy"]

Mutation = Callable[[Any], Any]
_FORWARDED_HEADERS = ("X-MBX-APIKEY", "Content-Type")


@dataclass
class _Rule:
    method: str
    path: str
    mutate: Mutation
    left: int


class MutatingProxy:
    """``async with MutatingProxy(upstream) as proxy``: ``proxy.url`` is where to point."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.url = ""
        self.mutated = 0
        self._rules: list[_Rule] = []
        self._runner: web.AppRunner | None = None
        self._client: aiohttp.ClientSession | None = None

    def mutate(self, method: str, path: str, mutate: Mutation, *, count: int = 1) -> None:
        """Garble the next ``count`` 200 answers to ``method path`` (path without query)."""
        self._rules.append(_Rule(method.upper(), path, mutate, count))

    def _take(self, method: str, path: str) -> Mutation | None:
        for rule in self._rules:
            if rule.method == method and rule.path == path:
                rule.left -= 1
                if rule.left <= 0:
                    self._rules.remove(rule)
                return rule.mutate
        return None

    async def _handle(self, request: web.Request) -> web.Response:
        assert self._client is not None
        body = await request.read()
        headers = {k: request.headers[k] for k in _FORWARDED_HEADERS if k in request.headers}
        async with self._client.request(
            request.method, self.upstream + request.raw_path, data=body, headers=headers
        ) as answer:
            payload = await answer.read()
            status = answer.status
            content_type = answer.content_type
        mutate = self._take(request.method, request.path) if status == 200 else None
        if mutate is not None:
            payload = json.dumps(mutate(json.loads(payload))).encode()
            self.mutated += 1
        return web.Response(body=payload, status=status, content_type=content_type)

    async def __aenter__(self) -> MutatingProxy:
        self._client = aiohttp.ClientSession()
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None
        port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self._client is not None:
            await self._client.close()
