"""Config decoding: defaults, strictness, and errors that name key, file and line."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from tradeguard.config import Config, load_config, parse_config
from tradeguard.errors import ConfigError
from tradeguard.session import SessionSettings
from tradeguard.strategies import load_strategy
from tradeguard.strategies.grid import Grid


def test_defaults_without_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    config = load_config()
    assert config == Config()
    assert config.storage.synchronous == "FULL"
    assert config.storage.snapshot_every_events == 10_000
    assert config.reconcile.balance_tolerance == Decimal("0.00000001")


def test_full_file_is_decoded(tmp_path: Path) -> None:
    path = tmp_path / "tg.toml"
    path.write_text(
        '[storage]\nurl = "sqlite:///x"\nsnapshot_every_events = 50\nbackups_to_keep = 2\n'
        '[exchange]\nid = "binanceusdm"\nurl = "http://127.0.0.1:9"\n'
        '[reconcile]\nexternal_orders = "adopt"\nbalance_tolerance = "0.01"\n'
        '[strategy]\nclass = "my.mod:Bot"\n'
    )
    config = load_config(path)
    assert config.storage.url == "sqlite:///x"
    assert config.storage.snapshot_every_events == 50
    assert config.exchange.id == "binanceusdm"
    assert config.reconcile.external_orders == "adopt"
    assert config.reconcile.balance_tolerance == Decimal("0.01")
    assert config.strategy.class_ == "my.mod:Bot"
    assert config.backup_dir == Path.cwd() / "x" / "backups"  # relative: from the cwd


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('[storage]\nsnapshot_every_events = "many"\n',
         "tg.toml:2: key 'storage.snapshot_every_events': Expected `int`, got `str`"),
        ("[storage]\n\nsnapshot_evry_events = 5\n",
         "tg.toml:3: key 'storage.snapshot_evry_events': unknown key"),
        ("[storag]\n", "tg.toml:1: key 'storag': unknown key"),
        ('[reconcile]\nexternal_orders = "ignore"\n', "tg.toml:2: key 'reconcile.external_orders'"),
        ("[storage]\nsnapshots_to_keep = 0\n", "tg.toml:2: key 'storage.snapshots_to_keep'"),
        ("[storage]\nurl = \n", "tg.toml: invalid TOML"),
    ],
)
def test_errors_name_file_key_and_line(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "tg.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert expected in str(info.value).replace(str(tmp_path) + "/", "")


def test_missing_explicit_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.toml", required=True)


def test_secrets_are_only_named() -> None:
    config = parse_config('[exchange]\napi_key_env = "MY_KEY"\n')
    assert config.exchange.api_key_env == "MY_KEY"
    with pytest.raises(ConfigError, match=r"exchange\.api_key'"):
        parse_config('[exchange]\napi_key = "sekrit"\n')


def test_session_and_strategy_params_are_decoded(tmp_path: Path) -> None:
    path = tmp_path / "tg.toml"
    path.write_text(
        '[session]\ntick_interval_seconds = 0.5\nunknown_grace_seconds = 45\n'
        'symbols = ["ETH/USDT"]\n'
        '[strategy]\nclass = "tradeguard.strategies.grid:Grid"\n'
        '[strategy.params]\nlevels = 2\nspacing = 0.002\nsymbol = "ETH/USDT"\n'
    )
    config = load_config(path)
    assert config.session.tick_interval_seconds == 0.5
    assert config.session.unknown_grace_seconds == 45
    assert config.session.symbols == ("ETH/USDT",)
    assert config.strategy.params == {"levels": 2, "spacing": 0.002, "symbol": "ETH/USDT"}
    grid = load_strategy(config.strategy.class_, **config.strategy.params)
    assert isinstance(grid, Grid)
    assert (grid.levels, grid.spacing, grid.symbol) == (2, Decimal("0.002"), "ETH/USDT")
    # The inline form is the same table.
    inline = parse_config('[strategy]\nparams = { levels = 4 }\n')
    assert inline.strategy.params == {"levels": 4}
    assert Config().session == SessionSettings()  # the Session's defaults


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[session]\ntick_interval_seconds = 0\n",
         "tg.toml:2: key 'session.tick_interval_seconds': must be greater than 0"),
        ("[session]\ntick_interval = 2\n", "tg.toml:2: key 'session.tick_interval': unknown key"),
        ("[session]\nunknown_grace_seconds = -1\n",
         "tg.toml:2: key 'session.unknown_grace_seconds': must be >= 0"),
        ('[session]\nrecovery_priority = ["cancel", "luck"]\n',
         "key 'session.recovery_priority[1]': Invalid enum value 'luck'"),
        ('[session]\nclient_id_prefix = "no spaces"\n', "key 'session.client_id_prefix'"),
        ('[strategy]\nparams = "levels=3"\n',
         "tg.toml:2: key 'strategy.params': Expected `object`"),
    ],
)
def test_session_and_strategy_errors_name_the_key(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "tg.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert expected in str(info.value).replace(str(tmp_path) + "/", "")


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"levels": 0}, "key 'strategy.params.levels': must be an integer from 1 to 50, got 0"),
        ({"levels": "3"}, "key 'strategy.params.levels': must be an integer"),
        ({"levels": True}, "key 'strategy.params.levels'"),
        ({"spacing": -0.1}, "key 'strategy.params.spacing': must be greater than 0"),
        ({"spacing": 0.9}, "key 'strategy.params.spacing': must be greater than 0 and at most"),
        ({"amount": "lots"}, "key 'strategy.params.amount': must be a number"),
        ({"symbol": 7}, "key 'strategy.params.symbol'"),
        ({"levls": 3}, "key 'strategy.params.levls': unknown parameter of strategy"),
    ],
)
def test_grid_validates_its_params(params: dict[str, object], expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_strategy("tradeguard.strategies.grid:Grid", **params)
    assert expected in str(info.value)
