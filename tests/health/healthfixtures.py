"""Helpers for the health tests: a healthy store (closed cleanly with its snapshot, one
complete reconciliation against the simulator, one backup) and the CLI in-process."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from tradeguard.app.service import LocalService
from tradeguard.cli.main import app
from tradeguard.config import Config, StorageSettings

__all__ = ["cli", "healthy_store"]


def cli(*args: str) -> tuple[int, Any]:
    """Run a tradeguard command in-process; its JSON output parsed when there is some."""
    result = CliRunner().invoke(app, list(args))
    out = result.stdout.strip()
    try:
        return result.exit_code, json.loads(out.splitlines()[-1]) if out else None
    except json.JSONDecodeError:
        return result.exit_code, out


def healthy_store(data_dir: Path, sim_url: str) -> None:
    """A store whose every store-side check is ok: opened and closed cleanly (final
    snapshot), reconciled once against the simulator, backed up."""

    async def start_and_close() -> None:
        config = Config(storage=StorageSettings(url=f"sqlite:///{data_dir}"))
        service = await LocalService.start(config, config.storage.url)
        await service.close()

    asyncio.run(start_and_close())
    code, out = cli("reconcile", "--data-dir", str(data_dir), "--exchange-url", sim_url, "--json")
    assert code == 0, out
    code, out = cli("backup", "--data-dir", str(data_dir), "--json")
    assert code == 0, out
