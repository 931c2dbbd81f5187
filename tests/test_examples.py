"""The examples in ``examples/`` run as written, from a fresh directory, on the simulator."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def _run_example(name: str, cwd: Path) -> str:
    # A fresh user: no config file, no exchange keys in the environment.
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRADEGUARD_")}
    proc = subprocess.run([sys.executable, str(EXAMPLES / name)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def test_quickstart_trades_on_the_builtin_simulator_and_recovers(tmp_path: Path) -> None:
    first = _run_example("quickstart.py", tmp_path)
    assert re.search(r"session open on built-in simulator at http://127\.0\.0\.1:\d+; "
                     r"previous shutdown clean", first), first
    placed = re.search(r"placed (tg\S+-(\d+)): buy 0\.001 BTC/USDT at [\d.]+, open", first)
    assert placed, first
    assert f"canceled {placed.group(1)}: canceled" in first
    assert "open orders: 0; balances: BTC 1, ETH 10, USDT 100000" in first
    assert first.rstrip().endswith("closed cleanly")
    # The default store is ./tradeguard-data of the directory it ran in.
    assert (tmp_path / "tradeguard-data" / "tradeguard.db").is_file()
    assert (tmp_path / "tradeguard-data" / "simulator-state.json").is_file()

    second = _run_example("quickstart.py", tmp_path)
    assert "previous shutdown clean" in second
    again = re.search(r"placed (tg\S+-(\d+)):", second)
    assert again, second
    assert int(again.group(2)) > int(placed.group(2))  # the same journal, continued
