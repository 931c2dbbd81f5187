"""The dashboard in a real browser (Debian's headless Chromium, driven by Playwright)
against real running services: a Runtime with the built-in simulator, and
``tradeguard run`` subprocesses killed with SIGKILL and restarted against a
``tradeguard sim`` subprocess that outlives them (and is stopped to break the exchange).

The screenshots of the README (docs/screenshots/dashboard-desktop.png at 1280x800,
dashboard-phone.png at 390x844) are made here: written when missing, rewritten with
``TRADEGUARD_SCREENSHOTS=1``.
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from browserkit import (
    TRADEGUARD,
    Console,
    ThreadedRuntime,
    http_json,
    open_page,
    save_screenshot,
    spawn,
    wait_for,
)

from tradeguard.config import Config, ReconcileSettings, StorageSettings
from tradeguard.health.checks import HealthConfig
from tradeguard.session import SessionSettings
from tradeguard.web.config import DEFAULT_TOKEN_ENV, HttpSettings
from tradeguard.web.dashboard import CONTENT_SECURITY_POLICY

if TYPE_CHECKING:
    from browserkit import Proc
    from playwright.sync_api import Browser, Page

pytestmark = pytest.mark.browser

TOKEN = "browser-test-token-0123456789"
FAST = SessionSettings(poll_interval_seconds=0.2, tick_interval_seconds=0.2)


def _external_order(sim_url: str, price: str = "50000") -> str:
    """An order of "another client" on the simulator (reconciliation flags it); its id."""
    placed = http_json(f"{sim_url}/_sim/order", {
        "market": "spot", "symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT",
        "quantity": "0.001", "price": price,
    })
    return str(placed["order"]["orderId"])


def _get(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    """GET ``url``: status, headers (lower-case names), body; an HTTP error is an answer."""
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as resp:
            return resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, {k.lower(): v for k, v in exc.headers.items()}, exc.read()


def _assert_no_unavailable_panel(page: Page) -> None:
    unavailable = page.locator(".unavailable").all_inner_texts()
    assert unavailable == [], unavailable


def _crit_colour(page: Page) -> str:
    """The theme's critical colour as the browser computes it (rgb(...))."""
    colour: str = page.evaluate("""() => {
        const probe = document.createElement("span");
        probe.style.color = "var(--crit)";
        document.body.append(probe);
        const value = getComputedStyle(probe).color;
        probe.remove();
        return value;
    }""")
    return colour


def _first_journal_seq(page: Page) -> int:
    return int(page.locator("#journal-body tr[data-seq]").first.get_attribute("data-seq") or 0)


