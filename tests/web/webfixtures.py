"""Helpers of the web tests (the fixtures are re-exported by conftest.py): a real running
service (Runtime, SQLite store, built-in simulator, HTTP on 127.0.0.1 with a free port, a
dashboard token) and a small HTTP client.

- ``service`` (function-scoped): a started :class:`Runtime` with an idle strategy (the
  tests place their own orders), yielding a :class:`RunningService` (``.runtime``,
  ``.base_url``, ``.token``, ``.config``, ``.api`` an :class:`Api`).
- ``start_service``: a factory for a test that needs other settings (a strategy, no
  token, other config): ``async with start_service(token=None) as svc: ...``.
- ``until(condition, what)``: poll with a generous deadline (never a timed assertion).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import pytest

from tradeguard.app.runtime import Runtime
from tradeguard.config import Config, ReconcileSettings, StorageSettings
from tradeguard.health.checks import HealthConfig
from tradeguard.session import SessionSettings
from tradeguard.web.config import DEFAULT_TOKEN_ENV, HttpSettings

if TYPE_CHECKING:
    import aiohttp

    from tradeguard.domain.orders import Order
    from tradeguard.session.session import Session
    from tradeguard.strategies.base import Strategy

FAST = SessionSettings(poll_interval_seconds=0.1, tick_interval_seconds=0.1)
SYMBOL = "BTC/USDT"


class IdleStrategy:
    """Trades nothing (the tests submit their own orders); registers ``BTC/USDT``."""

    symbols = (SYMBOL,)

    async def on_start(self, session: Session) -> None:
        del session

    async def on_tick(self, session: Session) -> None:
        del session

    def recovery_action(self, order: Order) -> Literal["resubmit", "drop"]:
        del order
        return "drop"


def web_config(tmp_path: Path, **sections: Any) -> Config:
    """A config on ``tmp_path`` with quick reconcile and health rounds (overridable)."""
    base: dict[str, Any] = {
        "storage": StorageSettings(
            url=f"sqlite:///{tmp_path / 'data'}", backup_dir=str(tmp_path / "backups"),
        ),
        "reconcile": ReconcileSettings(interval_seconds=1.0),
        "health": HealthConfig(interval_seconds=1.0),
    }
    base.update(sections)
    return Config(**base)


@dataclass
class ApiResponse:
    """One HTTP answer, read in full (``json()`` parses the body)."""

    status: int
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def content_type(self) -> str:
        return self.headers.get("Content-Type", "").split(";")[0].strip()


@dataclass
class Api:
    """A tiny aiohttp client on ``base_url``; ``token`` sent with ``auth=True``."""

    base_url: str
    token: str | None = None
    _session: aiohttp.ClientSession | None = field(default=None, repr=False)

    async def _client(self) -> aiohttp.ClientSession:
        import aiohttp

        if self._session is None:
            self._session = aiohttp.ClientSession(
                base_url=self.base_url, timeout=aiohttp.ClientTimeout(total=30),
            )
        return self._session

    def _headers(self, auth: bool | str, headers: Mapping[str, str] | None) -> dict[str, str]:
        out = dict(headers or {})
        token = self.token if auth is True else (auth or None)
        if token:
            out["Authorization"] = f"Bearer {token}"
        return out

    async def request(
        self, method: str, path: str, *, params: Mapping[str, str] | None = None,
        json_body: Any = None, data: bytes | str | None = None, auth: bool | str = False,
        headers: Mapping[str, str] | None = None,
    ) -> ApiResponse:
        """``method path``; ``auth`` True sends the service's token, a str that token."""
        client = await self._client()
        async with client.request(
            method, path, params=params, json=json_body, data=data,
            headers=self._headers(auth, headers),
        ) as resp:
            return ApiResponse(resp.status, dict(resp.headers), await resp.read())

    async def get(self, path: str, **kwargs: Any) -> ApiResponse:
        return await self.request("GET", path, **kwargs)

    async def post(self, path: str, **kwargs: Any) -> ApiResponse:
        return await self.request("POST", path, **kwargs)

    async def get_json(self, path: str, **kwargs: Any) -> Any:
        """GET ``path`` and its JSON body, asserting a 200 JSON answer."""
        resp = await self.get(path, **kwargs)
        assert resp.status == 200, (path, resp.status, resp.body[:500])
        assert resp.content_type == "application/json", resp.headers
        return resp.json()

    @contextlib.asynccontextmanager
    async def stream(self, path: str = "/api/events") -> AsyncIterator[aiohttp.ClientResponse]:
        """An open streaming GET (the SSE stream): read ``resp.content`` line by line."""
        import aiohttp

        client = await self._client()
        async with client.get(
            path, timeout=aiohttp.ClientTimeout(total=None, sock_read=60),
        ) as resp:
            yield resp

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


@dataclass
class RunningService:
    """A started service: its runtime, HTTP base URL, write token and an API client."""

    runtime: Runtime
    base_url: str
    token: str | None
    config: Config
    api: Api


StartService = Callable[..., contextlib.AbstractAsyncContextManager[RunningService]]


MARKS_INTERVAL_S = 0.2
"""The ``marks`` job's interval in the web tests (marks and chart samples come quickly)."""


def make_runtime(
    tmp_path: Path, *, token: str | None = "", config: Config | None = None,
    strategy: Strategy | None = None, settings: SessionSettings = FAST,
    marks_interval_s: float = MARKS_INTERVAL_S, **runtime_kwargs: Any,
) -> tuple[Runtime, str | None]:
    """A Runtime (not started) serving HTTP on 127.0.0.1:0, and its write token.

    ``token`` "" (the default): a fresh random one; None: no token (writes are off).
    """
    the_token = secrets.token_urlsafe(24) if token == "" else token
    cfg = config if config is not None else web_config(tmp_path)
    environ = {} if the_token is None else {DEFAULT_TOKEN_ENV: the_token}
    runtime = Runtime(
        cfg, cfg.storage.url, settings=settings,
        strategy=strategy if strategy is not None else IdleStrategy(),
        http=HttpSettings(port=0), environ=environ, handle_signals=False,
        **runtime_kwargs,
    )
    runtime.view.marks_interval_s = marks_interval_s
    return runtime, the_token


def simulator_url(runtime: Runtime) -> str:
    """``http://127.0.0.1:<port>`` of the runtime's built-in simulator."""
    where = runtime.where
    assert where.startswith("built-in simulator at "), where
    return where.removeprefix("built-in simulator at ").split()[0]


@pytest.fixture
def start_service(tmp_path: Path) -> StartService:
    """``async with start_service(token=..., config=..., strategy=..., **runtime_kwargs)``
    (the arguments of :func:`make_runtime`)."""

    @contextlib.asynccontextmanager
    async def start(**kwargs: Any) -> AsyncIterator[RunningService]:
        runtime, the_token = make_runtime(tmp_path, **kwargs)
        cfg = runtime.config
        async with runtime:
            base_url = runtime.http_url
            assert base_url is not None
            api = Api(base_url, the_token)
            try:
                yield RunningService(runtime, base_url, the_token, cfg, api)
            finally:
                await api.aclose()

    return start


@pytest.fixture
async def service(start_service: StartService) -> AsyncIterator[RunningService]:
    """A running service with a token, an idle strategy and quick rounds."""
    async with start_service() as svc:
        yield svc


async def until(condition: Callable[[], bool], what: str, *, timeout_s: float = 30.0) -> None:
    """Wait for ``condition`` (a generous bound only so a broken build fails, not hangs)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"never happened: {what}")
        await asyncio.sleep(0.02)
