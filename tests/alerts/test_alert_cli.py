"""``tradeguard alert-test`` against real receivers, in a real subprocess."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

from .receivers import Hook, Inbox, free_port, text_of


async def _alert_test(
    config: Path, *args: str, env: dict[str, str] | None = None
) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tradeguard",
        "alert-test",
        "--config",
        str(config),
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, **(env or {})},
    )
    out, err = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def _write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "tradeguard.toml"
    path.write_text(body, encoding="utf-8")
    return path


async def test_alert_test_reaches_email_and_webhook(
    tmp_path: Path, smtp_inbox: Inbox, webhook: Hook
) -> None:
    config = _write(
        tmp_path,
        f'[alerts]\nurls = ["{smtp_inbox.url}", "{webhook.url("/ops")}"]\nretry_attempts = 0\n',
    )
    code, out, err = await _alert_test(config, "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["ok"] is True
    assert [r["target"] for r in report["results"]] == [
        f"mailto://127.0.0.1:{smtp_inbox.port}",
        f"json://127.0.0.1:{webhook.port}/ops",
    ]
    assert all(r["ok"] for r in report["results"])
    [message] = smtp_inbox.messages
    assert message["Subject"] == "tradeguard test alert"
    assert "delivery through this channel works" in text_of(message)
    [(path, _, payload)] = webhook.posts
    assert path == "/ops"
    assert payload["title"] == "tradeguard test alert"
    assert payload["type"] == "info"


async def test_alert_test_reports_a_failed_channel_and_exits_1(
    tmp_path: Path, webhook: Hook
) -> None:
    secret = "hunter2hunter2pass"
    down = f"json://ops:{secret}@127.0.0.1:{free_port()}/hook"
    config = _write(
        tmp_path,
        f'[alerts]\nurls = ["{webhook.url()}"]\nurls_env = ["TG_ALERT_DOWN"]\n'
        "retry_attempts = 1\nretry_backoff_seconds = 0\n",
    )
    code, out, err = await _alert_test(config, env={"TG_ALERT_DOWN": down})
    assert code == 1, err
    lines = out.splitlines()
    assert lines[0].startswith(f"ok     json://127.0.0.1:{webhook.port}/hook (1 attempt(s))")
    assert lines[1].startswith("FAILED $TG_ALERT_DOWN (json://***) (2 attempt(s))")
    assert "delivery failed" in lines[1]
    assert secret not in out + err
    assert len(webhook.posts) == 1


async def test_alert_test_names_the_key_of_a_bad_url(tmp_path: Path) -> None:
    config = _write(tmp_path, '[alerts]\nurls = ["json://127.0.0.1/a", "nonsense://x"]\n')
    code, out, err = await _alert_test(config)
    assert code == 2
    assert err.strip() == (
        f"error: {config}:2: key 'alerts.urls[1]': not a valid apprise URL: 'nonsense://x'"
    )
    assert out == ""


async def test_alert_test_with_an_unset_variable_or_nothing_configured(tmp_path: Path) -> None:
    config = _write(tmp_path, '[alerts]\nurls_env = ["TG_ALERT_UNSET_FOR_TEST"]\n')
    code, out, _ = await _alert_test(config, "--json", env={"TG_ALERT_UNSET_FOR_TEST": ""})
    assert code == 2
    assert json.loads(out)["error"] == (
        "key 'alerts.urls_env[0]': environment variable TG_ALERT_UNSET_FOR_TEST is not set"
    )
    empty = _write(tmp_path, "[alerts]\n")
    code, out, _ = await _alert_test(empty, "--json")
    assert code == 2
    assert json.loads(out)["error"].startswith("no alert channel configured")