def test_the_page_loads_clean_shows_every_panel_and_updates_live(
    browser: Browser, tmp_path: Path,
) -> None:
    """A running service (built-in simulator, grid strategy): the page and its files
    are served with a strict CSP and no console error; every panel renders; the
    journal grows live over EventSource, and an order another client places on the
    exchange shows up as a flag without a reload. Makes the README's screenshots."""
    config = Config(
        storage=StorageSettings(url=f"sqlite:///{tmp_path / 'data'}",
                                backup_dir=str(tmp_path / "backups")),
        reconcile=ReconcileSettings(interval_seconds=0.5),
        health=HealthConfig(interval_seconds=0.5),
    )

    def sample_often(runtime: Any) -> None:
        runtime.view.marks_interval_s = 0.25  # the charts fill in seconds, not minutes

    with ThreadedRuntime(config, http=HttpSettings(port=0), settings=FAST,
                         environ={DEFAULT_TOKEN_ENV: TOKEN}, configure=sample_often) as svc:
        base = svc.url
        # The page and its files: content types, the CSP, revalidation, nothing else.
        status, headers, body = _get(f"{base}/")
        assert status == 200
        assert headers["content-type"] == "text/html; charset=utf-8"
        assert headers["content-security-policy"] == CONTENT_SECURITY_POLICY
        assert "'unsafe-inline'" not in CONTENT_SECURITY_POLICY
        assert headers["cache-control"] == "no-cache"
        assert headers["x-content-type-options"] == "nosniff"
        assert b"<script>" not in body  # nothing inline: the CSP allows none
        assert b" style=" not in body
        assert "http" not in re.sub(r'xmlns="[^"]+"', "", body.decode()).replace(
            "http-equiv", "")  # no CDN: every file is this service's own
        for path, kind in (("/static/dashboard.css", "text/css"),
                           ("/static/js/app.js", "text/javascript"),
                           ("/static/favicon.svg", "image/svg+xml")):
            status, headers, _ = _get(base + path)
            assert (status, headers["content-type"].split(";")[0]) == (200, kind), path
            again, _, cached = _get(base + path, {"If-None-Match": headers["etag"]})
            assert (again, cached) == (304, b""), path
        for bad in ("/static/nope.js", "/static/%2e%2e/dashboard.py", "/static/js/../../x"):
            status, headers, body = _get(base + bad)
            assert status == 404, bad
            assert headers["content-type"] == "application/json", bad

        wait_for(lambda: len(http_json(f"{base}/api/series")["ts_ns"]) >= 16,
                 "sixteen chart samples")
        wait_for(lambda: http_json(f"{base}/api/orders?status=open"), "the grid's orders")
        wait_for(lambda: http_json(f"{base}/api/health")["checks"], "a health round")

        page, console = open_page(browser, f"{base}/")
        page.locator('#live[data-state="open"]').wait_for()
        page.locator("#panel-chart svg path.line-1").wait_for()
        page.locator("#panel-chart svg path.line-2").wait_for()
        page.locator("#orders-body table tbody tr").first.wait_for()
        page.locator("#balances-body table tbody tr").first.wait_for()
        page.locator("#flags-body .all-clear").wait_for()
        assert page.locator("#health-body .check").count() >= 5
        assert page.locator("#recovery-state").inner_text() == "clean start"
        assert page.locator("#run-start").inner_text() == "clean start"
        assert re.fullmatch(r"epoch \d+", page.locator("#run-epoch").inner_text())
        _assert_no_unavailable_panel(page)
        # Balances are the service's decimal strings, digits unchanged (only grouped);
        # polled, since the grid's fills move them between the two reads.
        def usdt_total_shown() -> bool:
            usdt = next(b for b in http_json(f"{base}/api/balances") if b["asset"] == "USDT")
            row = page.locator("#balances-body tbody tr", has_text="USDT").inner_text()
            total = usdt["total"]
            digits = total.rstrip("0").rstrip(".") if "." in total else total
            return digits in row.replace(",", "").split()

        wait_for(usdt_total_shown, "the USDT total exactly as the API has it")
        # Live: new journal records arrive over the event stream, no reload.
        first = _first_journal_seq(page)
        wait_for(lambda: _first_journal_seq(page) > first, "a journal record pushed live")
        save_screenshot(page, "dashboard-desktop.png", tmp_path)

        # An order of another client: the open page shows the flag it raises, live.
        exchange_id = _external_order(svc.sim_url)
        flag = page.locator(f'article.flag[data-flag-id*="{exchange_id}"]')
        flag.wait_for()
        assert "external order" in flag.inner_text()
        assert flag.locator("button[data-action]").count() >= 2

        # Pause, resume and reconcile from the page: the token is asked once.
        page.click("#btn-pause")
        page.fill("#dlg-note", "checking the external order")
        page.fill("#dlg-token", TOKEN)
        page.click("#dlg-ok")
        page.locator("#run-paused").wait_for()
        assert page.locator("#run-paused").inner_text() == "new orders paused"
        assert page.locator("#btn-pause").inner_text() == "Resume orders"
        paused = http_json(f"{base}/api/status")
        assert (paused["paused"], paused["by"], paused["note"]) == (
            True, "operator", "checking the external order")
        page.click("#btn-pause")
        assert page.locator("#dlg-token-row").is_hidden()  # kept for this tab
        page.click("#dlg-ok")
        page.locator("#run-paused").wait_for(state="hidden")
        assert http_json(f"{base}/api/status")["paused"] is False
        page.click("#btn-reconcile")
        page.click("#dlg-ok")
        page.locator("#notice", has_text="Reconciliation done").wait_for()

        phone, phone_console = open_page(browser, f"{base}/", width=390, height=844,
                                         color_scheme="dark")
        phone.locator(f'article.flag[data-flag-id*="{exchange_id}"]').wait_for()
        phone.locator("#panel-chart svg path.line-1").wait_for()
        # One column: no panel is wider than the screen (nothing scrolls sideways).
        widest = phone.evaluate("() => document.documentElement.scrollWidth")
        assert widest <= 390, widest
        _assert_no_unavailable_panel(phone)
        save_screenshot(phone, "dashboard-phone.png", tmp_path)
        assert console.errors == [], console.errors
        assert phone_console.errors == [], phone_console.errors
        page.context.close()
        phone.context.close()

        # Every endpoint failing: each panel says so, and the page's script never throws.
        broken, broken_console = _open_with_failing_api(browser, f"{base}/")
        for panel in ("flags", "recovery", "health", "positions", "balances", "orders",
                      "reconciliations", "journal", "chart"):
            text = broken.locator(f"#{panel}-body").inner_text()
            assert "unavailable" in text, (panel, text)
        assert "status unavailable" in broken.locator("#run-start").inner_text()
        assert [e for e in broken_console.errors if e.startswith("page error")] == []
        # A start-up in progress as /api/recovery and the stream send it (the service's
        # own recoveries here are over in milliseconds): its phase, done of total, a bar.
        broken.evaluate("""async (doc) => {
            const panels = await import("/static/js/recovery.js");
            panels.renderRecovery({ ok: true, data: doc });
        }""", RECOVERING)
        assert broken.locator("#recovery-state").inner_text() == "recovering…"
        progress = broken.locator("#recovery-body .recovery-progress")
        assert "store recovery · replay" in progress.inner_text()
        assert "5,000 / 20,000" in progress.inner_text()
        assert progress.locator("[role=progressbar]").get_attribute("aria-valuenow") == "25"
        assert broken.locator("#recovery-body .phase-item").count() == 1
        assert "running" in broken.locator("#recovery-body .phase-item").inner_text()
        broken.context.close()


