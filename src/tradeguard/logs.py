"""Structured logging: one line per state change, JSON when not on a TTY.

structlog renders; the standard library routes, so third-party loggers end up in the
same stream. Secrets never reach a log line: configuration carries only the names of the
environment variables that hold them.
"""

from __future__ import annotations

import contextlib
import logging
import logging.handlers
import os
import re
import sys
from pathlib import Path
from typing import Any, Literal

import structlog

from tradeguard.private_dirs import make_private_dir

__all__ = ["configure_logging", "get_logger", "redact", "register_secret"]

_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING,
           "error": logging.ERROR, "critical": logging.CRITICAL}


_SECRETS: set[str] = set()

# API keys in request headers as ccxt logs them at debug level (``'X-MBX-APIKEY': '…'``),
# whatever the key: a key that was never registered must not leak either.
_KEY_HEADER = re.compile(
    r"""(?i)((?:x-mbx-apikey|x-api-key|apikey|api-key)['"]?\s*[:=]\s*['"]?)([^'"\s,}&]+)"""
)
_REDACTED = "***"


def register_secret(value: str | None) -> None:
    """Never write ``value`` (an API key or secret) to any log line from now on."""
    if value and len(value) >= 4:  # a tiny value would blank out ordinary text
        _SECRETS.add(value)


def redact(text: str) -> str:
    """``text`` with every registered secret and every API-key header value masked."""
    for secret in _SECRETS:
        if secret in text:
            text = text.replace(secret, _REDACTED)
    return _KEY_HEADER.sub(lambda m: m.group(1) + _REDACTED, text)


def _redact_value(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: _redact_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_redact_value(v) for v in value)
    if value is None or isinstance(value, bool | int | float):
        return value
    return redact(str(value))


class _RedactSecrets(logging.Filter):
    """Masks secrets in every record a handler writes: structlog's event dicts and the
    formatted messages of other libraries (ccxt logs whole request headers at debug)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, dict):
            record.msg = _redact_value(record.msg)
            return True
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            message = str(record.msg)
        cleaned = redact(message)
        if cleaned != message or record.args:
            record.msg, record.args = cleaned, None
        return True


def configure_logging(
    *,
    level: str = "info",
    fmt: Literal["auto", "json", "console"] = "auto",
    log_file: Path | None = None,
    stream_level: str | None = None,
    max_file_bytes: int = 10_000_000,
    files_to_keep: int = 5,
    secret_env_names: tuple[str, ...] = ("TRADEGUARD_API_KEY", "TRADEGUARD_API_SECRET"),
) -> None:
    """Configure structlog and stdlib logging for the process.

    ``log_file`` (JSON lines, mode 0600) receives everything at ``level``; stderr
    receives ``stream_level`` and up (default: ``level``), as console text on a TTY and
    JSON otherwise (or as ``fmt`` says). The file is rotated when it would pass
    ``max_file_bytes``: ``tradeguard.log.1`` … ``.N`` keep the ``files_to_keep`` newest
    older files (so the logs take at most ``(files_to_keep + 1) * max_file_bytes``).
    The values of the environment variables ``secret_env_names`` (the exchange's API
    key and secret) and any API-key header are masked in every line, at every level.
    """
    for name in secret_env_names:
        register_secret(os.environ.get(name))
    redactor = _RedactSecrets()
    use_json = fmt == "json" or (fmt == "auto" and not sys.stderr.isatty())
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.make_filtering_bound_logger(_LEVELS[level]),
        cache_logger_on_first_use=False,
    )
    json_formatter = structlog.stdlib.ProcessorFormatter(
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(),
        ],
        foreign_pre_chain=shared,
    )
    console_formatter = structlog.stdlib.ProcessorFormatter(
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty()),
        ],
        foreign_pre_chain=shared,
    )
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
        handler.close()
    root.setLevel(_LEVELS[level])
    stream = logging.StreamHandler(sys.stderr)
    stream.setLevel(_LEVELS[stream_level or level])
    stream.setFormatter(json_formatter if use_json else console_formatter)
    stream.addFilter(redactor)
    root.addHandler(stream)
    if log_file is not None:
        make_private_dir(log_file.parent)  # 0700, and so is a data dir it creates
        log_file.touch(mode=0o600, exist_ok=True)
        file_handler = _PrivateRotatingFileHandler(
            log_file, maxBytes=max_file_bytes, backupCount=files_to_keep, encoding="utf-8"
        )
        file_handler.setLevel(_LEVELS[level])
        file_handler.setFormatter(json_formatter)
        file_handler.addFilter(redactor)
        root.addHandler(file_handler)
    # Libraries that chat at INFO (aiohttp access log, asyncio) stay quiet unless asked.
    for noisy in ("aiohttp.access", "asyncio", "urllib3"):
        logging.getLogger(noisy).setLevel(max(_LEVELS[level], logging.WARNING))


class _PrivateRotatingFileHandler(logging.handlers.RotatingFileHandler):
    """Size-rotated log file whose new files are created 0600 like the first one."""

    def _open(self) -> Any:
        fd = os.open(self.baseFilename, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        return os.fdopen(fd, "a", encoding=self.encoding, errors=self.errors)

    def emit(self, record: logging.LogRecord) -> None:
        if not self._broken:
            super().emit(record)

    def handleError(self, record: logging.LogRecord) -> None:  # noqa: N802 - stdlib name
        # A full disk or an I/O error on the log file must not print one traceback per
        # log line (the stdlib default): say it once on stderr, then stop writing here.
        self._broken = True
        error = sys.exc_info()[1]
        with contextlib.suppress(Exception):
            sys.stderr.write(
                f"tradeguard: cannot write the log file {self.baseFilename} ({error}); "
                "file logging stopped, stderr logging goes on\n"
            )

    _broken = False


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    """A structlog logger bound to ``name``."""
    logger: structlog.stdlib.BoundLogger = structlog.get_logger(name)
    return logger
