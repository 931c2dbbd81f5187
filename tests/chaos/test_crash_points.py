"""The crash-point test hook in ``tradeguard.session.orders``: off unless asked, exact when on."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

_SCRIPT = """
from tradeguard.session.orders import crash_point
for i in range(1, 6):
    crash_point("elsewhere")
    crash_point("after_exchange_ack")
    print("passed", i, flush=True)
print("survived", flush=True)
"""


def _run(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("TRADEGUARD_CRASH")}
    return subprocess.run(
        [sys.executable, "-c", _SCRIPT],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_without_the_variable_nothing_happens() -> None:
    done = _run({})
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "survived"


def test_the_process_kills_itself_at_the_nth_passage() -> None:
    done = _run({"TRADEGUARD_CRASH_POINT": "after_exchange_ack,other", "TRADEGUARD_CRASH_AT": "3"})
    assert done.returncode == -signal.SIGKILL
    assert done.stdout.splitlines() == [
        "passed 1",
        "passed 2",
        "CRASH after_exchange_ack",
    ]
