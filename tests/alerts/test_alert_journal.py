"""Alerts are journaled (``AlertSent``/``AlertFailed``) in a real SQLite store, and a
restarted process that reads them back does not send an alert twice."""

from __future__ import annotations

from pathlib import Path

from tradeguard.alerts import catalog
from tradeguard.alerts.config import AlertTarget, mask_url
from tradeguard.alerts.delivery import AlertDispatcher, ResultHook
from tradeguard.alerts.policy import Alert, AlertPolicy
from tradeguard.domain.events import AlertFailed, AlertSent, SessionStarted
from tradeguard.domain.state import SessionState
from tradeguard.storage import open_store
from tradeguard.storage.base import Store
from tradeguard.storage.codec import decode_records, encode_event, encode_state

from .receivers import Hook, free_port

_S = 10**9


def _journal_hook(store: Store, clock: list[int]) -> ResultHook:
    """What the runtime does with ``on_result``: journal the outcome."""

    async def on_result(alert: Alert, ok: bool, error: str) -> None:
        clock[0] += 1
        common = {
            "ts_ns": clock[0],
            "key": alert.key,
            "severity": alert.severity,
            "title": alert.title,
            "alert_ts_ns": alert.ts_ns,
        }
        event = AlertSent(channels=1, **common) if ok else AlertFailed(error=error, **common)
        await store.append_async([encode_event(event)], epoch=store.current_epoch())

    return on_result


def _sent_in(store: Store) -> set[tuple[str, int]]:
    """What the runtime reads back at start for ``already_sent``."""
    return {
        (event.key, event.alert_ts_ns)
        for _, event in decode_records(store.read())
        if isinstance(event, AlertSent)
    }


async def test_an_alert_journaled_as_sent_is_not_sent_again_after_restart(
    tmp_path: Path, webhook: Hook
) -> None:
    targets = [AlertTarget(url=webhook.url(), label=mask_url(webhook.url()), secret=False)]
    down_url = f"json://127.0.0.1:{free_port()}/x"
    down = [AlertTarget(url=down_url, label=mask_url(down_url), secret=False)]
    alert = catalog.unclean_shutdown("s1", "run-1", 10 * _S)
    failed = catalog.store_poisoned("s1", "disk full", 11 * _S)
    clock = [100 * _S]

    store = open_store(tmp_path / "data")
    try:
        first = AlertDispatcher(
            targets,
            AlertPolicy(cooldown_seconds=0),
            on_result=_journal_hook(store, clock),
            already_sent=lambda k, t: (k, t) in _sent_in(store),
        )
        async with first:
            first.notify(alert)
            await first.drain()
        broken = AlertDispatcher(
            down,
            AlertPolicy(cooldown_seconds=0),
            on_result=_journal_hook(store, clock),
            retry_attempts=0,
        )
        async with broken:
            broken.notify(failed)
            await broken.drain()
    finally:
        store.close()  # the process ends; the journal is what survives

    store = open_store(tmp_path / "data", create=False)
    try:
        events = [event for _, event in decode_records(store.read())]
        assert [type(e) for e in events] == [AlertSent, AlertFailed]
        assert isinstance(events[1], AlertFailed)
        assert events[1].error.startswith(f"{mask_url(down_url)}: delivery failed")
        sent = _sent_in(store)
        second = AlertDispatcher(
            targets, AlertPolicy(cooldown_seconds=0), already_sent=lambda k, t: (k, t) in sent
        )
        async with second:
            assert second.notify(alert).reason == "already_sent"
            # The one that failed was not sent: a restart may send it.
            assert second.notify(failed).send
            await second.drain()
    finally:
        store.close()
    assert [payload["message"] for _, _, payload in webhook.posts] == [alert.body, failed.body]


def test_alert_events_do_not_change_trading_state() -> None:
    state = SessionState()
    state.apply(SessionStarted(ts_ns=1, session_id="s1", run_id="r1"), seq=1)
    before = encode_state(state)
    common = {"key": "k", "severity": "critical", "title": "t", "alert_ts_ns": 1}
    state.apply(AlertSent(ts_ns=2, channels=2, **common), seq=2)  # type: ignore[arg-type]
    state.apply(AlertFailed(ts_ns=3, error="x: failed", **common), seq=3)  # type: ignore[arg-type]
    state.last_seq = 1
    assert encode_state(state) == before
