"""``run_trading`` on the built-in simulator, and the ``flags`` / ``resolve`` commands."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

from typer.testing import CliRunner

import tradeguard.cli.trade_cmd as trade_cmd
from tradeguard.app.service import LocalService
from tradeguard.cli.app import app
from tradeguard.config import Config, StorageSettings
from tradeguard.domain import FlagRaised, FlagSeverity
from tradeguard.domain.ids import FlagId, Symbol
from tradeguard.session import SessionSettings
from tradeguard.web.config import HttpSettings


def _config(tmp_path: Path) -> Config:
    return Config(
        storage=StorageSettings(
            url=f"sqlite:///{tmp_path / 'data'}",
            backup_every_seconds=86_400.0,
            backup_dir=str(tmp_path / "backups"),
        ),
        http=HttpSettings(port=0),  # never the fixed default port in tests
    )


async def test_run_trading_runs_the_grid_on_the_builtin_simulator(tmp_path: Path) -> None:
    config = _config(tmp_path)
    settings = SessionSettings(poll_interval_seconds=0.2, tick_interval_seconds=0.2)
    summary = await trade_cmd.run_trading(
        config, config.storage.url, duration_s=3.0, show=False, settings=settings
    )
    assert summary["exchange"].startswith("built-in simulator at http://127.0.0.1:")
    assert summary["stopped_by_signal"] is False
    assert summary["dashboard"].startswith("http://127.0.0.1:")
    assert summary["orders"] >= 6  # the first tick quotes 3 levels a side
    assert summary["unresolved"] == 0
    assert summary["startup"].reconcile.complete
    # A second run on the same store recovers a clean shutdown.
    again = await trade_cmd.run_trading(
        config, config.storage.url, duration_s=0.5, show=False, settings=settings
    )
    assert again["startup"].unclean_shutdown is False
    assert again["last_seq"] > summary["last_seq"]


def _raise_flag(config: Config) -> None:
    async def go() -> None:
        service = await LocalService.start(config, config.storage.url)
        try:
            await service.append(
                [
                    FlagRaised(
                        ts_ns=time.time_ns(),
                        flag_id=FlagId("f1"),
                        severity=FlagSeverity.WARNING,
                        kind="external_order",
                        symbol=Symbol("BTC/USDT"),
                        message="not ours",
                        actions=("adopt", "ignore"),
                    )
                ]
            )
        finally:
            await service.close()

    asyncio.run(go())


def test_flags_and_resolve_commands(tmp_path: Path) -> None:
    config = _config(tmp_path)
    _raise_flag(config)
    data = ["--data-dir", str(tmp_path / "data")]
    runner = CliRunner()
    listed = runner.invoke(app, ["flags", *data, "--json"])
    assert listed.exit_code == 0, listed.output
    payload = json.loads(listed.stdout)
    assert payload["open"] == 1
    assert [f["flag_id"] for f in payload["flags"]] == ["f1"]
    assert payload["flags"][0]["actions"] == ["adopt", "ignore"]

    refused = runner.invoke(app, ["resolve", "f1", "--action", "bogus", *data, "--json"])
    assert refused.exit_code == 2
    assert "allowed: adopt, ignore" in json.loads(refused.stdout)["error"]
    unknown = runner.invoke(app, ["resolve", "nope", "--action", "adopt", *data, "--json"])
    assert unknown.exit_code == 2
    assert "no flag 'nope'" in json.loads(unknown.stdout)["error"]

    done = runner.invoke(
        app, ["resolve", "f1", "--action", "ignore", "--note", "checked", *data, "--json"]
    )
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout)["flag"]["resolution_action"] == "ignore"
    after = json.loads(runner.invoke(app, ["flags", *data, "--json", "--all"]).stdout)
    assert after["open"] == 0
    assert after["flags"][0]["resolution_note"] == "checked"
    again = runner.invoke(app, ["resolve", "f1", "--action", "ignore", *data, "--json"])
    assert again.exit_code == 2
    assert "already resolved" in json.loads(again.stdout)["error"]
