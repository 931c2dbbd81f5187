"""``tradeguard alert-test``: send a test alert to every configured channel.

Reads ``[alerts]`` (``urls`` and the URLs held by the ``urls_env`` variables), sends one
test alert to each channel with the configured retries and timeout, bypassing the
cool-down, and reports each result with credentials masked. Exit code 0 when every
channel took it, 1 when any failed, 2 on a configuration error (a bad URL, an unset
variable, no channel configured).
"""

from __future__ import annotations

import asyncio
import os
import socket
import time

import typer

from tradeguard.alerts.catalog import alert_test_message
from tradeguard.alerts.config import resolve_targets
from tradeguard.alerts.delivery import TargetResult, deliver, register_target_secrets
from tradeguard.cli.app import app
from tradeguard.cli.common import ConfigOpt, JsonOpt, handle_errors, print_json, setup_cli_logging
from tradeguard.config import load_config
from tradeguard.errors import ConfigError

__all__ = ["alert_test"]


@app.command("alert-test")
@handle_errors()
def alert_test(config_path: ConfigOpt = None, json: JsonOpt = False) -> None:
    """Send a test alert to every configured alert URL and report each result."""
    config = load_config(config_path, required=config_path is not None)
    setup_cli_logging(config, quiet=json)
    alerts = config.alerts
    targets = resolve_targets(alerts, os.environ)
    if not targets:
        raise ConfigError(
            "no alert channel configured: set [alerts] urls, or urls_env to the names of "
            "environment variables holding apprise URLs"
        )
    register_target_secrets(targets)
    alert = alert_test_message(time.time_ns(), socket.gethostname())
    results = asyncio.run(
        deliver(
            alert,
            targets,
            retry_attempts=alerts.retry_attempts,
            retry_backoff_seconds=alerts.retry_backoff_seconds,
            timeout_seconds=alerts.timeout_seconds,
        )
    )
    ok = all(result.ok for result in results)
    if json:
        print_json({"ok": ok, "results": [_as_dict(result) for result in results]})
    else:
        for result in results:
            mark = "ok    " if result.ok else "FAILED"
            detail = "" if result.ok else f"  {result.error}"
            typer.echo(f"{mark} {result.target} ({result.attempts} attempt(s)){detail}")
    if not ok:
        raise typer.Exit(1)


def _as_dict(result: TargetResult) -> dict[str, object]:
    return {
        "target": result.target,
        "ok": result.ok,
        "attempts": result.attempts,
        "error": result.error,
    }
