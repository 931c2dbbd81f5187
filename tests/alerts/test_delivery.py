"""Delivery through apprise to real receivers on 127.0.0.1; it never blocks the caller."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from tradeguard.alerts import catalog
from tradeguard.alerts.config import AlertsConfig, AlertTarget, mask_url
from tradeguard.alerts.delivery import AlertDispatcher
from tradeguard.alerts.policy import Alert, AlertPolicy
from tradeguard.domain.enums import FlagSeverity
from tradeguard.domain.events import FlagRaised
from tradeguard.domain.ids import FlagId
from tradeguard.logs import configure_logging

from .receivers import Hook, Inbox, StuckReceiver, free_port, text_of

_S = 10**9


def _targets(*urls: str) -> list[AlertTarget]:
    return [AlertTarget(url=url, label=mask_url(url), secret=False) for url in urls]


def _dispatcher(
    targets: list[AlertTarget],
    *,
    results: list[tuple[str, bool, str]] | None = None,
    cooldown: float = 0,
    already_sent: set[tuple[str, int]] | None = None,
    clock: list[int] | None = None,
    retries: int = 0,
) -> AlertDispatcher:
    sink = results if results is not None else []
    now = clock if clock is not None else [0]

    async def on_result(alert: Alert, ok: bool, error: str) -> None:
        sink.append((alert.key, ok, error))

    return AlertDispatcher(
        targets,
        AlertPolicy(cooldown_seconds=cooldown),
        on_result=on_result,
        already_sent=(lambda key, ts: (key, ts) in already_sent) if already_sent else None,
        retry_attempts=retries,
        retry_backoff_seconds=0,
        timeout_seconds=10,
        clock_ns=lambda: now[0],
    )


def _flag_alert() -> Alert:
    event = FlagRaised(
        ts_ns=5 * _S,
        flag_id=FlagId("f-7"),
        severity=FlagSeverity.CRITICAL,
        kind="position_mismatch",
        symbol=None,
        message="exchange holds 0.5 BTC, journal 0.3",
        actions=("adopt_exchange", "keep_local"),
    )
    return catalog.flag_raised("s1", event)


async def test_email_reaches_a_real_smtp_server(smtp_inbox: Inbox) -> None:
    results: list[tuple[str, bool, str]] = []
    alert = _flag_alert()
    async with _dispatcher(_targets(smtp_inbox.url), results=results) as dispatcher:
        assert dispatcher.notify(alert).send
        await dispatcher.drain()
    assert results == [(alert.key, True, "")]
    [message] = smtp_inbox.messages
    assert message["Subject"] == "tradeguard s1: manual intervention needed (position_mismatch)"
    body = text_of(message)
    assert "exchange holds 0.5 BTC, journal 0.3" in body
    assert "adopt_exchange, keep_local" in body
    assert dispatcher.stats.sent == 1


async def test_json_webhook_reaches_a_real_http_server(webhook: Hook) -> None:
    alert = catalog.check_critical("s1", "journal_latency", "critical", "p99 1.2 s", 9 * _S)
    url = webhook.url("/hook") + "?+X-Token=abc&-ref=tg"
    async with _dispatcher(_targets(url)) as dispatcher:
        dispatcher.notify(alert)
        await dispatcher.drain()
    [(path, headers, payload)] = webhook.posts
    assert path == "/hook?ref=tg"
    assert headers["X-Token"] == "abc"
    assert payload["title"] == "tradeguard s1: check journal_latency is critical"
    assert payload["message"] == "Health check journal_latency turned critical: p99 1.2 s"
    assert payload["type"] == "failure"


async def test_a_receiver_that_is_down_does_not_block_notify(webhook: Hook) -> None:
    results: list[tuple[str, bool, str]] = []
    down = f"json://127.0.0.1:{free_port()}/hook"
    alert = catalog.store_poisoned("s1", "disk full", 1 * _S)
    async with _dispatcher(_targets(down, webhook.url()), results=results, retries=2) as d:
        decision = d.notify(alert)  # synchronous: nothing is awaited here
        # notify returned before any delivery was attempted: queued, no result yet.
        assert decision.send
        assert results == []
        assert d.queued == 1
        await d.drain()
    [(key, ok, error)] = results
    assert (key, ok) == (alert.key, False)
    assert error.startswith(f"{mask_url(down)}: delivery failed")
    assert d.stats.failed == 1
    assert d.stats.sent == 0
    # The channel that is up still got it.
    assert len(webhook.posts) == 1


async def test_cooldown_and_dedupe_end_to_end(webhook: Hook) -> None:
    clock = [0]
    results: list[tuple[str, bool, str]] = []
    first = catalog.check_critical("s1", "exchange", "critical", "down", 1 * _S)
    repeat = catalog.check_critical("s1", "exchange", "critical", "still down", 2 * _S)
    recovered = catalog.check_recovered("s1", "exchange", "ok", "up", 3 * _S)
    async with _dispatcher(
        _targets(webhook.url()), results=results, cooldown=300, clock=clock
    ) as dispatcher:
        assert dispatcher.notify(first).send
        assert dispatcher.notify(first).reason == "duplicate"
        clock[0] = 60 * _S
        assert dispatcher.notify(repeat).reason == "cooldown"
        assert dispatcher.notify(recovered).send  # its own key
        clock[0] = 301 * _S
        later = catalog.check_critical("s1", "exchange", "critical", "down again", 301 * _S)
        assert dispatcher.notify(later).send
        await dispatcher.drain()
    messages = [payload["message"] for _, _, payload in webhook.posts]
    assert messages == [
        "Health check exchange turned critical: down",
        "Health check exchange is ok again: up",
        "Health check exchange turned critical: down again",
    ]
    assert dict(dispatcher.stats.suppressed) == {"duplicate": 1, "cooldown": 1}
    assert [ok for _, ok, _ in results] == [True, True, True]


async def test_an_alert_the_journal_shows_as_sent_is_not_sent_again(webhook: Hook) -> None:
    alert = catalog.unclean_shutdown("s1", "run-1", 7 * _S)
    journaled = {(alert.key, alert.ts_ns)}  # what the runtime read back from AlertSent
    async with _dispatcher(_targets(webhook.url()), already_sent=journaled) as dispatcher:
        assert dispatcher.notify(alert).reason == "already_sent"
        fresh = catalog.unclean_shutdown("s1", "run-2", 8 * _S)
        assert dispatcher.notify(fresh).send
        await dispatcher.drain()
    assert [payload["message"] for _, _, payload in webhook.posts] == [fresh.body]


async def test_a_full_queue_drops_and_counts_without_raising(webhook: Hook) -> None:
    dispatcher = AlertDispatcher(
        _targets(webhook.url()), AlertPolicy(cooldown_seconds=0), queue_size=1
    )
    one = catalog.store_fenced("s1", "epoch 3 > 2", 1 * _S)
    two = catalog.store_poisoned("s1", "io error", 2 * _S)
    assert dispatcher.notify(one).send
    assert not dispatcher.notify(two).send  # worker not started: the queue is full
    assert dispatcher.stats.dropped == 1
    async with dispatcher:
        await dispatcher.drain()
    assert len(webhook.posts) == 1


async def test_a_failing_result_hook_does_not_stop_the_worker(webhook: Hook) -> None:
    def broken(alert: Alert, ok: bool, error: str) -> None:
        raise RuntimeError("journal closed")

    dispatcher = AlertDispatcher(
        _targets(webhook.url()), AlertPolicy(cooldown_seconds=0), on_result=broken
    )
    async with dispatcher:
        dispatcher.notify(catalog.store_poisoned("s1", "a", 1 * _S))
        dispatcher.notify(catalog.store_fenced("s1", "b", 2 * _S))
        await dispatcher.drain()
    assert len(webhook.posts) == 2
    assert dispatcher.stats.hook_errors == 2


async def test_a_secret_url_never_reaches_logs_or_results(
    webhook: Hook, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    secret = "s3cretPassw0rdXYZ"
    token = "tok3nInTheQueryString"
    good = f"json://bot:{secret}@127.0.0.1:{webhook.port}/hook?-sig={token}"
    bad = f"json://bot:{secret}@127.0.0.1:{free_port()}/hook?-sig={token}"
    log_file = tmp_path / "tradeguard.log"
    root = logging.getLogger()
    saved, level = list(root.handlers), root.level
    configure_logging(level="debug", fmt="json", log_file=log_file, stream_level="debug")
    try:
        config = AlertsConfig(
            urls_env=("TG_TEST_ALERT_GOOD", "TG_TEST_ALERT_BAD"),
            retry_attempts=1,
            retry_backoff_seconds=0,
        )
        results: list[tuple[str, bool, str]] = []

        async def on_result(alert: Alert, ok: bool, error: str) -> None:
            results.append((alert.key, ok, error))

        dispatcher = AlertDispatcher.from_config(
            config,
            {"TG_TEST_ALERT_GOOD": good, "TG_TEST_ALERT_BAD": bad},
            on_result=on_result,
        )
        assert [t.label for t in dispatcher.targets] == [
            "$TG_TEST_ALERT_GOOD (json://***)",
            "$TG_TEST_ALERT_BAD (json://***)",
        ]
        assert secret not in repr(dispatcher.targets)
        async with dispatcher:
            dispatcher.notify(catalog.store_poisoned("s1", "x", 1 * _S))
            await dispatcher.drain()
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
            handler.close()
        for handler in saved:
            root.addHandler(handler)
        root.setLevel(level)
    [(_, ok, error)] = results
    assert not ok
    assert "$TG_TEST_ALERT_BAD (json://***): delivery failed" in error
    [(_, headers, _)] = webhook.posts
    assert headers["Authorization"].startswith("Basic ")  # the credential was used
    captured = capfd.readouterr()
    logged = log_file.read_text()
    assert "alert delivery failed" in logged
    for text in (error, captured.out, captured.err, logged):
        assert secret not in text
        assert token not in text


async def test_stop_returns_while_a_slow_receiver_still_holds_the_alert(
    stuck_receiver: StuckReceiver,
) -> None:
    # A listener that accepts but never answers: stop() gives up after its drain time.
    dispatcher = AlertDispatcher(
        _targets(stuck_receiver.url()),
        AlertPolicy(cooldown_seconds=0),
        timeout_seconds=30,
    )
    await dispatcher.start()
    dispatcher.notify(catalog.store_poisoned("s1", "x", 1 * _S))
    await dispatcher.stop(drain_seconds=0.2)
    assert dispatcher.stats.sent == 0


async def test_a_stuck_channel_does_not_hold_the_alert_back_from_the_others(
    stuck_receiver: StuckReceiver, webhook: Hook
) -> None:
    results: list[tuple[str, bool, str]] = []
    alert = catalog.store_poisoned("s1", "disk full", 1 * _S)
    targets = _targets(stuck_receiver.url(), webhook.url())
    async with _dispatcher(targets, results=results, retries=1) as dispatcher:
        dispatcher.notify(alert)
        for _ in range(2000):  # a bound only so a broken build fails instead of hanging
            if webhook.posts and stuck_receiver.holding:
                break
            await asyncio.sleep(0.01)
        # The working channel has it while the other still holds its first attempt.
        assert results == []
        assert stuck_receiver.connections == 1
        stuck_receiver.release()
        await dispatcher.drain()
    [(key, ok, error)] = results
    assert (key, ok) == (alert.key, False)
    assert error.startswith(f"{mask_url(stuck_receiver.url())}: delivery failed")
    assert mask_url(webhook.url()) not in error
    assert stuck_receiver.connections == 2  # retried once after the unanswered attempt
    assert [p["message"] for p in webhook.payloads] == [alert.body]
