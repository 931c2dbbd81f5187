"""Crash torture: kill the trading session at random moments and at crash points, check.

``run_chaos`` starts the simulator in its own process, then runs ``cycles`` times:

1. start the chaos trader (:mod:`tradeguard.chaos.trader`) on the same store; it
   recovers from whatever the last kill left, resolves, reconciles and prints a
   checkpoint, which is compared with the simulator's ground truth
   (:func:`~tradeguard.chaos.checks.check_checkpoint`) while nothing moves;
2. let it trade for a random short time while the harness moves the price, maybe
   with a fault armed first (ambiguous submits, dropped connections, 5xx);
3. end it: SIGKILL at a random moment, during its startup, or at a crash point inside
   the write-ahead protocol (the trader kills itself there), or a clean SIGTERM.

A last restart is checked the same way and stopped cleanly. Every choice comes from one
``random.Random(seed)``, so a seed names a run (process timing still varies).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import shutil
import signal
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO, Any, Final

import aiohttp
import msgspec

from tradeguard.chaos.checks import CheckResult, check_checkpoint
from tradeguard.chaos.processes import SimAdmin, SimulatorProcess, TraderProcess
from tradeguard.chaos.trader import BROKEN_ENV
from tradeguard.errors import ConfigError

__all__ = [
    "CRASH_POINTS",
    "FAULTS",
    "KILL_KINDS",
    "ChaosConfig",
    "ChaosReport",
    "CyclePlan",
    "plan_cycle",
    "run_chaos",
]

CRASH_POINTS: Final = ("after_intent_journaled", "after_exchange_ack", "after_cancel_journaled")
"""Named points inside the write-ahead protocol (``tradeguard.session.orders``)."""

KILL_KINDS: Final[Mapping[str, float]] = {
    "after_intent_journaled": 0.15,
    "after_exchange_ack": 0.15,
    "after_cancel_journaled": 0.10,
    "random": 0.40,
    "during_startup": 0.10,
    "sigterm": 0.10,
}
"""How each cycle ends, with its weight."""

_ORDER = "/api/v3/order"
FAULTS: Final[Mapping[str, Mapping[str, Any]]] = {
    "submit_process_then_fail": {"path": _ORDER, "method": "POST", "action": "process_then_fail"},
    "submit_process_then_503": {
        "path": _ORDER,
        "method": "POST",
        "action": "process_then_fail",
        "status": 503,
    },
    "submit_drop": {"path": _ORDER, "method": "POST", "action": "drop"},
    "submit_503": {"path": _ORDER, "method": "POST", "action": "status", "status": 503},
    "cancel_process_then_fail": {
        "path": _ORDER,
        "method": "DELETE",
        "action": "process_then_fail",
    },
    "cancel_503": {"path": _ORDER, "method": "DELETE", "action": "status", "status": 502},
    "cancel_drop": {"path": _ORDER, "method": "DELETE", "action": "drop"},
    "trades_503": {"path": "/api/v3/myTrades", "method": "GET", "action": "status"},
}
"""Faults armed through the admin API before a cycle's trading window."""

_CHECKPOINT_TIMEOUT_S = 90.0
_PRICE_STEP_S = 0.1
_MAX_PROBLEMS = 60


class ChaosConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """One chaos run.

    - ``data_dir``: an empty or new directory for the store and the process logs
      (default: a temporary directory, removed when the run passes);
    - ``min_run_seconds`` / ``max_run_seconds``: the trading window before a kill;
    - ``fault_probability``: chance that a cycle arms one fault from ``FAULTS``;
    - ``kill_kinds``: restrict how cycles end (default: all of ``KILL_KINDS``);
    - ``broken``: a deliberately broken trader variant (``skip_write_ahead``) for
      canary runs that must fail.
    """

    cycles: int
    seed: int = 0
    data_dir: str | None = None
    prefix: str = "tgchaos"
    min_run_seconds: float = 0.05
    max_run_seconds: float = 1.5
    fault_probability: float = 0.4
    kill_kinds: tuple[str, ...] = ()
    sim_volatility: str = "0.001"
    broken: str = ""

    def __post_init__(self) -> None:
        if self.cycles < 1:
            raise ValueError("cycles must be >= 1")
        if not 0 < self.min_run_seconds <= self.max_run_seconds:
            raise ValueError("need 0 < min_run_seconds <= max_run_seconds")
        unknown = set(self.kill_kinds) - set(KILL_KINDS)
        if unknown:
            raise ValueError(f"unknown kill kinds {sorted(unknown)}; known: {list(KILL_KINDS)}")
        if self.broken not in ("", "skip_write_ahead"):
            raise ValueError("broken must be '' or 'skip_write_ahead'")


class CyclePlan(msgspec.Struct, frozen=True, kw_only=True):
    """What one cycle does: how it ends, after how long, with which fault."""

    kill: str
    crash_at: int
    run_seconds: float
    fault: str | None


