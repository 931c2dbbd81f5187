"""The running service's alerts, against the real thing: a Runtime (or a ``tradeguard
run`` process) on the built-in simulator and a real SQLite store, alerting real
receivers on 127.0.0.1 (tests/alerts/receivers.py).

- Receivers that are down (connection refused) or hang (accept, never answer) do not
  hold up trading: orders are placed and journaled while a send is stuck; the failure
  is journaled (``AlertFailed``) after the retries.
- An unclean shutdown found at start is alerted after ``kill -9``, and so is the
  recovery that follows, with its figures (replayed, quarantined, duration).
- A store that fails (fsync refused, through libfiu) sends the critical alert though
  nothing can be journaled any more.
- An incomplete reconciliation (the exchange answers 5xx) is alerted with what it could
  not check.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
import sqlite3
import sys
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from test_health_job import FAST, fault, health_config, sim_url, until

from alerts.receivers import Hook, StuckReceiver, free_port, stuck_receiver, webhook
from tradeguard.alerts import catalog
from tradeguard.alerts.config import AlertsConfig, mask_url
from tradeguard.app.runtime import Runtime
from tradeguard.domain.enums import OrderStatus
from tradeguard.domain.events import (
    AlertFailed,
    AlertSent,
    AnyEvent,
    OrderIntended,
    ReconciliationReported,
)
from tradeguard.storage import open_store
from tradeguard.storage.codec import decode_records

__all__ = ["stuck_receiver", "webhook"]  # the shared receiver fixtures

SESSION = "default"


class _Busy:
    """Places a small market order every tick, alternating sides: its progress is the
    journal's ``OrderIntended`` records."""

    symbols = ("BTC/USDT",)

    def __init__(self) -> None:
        self.placed = 0

    async def on_start(self, session: Any) -> None:
        return None

    async def on_tick(self, session: Any) -> None:
        side = "buy" if self.placed % 2 == 0 else "sell"
        await session.submit_order("BTC/USDT", side, "market", Decimal("0.001"))
        self.placed += 1

    def recovery_action(self, order: Any) -> Any:
        return "drop"


def journal(runtime: Runtime) -> list[AnyEvent]:
    """Every event the running service has journaled so far."""
    return [event for _, event in decode_records(runtime.service.store.read())]


def of_type(runtime: Runtime, kind: type[Any]) -> list[Any]:
    return [event for event in journal(runtime) if isinstance(event, kind)]


async def test_receivers_that_are_down_or_hang_do_not_hold_up_trading(
    tmp_path: Path, stuck_receiver: StuckReceiver, webhook: Hook
) -> None:
    refused = f"json://127.0.0.1:{free_port()}/hook"
    alerts = AlertsConfig(
        urls=(stuck_receiver.url(), refused, webhook.url()),
        min_severity="info",  # the start-up's "recovery finished" goes out
        retry_attempts=1, retry_backoff_seconds=0.05,
        timeout_seconds=120,  # the hanging receiver holds a send until it is released
    )
    config = health_config(tmp_path, alerts=alerts)
    async with Runtime(config, config.storage.url, settings=FAST, strategy=_Busy(),
                       handle_signals=False) as runtime:
        assert runtime.alerts is not None
        stats = runtime.alerts.dispatcher.stats
        await until(lambda: stuck_receiver.holding == 1,
                    "the hanging receiver holds the start-up alert")
        await until(lambda: bool(webhook.titles("recovery finished")),
                    "the working channel got it meanwhile")
        intended = len(of_type(runtime, OrderIntended))
        # While that send is stuck: a submit goes through, and the strategy goes on.
        order = await runtime.session.submit_order("BTC/USDT", "buy", "market",
                                                   Decimal("0.001"))
        assert order.status in (OrderStatus.OPEN, OrderStatus.PARTIALLY_FILLED,
                                OrderStatus.FILLED), order
        await until(lambda: len(of_type(runtime, OrderIntended)) >= intended + 5,
                    "the strategy kept placing (and journaling) orders")
        # All that happened with the send still held: one request, unanswered, unsettled.
        assert (stuck_receiver.holding, stuck_receiver.connections) == (1, 1)
        assert (stats.sent, stats.failed) == (0, 0)
        assert of_type(runtime, AlertFailed) == []

        stuck_receiver.release()  # the connection closes unanswered; the retry too

        def failed_alerts() -> list[AlertFailed]:
            key = f"{SESSION}:recovery_finished"
            return [e for e in of_type(runtime, AlertFailed) if e.key == key]

        await until(lambda: bool(failed_alerts()), "AlertFailed journaled")
        [failed] = failed_alerts()
        assert stuck_receiver.connections == 2  # the first attempt and one retry
        errors = dict(part.split(": ", 1) for part in failed.error.split("; "))
        assert set(errors) == {mask_url(stuck_receiver.url()), mask_url(refused)}
        assert all(e.startswith("delivery failed") for e in errors.values()), errors
        assert stats.failed >= 1
        after = len(of_type(runtime, OrderIntended))
        await until(lambda: len(of_type(runtime, OrderIntended)) > after,
                    "trading goes on after the failure")
        assert runtime.jobs.snapshot()["strategy"].failures == 0
    assert len(webhook.titles("recovery finished")) == 1


