"""Commands over a store: recover, verify, journal, status, backup, restore."""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path
from typing import Annotated

import typer

from tradeguard.app.service import ensure_not_running
from tradeguard.app.status import run_summary, session_status
from tradeguard.cli.app import app
from tradeguard.cli.common import (
    ConfigOpt,
    DataDirOpt,
    JsonOpt,
    SessionOpt,
    StoreOpt,
    backup_dir_for,
    handle_errors,
    open_configured_store,
    out_console,
    prepare,
    print_json,
    progress_bar,
)
from tradeguard.cli.journal_view import JournalQuery, journal_table, select_records
from tradeguard.cli.live_view import status_flag_lines, status_tables
from tradeguard.recovery.integrity import refuse_damaged_file
from tradeguard.recovery.manager import recover
from tradeguard.recovery.verify import verify_store
from tradeguard.storage.backup import list_backups, restore_backup, take_backup
from tradeguard.storage.url import absolute_path

__all__ = ["backup", "journal", "recover_cmd", "restore", "status", "verify"]


def _iso(ts_ns: int | None) -> str:
    if ts_ns is None:
        return "-"
    return dt.datetime.fromtimestamp(ts_ns / 1e9, tz=dt.UTC).isoformat(timespec="milliseconds")


@app.command("recover")
@handle_errors()
def recover_cmd(
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
    store: StoreOpt = None,
    session: SessionOpt = None,
    accept_loss: Annotated[
        bool,
        typer.Option(
            "--accept-loss",
            help="On damage in the middle of the journal, quarantine everything from the "
            "first damaged record on instead of stopping.",
        ),
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Report only; change nothing in the store.")
    ] = False,
    json: JsonOpt = False,
) -> None:
    """Local recovery: detect an unclean shutdown, restore state, quarantine a damaged tail."""
    cfg, url = prepare(config, data_dir, store, json=json)
    with (
        open_configured_store(
            cfg, url, session=session, readonly=dry_run, accept_loss=accept_loss
        ) as st,
        progress_bar("replaying journal", enabled=not json) as update,
    ):
        if not dry_run:
            ensure_not_running(st, what="recovery")
        _, report = recover(
            st,
            accept_loss=accept_loss,
            write=not dry_run,
            snapshots_to_keep=cfg.storage.snapshots_to_keep,
            progress=lambda p: update(p.done, p.total) if p.phase == "replay" else None,
        )
        # A dry run answers what the real one would do, refusal included.
        refuse_damaged_file(st, report.file_problems)
        if not dry_run:
            # Recovery settled the store: record it as a run of its own that ended cleanly.
            run_id = f"recover-{uuid.uuid4().hex[:12]}"
            st.begin_run(run_id)
            st.end_run(run_id)
    if json:
        print_json(report)
        return
    out_console.print(
        f"[bold]recovery[/] {'(dry run) ' if dry_run else ''}"
        f"previous shutdown: {'[red]unclean[/]' if report.unclean_shutdown else 'clean'}\n"
        f"  snapshot seq: {report.snapshot_seq}  replayed events: {report.replayed_events:,}  "
        f"last seq: {report.last_seq:,}\n"
        f"  quarantined records: {report.quarantined_records}  "
        f"skipped snapshots: {len(report.skipped_snapshots)}  "
        f"duration: {report.duration_ms:.1f} ms"
    )
    for skipped in report.skipped_snapshots:
        out_console.print(f"  [yellow]skipped snapshot {skipped.seq}[/]: {skipped.reason}")


@app.command("verify")
@handle_errors()
def verify(
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
    store: StoreOpt = None,
    session: SessionOpt = None,
    json: JsonOpt = False,
) -> None:
    """Check every record's checksum, sequence gaps and every snapshot; read-only.

    Exits 1 when anything is wrong.
    """
    cfg, url = prepare(config, data_dir, store, json=json)
    with (
        open_configured_store(cfg, url, session=session, readonly=True) as st,
        progress_bar("verifying", enabled=not json) as update,
    ):
        report = verify_store(st, progress=update)
    if json:
        print_json(report)
    else:
        verdict = "[green]ok[/]" if report.ok else "[bold red]NOT OK[/]"
        out_console.print(
            f"verify: {verdict}  last seq {report.last_seq:,}, "
            f"{report.records_checked:,} records and {report.snapshots_checked} snapshots "
            f"checked, {report.quarantined_records} quarantined, {report.duration_ms:.0f} ms"
        )
        for problem in report.problems[:50]:
            out_console.print(f"  [red]{problem.where}[/]: {problem.what}")
        if len(report.problems) > 50:
            out_console.print(f"  ... and {len(report.problems) - 50} more")
    if not report.ok:
        raise typer.Exit(1)


