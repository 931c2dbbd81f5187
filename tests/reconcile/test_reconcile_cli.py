"""``tradeguard reconcile`` end to end: real store, real ccxt, the simulator."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import tradeguard.cli.reconcile_cmd  # noqa: F401 - registers the command until main.py does
from tradeguard.cli.main import app
from tradeguard.sim import SimulatorThread

runner = CliRunner()


def _admin(sim: SimulatorThread, action: str, body: dict[str, Any]) -> None:
    request = urllib.request.Request(
        f"{sim.url}/_sim/{action}", data=json.dumps(body).encode(), method="POST",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200


def _reconcile(sim: SimulatorThread, data: Path, *extra: str) -> tuple[int, dict[str, Any]]:
    result = runner.invoke(
        app, ["reconcile", "--data-dir", str(data), "--exchange-url", sim.url, "--json", *extra]
    )
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    assert len(lines) == 1, result.stdout
    return result.exit_code, json.loads(lines[0])


def test_reconcile_command(sim: SimulatorThread, tmp_path: Path) -> None:
    data = tmp_path / "data"
    code, report = _reconcile(sim, data)
    assert code == 0, report
    assert report["complete"] is True
    assert report["dry_run"] is False
    # First sight of every balance: learned and journaled, not a discrepancy.
    assert report["found"] == {}
    assert report["events_journaled"] == 4

    _admin(sim, "order", {"market": "spot", "symbol": "BTCUSDT", "side": "BUY",
                          "type": "LIMIT", "quantity": "0.01", "price": "50000"})
    code, dry = _reconcile(sim, data, "--dry-run")
    assert code == 0
    assert dry["dry_run"] is True
    assert dry["events_journaled"] == 0
    # The external order's lock changes the USDT split, not its total: a balance
    # mismatch corrected and logged, not flagged (only the order is).
    assert [d["kind"] for d in dry["discrepancies"]] == ["external_order", "balance_mismatch"]
    assert dry["discrepancies"][1]["action"] == "corrected"
    code, real = _reconcile(sim, data)
    assert code == 0
    assert real["discrepancies"] == [
        {**d, "flag_id": real["discrepancies"][i].get("flag_id")}
        for i, d in enumerate(dry["discrepancies"])
    ]
    assert len(real["flags_raised"]) == 1
    assert real["flags_raised"][0].startswith("external_order:")


def test_reconcile_command_incomplete_exits_1(sim: SimulatorThread, tmp_path: Path) -> None:
    _admin(sim, "faults", {"path": "/fapi/v3/account", "action": "status", "status": 503})
    code, report = _reconcile(sim, tmp_path / "data")
    assert code == 1
    assert report["complete"] is False
    assert [f["what"] for f in report["failures"]] == ["balances"]
    assert "balances" not in report["checked"]


def test_reconcile_help() -> None:
    result = runner.invoke(app, ["reconcile", "--help"])
    assert result.exit_code == 0
    assert "--dry-run" in result.stdout
    assert "--exchange-url" in result.stdout


# --- a bad exchange URL (issue 7, item 8): refused at once, or its cause named -------


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """The real command in its own process (what a user runs), 60 s at most."""
    return subprocess.run(
        [sys.executable, "-m", "tradeguard", *args],
        capture_output=True, text=True, timeout=60, cwd=cwd, check=False,
    )


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port  # closed again: nothing listens there


_FILLER = "lorem-ipsum-filler " * 400  # a real error page runs to kilobytes


class _NotFound(BaseHTTPRequestHandler):
    """Answers every request with 404 and an HTML page, like a wrong base URL."""

    def _answer(self) -> None:
        body = (
            "<!DOCTYPE html><html><head><title>404 Not Found</title></head><body>"
            f"<h1>Not Found</h1><p>{_FILLER}</p></body></html>"
        ).encode()
        self.send_response(404)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_DELETE = _answer

    def log_message(self, format: str, *args: Any) -> None:
        del format, args


@pytest.fixture
def not_found_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _NotFound)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def test_reconcile_names_a_refused_connection(tmp_path: Path) -> None:
    port = _closed_port()
    result = _cli("reconcile", "--data-dir", "data", "--exchange-url",
                  f"http://127.0.0.1:{port}", cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    lines = result.stdout.splitlines()
    assert "INCOMPLETE" in lines[0]
    causes = [line for line in lines if line.strip().startswith("cause:")]
    assert len(causes) == 1, result.stdout  # every fetch failed for the same reason
    assert f"connection refused by 127.0.0.1:{port}" in causes[0]
    report = json.loads(
        _cli("reconcile", "--data-dir", "data", "--json", "--exchange-url",
             f"http://127.0.0.1:{port}", cwd=tmp_path).stdout
    )
    assert all("connection refused" in f["error"] for f in report["failures"])


def test_reconcile_names_an_http_404_without_pasting_the_page(
    tmp_path: Path, not_found_server: str
) -> None:
    result = _cli("reconcile", "--data-dir", "data", "--exchange-url", not_found_server,
                  cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    causes = [line for line in result.stdout.splitlines() if "cause:" in line]
    assert len(causes) == 1, result.stdout
    cause = causes[0]
    # Spot and USD-M markets load concurrently: either request may fail first.
    assert re.search(
        rf"HTTP 404 Not Found from GET {re.escape(not_found_server)}/f?api/v\d/exchangeInfo", cause
    ), cause
    assert "HTML page '404 Not Found'" in cause
    for text in (result.stdout, result.stderr):
        assert "lorem-ipsum" not in text
        assert "<html" not in text.lower()
    report = json.loads(
        _cli("reconcile", "--data-dir", "data", "--json", "--exchange-url", not_found_server,
             cwd=tmp_path).stdout
    )
    for failure in report["failures"]:
        assert "HTTP 404" in failure["error"]
        assert len(failure["error"]) < 400


@pytest.mark.parametrize("command", ["reconcile", "run"])
@pytest.mark.parametrize("url", ["not-a-url", "ftp://x", "http://", "http://127.0.0.1:99999"])
def test_a_bad_exchange_url_flag_is_refused_before_anything_is_written(
    tmp_path: Path, command: str, url: str
) -> None:
    extra = ["--duration", "1", "--no-http"] if command == "run" else []
    result = _cli(command, "--data-dir", "data", "--exchange-url", url, *extra, cwd=tmp_path)
    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert "--exchange-url" in line
    assert repr(url) in line
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "data").exists()


def test_a_bad_exchange_url_in_the_config_names_the_key(tmp_path: Path) -> None:
    (tmp_path / "tg.toml").write_text('[exchange]\nurl = "ftp://x"\n')
    result = _cli("reconcile", "--config", "tg.toml", "--data-dir", "data", cwd=tmp_path)
    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert "tg.toml:2" in line
    assert "exchange.url" in line
    assert "'ftp://x'" in line
    assert not (tmp_path / "data").exists()
