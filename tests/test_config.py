"""Config decoding: defaults, strictness, and errors that name key, file and line."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from tradeguard.config import Config, load_config, parse_config
from tradeguard.errors import ConfigError


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
    assert config.backup_dir == Path("x/backups")


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
