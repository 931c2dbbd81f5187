"""Bad input stops ``tradeguard run`` at start, before any order is sent.

Each case starts a real ``tradeguard run`` process on a copy of a store that has
traded already: it must exit 2 with one line on stderr naming the key, and leave the
journal (no new record, so no ``OrderIntended``) and the built-in simulator's state
(the exchange never started) exactly as they were. The parsing of each table is tested
on its own in tests/test_config*.py, tests/health and tests/alerts; an unset
``alerts.urls_env`` variable and a NaN backup interval in tests/app/test_alerts_job.py
and tests/test_config_values.py.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

TRADEGUARD = [sys.executable, "-m", "tradeguard"]
NO_HTTP = ("--no-http",)
TOKEN_ENV = "TRADEGUARD_DASHBOARD_TOKEN"


def journal_figures(data: Path) -> tuple[int, int, int]:
    """(records, last seq, OrderIntended records) of the store's journal."""
    conn = sqlite3.connect(f"file:{data / 'tradeguard.db'}?mode=ro", uri=True)
    try:
        records, last = conn.execute("SELECT count(*), max(seq) FROM journal").fetchone()
        (intents,) = conn.execute(
            "SELECT count(*) FROM journal WHERE type = 'order_intended'").fetchone()
    finally:
        conn.close()
    return records, last, intents


@pytest.fixture(scope="module")
def traded_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data dir where a run traded on the built-in simulator and stopped cleanly."""
    data = tmp_path_factory.mktemp("traded") / "data"
    proc = subprocess.run(
        [*TRADEGUARD, "run", "--data-dir", str(data), "--duration", "1.5", "--no-http",
         "--json"],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert journal_figures(data)[2] > 0, "the seed run placed no order"
    return data


CASES = [
    pytest.param(
        '[alerts]\nurls = ["json://127.0.0.1:9/ok", "nonsense://x"]\n', NO_HTTP, {},
        "key 'alerts.urls[1]': not a valid apprise URL: 'nonsense://x'",
        id="alerts-url-invalid",
    ),
    pytest.param(
        '[alerts]\nurls_env = ["TG_BAD_ALERT_URL"]\n', NO_HTTP,
        {"TG_BAD_ALERT_URL": "no-scheme-s3cret"},
        "key 'alerts.urls_env[0]': environment variable TG_BAD_ALERT_URL does not hold a "
        "valid apprise URL",
        id="alerts-url-from-env-invalid",
    ),
    pytest.param(
        "[health]\ninterval = 5\n", NO_HTTP, {},
        "key 'health.interval': unknown key", id="health-unknown-key",
    ),
    pytest.param(
        '[health]\nrss_warn_bytes = "1GB"\n', NO_HTTP, {},
        "key 'health.rss_warn_bytes': Expected `int`, got `str`", id="health-threshold-type",
    ),
    pytest.param(
        "[http]\nport = 70000\n", NO_HTTP, {},
        "key 'http.port': must be >= 0 and <= 65535, got 70000", id="http-port-range",
    ),
    pytest.param(
        "[http]\nport = 8765.5\n", NO_HTTP, {},
        "key 'http.port': Expected `int`, got `float`", id="http-port-type",
    ),
    pytest.param(
        '[http]\ntoken_env = "not a name"\n', NO_HTTP, {},
        "key 'http.token_env': must be an environment variable name, got 'not a name'",
        id="http-token-env-name",
    ),
    pytest.param(
        '[http]\nhost = "0.0.0.0"\nport = 0\n', (), {TOKEN_ENV: None},
        "[http] host = '0.0.0.0' is not a loopback address and no token is set: "
        f"export {TOKEN_ENV}",
        id="http-remote-host-without-token",
    ),
    pytest.param(
        "", ("--http", "0.0.0.0:0"), {TOKEN_ENV: None},
        "[http] host = '0.0.0.0' is not a loopback address and no token is set",
        id="http-remote-flag-without-token",
    ),
]


@pytest.mark.parametrize(("toml", "args", "env", "expected"), CASES)
def test_bad_input_stops_run_at_start_with_one_line_naming_the_key(
    traded_store: Path, tmp_path: Path, toml: str, args: tuple[str, ...],
    env: dict[str, str | None], expected: str,
) -> None:
    data = tmp_path / "data"
    shutil.copytree(traded_store, data)
    before = journal_figures(data)
    sim_state = (data / "simulator-state.json").read_bytes()
    config = tmp_path / "tradeguard.toml"
    config.write_text(toml, encoding="utf-8")
    environ = {k: v for k, v in os.environ.items() if k not in env}
    environ.update({k: v for k, v in env.items() if v is not None})
    proc = subprocess.run(
        [*TRADEGUARD, "run", "--config", str(config), "--data-dir", str(data),
         "--duration", "30", *args],
        capture_output=True, text=True, timeout=120, check=False, env=environ,
    )
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("error: "), lines
    assert expected in lines[0], lines
    assert "s3cret" not in proc.stderr + proc.stdout  # a secret URL is never echoed
    assert proc.stdout == ""  # no start-up banner: nothing started
    # Nothing was journaled (so no order was sent: intents are written ahead) and the
    # exchange was never started (the simulator's saved state is untouched).
    assert journal_figures(data) == before
    assert (data / "simulator-state.json").read_bytes() == sim_state
