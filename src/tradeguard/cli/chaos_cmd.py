"""``tradeguard chaos``: crash torture of the trading session against the simulator.

Thin shell over :func:`tradeguard.chaos.run_chaos`: parse options, run, print the
figures (one JSON object with ``--json``, a progress bar and a table otherwise). Exit 1
when anything was lost, duplicated or different, or could not be checked; 2 on an error.
"""

from __future__ import annotations

import asyncio
import random
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from tradeguard.cli.app import app
from tradeguard.cli.common import err_console, handle_errors, out_console, print_json
from tradeguard.errors import ConfigError
from tradeguard.logs import configure_logging

if TYPE_CHECKING:
    from tradeguard.chaos import ChaosConfig, ChaosReport

__all__ = ["chaos", "explain_order_counts"]


@app.command("chaos")
@handle_errors()
def chaos(
    cycles: Annotated[int, typer.Option("--cycles", "-n", help="Kill/restart cycles.")] = 30,
    seed: Annotated[
        int | None, typer.Option("--seed", help="Seed of every random choice (default: random).")
    ] = None,
    data_dir: Annotated[
        Path | None,
        typer.Option(
            "--data-dir",
            "-d",
            help="New or empty directory for the store and logs (default: a temporary one, "
            "removed when the run passes).",
        ),
    ] = None,
    max_run: Annotated[
        float, typer.Option("--max-run", help="Longest trading window before a kill, seconds.")
    ] = 1.5,
    fault_probability: Annotated[
        float, typer.Option("--fault-probability", help="Chance a cycle arms a fault first.")
    ] = 0.4,
    json: Annotated[
        bool, typer.Option("--json", help="Print one JSON object for scripts.")
    ] = False,
) -> None:
    """Kill the demo trader with SIGKILL at random moments and crash points; check each restart.

    Starts `tradeguard sim` in its own process, then for every cycle restarts the trader
    on the same store, compares its recovered and reconciled state with the simulator's
    ground truth (no order lost or placed twice, open orders, fills, positions and
    balances equal, nothing left unresolved), lets it trade briefly, maybe with a fault
    armed (ambiguous submits, dropped connections, 5xx), and kills it.
    """
    # Imported here: the harness pulls in the session and aiohttp, other commands need not.
    from tradeguard.chaos import ChaosConfig, run_chaos

    configure_logging(level="warning", stream_level="critical" if json else "error")
    chosen_seed = seed if seed is not None else random.SystemRandom().randrange(2**31)
    try:
        config = ChaosConfig(
            cycles=cycles,
            seed=chosen_seed,
            data_dir=str(data_dir) if data_dir is not None else None,
            max_run_seconds=max(max_run, 0.05),
            fault_probability=fault_probability,
        )
    except ValueError as exc:
        raise ConfigError(f"chaos: {exc}") from exc
    if json:
        report = asyncio.run(run_chaos(config))
        print_json(report)
    else:
        err_console.print(f"chaos: seed {chosen_seed}, {cycles} cycles")
        report = _run_with_progress(config)
        _print_report(report)
    if not report.ok:
        raise typer.Exit(1)


def _run_with_progress(config: ChaosConfig) -> ChaosReport:
    from tradeguard.chaos import run_chaos

    progress = Progress(
        TextColumn("[bold]chaos"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[figures]}"),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
    )
    with progress:
        task = progress.add_task("chaos", total=config.cycles, figures="")

        def on_cycle(done: int, so_far: ChaosReport) -> None:
            progress.update(
                task,
                completed=done,
                figures=f"lost {so_far.lost} dup {so_far.duplicates} "
                f"mismatch {so_far.mismatches} unresolved {so_far.unresolved}",
            )

        return asyncio.run(run_chaos(config, on_cycle=on_cycle))


def _print_report(report: ChaosReport) -> None:
    table = Table(title=f"tradeguard chaos (seed {report.seed})", show_header=False)
    table.add_column("what", style="bold")
    table.add_column("value")
    for name in (
        "cycles",
        "checkpoints",
        "lost",
        "duplicates",
        "mismatches",
        "unresolved",
        "errors",
    ):
        value = getattr(report, name)
        bad = name in ("lost", "duplicates", "mismatches", "errors") and value > 0
        table.add_row(name, f"[bold red]{value}[/]" if bad else str(value))
    table.add_row("kills by point", _counts(report.kills_by_point))
    table.add_row("faults injected", _counts(report.faults_injected))
    table.add_row("orders acknowledged", str(report.acknowledged_orders))
    table.add_row("orders on the exchange", str(report.exchange_orders))
    table.add_row("duration", f"{report.duration_s:.1f} s")
    out_console.print(table)
    out_console.print(
        explain_order_counts(report.acknowledged_orders, report.exchange_orders,
                             duplicates=report.duplicates),
        soft_wrap=True, markup=False, highlight=False,
    )
    for line in report.problems:
        out_console.print(f"  [red]{line}[/]")
    verdict = "[green]PASS[/]" if report.ok else "[bold red]FAIL[/]"
    kept = (
        ""
        if report.ok and not Path(report.data_dir).exists()
        else f"; store and logs in {report.data_dir}"
    )
    out_console.print(f"{verdict} (replay the choices with --seed {report.seed}{kept})")


def explain_order_counts(acknowledged: int, on_exchange: int, *, duplicates: int) -> str:
    """Why the two order counts may differ, in words (shown under them)."""
    what = (
        "acknowledged: orders the strategy saw accepted before a kill; on the exchange: "
        "orders with our client ids the exchange holds."
    )
    extra = on_exchange - acknowledged
    if extra > 0 and duplicates == 0:
        return (
            f"{what} The {extra} more on the exchange were accepted there, but the process "
            "was killed (or the answer lost) before the strategy saw the acknowledgement; "
            "after the restart recovery found each by its client order id and adopted it. "
            "None was sent twice (duplicates 0)."
        )
    if extra < 0:
        return f"{what} {-extra} acknowledged orders are missing on the exchange: see lost."
    return f"{what} Equal: every order that reached the exchange was acknowledged."


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in counts.items()) or "none"
