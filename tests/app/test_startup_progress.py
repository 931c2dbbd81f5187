"""``/api/recovery``'s data: the runtime's start-up tracker on a real store and simulator.

A clean first start, a start after a ``tradeguard run`` that SIGKILLed itself right
after journaling an order intent (so the order is UNKNOWN, then NOT_PLACED, then
resubmitted by the strategy), a start that fails, and the listener's contract: told
in order, on the loop, never faster than the throttle between phase changes.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import pytest

from tradeguard.app.runtime import Runtime
from tradeguard.app.startup_progress import STORE_RECOVERY, StartupTracker
from tradeguard.config import Config, ReconcileSettings, StorageSettings
from tradeguard.errors import ExchangeError
from tradeguard.recovery.manager import RECOVERED, RecoveryProgress
from tradeguard.session import SessionSettings
from tradeguard.web.config import HttpSettings
from tradeguard.web.source import Json

if TYPE_CHECKING:
    from tradeguard.domain.orders import Order
    from tradeguard.session.session import Session

SESSION_PHASES = [
    "exchange account", "markets", "reconcile", "resolve unknown", "replay fills",
    "recovery actions", "ready",
]
FAST = SessionSettings(poll_interval_seconds=0.1, tick_interval_seconds=0.1,
                       symbols=("BTC/USDT",))


class Quiet:
    """Trades nothing; resubmits what a crash left unsent (when asked to)."""

    def __init__(self, decision: Literal["resubmit", "drop"] = "drop") -> None:
        self.decision = decision

    async def on_start(self, session: Session) -> None:
        del session

    async def on_tick(self, session: Session) -> None:
        del session

    def recovery_action(self, order: Order) -> Literal["resubmit", "drop"]:
        del order
        return self.decision


def _config(data_dir: Path, tmp_path: Path) -> Config:
    return Config(
        storage=StorageSettings(url=f"sqlite:///{data_dir}", backup_every_seconds=86_400.0,
                                backup_dir=str(tmp_path / "backups")),
        reconcile=ReconcileSettings(interval_seconds=30.0),
        http=HttpSettings(enabled=False),
    )


class Heard:
    """A listener: every document it got, and whether each came on the loop's thread."""

    def __init__(self) -> None:
        self.docs: list[Json] = []
        self.loop_thread = threading.get_ident()
        self.off_loop = 0

    def __call__(self, doc: Json) -> None:
        if threading.get_ident() != self.loop_thread:
            self.off_loop += 1
        self.docs.append(doc)


def _check_phases(doc: Json, names: list[str]) -> None:
    phases = doc["phases"]
    assert [p["name"] for p in phases] == names
    for phase in phases:
        assert phase["outcome"] is not None, phase
        assert phase["finished_ns"] >= phase["started_ns"] > 0
        assert phase["duration_ms"] >= 0
    starts = [p["started_ns"] for p in phases]
    assert starts == sorted(starts)


def _check_heard(heard: Heard) -> None:
    """In order (versions only grow, phases only get added), all on the loop."""
    assert heard.off_loop == 0
    versions = [doc["version"] for doc in heard.docs]
    assert versions == sorted(set(versions))
    names = [[p["name"] for p in doc["phases"]] for doc in heard.docs]
    for before, after in itertools.pairwise(names):
        assert after[: len(before)] == before
    assert heard.docs[-1]["state"] == "ready"


async def test_a_clean_first_start_shows_its_phases_in_order(tmp_path: Path) -> None:
    config = _config(tmp_path / "data", tmp_path)
    runtime = Runtime(config, config.storage.url, settings=FAST, strategy=Quiet(),
                      handle_signals=False)
    before = runtime.startup_progress.as_json()
    assert before["state"] == "waiting"
    assert before["phases"] == []
    assert before["unclean_shutdown"] is None
    heard = Heard()
    runtime.startup_progress.listener = heard
    async with runtime:
        doc = runtime.startup_progress.as_json()
    json.dumps(doc)  # JSON-ready as it is
    assert doc["state"] == "ready"
    assert doc["error"] is None
    _check_phases(doc, [STORE_RECOVERY, *SESSION_PHASES])
    assert all(p["outcome"] == "ok" for p in doc["phases"]), doc["phases"]
    assert doc["unclean_shutdown"] is False
    assert doc["previous_run"] is None
    assert doc["snapshot_seq"] is None
    assert doc["replayed_events"] == 0
    assert doc["quarantined_records"] == 0
    assert doc["reconcile"]["complete"] is True
    assert doc["unknown"]["not_placed"] == []
    assert doc["fills_replayed"] == 0
    assert doc["recovery_actions"] == []
    assert [s["name"] for s in doc["store_steps"]] == ["file", "run-marker", "state", "snapshot"]
    assert doc["duration_ms"] >= doc["phases"][-2]["duration_ms"]
    _check_heard(heard)
    # Store recovery reported from its worker thread; the loop heard it as it ran.
    assert any(d["phase"] == STORE_RECOVERY for d in heard.docs)


