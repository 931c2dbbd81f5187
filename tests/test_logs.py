"""The log file is rotated by size and keeps a bounded number of old files."""

from __future__ import annotations

import logging
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tradeguard.config import parse_config
from tradeguard.logs import configure_logging, get_logger
from tradeguard.sim import SimulatorConfig, SimulatorThread


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    saved, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        root.removeHandler(handler)
        handler.close()
    for handler in saved:
        root.addHandler(handler)
    root.setLevel(level)


def test_log_file_rotates_and_keeps_files_to_keep(tmp_path: Path) -> None:
    config = parse_config("[log]\nmax_file_bytes = 4096\nfiles_to_keep = 3\n")
    log_file = tmp_path / "logs" / "tradeguard.log"
    configure_logging(level="info", fmt="json", log_file=log_file, stream_level="critical",
                      max_file_bytes=config.log.max_file_bytes,
                      files_to_keep=config.log.files_to_keep)
    log = get_logger("tradeguard.test")
    for n in range(2000):  # about 200 KB of lines: many rotations
        log.info("order acknowledged", seq=n, client_order_id=f"tgdefault-{n:08d}")
    files = sorted(p.name for p in log_file.parent.iterdir())
    assert files == ["tradeguard.log", "tradeguard.log.1", "tradeguard.log.2",
                     "tradeguard.log.3"]
    for path in log_file.parent.iterdir():
        assert path.stat().st_size <= 4096
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    # The newest line is in the current file, and the oldest kept file is older.
    assert '"seq": 1999' in log_file.read_text()
    assert '"seq": 1999' not in (log_file.parent / "tradeguard.log.3").read_text()


def test_rotation_defaults_are_bounded() -> None:
    config = parse_config("")
    assert config.log.max_file_bytes == 10_000_000
    assert config.log.files_to_keep == 5


API_KEY = "tgKEY9f3b2c7d1e8a6054keyMUSTneverBEseen"
API_SECRET = "tgSECRET4e1d9c0b7a2f68secretMUSTneverBEseen"


def test_api_key_and_secret_never_reach_the_log_at_debug_level(tmp_path: Path) -> None:
    """A real run at debug level (ccxt logs every request with its headers at debug)
    against a simulator that accepts only this key: the key and secret are used, and
    appear nowhere in the log file, stdout or stderr."""
    config = SimulatorConfig(seed=3, tick_interval_ms=0, api_key=API_KEY, api_secret=API_SECRET)
    with SimulatorThread(config) as sim:
        toml = tmp_path / "tradeguard.toml"
        toml.write_text(f'[exchange]\nurl = "{sim.url}"\n\n[log]\nlevel = "debug"\n')
        data = tmp_path / "data"
        env = {**os.environ, "TRADEGUARD_API_KEY": API_KEY, "TRADEGUARD_API_SECRET": API_SECRET}
        proc = subprocess.run(
            [sys.executable, "-m", "tradeguard", "run", "--no-http", "--config", str(toml),
             "--data-dir", str(data), "--duration", "3", "--json"],
            capture_output=True, text=True, timeout=180, check=False, env=env,
        )
    assert proc.returncode == 0, proc.stderr[-3000:]
    logs = "".join(p.read_text() for p in (data / "logs").iterdir())
    assert '"level": "debug"' in logs  # debug lines were written (ccxt's requests among them)
    assert "X-MBX-APIKEY" in logs or "x-mbx-apikey" in logs.lower()
    for secret in (API_KEY, API_SECRET):
        assert secret not in logs
        assert secret not in proc.stdout
        assert secret not in proc.stderr