RECOVERING = {
    "state": "running", "phase": "store recovery", "step": "replay", "done": 5000,
    "total": 20000, "duration_ms": None, "error": None,
    "phases": [{"name": "store recovery", "outcome": None, "duration_ms": None,
                "detail": "", "step": "replay", "done": 5000, "total": 20000}],
    "recovery_actions": [],
}


def _open_with_failing_api(browser: Browser, url: str) -> tuple[Page, Console]:
    """The page with every /api/ request answered 500 (JSON error) or not at all."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    console = Console()
    page.on("console", console.on_console)
    page.on("pageerror", console.on_error)

    def fail(route: Any) -> None:
        if "/api/events" in route.request.url:
            route.abort()
        else:
            route.fulfill(status=500, content_type="application/json",
                          body=json.dumps({"error": "internal", "message": "boom"}))

    page.route("**/api/**", fail)
    page.goto(url)
    page.wait_for_selector("body[data-loaded]")
    return page, console


def _write_config(path: Path) -> Path:
    path.write_text("[health]\ninterval_seconds = 0.5\n\n[reconcile]\ninterval_seconds = 1\n")
    return path


def _start_run(tmp_path: Path, name: str, sim_url: str, processes: list[Proc], *,
               port: int = 0, env: dict[str, str] | None = None) -> tuple[Proc, str]:
    proc = spawn([*TRADEGUARD, "run", "--data-dir", str(tmp_path / "data"),
                  "--config", str(tmp_path / "tradeguard.toml"), "--exchange-url", sim_url,
                  "--http", f"127.0.0.1:{port}"], tmp_path / "logs", name, env=env)
    processes.append(proc)
    url = proc.wait_for_line(r"dashboard: (http://127\.0\.0\.1:\d+)/", f"{name}'s dashboard")
    return proc, url.group(1)


def _expected_errors_only(console: Console) -> list[str]:
    """Console errors other than the 403 the wrong token got on purpose."""
    return [e for e in console.errors if "status of 403" not in e]


def test_after_kill_9_the_page_shows_the_recovery_resolves_the_flag_and_turns_red(
    browser: Browser, tmp_path: Path, processes: list[Proc],
) -> None:
    """``tradeguard run`` is killed with SIGKILL under an open page; while it is down
    another client places an order on the exchange. The page reconnects to the
    restarted run by itself and shows the unclean shutdown and the start-up's figures,
    and the external order as a flag; resolving it in the page with the token cancels
    it on the exchange and the journal panel shows who resolved it. Then the exchange
    stops: exchange_reachable turns red."""
    _write_config(tmp_path / "tradeguard.toml")
    sim = spawn([*TRADEGUARD, "sim", "--port", "0", "--seed", "5",
                 "--state-file", str(tmp_path / "sim-state.json")], tmp_path / "logs", "sim")
    processes.append(sim)
    sim_url = sim.wait_for_line(r"listening on (http://127\.0\.0\.1:\d+)", "the simulator").group(1)

    first, first_url = _start_run(tmp_path, "run1", sim_url, processes)
    wait_for(lambda: http_json(f"{first_url}/api/orders?status=open"), "the grid's first orders")
    page, console = open_page(browser, f"{first_url}/")
    page.locator('#live[data-state="open"]').wait_for()
    page.locator("#orders-body table tbody tr").first.wait_for()
    assert console.errors == [], console.errors
    first.kill()
    # The open page notices (the stream drops) and keeps trying to reconnect.
    page.wait_for_function("() => document.getElementById('live').dataset.state !== 'open'")
    exchange_id = _external_order(sim_url)  # while tradeguard is down

    # The restarted run serves on the same address: the page comes back by itself, no
    # reload (the port was the first run's free one; SO_REUSEADDR makes it bindable).
    port = int(first_url.rsplit(":", 1)[1])
    second, url = _start_run(tmp_path, "run2", sim_url, processes, port=port,
                             env={DEFAULT_TOKEN_ENV: TOKEN})
    assert url == first_url
    page.locator('#live[data-state="open"]').wait_for()
    console.errors.clear()  # refused connections while it was down were expected

    # The recovery panel: the unclean shutdown and the start-up's figures.
    badge = page.locator("#recovery-state")
    page.wait_for_function(
        "() => document.getElementById('recovery-state').textContent.includes('unclean')")
    assert badge.inner_text() == "unclean shutdown, recovered"
    recovery = http_json(f"{url}/api/recovery")
    assert recovery["unclean_shutdown"] is True

    def figure(label: str) -> str:
        return page.locator(f'#recovery-body dd[data-figure="{label}"]').inner_text()

    assert figure("Previous shutdown") == "UNCLEAN"
    assert figure("Events replayed") == f"{recovery['replayed_events']:,}"
    assert figure("Quarantined records") == f"{recovery['quarantined_records']:,}"
    assert figure("Fills replayed") == f"{recovery['fills_replayed']:,}"
    snapshot = recovery["snapshot_seq"]
    assert figure("Snapshot used") == ("none" if snapshot is None else f"seq {snapshot:,}")
    assert figure("Reconciliation").startswith("complete, ")
    assert "flag" in figure("Reconciliation")  # the external order was flagged at start
    assert figure("Start-up took").endswith(("ms", " s"))
    assert page.locator("#run-start").inner_text() == "recovered from an unclean shutdown"
    phases = page.locator("#recovery-body .phase-item")
    assert phases.count() == len(recovery["phases"])
    page.screenshot(path=str(tmp_path / "after-kill-9.png"), full_page=True)  # for a person

    # The flag the start-up's reconciliation raised, resolved in the page.
    flag = page.locator(f'article.flag[data-flag-id*="{exchange_id}"]')
    flag.wait_for()
    flag_id = flag.get_attribute("data-flag-id")
    assert flag_id
    flag.locator('button[data-action="cancel_on_exchange"]').click()
    dialog = page.locator("#dlg-action")
    dialog.wait_for()
    page.fill("#dlg-note", "not ours: placed by hand while the bot was down")
    page.fill("#dlg-token", "not-the-token")
    page.click("#dlg-ok")
    page.locator("#dlg-error").wait_for()  # refused; asks for the token again
    assert flag.count() == 1
    assert page.evaluate("() => sessionStorage.length") == 0  # a refused token is dropped
    page.fill("#dlg-token", TOKEN)
    page.click("#dlg-ok")
    dialog.wait_for(state="hidden")
    flag.wait_for(state="detached")
    resolved = page.locator('#journal-body tr[data-type="flag_resolved"]', has_text=flag_id)
    resolved.wait_for()
    assert "by=operator" in resolved.inner_text()
    assert "not ours" in resolved.inner_text()
    seqs = [int(s) for s in page.locator("#journal-body tr[data-seq]").evaluate_all(
        "rows => rows.map(r => r.dataset.seq)")]
    assert seqs == sorted(set(seqs), reverse=True), seqs  # newest first, each once
    assert page.evaluate("() => document.cookie") == ""  # the token is never a cookie
    assert page.evaluate("() => Object.values(sessionStorage)") == [TOKEN]
    state = http_json(f"{sim_url}/_sim/state")
    assert next(o for o in state["orders"] if str(o["orderId"]) == exchange_id)[
        "status"] == "CANCELED"
    flags_now = http_json(f"{url}/api/flags")
    assert all(f["flag_id"] != flag_id for f in flags_now), flags_now

    # The exchange goes away: its check turns red at the next health round.
    reachable = page.locator('#health-body .check[data-check="exchange_reachable"]')
    wait_for(lambda: reachable.get_attribute("data-status") == "ok", "exchange reachable")
    sim.kill()
    critical = page.locator(
        '#health-body .check[data-check="exchange_reachable"][data-status="critical"]')
    critical.wait_for()
    dot = critical.locator(".dot")
    # Read until stable: a health update may re-render the panel between finding the dot
    # and reading its style (a detached node computes no colour).
    crit = _crit_colour(page)
    wait_for(lambda: dot.evaluate("d => getComputedStyle(d).backgroundColor") == crit,
             "the exchange check's dot drawn in the critical colour")
    assert "pill-crit" in (page.locator("#health-overall").get_attribute("class") or "")
    assert page.locator("#health-overall").inner_text() == "health critical"
    assert page.title() == "CRITICAL · tradeguard"  # seen from another tab too
    page.screenshot(path=str(tmp_path / "exchange-down.png"), full_page=True)

    assert _expected_errors_only(console) == [], console.errors
    page.context.close()
    second.stop()
    log = json.dumps(second.output()[-2000:])
    assert "Traceback" not in log, log
