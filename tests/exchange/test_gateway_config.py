"""Constructing the gateway: URL override, sandbox, keys from the environment, pacing.

None of these tests sends a request except the last one (to the simulator).
"""

from __future__ import annotations

import re
import socket
from decimal import Decimal

import msgspec
import pytest
from ccxt.base import errors as ccxt_errors
from gwhelpers import make_gateway

import tradeguard.exchange as exchange_pkg
from tradeguard.config import parse_config
from tradeguard.domain.enums import OrderType, Side
from tradeguard.errors import ConfigError, ExchangeUnavailableError
from tradeguard.exchange.ccxt_client import rewrite_urls
from tradeguard.exchange.ccxt_gateway import CcxtGateway
from tradeguard.exchange.config import ExchangeConfig, check_exchange_url
from tradeguard.exchange.errors import CallKind, translate_error
from tradeguard.sim import SimulatorThread

SECRET = "Sup3r-Secret-Value-xyz"
KEY = "Api-Key-Value-abc"
ENV = {"MY_KEY": KEY, "MY_SECRET": SECRET}


def test_url_override_rewrites_every_api_url() -> None:
    gw = CcxtGateway("binance", api_key=KEY, secret=SECRET, url_override="http://127.0.0.1:9999")
    urls = gw._exchange.urls["api"]
    assert urls["public"] == "http://127.0.0.1:9999/api/v3"
    assert urls["fapiPrivateV2"] == "http://127.0.0.1:9999/fapi/v2"
    flat = list(urls.values())
    assert len(flat) > 10
    assert all(url.startswith("http://127.0.0.1:9999/") for url in flat)
    options = gw._exchange.options
    assert options["maxRetriesOnFailure"] == 0
    assert options["fetchCurrencies"] is False
    assert options["fetchMarkets"]["types"] == ["spot", "linear"]
    assert gw._exchange.enableRateLimit is False


def test_rewrite_handles_nested_urls_and_a_base_path() -> None:
    nested = {"rest": {"v1": "https://api.x.com/v1?x=1"}, "n": None}
    assert rewrite_urls(nested, "http://127.0.0.1:1/proxy/") == {
        "rest": {"v1": "http://127.0.0.1:1/proxy/v1?x=1"},
        "n": None,
    }


def test_sandbox_uses_the_testnet_and_conflicts_with_a_url() -> None:
    gw = CcxtGateway("binance", api_key=KEY, secret=SECRET, sandbox=True)
    assert "testnet" in gw._exchange.urls["api"]["public"]
    with pytest.raises(ConfigError, match="cannot both be set"):
        CcxtGateway("binance", api_key=KEY, secret=SECRET, sandbox=True, url_override="http://x")


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"markets": ("inverse",)}, "exchange.markets"),
        ({"markets": ()}, "exchange.markets"),
    ],
)
def test_bad_settings(kwargs: dict[str, object], fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment):
        CcxtGateway("binance", api_key=KEY, secret=SECRET, **kwargs)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="not a ccxt exchange id"):
        CcxtGateway("no-such-exchange", api_key=KEY, secret=SECRET)


def test_keys_from_environment_never_shown() -> None:
    gw = CcxtGateway.from_env(
        "binance", api_key_env="MY_KEY", api_secret_env="MY_SECRET", environ=ENV
    )
    assert gw._exchange.secret == SECRET
    for text in (repr(gw), str(gw)):
        assert SECRET not in text
        assert KEY not in text
    with pytest.raises(ConfigError, match="MY_SECRET") as info:
        CcxtGateway.from_env(
            "binance", api_key_env="MY_KEY", api_secret_env="MY_SECRET", environ={"MY_KEY": KEY}
        )
    assert KEY not in str(info.value)


def test_from_config() -> None:
    config = msgspec.convert(
        {
            "id": "binance",
            "url": "http://127.0.0.1:1",
            "api_key_env": "MY_KEY",
            "api_secret_env": "MY_SECRET",
            "markets": ["spot"],
            "page_limit": 7,
        },
        ExchangeConfig,
    )
    gw = CcxtGateway.from_config(config, environ=ENV)
    assert (gw.url_override, gw.market_types, gw.page_limit) == ("http://127.0.0.1:1", ("spot",), 7)
    assert SECRET not in repr(config)
    with pytest.raises(msgspec.ValidationError, match="api_secret"):
        msgspec.convert({"api_secret": "x"}, ExchangeConfig)


def test_pacing_defaults() -> None:
    local = CcxtGateway("binance", api_key=KEY, secret=SECRET, url_override="http://127.0.0.1:1")
    assert local._pacer is None  # off against the simulator
    live = CcxtGateway("binance", api_key=KEY, secret=SECRET)
    assert live._pacer is not None
    assert live._pacer.rate_per_s == 1000 / live._exchange.rateLimit
    off = CcxtGateway("binance", api_key=KEY, secret=SECRET, rate_limit_per_s=0)
    assert off._pacer is None