class ChaosReport(msgspec.Struct, frozen=True, kw_only=True):
    """The figures of a chaos run; ``ok`` when nothing was lost, duplicated or different.

    ``errors`` counts what the harness could not check (a trader that exited on its own
    or never printed its checkpoint): a run with errors proves nothing and is not ok.
    """

    seed: int
    cycles: int
    checkpoints: int
    lost: int
    duplicates: int
    mismatches: int
    unresolved: int
    errors: int
    kills_by_point: dict[str, int]
    faults_injected: dict[str, int]
    acknowledged_orders: int
    exchange_orders: int
    duration_s: float
    data_dir: str
    problems: list[str]
    ok: bool


def plan_cycle(rng: random.Random, config: ChaosConfig) -> CyclePlan:
    """Draw one cycle's plan from the run's random generator."""
    kinds = list(config.kill_kinds or KILL_KINDS)
    kill = rng.choices(kinds, weights=[KILL_KINDS[k] for k in kinds])[0]
    crash_at = rng.randint(1, 4)
    run_seconds = rng.uniform(config.min_run_seconds, config.max_run_seconds)
    if kill == "during_startup":
        run_seconds = rng.uniform(0.3, 1.6)  # seconds after spawn: import, recovery
    fault = None
    if rng.random() < config.fault_probability:
        fault = rng.choice(sorted(FAULTS))
    return CyclePlan(kill=kill, crash_at=crash_at, run_seconds=run_seconds, fault=fault)


class _Tally:
    def __init__(self) -> None:
        self.checks: list[CheckResult] = []
        self.acked: set[str] = set()
        self.kills: Counter[str] = Counter()
        self.faults: Counter[str] = Counter()
        self.errors = 0
        self.problems: list[str] = []
        self.exchange_orders = 0

    def problem(self, cycle: int, text: str) -> None:
        if len(self.problems) < _MAX_PROBLEMS:
            self.problems.append(f"cycle {cycle}: {text}")

    def add_check(self, cycle: int, result: CheckResult) -> None:
        self.checks.append(result)
        self.exchange_orders = result.exchange_orders
        for detail in result.details:
            self.problem(cycle, detail)

    def report(
        self, config: ChaosConfig, data_dir: Path, started: float, cycles: int
    ) -> ChaosReport:
        lost = sum(c.lost for c in self.checks)
        duplicates = max((c.duplicates for c in self.checks), default=0)
        mismatches = sum(c.mismatches for c in self.checks)
        return ChaosReport(
            seed=config.seed,
            cycles=cycles,
            checkpoints=len(self.checks),
            lost=lost,
            # A duplicate stays on the exchange: count it once, not at every checkpoint.
            duplicates=duplicates,
            mismatches=mismatches,
            unresolved=sum(c.unresolved for c in self.checks),
            errors=self.errors,
            kills_by_point=dict(sorted(self.kills.items())),
            faults_injected=dict(sorted(self.faults.items())),
            acknowledged_orders=len(self.acked),
            exchange_orders=self.exchange_orders,
            duration_s=round(time.monotonic() - started, 2),
            data_dir=str(data_dir),
            problems=list(self.problems),
            ok=lost == 0 and duplicates == 0 and mismatches == 0 and self.errors == 0,
        )


def _prepare_dir(config: ChaosConfig) -> tuple[Path, bool]:
    if config.data_dir is None:
        return Path(tempfile.mkdtemp(prefix="tradeguard-chaos-")), True
    path = Path(config.data_dir)
    if path.exists() and any(path.iterdir()):
        raise ConfigError(
            f"chaos data dir {path} is not empty: the checks compare it with a fresh "
            "simulator, so give a new or empty directory"
        )
    path.mkdir(parents=True, exist_ok=True)
    return path, False