def _crash_after_the_first_intent(data_dir: Path) -> None:
    """``tradeguard run`` SIGKILLs itself right after journaling its first order intent."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRADEGUARD_CRASH")}
    proc = subprocess.run(
        [sys.executable, "-m", "tradeguard", "run", "--no-http", "--data-dir", str(data_dir),
         "--json"],
        env={**env, "TRADEGUARD_CRASH_POINT": "after_intent_journaled",
             "PYTHONUNBUFFERED": "1"},
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    assert "CRASH after_intent_journaled" in proc.stdout


async def test_after_a_kill_the_start_shows_the_unclean_shutdown_and_what_it_did(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "data"
    await asyncio.to_thread(_crash_after_the_first_intent, data_dir)

    config = _config(data_dir, tmp_path)
    # No grace: the intent the exchange never got is NOT_PLACED at once, and resubmitted.
    settings = SessionSettings(poll_interval_seconds=0.1, tick_interval_seconds=0.1,
                               unknown_grace_seconds=0.0)
    runtime = Runtime(config, config.storage.url, settings=settings,
                      strategy=Quiet("resubmit"), handle_signals=False,
                      sim_state_path=data_dir / "simulator-state.json")
    heard = Heard()
    runtime.startup_progress.listener = heard
    async with runtime:
        doc = runtime.startup_progress.as_json()
        startup = runtime.session.startup
    assert startup is not None
    json.dumps(doc)
    assert doc["state"] == "ready"
    _check_phases(doc, [STORE_RECOVERY, *SESSION_PHASES])
    assert doc["unclean_shutdown"] is True
    assert doc["previous_run"]["clean"] is False
    assert doc["previous_run"]["stopped_iso"] is None
    assert doc["started_iso"].endswith("Z")
    assert doc["replayed_events"] > 0
    assert doc["replayed_events"] == startup.replayed_events
    assert doc["quarantined_records"] == 0
    assert doc["reconcile"]["complete"] is True
    [lost] = doc["unknown"]["not_placed"]
    assert doc["unknown"]["still_unknown"] == 0
    # The strategy wanted it: resubmitted, timed, in the order it ran.
    [action] = doc["recovery_actions"]
    assert action["kind"] == "resubmit"
    assert action["client_order_id"] == lost
    assert action["outcome"] == "done"
    assert action["error"] is None
    assert isinstance(action["amount"], str)  # decimals as strings
    assert action["finished_ns"] >= action["started_ns"]
    assert action["duration_ms"] >= 0
    phases = {p["name"]: p for p in doc["phases"]}
    assert phases["recovery actions"]["detail"] == "1 done, 0 failed"
    assert (phases["recovery actions"]["done"], phases["recovery actions"]["total"]) == (1, 1)
    # Reconciliation or the resolver, whoever settled it: it is counted as not placed.
    assert "1 unresolved at start" in phases["resolve unknown"]["detail"]
    assert "1 not placed" in phases["resolve unknown"]["detail"]
    assert "unclean shutdown" in phases[STORE_RECOVERY]["detail"]
    assert doc["fills_replayed"] == startup.fills_replayed
    _check_heard(heard)
    assert any(d["phase"] == "recovery actions" for d in heard.docs)


async def test_a_start_that_fails_says_which_phase(tmp_path: Path) -> None:
    config = _config(tmp_path / "data", tmp_path)
    settings = SessionSettings(symbols=("NOPE/USDT",))
    runtime = Runtime(config, config.storage.url, settings=settings, strategy=Quiet(),
                      handle_signals=False)
    with pytest.raises(ExchangeError, match="NOPE/USDT"):
        await runtime.start()
    doc = runtime.startup_progress.as_json()
    assert doc["state"] == "failed"
    assert doc["phases"][-1]["name"] == "markets"
    assert doc["phases"][-1]["outcome"] == "failed"
    assert "NOPE/USDT" in doc["error"]
    assert doc["unclean_shutdown"] is False  # what store recovery found stays


async def test_replay_progress_reaches_the_listener_throttled_and_on_the_loop() -> None:
    now = [0.0]
    tracker = StartupTracker(monotonic=lambda: now[0])
    heard = Heard()
    tracker.listener = heard  # set on the loop: the thread's reports go through it
    seen_in_thread: list[Json] = []

    def recover_in_a_thread() -> None:
        tracker.on_recovery(RecoveryProgress("state", 2, 4))
        for done in range(0, 100_001, 1_000):  # 101 reports over 1 s
            now[0] += 0.01
            tracker.on_recovery(RecoveryProgress("replay", done, 100_000))
            seen_in_thread.append(tracker.as_json())  # safe from any thread
        tracker.on_recovery(RecoveryProgress(RECOVERED, 4, 4))

    await asyncio.to_thread(recover_in_a_thread)
    for _ in range(3):
        await asyncio.sleep(0)
    assert seen_in_thread[50]["done"] == 50_000
    assert heard.off_loop == 0
    replay = [d for d in heard.docs if d["step"] == "replay"]
    # At most one every 0.1 s of the (fake) clock, plus the first: about 11, never 101.
    assert 5 <= len(replay) <= 12, [d["done"] for d in replay]
    dones = [d["done"] for d in replay]
    assert dones == sorted(dones)
    last = heard.docs[-1]
    assert last["phases"][0]["outcome"] == "ok"  # the final report: always told
    assert last["phase"] == "running"
    versions = [d["version"] for d in heard.docs]
    assert versions == sorted(set(versions))


def test_a_tracker_without_a_loop_or_listener_still_answers() -> None:
    tracker = StartupTracker()
    tracker.on_recovery(RecoveryProgress("file", 0, 4))
    doc = tracker.as_json()
    assert doc["state"] == "running"
    assert doc["phase"] == STORE_RECOVERY
    assert doc["step"] == "file"
    tracker.listener = _raise  # set outside any loop; called only once one is known
    tracker.on_recovery(RecoveryProgress(RECOVERED, 4, 4))
    assert tracker.as_json()["phases"][0]["outcome"] == "ok"


def _raise(doc: Any) -> None:
    raise AssertionError("called without a loop")
