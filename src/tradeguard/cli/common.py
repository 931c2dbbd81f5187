"""What every command shares: options, opening the store, output, error handling.

Commands are thin: parse options, open the library object, call it, print. Errors from
the library are printed as one clear line (or a JSON object with ``--json``) and turn
into exit code 2; a check that finds problems exits 1.
"""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, ParamSpec, TypeVar

import msgspec
import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.text import Text

from tradeguard.app.service import ensure_not_running
from tradeguard.config import DEFAULT_DATA_DIR, Config, load_config
from tradeguard.errors import ConfigError, StoreNotFoundError, TradeguardError
from tradeguard.logs import configure_logging
from tradeguard.recovery.manager import recover
from tradeguard.storage import open_store
from tradeguard.storage.base import Store
from tradeguard.storage.url import (
    absolute_path,
    is_sqlite_location,
    sqlite_data_dir,
    sqlite_files,
    store_url_for_dir,
)

__all__ = [
    "ConfigOpt",
    "DataDirOpt",
    "JsonOpt",
    "StoreOpt",
    "backup_dir_for",
    "check_data_dir",
    "check_store_before_writing",
    "err_console",
    "format_decimal",
    "handle_errors",
    "open_configured_store",
    "prepare",
    "print_error",
    "print_json",
    "progress_bar",
    "resolve",
    "store_data_dir",
]

P = ParamSpec("P")
R = TypeVar("R")

err_console = Console(stderr=True)
out_console = Console()