def test_package_exports() -> None:
    for name in exchange_pkg.__all__:
        assert getattr(exchange_pkg, name) is not None
    assert exchange_pkg.CcxtGateway is CcxtGateway


async def test_paced_gateway_still_trades(sim: SimulatorThread) -> None:
    async with make_gateway(sim, rate_limit_per_s=500, rate_limit_burst=2) as gw:
        for index in range(5):
            await gw.create_order(
                "BTC/USDT",
                Side.BUY,
                OrderType.MARKET,
                Decimal("0.001"),
                client_order_id=f"paced-{index}",
            )
        assert len((await gw.fetch_trades_since("BTC/USDT")).trades) == 5


async def test_spot_only_gateway(sim: SimulatorThread) -> None:
    async with make_gateway(sim, markets=("spot",)) as gw:
        markets = await gw.load_markets()
        assert all(m.kind.value == "spot" for m in markets.values())
        assert {b.kind.value for b in await gw.fetch_balances()} == {"spot"}
        assert await gw.fetch_open_orders() == []


# --- exchange URLs are checked at config time; failures name their cause (item 8) ----


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("not-a-url", "(no scheme)"),
        ("ftp://x", "(scheme 'ftp')"),
        ("http://", "(no host)"),
        ("http://127.0.0.1:99999", "valid URL"),
        ("http://user:pw@127.0.0.1:1", "credentials"),
        ("http://127.0.0.1:1 ", "without blanks"),
    ],
)
def test_bad_exchange_urls_are_refused_naming_the_key(url: str, why: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(why)) as info:
        parse_config(f'[storage]\nsession_id = "s"\n\n[exchange]\nurl = "{url}"\n', source="t.toml")
    assert str(info.value).startswith("t.toml:5: key 'exchange.url': ")
    assert repr(url) in str(info.value)
    with pytest.raises(ConfigError, match=r"^--exchange-url .*" + re.escape(why)):
        check_exchange_url(url, name="--exchange-url")


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8080", "https://api.binance.com", "http://localhost:1/prefix/"]
)
def test_good_exchange_urls_pass(url: str) -> None:
    assert parse_config(f'[exchange]\nurl = "{url}"\n').exchange.url == url
    assert check_exchange_url(url, name="--exchange-url") == url
    assert ExchangeConfig().url == ""  # empty: the exchange's own endpoints


def _raised_by_ccxt(ccxt_error: Exception, cause: BaseException) -> Exception:
    """The exception as ccxt raises it: ``raise ExchangeNotAvailable(...) from e``."""
    try:
        try:
            raise cause
        except BaseException as low:
            raise ccxt_error from low
    except Exception as exc:
        return exc


def test_a_dns_failure_and_a_timeout_are_named_in_one_line() -> None:
    # ccxt's own `except socket.gaierror` path (no DNS lookup is made here).
    dns = _raised_by_ccxt(
        ccxt_errors.ExchangeNotAvailable("binance GET http://exchange.invalid/api/v3/time"),
        socket.gaierror(socket.EAI_NONAME, "Name or service not known"),
    )
    error = translate_error(dns, exchange="binance", call="fetch_time", kind=CallKind.READ)
    assert "DNS lookup of exchange.invalid failed (Name or service not known)" in str(error)
    timeout = _raised_by_ccxt(
        ccxt_errors.RequestTimeout("binance GET http://127.0.0.1:1/api/v3/time"),
        TimeoutError(),
    )
    error = translate_error(timeout, exchange="binance", call="fetch_time", kind=CallKind.READ)
    assert "no answer within the timeout (GET http://127.0.0.1:1/api/v3/time)" in str(error)


def test_an_error_page_is_quoted_not_pasted() -> None:
    page = "<html><head><title>502 Bad Gateway</title></head><body>" + "x" * 5000 + "</body>"
    error = translate_error(
        ccxt_errors.ExchangeNotAvailable(
            f"binance GET http://h:1/api/v3/time 502 Bad Gateway {page}"
        ),
        exchange="binance", call="fetch_time", kind=CallKind.READ,
    )
    text = str(error)
    quoted = "HTTP 502 Bad Gateway from GET http://h:1/api/v3/time (HTML page '502 Bad Gateway')"
    assert quoted in text
    assert "xxxx" not in text
    assert "\n" not in text


async def test_a_refused_connection_is_named_through_real_ccxt() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    async with CcxtGateway(
        "binance", api_key=KEY, secret=SECRET, url_override=f"http://127.0.0.1:{port}",
        timeout_ms=2000,
    ) as gw:
        refused = f"connection refused by 127.0.0.1:{port}"
        with pytest.raises(ExchangeUnavailableError, match=refused):
            await gw.load_markets()
