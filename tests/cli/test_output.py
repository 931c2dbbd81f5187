"""What the CLI prints for people and scripts: one-line errors, --version, 80 columns."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import tradeguard

TRADEGUARD = [sys.executable, "-m", "tradeguard"]


def tg(
    *args: str, cwd: Path | None = None, columns: int | None = None
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ}
    if columns is not None:
        env["COLUMNS"] = str(columns)
    return subprocess.run([*TRADEGUARD, *args], capture_output=True, text=True, timeout=120,
                          check=False, cwd=cwd, env=env)


def test_version() -> None:
    proc = tg("--version")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(f"tradeguard {tradeguard.__version__}")


def test_error_is_one_unwrapped_line_without_class_name(tmp_path: Path) -> None:
    # A long path: rich would hard-wrap it at 80 columns when stderr is not a terminal.
    missing = tmp_path / ("a-rather-long-directory-name-" * 4) / "tradeguard.toml"
    proc = tg("status", "--config", str(missing))
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert lines == [f"error: config file {missing} does not exist"]
    assert "ConfigError" not in proc.stderr


def test_json_error_keeps_the_error_type(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    proc = tg("status", "--config", str(missing), "--json")
    assert proc.returncode == 2
    answer = json.loads(proc.stdout)
    assert answer == {"ok": False, "error": f"config file {missing} does not exist",
                      "error_type": "ConfigError"}


def test_error_text_is_not_read_as_markup(tmp_path: Path) -> None:
    config = tmp_path / "tradeguard.toml"
    config.write_text("[storage]\n[storage.nested]\nx = 1\n")
    proc = tg("status", "--config", str(config))
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1
    assert "storage.nested" in proc.stderr