@app.command("journal")
@handle_errors()
def journal(
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
    store: StoreOpt = None,
    session: SessionOpt = None,
    tail: Annotated[
        int | None, typer.Option("--tail", help="Show the newest N records (the default: 50).")
    ] = None,
    after: Annotated[
        int | None, typer.Option("--after", help="Show records after this seq, oldest first.")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", help="At most this many records.")] = 50,
    types: Annotated[
        list[str] | None,
        typer.Option("--type", help="Only records of this type (repeat for several)."),
    ] = None,
    symbol: Annotated[
        str | None, typer.Option("--symbol", help="Only records about this symbol.")
    ] = None,
    json: JsonOpt = False,
) -> None:
    """List journal records, decoded: the newest first shown, or those after --after."""
    if tail is not None and after is not None:
        raise typer.BadParameter("give either --tail or --after, not both")
    query = JournalQuery(count=tail if tail is not None else limit, after=after,
                         types=frozenset(types or ()), symbol=symbol)
    cfg, url = prepare(config, data_dir, store, json=json)
    with open_configured_store(cfg, url, session=session, readonly=True) as st:
        last, rows = select_records(st, query)
    if json:
        print_json({"last_seq": last, "records": rows})
        return
    out_console.print(journal_table(last, rows, query))


@app.command("status")
@handle_errors()
def status(
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
    store: StoreOpt = None,
    session: SessionOpt = None,
    json: JsonOpt = False,
) -> None:
    """Orders, positions, balances, flags, last seq and how the last run ended (read-only)."""
    cfg, url = prepare(config, data_dir, store, json=json)
    with open_configured_store(cfg, url, session=session, readonly=True) as st:
        report = session_status(st)
    if json:
        print_json(report)
        return
    out_console.print(
        f"{run_summary(report)}\nlast seq {report.last_seq:,}; "
        f"{len(report.open_orders)} open orders, {len(report.flags)} open flags",
        markup=False, highlight=False, soft_wrap=True,
    )
    out_console.print(status_tables(report))
    for flag in report.flags:
        out_console.print(status_flag_lines(flag), soft_wrap=True)


@app.command("backup")
@handle_errors()
def backup(
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
    store: StoreOpt = None,
    session: SessionOpt = None,
    dest: Annotated[
        Path | None, typer.Option("--dest", help="Backup directory (default: storage.backup_dir).")
    ] = None,
    keep: Annotated[
        int | None, typer.Option("--keep", help="Keep this many backups (default: config).")
    ] = None,
    json: JsonOpt = False,
) -> None:
    """Take an online backup of the store now."""
    cfg, url = prepare(config, data_dir, store, json=json)
    backup_dir = absolute_path(dest) if dest else backup_dir_for(cfg, url, data_dir)
    with open_configured_store(cfg, url, session=session) as st:
        path = take_backup(st, backup_dir, keep=keep or cfg.storage.backups_to_keep)
    backups = list_backups(backup_dir)
    if json:
        print_json({"ok": True, "path": str(path), "backups": [str(b) for b in backups]})
    else:
        out_console.print(f"backup written: {path} ({len(backups)} kept in {backup_dir})")


@app.command("restore")
@handle_errors()
def restore(
    backup_file: Annotated[Path, typer.Argument(help="A backup file written by `backup`.")],
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
    store: StoreOpt = None,
    session: SessionOpt = None,
    json: JsonOpt = False,
) -> None:
    """Restore a backup into an empty data dir (or empty store); refuses a non-empty one."""
    cfg, url = prepare(config, data_dir, store, json=json)
    restore_backup(backup_file, url, session_id=session or cfg.storage.session_id)
    if json:
        print_json({"ok": True, "restored": str(backup_file), "store": url})
    else:
        out_console.print(f"restored {backup_file} into {url}")
