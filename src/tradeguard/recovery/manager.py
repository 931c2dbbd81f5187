"""Local recovery: detect an unclean shutdown, restore state, settle damage.

Recovery is a set of component steps run in dependency order (see ``components``):
``file`` (the database file's own integrity check: damage there stops a writing
recovery before anything is written, as ``verify`` reports it), ``run-marker`` (how did
the last run end), ``state`` (newest valid snapshot + journal
replay, damaged tail quarantined) and ``snapshot`` (a fresh snapshot when much was
replayed, so the next start is fast). Later components (exchange, reconciliation,
strategy) register their own steps on the same registry.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import msgspec

from tradeguard.domain.state import SessionState
from tradeguard.logs import get_logger
from tradeguard.recovery.components import ComponentRegistry, StepResult
from tradeguard.recovery.integrity import file_integrity_problems, refuse_damaged_file
from tradeguard.recovery.restore import RestoreResult, SkippedSnapshot, restore_state
from tradeguard.storage.base import Store
from tradeguard.storage.codec import encode_state
from tradeguard.storage.records import RunInfo

__all__ = [
    "RECOVERED",
    "RecoveryContext",
    "RecoveryProgress",
    "RecoveryReport",
    "local_recovery_steps",
    "recover",
]

_log = get_logger("tradeguard.recovery")

SNAPSHOT_AFTER_REPLAY = 1_000
"""Take a fresh snapshot when recovery replayed at least this many events."""


RECOVERED = "recovered"
"""The ``phase`` of the last progress report: every step is done."""


class RecoveryProgress(msgspec.Struct, frozen=True):
    """A progress report: ``phase`` (a step name before it runs, with ``done`` the steps
    done of ``total``; ``replay`` with records replayed of ``total``; finally
    :data:`RECOVERED`)."""

    phase: str
    done: int
    total: int


ProgressFn = Callable[[RecoveryProgress], None]


class RecoveryReport(msgspec.Struct, frozen=True):
    """What local recovery found and did. ``--json`` prints this."""

    unclean_shutdown: bool
    previous_run: RunInfo | None
    snapshot_seq: int | None
    skipped_snapshots: list[SkippedSnapshot]
    replayed_events: int
    last_seq: int
    quarantined_records: int
    corrupt_records: list[int]
    accepted_loss: bool
    snapshot_taken_seq: int | None
    steps: list[StepResult]
    duration_ms: float
    file_problems: list[str] = msgspec.field(default_factory=list)


@dataclass
class RecoveryContext:
    """What recovery steps share: the store, the options and what earlier steps found."""

    store: Store
    accept_loss: bool = False
    write: bool = True
    snapshots_to_keep: int = 3
    progress: ProgressFn | None = None
    previous_run: RunInfo | None = None
    unclean_shutdown: bool = False
    state: SessionState = field(default_factory=SessionState)
    restore: RestoreResult | None = None
    snapshot_taken_seq: int | None = None
    file_problems: list[str] = field(default_factory=list)

    def report_progress(self, phase: str, done: int, total: int) -> None:
        """Forward progress to the caller's callback, if any."""
        if self.progress is not None:
            self.progress(RecoveryProgress(phase, done, total))


def _check_file(ctx: RecoveryContext) -> str:
    # The same check and the same line as verify's; only a writing recovery must stop.
    ctx.file_problems = file_integrity_problems(ctx.store)
    if ctx.write:
        refuse_damaged_file(ctx.store, ctx.file_problems)
    if ctx.file_problems:
        _log.warning("database file damaged", problems=ctx.file_problems[:5])
        return f"damaged: {'; '.join(ctx.file_problems[:3])}"
    return "ok"


def _check_run_marker(ctx: RecoveryContext) -> str:
    ctx.previous_run = ctx.store.last_run()
    ctx.unclean_shutdown = ctx.previous_run is not None and not ctx.previous_run.clean
    if ctx.previous_run is None:
        return "first run"
    if ctx.unclean_shutdown:
        # A read-only look (status, verify) reports it in its output; only a recovery
        # that acts on it says so in the log, once.
        log = _log.warning if ctx.write else _log.debug
        log(
            "unclean shutdown detected",
            run_id=ctx.previous_run.run_id,
            pid=ctx.previous_run.pid,
            host=ctx.previous_run.hostname,
        )
        return f"unclean shutdown of run {ctx.previous_run.run_id}"
    return f"clean shutdown of run {ctx.previous_run.run_id}"