async def test_an_incomplete_reconciliation_is_alerted_with_what_it_did_not_check(
    tmp_path: Path, webhook: Hook
) -> None:
    alerts = AlertsConfig(urls=(webhook.url(),), retry_attempts=0, timeout_seconds=5)
    config = health_config(tmp_path, alerts=alerts)
    key = f"{SESSION}:reconciliation_incomplete"
    async with Runtime(config, config.storage.url, settings=FAST,
                       handle_signals=False) as runtime:
        # The exchange's balance endpoint answers 503: reconciliation cannot check them.
        await fault(sim_url(runtime), {"path": "/api/v3/account", "method": "GET",
                                       "action": "status", "status": 503,
                                       "count": 1_000_000})
        await until(lambda: bool(webhook.titles("reconciliation incomplete")),
                    "the incomplete reconciliation was alerted")
        await fault(sim_url(runtime), None)
        await until(lambda: any(e.key == key for e in of_type(runtime, AlertSent)),
                    "AlertSent journaled")
        incomplete = [e for e in of_type(runtime, ReconciliationReported) if not e.complete]
        [sent] = [e for e in of_type(runtime, AlertSent) if e.key == key]
    first = incomplete[0]
    # Only the balances could not be checked, and it says why.
    assert [u.split(":", 1)[0] for u in first.unchecked] == ["balances"], first
    assert "HTTP 503" in first.unchecked[0]
    assert sent.alert_ts_ns == first.ts_ns  # the alert is the first incomplete run's
    body = webhook.message("reconciliation incomplete")
    assert body == catalog.reconciliation_incomplete(SESSION, first).body
    assert body.startswith("Not checked: balances: fetch failed"), body
    assert len(webhook.titles("reconciliation incomplete")) == 1  # later ones: cool-down


# --- `tradeguard run` processes: kill -9, a failing disk -------------------------------

TRADEGUARD = [sys.executable, "-m", "tradeguard"]


def run_config(tmp_path: Path, hook: Hook) -> Path:
    path = tmp_path / "tradeguard.toml"
    path.write_text(
        f'[alerts]\nurls = ["{hook.url()}"]\nretry_attempts = 0\ntimeout_seconds = 5\n'
        "[reconcile]\ninterval_seconds = 0.3\n[health]\ninterval_seconds = 0.5\n",
        encoding="utf-8",
    )
    return path


