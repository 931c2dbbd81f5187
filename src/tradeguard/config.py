"""Configuration: a TOML file decoded into frozen msgspec structs.

Every key is optional; unknown keys and wrong types are rejected with the key's full
path, the file, and the line where the key is written. Secrets are never configured
here: the config names the environment variables that hold them.
"""

from __future__ import annotations

import math
import re
import tomllib
from decimal import Decimal
from pathlib import Path
from typing import Any, Final, Literal

import msgspec

from tradeguard.alerts.config import AlertsConfig, check_alert_urls
from tradeguard.domain.ids import CLIENT_ORDER_ID_MAX_LEN
from tradeguard.errors import ConfigError
from tradeguard.exchange.config import ExchangeConfig
from tradeguard.health.checks import HealthConfig
from tradeguard.storage.url import absolute_path, sqlite_data_dir, sqlite_files
from tradeguard.web.config import HttpSettings

__all__ = [
    "DEFAULT_CONFIG_FILE",
    "DEFAULT_DATA_DIR",
    "AlertsConfig",
    "Config",
    "ExchangeConfig",
    "HealthConfig",
    "HttpSettings",
    "LogSettings",
    "ReconcileSettings",
    "SessionSettings",
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
    """The strategy a ``run`` trades with (``module:Class``) and its parameters.

    ``params`` (``[strategy.params]``) are passed to the strategy's constructor as
    keyword arguments; the strategy validates them (errors name
    ``strategy.params.<name>``). The sample grid takes ``symbol``, ``levels``,
    ``spacing`` and ``amount``.
    """

    class_: str = msgspec.field(default="tradeguard.strategies.grid:Grid", name="class")
    params: dict[str, Any] = msgspec.field(default_factory=dict)


PriorityCriterion = Literal["cancel", "reduce_only", "closing", "notional"]
"""One criterion of the trade-recovery ordering (see ``session.recovery.prioritise``)."""

PRIORITY_CRITERIA: Final[frozenset[str]] = frozenset(
    {"cancel", "reduce_only", "closing", "notional"}
)

DEFAULT_PRIORITY: Final[tuple[PriorityCriterion, ...]] = (
    "cancel",
    "reduce_only",
    "closing",
    "notional",
)
"""Risk-reducing first (cancels, reduce-only, position-closing), then by notional."""

# Room left in Binance's 36 characters for "-<seq>" with a seq up to 10**15.
_MAX_PREFIX_LEN: Final = CLIENT_ORDER_ID_MAX_LEN - 17


class SessionSettings(_Section, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """How a :class:`~tradeguard.session.Session` runs (the ``[session]`` table).

    - ``client_id_prefix``: the per-session prefix of client order ids (``tg`` + the
      store's session id when empty); ids are ``<prefix>-<journal seq>``.
    - ``symbols``: markets to register and watch even before an order exists there.
    - ``poll_interval_seconds``: fills (trades) and order status polling.
    - ``tick_interval_seconds``: how often the strategy's ``on_tick`` runs.
    - ``unknown_grace_seconds``: an UNKNOWN order the exchange does not know becomes
      NOT_PLACED only this long after its intent (the exchange may still be processing;
      Binance drops a request older than its 10 s ``recvWindow``, so 30 s is safe).
    - ``resolve_backoff_*``: backoff of the by-client-id queries for UNKNOWN orders.
    - ``recovery_priority``: the criteria of the trade-recovery ordering, in order.
    """

    client_id_prefix: str = ""
    symbols: tuple[str, ...] = ()
    poll_interval_seconds: float = 1.0
    tick_interval_seconds: float = 2.0
    unknown_grace_seconds: float = 30.0
    resolve_backoff_initial_seconds: float = 0.25
    resolve_backoff_max_seconds: float = 15.0
    recovery_priority: tuple[PriorityCriterion, ...] = DEFAULT_PRIORITY

    def __post_init__(self) -> None:
        if self.client_id_prefix and (
            len(self.client_id_prefix) > _MAX_PREFIX_LEN
            or re.fullmatch(r"[.A-Za-z0-9:/_]+", self.client_id_prefix) is None
        ):
            raise ValueError(
                f"session.client_id_prefix must be 1-{_MAX_PREFIX_LEN} characters of "
                f"[.A-Za-z0-9:/_] (the exchange allows 36 with the sequence), got "
                f"{self.client_id_prefix!r}"
            )
        for name in (
            "poll_interval_seconds",
            "tick_interval_seconds",
            "resolve_backoff_initial_seconds",
            "resolve_backoff_max_seconds",
        ):
            _positive(f"session.{name}", getattr(self, name))
        if not self.unknown_grace_seconds >= 0:  # also refuses NaN
            raise ValueError(
                f"session.unknown_grace_seconds must be >= 0, got {self.unknown_grace_seconds}"
            )
        if self.resolve_backoff_max_seconds < self.resolve_backoff_initial_seconds:
            raise ValueError(
                "session.resolve_backoff_max_seconds must be >= "
                "session.resolve_backoff_initial_seconds"
            )
        if len(set(self.recovery_priority)) != len(self.recovery_priority):
            raise ValueError("session.recovery_priority must not list a criterion twice")

    def prefix_for(self, session_id: str, store_tag: str = "") -> str:
        """The client id prefix: configured, else ``tg`` + a sanitised session id + the
        store's tag (so a wiped and recreated store never reuses an old store's ids,
        which a lookup by client order id could otherwise confuse)."""
        if self.client_id_prefix:
            return self.client_id_prefix
        cleaned = re.sub(r"[^A-Za-z0-9]", "", session_id)[: _MAX_PREFIX_LEN - 2 - len(store_tag)]
        return f"tg{cleaned}{store_tag}"


class LogSettings(_Section, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Logging: level, format (``auto`` = console on a TTY, JSON otherwise), rotation.

    The log file is rotated when it would pass ``max_file_bytes``; ``files_to_keep``
    older files are kept (``tradeguard.log.1`` is the newest of them).
    """

    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["auto", "json", "console"] = "auto"
    max_file_bytes: int = 10_000_000
    files_to_keep: int = 5


class Config(_Section, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """The whole configuration; every section has defaults."""

    storage: StorageSettings = msgspec.field(default_factory=StorageSettings)
    exchange: ExchangeConfig = msgspec.field(default_factory=ExchangeConfig)
    reconcile: ReconcileSettings = msgspec.field(default_factory=ReconcileSettings)
    strategy: StrategySettings = msgspec.field(default_factory=StrategySettings)
    session: SessionSettings = msgspec.field(default_factory=SessionSettings)
    log: LogSettings = msgspec.field(default_factory=LogSettings)
    health: HealthConfig = msgspec.field(default_factory=HealthConfig)
    alerts: AlertsConfig = msgspec.field(default_factory=AlertsConfig)
    http: HttpSettings = msgspec.field(default_factory=HttpSettings)

    @property
    def backup_dir(self) -> Path:
        """The backup directory, defaulting to ``backups`` inside a SQLite data dir."""
        # One conversion of URLs and paths (storage.url): absolute, ``~`` expanded.
        if self.storage.backup_dir:
            return absolute_path(self.storage.backup_dir)
        return (sqlite_data_dir(self.storage.url) or absolute_path(DEFAULT_DATA_DIR)) / "backups"


def sqlite_dir(url: str) -> Path:
    """The absolute data directory of a ``sqlite://`` URL or a plain path."""
    return sqlite_files(url)[0]


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
    """Decode TOML text into a :class:`Config`; errors name source, key path and line.

    Besides types, every number is checked: NaN and infinities are refused everywhere,
    and each known key must lie in its range (``VALUE_RANGES``), so a value that parses
    but would hang or crash the service is rejected here, where its line is known.
    """
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: invalid TOML: {exc}") from exc
    try:
        config = msgspec.convert(raw, Config, strict=False)
    except msgspec.ValidationError as exc:
        raise ConfigError(_describe_validation_error(str(exc), text, source)) from exc
    except (ValueError, TypeError, ArithmeticError) as exc:  # a __post_init__ on odd input
        raise ConfigError(f"{source}: {exc}") from exc
    problem = check_values(config) or check_alert_urls(config.alerts)
    if problem is not None:
        key, reason = problem
        line = _line_suffix(text, re.sub(r"\[\d+\]$", "", key))  # a list item: its key's line
        raise ConfigError(f"{source}{line}: key '{key}': {reason}")
    return config


_YEAR_S = 365 * 24 * 3600.0

VALUE_RANGES: dict[str, tuple[float, float, bool]] = {
    # key: (lowest, highest, lowest allowed itself?). Intervals must be > 0: a zero
    # interval spins a loop; more than a year is a typo, not a plan.
    "storage.snapshot_every_events": (1, 10**12, True),
    "storage.snapshot_every_seconds": (0, _YEAR_S, False),
    "storage.snapshots_to_keep": (1, 10_000, True),
    "storage.backup_every_seconds": (0, _YEAR_S, False),
    "storage.backups_to_keep": (1, 100_000, True),
    "reconcile.interval_seconds": (0, _YEAR_S, False),
    "reconcile.balance_tolerance": (0, 10**15, True),
    "exchange.timeout_ms": (1, 3_600_000, True),
    "exchange.rate_limit_per_s": (0, 1_000_000, True),
    "exchange.rate_limit_burst": (1, 1_000_000, True),
    "exchange.page_limit": (1, 100_000, True),
    "log.max_file_bytes": (1024, 10**13, True),
    "log.files_to_keep": (1, 10_000, True),
    "alerts.max_per_hour": (1, 1_000_000, True),
    "http.port": (0, 65535, True),
    "alerts.retry_attempts": (0, 100, True),
    "alerts.retry_backoff_seconds": (0, 3600, True),
    "alerts.timeout_seconds": (0, 3600, False),
    "health.interval_seconds": (0, 86_400, False),
    "health.rss_warn_bytes": (1, 2**63 - 1, True),
    "health.rss_critical_bytes": (1, 2**63 - 1, True),
    "health.cpu_warn_percent": (0, 100_000, False),
    "health.cpu_critical_percent": (0, 100_000, False),
    "health.disk_free_warn_bytes": (0, 2**63 - 1, True),
    "health.disk_free_critical_bytes": (0, 2**63 - 1, True),
    "health.disk_free_warn_percent": (0, 100, True),
    "health.disk_free_critical_percent": (0, 100, True),
    "health.fd_warn_ratio": (0, 1, False),
    "health.fd_critical_ratio": (0, 1, False),
    "health.threads_warn_count": (1, 10**7, True),
    "health.threads_critical_count": (1, 10**7, True),
    "health.clock_skew_warn_ms": (0, 86_400_000, False),
    "health.clock_skew_critical_ms": (0, 86_400_000, False),
}
"""Allowed range of each known numeric key; other ``*_seconds`` keys get 0..a year."""


def check_values(config: Config) -> tuple[str, str] | None:
    """The first numeric value that is not finite or out of range, as (key, reason)."""
    return _check_struct(config, "")


def _check_struct(obj: msgspec.Struct, prefix: str) -> tuple[str, str] | None:
    for field in msgspec.structs.fields(obj):
        key = f"{prefix}{field.encode_name}"
        value = getattr(obj, field.name)
        if isinstance(value, msgspec.Struct):
            found = _check_struct(value, f"{key}.")
        elif isinstance(value, dict):
            found = _check_mapping(value, f"{key}.")
        else:
            found = _check_number(key, value)
        if found is not None:
            return found
    return None


def _check_mapping(mapping: dict[Any, Any], prefix: str) -> tuple[str, str] | None:
    for name, value in mapping.items():
        key = f"{prefix}{name}"
        found = (
            _check_mapping(value, f"{key}.")
            if isinstance(value, dict)
            else _check_number(key, value)
        )
        if found is not None:
            return found
    return None


def _check_number(key: str, value: object) -> tuple[str, str] | None:
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        return None
    finite = value.is_finite() if isinstance(value, Decimal) else math.isfinite(value)
    if not finite:
        return key, f"must be a finite number, got {value}"
    bounds = VALUE_RANGES.get(key)
    if bounds is None and key.endswith("_seconds"):
        bounds = (0, _YEAR_S, True)
    if bounds is None:
        return None
    low, high, low_ok = bounds
    if value < low or (value == low and not low_ok) or value > high:
        low_text = f">= {low:g}" if low_ok else f"> {low:g}"
        return key, f"must be {low_text} and <= {high:g}, got {value}"
    return None


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
        reason = reason[len(key) + 1 :]  # the key is named once, in front
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