def _restore(ctx: RecoveryContext) -> str:
    ctx.state, ctx.restore = restore_state(
        ctx.store,
        accept_loss=ctx.accept_loss,
        write=ctx.write,
        progress=lambda done, total: ctx.report_progress("replay", done, total),
    )
    r = ctx.restore
    for skipped in r.skipped_snapshots:
        _log.warning("snapshot skipped", seq=skipped.seq, reason=skipped.reason)
    if r.quarantined_records:
        _log.warning(
            "journal records quarantined",
            count=r.quarantined_records,
            corrupt=r.corrupt_records,
            accepted_loss=r.accepted_loss,
        )
    return (
        f"snapshot {r.snapshot_seq}, replayed {r.replayed_events}, "
        f"quarantined {r.quarantined_records}, last seq {r.last_seq}"
    )


def _fresh_snapshot(ctx: RecoveryContext) -> str:
    replayed = ctx.restore.replayed_events if ctx.restore else 0
    if not ctx.write or replayed < SNAPSHOT_AFTER_REPLAY:
        return "not needed"
    version, payload = encode_state(ctx.state)
    ctx.store.save_snapshot(ctx.state.last_seq, version, payload, keep=ctx.snapshots_to_keep)
    ctx.snapshot_taken_seq = ctx.state.last_seq
    return f"snapshot at seq {ctx.state.last_seq}"


def local_recovery_steps() -> ComponentRegistry[RecoveryContext]:
    """The registry of local recovery steps; callers may register more on it."""
    registry: ComponentRegistry[RecoveryContext] = ComponentRegistry()
    registry.register("file", _check_file)
    registry.register("run-marker", _check_run_marker, depends_on=["file"])
    registry.register("state", _restore, depends_on=["run-marker"])
    registry.register("snapshot", _fresh_snapshot, depends_on=["state"])
    return registry


def recover(
    store: Store,
    *,
    accept_loss: bool = False,
    write: bool = True,
    snapshots_to_keep: int = 3,
    progress: ProgressFn | None = None,
    registry: ComponentRegistry[RecoveryContext] | None = None,
) -> tuple[SessionState, RecoveryReport]:
    """Run local recovery on ``store``; return the restored state and the report.

    With ``write`` False nothing in the store changes. Raises ``JournalCorruptionError``
    for damage in the middle of the journal unless ``accept_loss``.
    """
    started = time.perf_counter()
    ctx = RecoveryContext(
        store=store,
        accept_loss=accept_loss,
        write=write,
        snapshots_to_keep=snapshots_to_keep,
        progress=progress,
    )
    steps = (registry or local_recovery_steps()).run_all(
        ctx, on_step=ctx.report_progress
    )
    # The last report: every step is done (a display closes its "store recovery" here).
    ctx.report_progress(RECOVERED, len(steps), len(steps))
    restored = ctx.restore or RestoreResult(None, [], 0, ctx.state.last_seq, 0, [], False)
    report = RecoveryReport(
        unclean_shutdown=ctx.unclean_shutdown,
        previous_run=ctx.previous_run,
        snapshot_seq=restored.snapshot_seq,
        skipped_snapshots=restored.skipped_snapshots,
        replayed_events=restored.replayed_events,
        last_seq=ctx.state.last_seq,
        quarantined_records=restored.quarantined_records,
        corrupt_records=restored.corrupt_records,
        accepted_loss=restored.accepted_loss,
        snapshot_taken_seq=ctx.snapshot_taken_seq,
        steps=steps,
        duration_ms=(time.perf_counter() - started) * 1000,
        file_problems=ctx.file_problems,
    )
    _log.info(
        "local recovery done",
        unclean_shutdown=report.unclean_shutdown,
        snapshot_seq=report.snapshot_seq,
        replayed_events=report.replayed_events,
        quarantined_records=report.quarantined_records,
        last_seq=report.last_seq,
        duration_ms=round(report.duration_ms, 2),
    )
    return ctx.state, report