async def start_run(config: Path, data: Path, *prefix: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        *prefix, *TRADEGUARD, "run", "--config", str(config), "--data-dir", str(data),
        "--no-http", "--json",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def query(data: Path, sql: str, *args: object) -> list[tuple[Any, ...]]:
    """Read the store's file directly (read-only: the service may be writing it)."""
    conn = sqlite3.connect(f"file:{data / 'tradeguard.db'}?mode=ro", uri=True)
    try:
        return conn.execute(sql, args).fetchall()
    except sqlite3.OperationalError:  # not created yet
        return []
    finally:
        conn.close()


async def until_in_store(data: Path, condition: Callable[[], bool], what: str,
                         proc: asyncio.subprocess.Process) -> None:
    for _ in range(1200):  # a bound only so a broken build fails instead of hanging
        if (data / "tradeguard.db").exists() and condition():
            return
        if proc.returncode is not None:
            _out, err = await proc.communicate()
            raise AssertionError(f"run exited {proc.returncode} before {what}: {err!r}")
        await asyncio.sleep(0.05)
    raise AssertionError(f"never happened: {what}")


def acked_orders(data: Path) -> int:
    rows = query(data, "SELECT count(*) FROM journal WHERE type = 'order_acknowledged'")
    return rows[0][0] if rows else 0  # no journal table yet: the store is being created


def sent_keys(data: Path) -> set[str]:
    """The keys of every ``AlertSent`` in the store (opened read-only)."""
    with open_store(data, readonly=True) as store:
        return {e.key for _, e in decode_records(store.read()) if isinstance(e, AlertSent)}


def last_log_record(data: Path, event: str) -> dict[str, Any]:
    lines = (data / "logs" / "tradeguard.log").read_text().splitlines()
    records = [json.loads(line) for line in lines if f'"event": "{event}"' in line]
    return records[-1]


async def test_kill_9_then_restart_alerts_the_unclean_shutdown_and_the_recovery_figures(
    tmp_path: Path, webhook: Hook
) -> None:
    config, data = run_config(tmp_path, webhook), tmp_path / "data"
    first = await start_run(config, data)
    try:
        await until_in_store(data, lambda: acked_orders(data) >= 2, "orders placed", first)
    finally:
        first.kill()
        await first.communicate()
    assert first.returncode == -signal.SIGKILL
    [(killed_run,)] = query(data, "SELECT run_id FROM runs WHERE stopped_ns IS NULL")
    # The crash tore the last record (half its payload written): recovery quarantines it.
    [(last, payload)] = query(data, "SELECT seq, payload FROM journal ORDER BY seq DESC "
                                    "LIMIT 1")
    conn = sqlite3.connect(data / "tradeguard.db", isolation_level=None)
    conn.execute("UPDATE journal SET payload = ? WHERE seq = ?",
                 (payload[: len(payload) // 2], last))
    conn.close()
    [(snapshot,)] = query(data, "SELECT max(seq) FROM snapshots WHERE seq < ?", last)

    again = await start_run(config, data)
    try:
        for what in ("unclean shutdown found at start", "recovery finished"):
            await until(lambda what=what: bool(webhook.titles(what)), f"alert: {what}")
    finally:
        if again.returncode is None:
            again.send_signal(signal.SIGTERM)
        out, err = await again.communicate()
    assert again.returncode == 0, err
    summary = json.loads(out)
    assert summary["startup"]["unclean_shutdown"] is True

    unclean = webhook.message("unclean shutdown found at start")
    assert unclean.startswith(f"Run {killed_run} did not stop cleanly"), unclean
    figures = webhook.message("recovery finished")
    found = re.fullmatch(
        r"Snapshot: (none|seq \d+); replayed (\d+) events up to seq (\d+); quarantined "
        r"records: (\d+); accepted loss: no; took (\d+) ms\.", figures)
    assert found is not None, figures
    snapshot_text, replayed, up_to, quarantined, took_ms = found.groups()
    assert snapshot_text == ("none" if snapshot is None else f"seq {snapshot}")
    assert int(up_to) == last - 1  # everything before the torn record
    assert int(quarantined) == 1
    assert int(replayed) == last - 1 - (snapshot or 0)
    # The same recovery the service logged (its duration is measured once).
    logged = last_log_record(data, "local recovery done")
    assert (logged["replayed_events"], logged["quarantined_records"], logged["last_seq"]) == (
        int(replayed), 1, last - 1)
    assert abs(int(took_ms) - logged["duration_ms"]) <= 1
    # A lossy recovery is a warning; both were journaled as sent.
    [recovery_post] = [p for p in webhook.payloads if "recovery finished" in p["title"]]
    assert recovery_post["type"] == "warning"
    assert {f"{SESSION}:unclean_shutdown", f"{SESSION}:recovery_finished"} <= sent_keys(data)


FIU_RUN = shutil.which("fiu-run")
FIU_CTRL = shutil.which("fiu-ctrl")


@pytest.mark.skipif(
    FIU_RUN is None or FIU_CTRL is None,
    reason="LOUD SKIP: fiu-utils is not installed (apt-get install fiu-utils; `make test` "
    "does it), so the store-poisoned alert was NOT tested against a real failing fsync",
)
async def test_a_store_whose_fsync_fails_sends_the_critical_alert(
    tmp_path: Path, webhook: Hook
) -> None:
    assert FIU_RUN is not None
    assert FIU_CTRL is not None
    config, data = run_config(tmp_path, webhook), tmp_path / "data"
    fifo = tmp_path / "fiu"
    proc = await start_run(config, data, FIU_RUN, "-x", "-f", str(fifo))
    try:
        await until_in_store(data, lambda: acked_orders(data) >= 1, "orders placed", proc)
        # From now on every fdatasync (how SQLite commits on Linux) fails with EIO.
        ctrl = await asyncio.create_subprocess_exec(
            FIU_CTRL, "-f", str(fifo), "-c", "enable name=posix/io/sync/fdatasync,failinfo=5",
            str(proc.pid), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        _, ctrl_err = await ctrl.communicate()
        assert ctrl.returncode == 0, ctrl_err
        out, err = await asyncio.wait_for(proc.communicate(), 120)  # it stops by itself
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.communicate()
    assert proc.returncode == 2, (out, err)
    report = json.loads(out)  # --json: the error as JSON on stdout
    assert report["error_type"] == "StoreFailedError", report
    # The failing fdatasync is SQLite's COMMIT or the high-water mark's, whichever came first.
    assert re.search(r"disk I/O error|Input/output error", report["error"]), report
    [title] = webhook.titles("store poisoned")
    assert title == f"tradeguard {SESSION}: store poisoned, trading stopped"
    body = webhook.message("store poisoned")
    # The alert says what the run's own exit says.
    assert body == f"The journal could not be written and the store was closed: {report['error']}"
    [payload] = [p for p in webhook.payloads if "store poisoned" in p["title"]]
    assert payload["type"] == "failure"  # critical
    # It could not be journaled (the store refuses writes), and nothing claims it was.
    assert f"{SESSION}:store_poisoned" not in sent_keys(data)
