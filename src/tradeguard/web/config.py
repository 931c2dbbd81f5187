"""``[http]``: where the running service serves its dashboard, API and ``/metrics``.

Plain settings with no I/O and no heavy imports (the config module imports this).
"""

from __future__ import annotations

import re
from typing import Final

import msgspec

__all__ = ["DEFAULT_HTTP_HOST", "DEFAULT_HTTP_PORT", "DEFAULT_TOKEN_ENV", "HttpSettings"]

DEFAULT_HTTP_HOST: Final = "127.0.0.1"
DEFAULT_HTTP_PORT: Final = 8765
DEFAULT_TOKEN_ENV: Final = "TRADEGUARD_DASHBOARD_TOKEN"  # noqa: S105 - a variable name

_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_TOKEN_NAME = re.compile(r"[A-Za-z0-9_.@-]{1,64}")


class HttpSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """The service's HTTP port: dashboard at ``/``, the JSON API under ``/api``,
    Prometheus at ``/metrics``.

    ``enabled`` false serves nothing. ``port`` 0 takes a free port (printed at start).
    Write endpoints need ``Authorization: Bearer <token>`` with the token read from the
    environment variable ``token_env``; with it unset they are off. ``token_name`` is
    who the token stands for in the journal (the token itself is never written). A
    ``host`` that is not a loopback address is refused at start unless a token is set.
    """

    enabled: bool = True
    host: str = DEFAULT_HTTP_HOST
    port: int = DEFAULT_HTTP_PORT
    token_env: str = DEFAULT_TOKEN_ENV
    token_name: str = "operator"  # noqa: S105 - who, not a secret

    def __post_init__(self) -> None:
        if not self.host.strip():
            raise ValueError("http.host must not be empty")
        if not _ENV_NAME.fullmatch(self.token_env):
            raise ValueError(
                f"http.token_env must be an environment variable name, got {self.token_env!r}"
            )
        if not _TOKEN_NAME.fullmatch(self.token_name):
            raise ValueError(
                "http.token_name must be 1-64 letters, digits or _.@-, got "
                f"{self.token_name!r}"
            )


def parse_host_port(text: str, *, name: str = "--http") -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:8765`` for IPv6) -> (host, port); ValueError names ``name``."""
    host, sep, port_text = text.rpartition(":")
    host = host.strip("[]") if host.startswith("[") else host
    if not sep or not host or not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise ValueError(
            f"{name} {text!r}: expected HOST:PORT with a port 0-65535, e.g. 127.0.0.1:8765"
        )
    return host, int(port_text)