class _Run:
    """The state of one chaos run: simulator, admin API, store and logs."""

    def __init__(
        self, config: ChaosConfig, admin: SimAdmin, url: str, data_dir: Path, log: IO[bytes]
    ) -> None:
        self.config = config
        self.admin = admin
        self.url = url
        self.store_dir = data_dir / "store"
        self.log = log
        self.tally = _Tally()

    async def _spawn(self, env: Mapping[str, str]) -> TraderProcess:
        extra = dict(env)
        if self.config.broken:
            extra[BROKEN_ENV] = self.config.broken
        return await TraderProcess.start(
            data_dir=self.store_dir,
            exchange_url=self.url,
            prefix=self.config.prefix,
            env=extra,
            log=self.log,
        )

    async def _check(self, cycle: int, trader: TraderProcess, timeout_s: float) -> bool:
        checkpoint = await trader.wait_checkpoint(timeout_s)
        if checkpoint is None:
            code = await trader.finish()
            if trader.crash_point is not None:
                # Trade recovery (a re-sent cancel) passed the crash point: a kill
                # during recovery, which the next restart must survive too.
                self.tally.kills[f"{trader.crash_point} (in recovery)"] += 1
                return False
            self.tally.errors += 1
            self.tally.problem(cycle, f"trader exited with {code} before its checkpoint")
            return False
        truth = await self.admin.state()
        self.tally.add_check(cycle, check_checkpoint(checkpoint, truth, acked=self.tally.acked))
        return True

    async def cycle(self, cycle: int, plan: CyclePlan) -> None:
        """Restart, check, trade, end the trader as ``plan`` says."""
        env: dict[str, str] = {}
        if plan.kill in CRASH_POINTS:
            env = {"TRADEGUARD_CRASH_POINT": plan.kill, "TRADEGUARD_CRASH_AT": str(plan.crash_at)}
        trader = await self._spawn(env)
        try:
            if plan.kill == "during_startup":
                await self._kill_during_startup(cycle, trader, plan)
                return
            if not await self._check(cycle, trader, _CHECKPOINT_TIMEOUT_S):
                return
            trader.go()
            if plan.fault is not None:
                await self.admin.add_fault({**FAULTS[plan.fault], "count": 1 + cycle % 2})
                self.tally.faults[plan.fault] += 1
            # A crash point may take a while to be reached; a random kill backs it up.
            window = plan.run_seconds * (3 if plan.kill in CRASH_POINTS else 1)
            await self._trade(trader, window)
            await self._end(cycle, trader, plan)
        finally:
            if trader.alive:
                trader.send(signal.SIGKILL)
            await trader.finish()
            self.tally.acked |= trader.acked
            await self.admin.clear_faults()

    async def _kill_during_startup(
        self, cycle: int, trader: TraderProcess, plan: CyclePlan
    ) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(trader.checkpoint), plan.run_seconds)
        trader.send(signal.SIGKILL)
        await trader.finish()
        checkpoint = trader.checkpoint.result()
        if checkpoint is None:
            self.tally.kills["during_startup"] += 1
            return
        # Recovery finished before the kill: check it (the kill lands before trading).
        truth = await self.admin.state()
        self.tally.add_check(cycle, check_checkpoint(checkpoint, truth, acked=self.tally.acked))
        self.tally.kills["before_trading"] += 1

    async def _trade(self, trader: TraderProcess, window_s: float) -> None:
        deadline = asyncio.get_running_loop().time() + window_s
        while trader.alive and asyncio.get_running_loop().time() < deadline:
            await self.admin.tick()
            await trader.wait_exit(_PRICE_STEP_S)

    async def _end(self, cycle: int, trader: TraderProcess, plan: CyclePlan) -> None:
        if not trader.alive:
            await trader.finish()
            if trader.crash_point is not None:
                self.tally.kills[trader.crash_point] += 1
                return
            self.tally.errors += 1
            self.tally.problem(cycle, f"trader exited on its own with {trader.proc.returncode}")
            return
        if plan.kill == "sigterm":
            trader.send(signal.SIGTERM)
            code = await trader.finish()
            self.tally.kills["sigterm"] += 1
            if code != 0:
                self.tally.errors += 1
                self.tally.problem(cycle, f"SIGTERM did not stop the trader cleanly (exit {code})")
            return
        trader.send(signal.SIGKILL)
        await trader.finish()
        self.tally.kills["random" if plan.kill == "random" else "random (point not reached)"] += 1

    async def final(self, cycle: int) -> None:
        """The last restart: check it, then stop it cleanly."""
        trader = await self._spawn({})
        try:
            if await self._check(cycle, trader, _CHECKPOINT_TIMEOUT_S):
                trader.go()
                trader.send(signal.SIGTERM)
                code = await trader.finish()
                if code != 0:
                    self.tally.errors += 1
                    self.tally.problem(cycle, f"final SIGTERM: exit {code}")
        finally:
            if trader.alive:
                trader.send(signal.SIGKILL)
            await trader.finish()


async def run_chaos(
    config: ChaosConfig, *, on_cycle: Callable[[int, ChaosReport], None] | None = None
) -> ChaosReport:
    """Run the crash torture; ``on_cycle(done, report_so_far)`` after every cycle."""
    started = time.monotonic()
    data_dir, temporary = _prepare_dir(config)
    rng = random.Random(config.seed)
    (data_dir / "logs").mkdir(exist_ok=True)
    with (data_dir / "logs" / "processes.log").open("ab") as log:
        sim = await SimulatorProcess.start(
            seed=config.seed, volatility=config.sim_volatility, log=log
        )
        try:
            timeout = aiohttp.ClientTimeout(total=30)
            async with aiohttp.ClientSession(timeout=timeout) as http:
                run = _Run(config, SimAdmin(http, sim.url), sim.url, data_dir, log)
                for cycle in range(1, config.cycles + 1):
                    await run.cycle(cycle, plan_cycle(rng, config))
                    if on_cycle is not None:
                        on_cycle(cycle, run.tally.report(config, data_dir, started, cycle))
                await run.final(config.cycles + 1)
        finally:
            await sim.stop()
    report = run.tally.report(config, data_dir, started, config.cycles)
    if temporary and report.ok:
        shutil.rmtree(data_dir, ignore_errors=True)
    return report
