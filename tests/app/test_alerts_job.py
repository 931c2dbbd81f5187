"""The runtime's alerts on the built-in simulator, a real SQLite store and a real json://
webhook on 127.0.0.1: a check turning critical and recovering is alerted and journaled
(``AlertSent``), a restart does not send it again, and a channel that cannot be used
stops ``tradeguard run`` at start with one line."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from test_health_job import DROP_TIME, FAST, fault, health_config, sim_url, status_of, until

from alerts.receivers import Hook, webhook
from tradeguard.alerts import catalog
from tradeguard.alerts.config import AlertsConfig
from tradeguard.app.runtime import Runtime
from tradeguard.domain.events import AlertSent
from tradeguard.errors import StaleEpochError
from tradeguard.storage import open_store
from tradeguard.storage.codec import decode_records

__all__ = ["webhook"]  # the shared receiver fixture (tests/alerts/receivers.py)


def sent_keys(runtime: Runtime) -> list[tuple[str, int]]:
    return [
        (event.key, event.alert_ts_ns)
        for _, event in decode_records(runtime.service.store.read())
        if isinstance(event, AlertSent)
    ]


async def test_critical_and_recovered_alerts_arrive_and_are_not_resent_after_restart(
    tmp_path: Path, webhook: Hook
) -> None:
    alerts = AlertsConfig(urls=(webhook.url(),), retry_attempts=0, timeout_seconds=5)
    config = health_config(tmp_path, alerts=alerts)
    critical_key = "default:check:exchange_reachable:critical"
    recovered_key = "default:check:exchange_reachable:recovered"
    sim_state = tmp_path / "simulator.json"  # the same exchange across both runs
    async with Runtime(config, config.storage.url, settings=FAST, sim_state_path=sim_state,
                       handle_signals=False) as runtime:
        await until(lambda: status_of(runtime, "exchange_reachable") == "ok", "a first round")
        await fault(sim_url(runtime), DROP_TIME)
        await until(lambda: bool(webhook.titles("exchange_reachable is critical")),
                    "the critical alert arrived")
        await fault(sim_url(runtime), None)
        await until(lambda: bool(webhook.titles("exchange_reachable recovered")),
                    "the recovery alert arrived")

        def journaled() -> set[str]:
            return {key for key, _ in sent_keys(runtime)}

        await until(lambda: {critical_key, recovered_key} <= journaled(), "AlertSent journaled")
        first_run = sent_keys(runtime)
    assert len(webhook.titles("exchange_reachable")) == 2

    posts_before = len(webhook.posts)
    async with Runtime(config, config.storage.url, settings=FAST, sim_state_path=sim_state,
                       handle_signals=False) as again:
        assert again.alerts is not None
        # The same alert again (a replay of the same cause) is not sent: the journal
        # says the first run sent it.
        key, ts = next(pair for pair in first_run if pair[0] == critical_key)
        replay = catalog.check_critical("default", "exchange_reachable", "critical", "x", ts)
        assert replay.key == key
        again.alerts.notify(replay)
        assert again.alerts.dispatcher.stats.suppressed["already_sent"] == 1
        await until(lambda: status_of(again, "exchange_reachable") == "ok", "a round")
        await again.alerts.dispatcher.drain()
    assert webhook.posts[posts_before:] == []  # nothing resent (recovery is below the floor)


async def test_run_with_an_unset_alert_variable_exits_2_with_one_line(tmp_path: Path) -> None:
    config = tmp_path / "tradeguard.toml"
    config.write_text('[alerts]\nurls_env = ["TG_ALERT_UNSET_FOR_RUN_TEST"]\n', encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k != "TG_ALERT_UNSET_FOR_RUN_TEST"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tradeguard", "run", "--no-http", "--config", str(config),
        "--data-dir", str(tmp_path / "data"),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode == 2, (out, err)
    lines = err.decode().strip().splitlines()
    assert len(lines) == 1, lines
    assert "alerts.urls_env[0]" in lines[0]
    assert "TG_ALERT_UNSET_FOR_RUN_TEST is not set" in lines[0]
    assert not (tmp_path / "data" / "simulator-state.json").exists()  # no exchange started


async def test_flags_raised_by_reconciliation_are_alerted_once_each(
    tmp_path: Path, webhook: Hook
) -> None:
    alerts = AlertsConfig(urls=(webhook.url(),), retry_attempts=0, timeout_seconds=5)
    config = health_config(tmp_path, alerts=alerts)
    async with Runtime(config, config.storage.url, settings=FAST,
                       handle_signals=False) as runtime:
        await until(lambda: bool(runtime.session.open_orders()), "the grid placed orders")
    # A fresh simulator has never heard of those orders: reconciliation flags each.
    async with Runtime(config, config.storage.url, settings=FAST,
                       handle_signals=False) as again:
        flags = {f.flag_id for f in again.session.state.open_flags()}
        assert flags, "the restart against a fresh exchange raised flags"
        keys = {f"default:flag:{flag_id}" for flag_id in flags}
        await until(lambda: keys <= {k for k, _ in sent_keys(again)}, "every flag alerted")
        titles = webhook.titles("manual intervention needed")
        assert len(titles) == len(flags), titles  # once each, though seen twice (state, scan)


async def test_a_fenced_run_alerts_before_it_stops(tmp_path: Path, webhook: Hook) -> None:
    alerts = AlertsConfig(urls=(webhook.url(),), retry_attempts=0, timeout_seconds=5)
    config = health_config(tmp_path, alerts=alerts)
    async with Runtime(config, config.storage.url, settings=FAST,
                       handle_signals=False) as runtime:
        with open_store(config.storage.url, session_id=config.storage.session_id) as other:
            other.advance_epoch()  # another writer takes the session over
        await runtime.wait()  # returns by itself: fenced
    assert isinstance(runtime.failure, StaleEpochError)
    titles = webhook.titles("fenced by another writer")
    assert len(titles) == 1, webhook.posts