ConfigOpt = Annotated[
    Path | None,
    typer.Option(
        "--config", "-c", help="TOML config file (default: ./tradeguard.toml if present)."
    ),
]
DataDirOpt = Annotated[
    Path | None,
    typer.Option("--data-dir", "-d", help="SQLite data directory (default: ./tradeguard-data)."),
]
StoreOpt = Annotated[
    str | None,
    typer.Option("--store", help="Store URL instead of --data-dir, e.g. postgresql://user@host/db."),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object for scripts.")]
SessionOpt = Annotated[
    str | None, typer.Option("--session", help="Session id inside the store (default: default).")
]


def resolve(
    config_path: Path | None, data_dir: Path | None, store_url: str | None
) -> tuple[Config, str]:
    """Load the config and work out the store URL (``--store`` > ``--data-dir`` > config)."""
    config = load_config(config_path, required=config_path is not None)
    if store_url and data_dir:
        raise typer.BadParameter("give either --data-dir or --store, not both")
    if store_url:
        return config, _absolute_url(store_url)
    if data_dir is not None:
        return config, store_url_for_dir(data_dir)
    return config, _absolute_url(config.storage.url)


def _absolute_url(url: str) -> str:
    # Resolved once, here, so store, logs, backups and simulator state agree on one
    # directory whatever the working directory does later.
    return store_url_for_dir(sqlite_files(url)[0]) if is_sqlite_location(url) else url


def store_data_dir(url: str) -> Path:
    """Where a command keeps files beside the store (logs, simulator state): the SQLite
    data directory, or ``./tradeguard-data`` for a store that is not SQLite."""
    return sqlite_data_dir(url) or absolute_path(DEFAULT_DATA_DIR)


def backup_dir_for(config: Config, url: str, data_dir: Path | None) -> Path:
    """The backup directory: ``--data-dir``'s ``backups``, else ``storage.backup_dir``,
    else ``backups`` in the store's data directory (all absolute)."""
    if data_dir is None and config.storage.backup_dir:
        return absolute_path(config.storage.backup_dir)
    return store_data_dir(url) / "backups"


def prepare(
    config_path: Path | None, data_dir: Path | None, store_url: str | None, *, json: bool
) -> tuple[Config, str]:
    """What every store command starts with: config, store URL, logging set up."""
    config, url = resolve(config_path, data_dir, store_url)
    setup_cli_logging(config, quiet=json)
    return config, url


def open_configured_store(
    config: Config,
    url: str,
    *,
    session: str | None = None,
    create: bool = False,
    readonly: bool = False,
    accept_loss: bool = False,
) -> Store:
    """Open the store a command works on."""
    return open_store(
        url,
        session_id=session or config.storage.session_id,
        create=create,
        synchronous=config.storage.synchronous,
        readonly=readonly,
        accept_loss=accept_loss,
    )


def check_data_dir(path: Path) -> None:
    """Refuse a data directory that cannot hold the store, before anything is written.

    A regular file, a directory (or the nearest existing parent of a new one) that is
    not writable, or a read-only file system: one ``ConfigError`` naming the path and
    the cause, so a command stops without having created logs or simulator state.
    """
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        where = "is" if existing == path else f"cannot be created: {existing} is"
        raise ConfigError(f"data directory {path} {where} a regular file, not a directory")
    if not os.access(existing, os.W_OK | os.X_OK):
        read_only = bool(os.statvfs(existing).f_flag & os.ST_RDONLY)
        cause = "on a read-only file system" if read_only else "not writable (permission denied)"
        where = "" if existing == path else f" (its parent {existing})"
        raise ConfigError(f"data directory {path}{where} is {cause}")


def check_store_before_writing(config: Config, url: str) -> None:
    """Refuse early what taking over the store would refuse, writing nothing.

    A store that exists is opened read-only: a running session or a journal that
    recovery would refuse stops the command here, before logs or a simulator's state
    are written. A store that does not exist yet is fine (it is created later).
    """
    try:
        store = open_configured_store(config, url, readonly=True)
    except StoreNotFoundError:
        return
    with store:
        ensure_not_running(store, what=f"starting session {store.session_id!r}")
        recover(store, write=False)


def format_decimal(value: Decimal | None, step: Decimal | None = None) -> str:
    """A decimal for a table: rounded to the market's ``step`` (tick or lot size) when
    known, else as written without trailing zeros; never in exponent notation."""
    if value is None:
        return "-"
    if step is not None and step > 0:
        exponent = step.normalize().as_tuple().exponent
        places = -exponent if isinstance(exponent, int) and exponent < 0 else 0
        return f"{value:.{places}f}"
    text = f"{value.normalize():f}"
    return "0" if text in ("-0", "") else text


def to_builtins(obj: object) -> Any:
    """Plain data for JSON output: Decimals as strings, structs as objects."""
    return msgspec.to_builtins(obj, enc_hook=str)


def print_json(obj: object) -> None:
    """Print ``obj`` as one JSON object on stdout."""
    sys.stdout.write(json.dumps(to_builtins(obj), sort_keys=False) + "\n")
    sys.stdout.flush()


def setup_cli_logging(config: Config, *, quiet: bool) -> None:
    """CLI logging: warnings and errors to stderr (nothing at all with ``--json``)."""
    configure_logging(
        level=config.log.level,
        fmt=config.log.format,
        stream_level="critical" if quiet else "warning",
        secret_env_names=(config.exchange.api_key_env, config.exchange.api_secret_env),
    )


def print_error(message: str) -> None:
    """Print ``error: message`` on stderr as one line.

    On a terminal it is coloured; otherwise (a pipe, a log file, a supervisor) it is
    written as plain text, never hard-wrapped at 80 columns, so scripts and log readers
    see the whole message on one line. The message is never read as rich markup, so a
    ``[storage]`` in it is printed as written.
    """
    if err_console.is_terminal:
        err_console.print(Text.assemble(("error:", "bold red"), " ", message), soft_wrap=True)
    else:
        sys.stderr.write(f"error: {message}\n")
        sys.stderr.flush()


def handle_errors(json_flag_name: str = "json") -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Turn tradeguard errors into one clear line (or JSON) and exit code 2.

    The human line says what is wrong and where, without the internal class name;
    ``--json`` output keeps it as ``error_type`` for scripts.
    """

    def decorator(func: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(func)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            try:
                return func(*args, **kwargs)
            except TradeguardError as exc:
                message = " ".join(str(exc).split()) or type(exc).__name__
                if kwargs.get(json_flag_name):
                    print_json({"ok": False, "error": message, "error_type": type(exc).__name__})
                else:
                    print_error(message)
                raise typer.Exit(2) from exc

        return wrapper

    return decorator


@contextmanager
def progress_bar(description: str, *, enabled: bool) -> Iterator[Callable[[int, int], None]]:
    """A rich progress bar on stderr; yields ``update(done, total)``. Silent when disabled."""
    if not enabled or not err_console.is_terminal:
        yield lambda done, total: None
        return
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed:,}/{task.total:,}"),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
    )
    with progress:
        task: TaskID = progress.add_task(description, total=None)

        def update(done: int, total: int) -> None:
            progress.update(task, completed=done, total=max(total, done) or None)

        yield update
