"""What the CLI prints for people and scripts: one-line errors, --version, 80 columns."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

import tradeguard
from tradeguard.app.service import LocalService
from tradeguard.config import Config, StorageSettings
from tradeguard.domain.enums import FlagSeverity
from tradeguard.domain.events import FlagRaised
from tradeguard.domain.ids import FlagId
from tradeguard.storage.url import store_url_for_dir

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


# --- 80 columns: what the user types next is never cut off ----------------------------


LONG_FLAG_ID = "reconcile-vanished_order-tgdefaultabc123-000000123456"
ACTIONS = ("cancel_on_exchange", "mark_canceled", "accept_exchange_state")


@pytest.fixture(scope="module")
def demo_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A journal-demo store (orders, fills) plus one open flag with a long id."""
    data = tmp_path_factory.mktemp("demo") / "data"
    proc = tg("journal-demo", "--data-dir", str(data), "--events", "400", "--traders", "2",
              "--json")
    assert proc.returncode == 0, proc.stderr

    async def raise_flag() -> None:
        cfg = Config(storage=StorageSettings(url=store_url_for_dir(data)))
        service = await LocalService.start(cfg, cfg.storage.url)
        try:
            await service.append([FlagRaised(
                ts_ns=time.time_ns(), flag_id=FlagId(LONG_FLAG_ID),
                severity=FlagSeverity.CRITICAL, kind="vanished_order",
                message="order tgdefaultabc123-000000123456 is open here but the exchange "
                        "does not know it", actions=ACTIONS)])
        finally:
            await service.close()

    asyncio.run(raise_flag())
    return data


def test_flags_at_80_columns_show_ids_actions_and_the_command(demo_store: Path) -> None:
    proc = tg("flags", "--data-dir", str(demo_store), columns=80)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert any(LONG_FLAG_ID in line for line in lines), proc.stdout
    for action in ACTIONS:
        assert f"tradeguard resolve {LONG_FLAG_ID} --action {action}" in lines[
            next(i for i, line in enumerate(lines) if action in line)]
    assert "…" not in proc.stdout


def test_status_at_80_columns_shows_full_client_ids(demo_store: Path) -> None:
    code_json = tg("status", "--data-dir", str(demo_store), "--json")
    report = json.loads(code_json.stdout)
    assert report["open_orders"], "the demo left no open order to show"
    proc = tg("status", "--data-dir", str(demo_store), columns=80)
    assert proc.returncode == 0, proc.stderr
    assert "…" not in proc.stdout
    for order in report["open_orders"]:
        assert order["client_order_id"] in proc.stdout.split(), order
    assert f"tradeguard resolve {LONG_FLAG_ID} --action mark_canceled" in proc.stdout


def journal_json(data: Path, *args: str) -> dict[str, Any]:
    proc = tg("journal", "--data-dir", str(data), "--json", *args)
    assert proc.returncode == 0, proc.stderr
    answer: dict[str, Any] = json.loads(proc.stdout)
    return answer


def test_journal_shows_the_newest_records_by_default(demo_store: Path) -> None:
    answer = journal_json(demo_store)
    seqs = [r["seq"] for r in answer["records"]]
    assert seqs == list(range(answer["last_seq"] - 49, answer["last_seq"] + 1))
    tail = journal_json(demo_store, "--tail", "5")
    assert [r["seq"] for r in tail["records"]] == seqs[-5:]
    after = journal_json(demo_store, "--after", "0", "--limit", "3")
    assert [r["seq"] for r in after["records"]] == [1, 2, 3]
    text = tg("journal", "--data-dir", str(demo_store), "--tail", "3", columns=80).stdout
    assert f"newest 3 of {answer['last_seq']:,}" in text
    assert str(answer["last_seq"]) in text.split()


def test_journal_filters_by_type_and_symbol(demo_store: Path) -> None:
    everything = journal_json(demo_store, "--after", "0", "--limit", "100000")["records"]
    types = {r["type"] for r in everything}
    assert "flag_raised" in types
    flagged = journal_json(demo_store, "--type", "flag_raised")["records"]
    assert [r["data"]["flag_id"] for r in flagged] == [LONG_FLAG_ID]
    symbols = {r["data"]["symbol"] for r in everything if r["data"].get("symbol")}
    symbol = sorted(symbols)[0]
    some_type = next(r["type"] for r in everything if r["data"].get("symbol") == symbol)
    expected = [r["seq"] for r in everything
                if r["type"] == some_type and r["data"].get("symbol") == symbol][-7:]
    found = journal_json(demo_store, "--type", some_type, "--symbol", symbol, "--tail", "7")
    assert [r["seq"] for r in found["records"]] == expected
    assert all(r["data"]["symbol"] == symbol for r in found["records"])
    # Acknowledgements name the order, not the symbol: they belong to the symbol too.
    ours = {r["data"]["client_order_id"] for r in everything
            if r["type"] == "order_intended" and r["data"]["symbol"] == symbol}
    acks = [r["seq"] for r in everything if r["type"] == "order_acknowledged"
            and r["data"]["client_order_id"] in ours][-5:]
    assert acks, "the demo acknowledged no order on that symbol"
    found = journal_json(demo_store, "--type", "order_acknowledged", "--symbol", symbol,
                         "--tail", "5")
    assert [r["seq"] for r in found["records"]] == acks


def test_chaos_explains_acknowledged_versus_on_the_exchange(tmp_path: Path) -> None:
    proc = tg("chaos", "--cycles", "1", "--seed", "11", "--data-dir", str(tmp_path / "c"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "acknowledged: orders the strategy saw accepted before a kill; on the exchange: " \
        "orders with our client ids the exchange holds." in proc.stdout
    acked = int(proc.stdout.split("orders acknowledged")[1].split()[1])
    on_exchange = int(proc.stdout.split("orders on the exchange")[1].split()[1])
    if on_exchange > acked:
        assert f"The {on_exchange - acked} more on the exchange were accepted there" in proc.stdout
    else:
        assert "Equal: every order that reached the exchange was acknowledged." in proc.stdout


def test_order_count_explanations() -> None:
    from tradeguard.cli.chaos_cmd import explain_order_counts

    assert "The 1 more on the exchange" in explain_order_counts(56, 57, duplicates=0)
    assert "None was sent twice" in explain_order_counts(56, 57, duplicates=0)
    assert "missing on the exchange" in explain_order_counts(57, 56, duplicates=0)


def test_journal_table_keeps_client_order_ids_whole_at_80_columns(demo_store: Path) -> None:
    records = journal_json(demo_store, "--type", "order_intended", "--tail", "3")["records"]
    ids = [r["data"]["client_order_id"] for r in records]
    assert ids
    text = tg("journal", "--data-dir", str(demo_store), "--type", "order_intended",
              "--tail", "3", columns=80).stdout
    assert max(len(line) for line in text.splitlines()) <= 80
    for client_id in ids:
        assert f"client_order_id={client_id}" in text, text


def test_run_summary_is_one_line_of_its_own_off_a_terminal(tmp_path: Path) -> None:
    proc = tg("run", "--http", "127.0.0.1:0", "--data-dir", str(tmp_path / "data"),
              "--duration", "3", columns=80)
    assert proc.returncode == 0, proc.stderr
    summary = [line for line in proc.stdout.splitlines() if "stopped cleanly" in line]
    assert len(summary) == 1, proc.stdout
    assert summary[0].startswith("stopped cleanly: ")
    assert "journal seq" in summary[0]
