"""Configuration: a TOML file decoded into frozen msgspec structs.

Every key is optional; unknown keys and wrong types are rejected with the key's full
path, the file, and the line where the key is written. Secrets are never configured
here: the config names the environment variables that hold them.
"""

from __future__ import annotations

import re
import tomllib
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import msgspec

from tradeguard.errors import ConfigError
from tradeguard.exchange.config import ExchangeConfig

__all__ = [
    "DEFAULT_CONFIG_FILE",
    "DEFAULT_DATA_DIR",
    "Config",
    "ExchangeConfig",
    "LogSettings",
    "ReconcileSettings",
    "StorageSettings",
    "StrategySettings",
    "load_config",
]

DEFAULT_DATA_DIR = "./tradeguard-data"
DEFAULT_CONFIG_FILE = "tradeguard.toml"


class _Section(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Base of every config section: frozen, strict about unknown keys."""


class StorageSettings(_Section, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Where and how often state is persisted."""

    url: str = f"sqlite:///{DEFAULT_DATA_DIR}"
    session_id: str = "default"
    synchronous: Literal["FULL", "EXTRA", "NORMAL"] = "FULL"
    snapshot_every_events: int = 10_000
    snapshot_every_seconds: float = 300.0
    snapshots_to_keep: int = 3
    backup_every_seconds: float = 3600.0
    backup_dir: str = ""  # empty: <data dir>/backups
    backups_to_keep: int = 24

    def __post_init__(self) -> None:
        _positive("storage.snapshot_every_events", self.snapshot_every_events)
        _positive("storage.snapshot_every_seconds", self.snapshot_every_seconds)
        _positive("storage.snapshots_to_keep", self.snapshots_to_keep)
        _positive("storage.backup_every_seconds", self.backup_every_seconds)
        _positive("storage.backups_to_keep", self.backups_to_keep)
        if not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", self.session_id):
            raise ValueError(
                "storage.session_id must be 1-64 characters of letters, digits, '_', '.', '-'"
            )


class ReconcileSettings(_Section, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Reconciliation cadence and policy."""

    interval_seconds: float = 30.0
    external_orders: Literal["flag", "adopt"] = "flag"
    balance_tolerance: Decimal = Decimal("0.00000001")


class StrategySettings(_Section, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """The strategy a ``run`` trades with (``module:Class``)."""

    class_: str = msgspec.field(default="tradeguard.strategies.grid:Grid", name="class")


class LogSettings(_Section, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Logging: level and format (``auto`` = console on a TTY, JSON otherwise)."""

    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["auto", "json", "console"] = "auto"


class Config(_Section, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """The whole configuration; every section has defaults."""

    storage: StorageSettings = msgspec.field(default_factory=StorageSettings)
    exchange: ExchangeConfig = msgspec.field(default_factory=ExchangeConfig)
    reconcile: ReconcileSettings = msgspec.field(default_factory=ReconcileSettings)
    strategy: StrategySettings = msgspec.field(default_factory=StrategySettings)
    log: LogSettings = msgspec.field(default_factory=LogSettings)

    @property
    def backup_dir(self) -> Path:
        """The backup directory, defaulting to ``backups`` inside a SQLite data dir."""
        if self.storage.backup_dir:
            return Path(self.storage.backup_dir)
        if self.storage.url.startswith("sqlite://") or "://" not in self.storage.url:
            return sqlite_dir(self.storage.url) / "backups"
        return Path(DEFAULT_DATA_DIR) / "backups"


def sqlite_dir(url: str) -> Path:
    """The data directory of a ``sqlite:///dir`` URL or a plain path."""
    if url.startswith("sqlite:///"):
        return Path(url.removeprefix("sqlite:///"))
    if url.startswith("sqlite://"):
        return Path(url.removeprefix("sqlite://"))
    return Path(url)


def _positive(key: str, value: float) -> None:
    if value <= 0:
        raise ValueError(f"{key} must be greater than 0, got {value}")


_PATH_RE = re.compile(r"at `\$((?:\.[A-Za-z0-9_]+|\[\d+\])*)`")


def load_config(path: Path | None = None, *, required: bool = False) -> Config:
    """Load a config file; with no path, ``./tradeguard.toml`` if it exists, else defaults.

    Raises ``ConfigError`` naming the file, the key's full path and its line.
    """
    if path is None:
        default = Path(DEFAULT_CONFIG_FILE)
        if not default.exists():
            return Config()
        path = default
    if not path.exists():
        if required:
            raise ConfigError(f"config file {path} does not exist")
        return Config()
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}") from exc
    return parse_config(text, source=str(path))


def parse_config(text: str, *, source: str = "<config>") -> Config:
    """Decode TOML text into a :class:`Config`; errors name source, key path and line."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: invalid TOML: {exc}") from exc
    try:
        return msgspec.convert(raw, Config, strict=False)
    except msgspec.ValidationError as exc:
        raise ConfigError(_describe_validation_error(str(exc), text, source)) from exc


def _describe_validation_error(message: str, text: str, source: str) -> str:
    match = _PATH_RE.search(message)
    key = match.group(1).lstrip(".") if match else ""
    reason = message[: match.start()].rstrip(" -") if match else message
    unknown = re.match(r"Object contains unknown field `([^`]+)`", reason)
    if unknown:
        key = f"{key}.{unknown.group(1)}" if key else unknown.group(1)
        reason = "unknown key"
    own = re.match(r"([a-z_]+\.[a-z_]+) must ", reason)  # from a section's __post_init__
    if own:
        key = own.group(1)
    if not key:
        return f"{source}: {reason}"
    return f"{source}{_line_suffix(text, key)}: key '{key}': {reason}"


def _line_suffix(text: str, dotted_key: str) -> str:
    line = _find_key_line(text, dotted_key)
    return f":{line}" if line else ""


def _find_key_line(text: str, dotted_key: str) -> int | None:
    """Best-effort line number of ``section.key`` (or a top-level key/section) in TOML."""
    parts = dotted_key.split(".")
    table: list[str] = []
    for number, raw_line in enumerate(text.splitlines(), start=1):
        line = raw_line.strip()
        if line.startswith("["):
            table = [p.strip().strip('"') for p in line.strip("[]").split(".")]
            if table == parts:
                return number
            continue
        name, sep, _ = line.partition("=")
        if not sep:
            continue
        full = [*table, *(p.strip().strip('"') for p in name.split("."))]
        if full == parts:
            return number
    return None


def config_as_dict(config: Config) -> dict[str, Any]:
    """The effective configuration as plain data (for ``--json`` output and logs)."""
    result: dict[str, Any] = msgspec.to_builtins(config)
    return result
