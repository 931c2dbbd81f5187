"""The ``[alerts]`` table: where alerts go and how often they may be sent.

Plain URLs live in the file (``urls``); a URL that carries a credential (a password, a
bot token, a webhook secret) is never written there: ``urls_env`` names environment
variables that hold such URLs. Their values are resolved only at start
(:func:`resolve_targets`), never logged or journaled, and shown masked.
"""

from __future__ import annotations

import contextlib
import logging
import re
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Literal
from urllib.parse import parse_qsl, urlsplit

import msgspec

from tradeguard.errors import ConfigError
from tradeguard.logs import register_secret

__all__ = [
    "AlertTarget",
    "AlertsConfig",
    "Severity",
    "check_alert_urls",
    "is_valid_apprise_url",
    "mask_url",
    "register_url_secret",
    "resolve_targets",
]

Severity = Literal["info", "warning", "critical"]


class AlertsConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Alert delivery (the ``[alerts]`` table); with no URL, alerting is off.

    - ``urls``: apprise URLs without credentials (``json://host/path``,
      ``mailto://smtp.host?to=ops@example.com&mode=insecure``).
    - ``urls_env``: names of environment variables whose values are apprise URLs with
      credentials (``tgram://<bot token>/<chat>``); the values are secrets.
    - ``cooldown_seconds``: at most one send per alert key within this time.
    - ``min_severity``: alerts below it are not sent.
    - ``max_per_hour``: at most this many sends in any 3600 s.
    - ``retry_attempts`` / ``retry_backoff_seconds``: retries of a failed delivery,
      the backoff doubling after each; ``timeout_seconds`` bounds one attempt.
    """

    urls: tuple[str, ...] = ()
    urls_env: tuple[str, ...] = ()
    cooldown_seconds: float = 300.0
    min_severity: Severity = "warning"
    max_per_hour: int = 30
    retry_attempts: int = 3
    retry_backoff_seconds: float = 2.0
    timeout_seconds: float = 15.0

    def __post_init__(self) -> None:
        for index, name in enumerate(self.urls_env):
            if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name) is None:
                raise ValueError(
                    f"alerts.urls_env must hold environment variable names, "
                    f"got {name!r} at index {index}"
                )

    @property
    def enabled(self) -> bool:
        """True when at least one URL (plain or from the environment) is configured."""
        return bool(self.urls or self.urls_env)


@dataclass(frozen=True, slots=True)
class AlertTarget:
    """One delivery channel: the apprise URL (may be secret) and its printable label."""

    url: str
    label: str
    secret: bool

    def __repr__(self) -> str:  # a target in a traceback must not show its credential
        return f"AlertTarget(label={self.label!r})"


class _ThisThreadOnly(logging.Filter):
    """Drops the records logged from one thread (the one validating a URL)."""

    def __init__(self) -> None:
        super().__init__()
        self._thread = threading.get_ident()

    def filter(self, record: logging.LogRecord) -> bool:
        return record.thread != self._thread


@contextlib.contextmanager
def _apprise_quiet() -> Iterator[None]:
    # apprise logs "Unsupported URL: ..." at error level when it cannot parse one; the
    # caller reports that itself (one line naming the key), so the start-up error stays
    # one line. Other threads' apprise records (a delivery's) still go through.
    quiet = _ThisThreadOnly()
    apprise_log = logging.getLogger("apprise")
    apprise_log.addFilter(quiet)
    try:
        yield
    finally:
        apprise_log.removeFilter(quiet)


def is_valid_apprise_url(url: str) -> bool:
    """Whether apprise can parse ``url`` (its own parser: ``Apprise().add``)."""
    import apprise  # lazily: start-up time (apprise is slow to import)

    with _apprise_quiet():
        return bool(apprise.Apprise().add(url))


def mask_url(url: str) -> str:
    """``scheme://host[:port]/path`` of a credential-free URL; query and user info dropped."""
    try:
        parts = urlsplit(url)
        netloc = parts.hostname or ""
        if parts.port is not None:
            netloc = f"{netloc}:{parts.port}"
    except ValueError:
        return f"{url.partition('://')[0]}://***"
    return f"{parts.scheme}://{netloc}{parts.path}"


def _secret_label(name: str, url: str) -> str:
    scheme = url.partition("://")[0] if "://" in url else "?"
    return f"${name} ({scheme}://***)"


def register_url_secret(url: str) -> None:
    """Mask a secret URL, and its credential parts, in every log line from now on
    (apprise logs the URLs it loads, query values included, at debug level)."""
    register_secret(url)
    try:
        parts = urlsplit(url)
        pieces = [parts.username, parts.password]
        host = parts.hostname or ""
    except ValueError:
        return
    if "." not in host and len(host) >= 8:  # a token in the host place (tgram://)
        pieces.append(host)
    pieces += [seg for seg in parts.path.split("/") if len(seg) >= 8]
    pieces += [value for _, value in parse_qsl(parts.query) if len(value) >= 6]
    for piece in pieces:
        register_secret(piece)


def check_alert_urls(config: AlertsConfig) -> tuple[str, str] | None:
    """The first invalid entry of ``alerts.urls`` as (key with index, reason), or None."""
    for index, url in enumerate(config.urls):
        key = f"alerts.urls[{index}]"
        try:
            password = urlsplit(url).password
        except ValueError:
            password = None
        if password:
            return key, (
                "carries a password; put the URL in an environment variable named in "
                "alerts.urls_env"
            )
        if not is_valid_apprise_url(url):
            return key, f"not a valid apprise URL: {mask_url(url)!r}"
    return None


def resolve_targets(config: AlertsConfig, environ: Mapping[str, str]) -> list[AlertTarget]:
    """Every configured channel, the ``urls_env`` values read from ``environ``.

    Raises ``ConfigError`` naming the key (and index) of a URL apprise cannot parse or
    of an unset variable; a secret URL's value never appears in the message.
    """
    problem = check_alert_urls(config)
    if problem is not None:
        raise ConfigError(f"key '{problem[0]}': {problem[1]}")
    targets = [AlertTarget(url=url, label=mask_url(url), secret=False) for url in config.urls]
    for index, name in enumerate(config.urls_env):
        key = f"alerts.urls_env[{index}]"
        value = environ.get(name, "").strip()
        if not value:
            raise ConfigError(f"key '{key}': environment variable {name} is not set")
        register_url_secret(value)  # before apprise parses (and logs) it
        if not is_valid_apprise_url(value):
            raise ConfigError(
                f"key '{key}': environment variable {name} does not hold a valid apprise URL"
            )
        targets.append(AlertTarget(url=value, label=_secret_label(name, value), secret=True))
    return targets
