"""The processes the chaos harness drives: the simulator, the trader, the admin API.

``SimulatorProcess`` runs ``tradeguard sim`` in its own process (timer off: the harness
moves prices, so the exchange is still while a checkpoint is compared with it).
``TraderProcess`` runs :mod:`tradeguard.chaos.trader` and reads its stdout protocol
(``CHECKPOINT``, ``ACK``, ``CRASH`` lines). ``SimAdmin`` talks to ``/_sim/``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

import aiohttp
import msgspec

from tradeguard.chaos.checks import Checkpoint
from tradeguard.errors import ChaosHarnessError

__all__ = ["SimAdmin", "SimulatorProcess", "TraderProcess"]

_START_TIMEOUT_S = 60.0
_LINE_LIMIT_BYTES = 256 * 1024 * 1024


class SimulatorProcess:
    """``tradeguard sim`` as a child process; ``url`` is where it listens."""

    def __init__(self, proc: asyncio.subprocess.Process, url: str) -> None:
        self.proc = proc
        self.url = url

    @classmethod
    async def start(cls, *, seed: int, volatility: str, log: IO[bytes]) -> SimulatorProcess:
        """Start the simulator on a free loopback port and wait for its first line."""
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tradeguard",
            "sim",
            "--port",
            "0",
            "--seed",
            str(seed),
            "--tick-interval-ms",
            "0",
            "--volatility",
            volatility,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=log,
        )
        assert proc.stdout is not None
        try:
            line = await asyncio.wait_for(proc.stdout.readline(), _START_TIMEOUT_S)
        except TimeoutError:
            line = b""
        text = line.decode(errors="replace").strip()
        if not text.startswith("listening on http://127.0.0.1:"):
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
            raise ChaosHarnessError(f"the simulator did not start (first line: {text!r})")
        return cls(proc, text.removeprefix("listening on "))

    async def stop(self) -> None:
        """SIGTERM, then SIGKILL if it does not stop within 10 s."""
        if self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.terminate()
            try:
                await asyncio.wait_for(self.proc.wait(), 10)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()


class SimAdmin:
    """The simulator's admin API (ground truth, price steps, faults)."""

    def __init__(self, http: aiohttp.ClientSession, url: str) -> None:
        self.http = http
        self.url = url.rstrip("/") + "/_sim/"

    async def _call(self, method: str, action: str, body: Mapping[str, Any] | None = None) -> Any:
        try:
            async with self.http.request(method, self.url + action, json=body) as resp:
                payload = await resp.json(content_type=None)
                if resp.status != 200:
                    raise ChaosHarnessError(f"admin {method} {action}: {payload}")
                return payload
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise ChaosHarnessError(f"admin {method} {action} failed: {exc}") from exc

    async def state(self) -> dict[str, Any]:
        """The whole ground truth."""
        result: dict[str, Any] = await self._call("GET", "state")
        return result

    async def tick(self, steps: int = 1) -> None:
        """Advance the seeded random walk (and match resting orders)."""
        await self._call("POST", "tick", {"steps": steps})

    async def add_fault(self, rule: Mapping[str, Any]) -> None:
        """Arm one fault rule."""
        await self._call("POST", "faults", rule)

    async def clear_faults(self) -> None:
        """Disarm every fault."""
        await self._call("DELETE", "faults")


class TraderProcess:
    """One run of the chaos trader; its stdout lines are read as they come."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.acked: set[str] = set()
        self.crash_point: str | None = None
        self.checkpoint: asyncio.Future[Checkpoint | None] = (
            asyncio.get_running_loop().create_future()
        )
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def start(
        cls,
        *,
        data_dir: Path,
        exchange_url: str,
        prefix: str,
        env: Mapping[str, str],
        log: IO[bytes],
    ) -> TraderProcess:
        """Start ``python -m tradeguard.chaos.trader`` with extra environment ``env``."""
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            # Not ``-m``: the package imports the module first, and runpy warns about that.
            "from tradeguard.chaos.trader import main; main()",
            "--data-dir",
            str(data_dir),
            "--exchange-url",
            exchange_url,
            "--prefix",
            prefix,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=log,
            env={**os.environ, **env},
            # The checkpoint is one line listing every order: far beyond 64 KiB in long runs.
            limit=_LINE_LIMIT_BYTES,
        )
        return cls(proc)

    async def _read(self) -> None:
        assert self.proc.stdout is not None
        try:
            async for raw in self.proc.stdout:
                line = raw.decode(errors="replace").rstrip("\n")
                kind, _, rest = line.partition(" ")
                if kind == "ACK":
                    self.acked.add(rest)
                elif kind == "CRASH":
                    self.crash_point = rest
                elif kind == "CHECKPOINT" and not self.checkpoint.done():
                    self.checkpoint.set_result(msgspec.json.decode(rest, type=Checkpoint))
        finally:
            if not self.checkpoint.done():
                self.checkpoint.set_result(None)

    @property
    def alive(self) -> bool:
        """True while the process has not exited."""
        return self.proc.returncode is None

    async def wait_checkpoint(self, timeout_s: float) -> Checkpoint | None:
        """The checkpoint, or None when the process ended without one."""
        try:
            return await asyncio.wait_for(asyncio.shield(self.checkpoint), timeout_s)
        except TimeoutError as exc:
            raise ChaosHarnessError(
                f"no checkpoint from the trader (pid {self.proc.pid}) within {timeout_s:.0f} s"
            ) from exc

    def go(self) -> None:
        """Let the trader start trading (it waits for one line on stdin)."""
        assert self.proc.stdin is not None
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.proc.stdin.write(b"go\n")

    async def wait_exit(self, timeout_s: float) -> int | None:
        """The exit code, or None if still running after ``timeout_s``."""
        try:
            return await asyncio.wait_for(self.proc.wait(), timeout_s)
        except TimeoutError:
            return None

    def send(self, signum: signal.Signals) -> None:
        """Send a signal (no-op once it exited)."""
        if self.alive:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signum)

    async def finish(self) -> int:
        """Wait for the exit and the last stdout line; SIGKILL after 30 s."""
        code = await self.wait_exit(30)
        if code is None:
            self.send(signal.SIGKILL)
            code = await self.proc.wait()
        await self._reader
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        return code
