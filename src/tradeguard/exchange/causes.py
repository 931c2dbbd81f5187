"""One line naming why a ccxt request failed, for error messages (pure, no I/O).

ccxt words a transport failure as ``"<id> <METHOD> <url>"`` and leaves the reason in
the exception's cause chain (aiohttp's connector error, the OS error under it); an
HTTP error as ``"<id> <METHOD> <url> <code> <reason> <body>"`` with the whole body,
which for a wrong URL is an HTML page of kilobytes. :func:`describe_cause` turns both
into one short line: "connection refused by 127.0.0.1:9", "DNS lookup of x failed",
"HTTP 404 Not Found from GET http://... (HTML page '404 Not Found')".
"""

from __future__ import annotations

import asyncio
import re
import socket
import ssl
from urllib.parse import urlsplit

import aiohttp

__all__ = ["describe_cause"]

_HTTP_ERROR = re.compile(r"\S+ (GET|POST|PUT|DELETE|PATCH) (\S+) ([1-5]\d\d)(?: (.*))?", re.DOTALL)
_REQUEST = re.compile(r"\S+ (GET|POST|PUT|DELETE|PATCH) (\S+)")
_TITLE = re.compile(r"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)
_TAG = re.compile(r"<[^>]*>")
_BLANKS = re.compile(r"\s+")
_MAX_BODY = 160  # an error page is quoted, never pasted whole
_MAX_TITLE = 80
_MAX_CAUSE = 500
_MAX_CHAIN = 10


def _one_line(text: str, limit: int) -> str:
    text = _BLANKS.sub(" ", text).strip()
    return text if len(text) <= limit else text[: limit - 3].rstrip() + "..."


def _body_summary(body: str) -> str:
    """A short, one-line account of a response body: an HTML page by its title."""
    body = body.strip()
    if not body:
        return ""
    if body.startswith("<") or "<html" in body[:500].lower():
        title = _TITLE.search(body)
        text = title.group(1) if title else _TAG.sub(" ", body)
        return f"HTML page {_one_line(text, _MAX_TITLE)!r}"
    return _one_line(body, _MAX_BODY)


def _transport_cause(exc: BaseException, url: str | None) -> str | None:
    """What failed below HTTP (refused, DNS, TLS, timeout, reset), from the cause chain."""
    endpoint = ""
    requested = urlsplit(url).hostname if url else None
    node: BaseException | None = exc.__cause__ or exc.__context__
    for _ in range(_MAX_CHAIN):
        if node is None:
            break
        if isinstance(node, aiohttp.ClientConnectorError) and not endpoint:
            endpoint = f"{node.host}:{node.port}"
            if not isinstance(node, aiohttp.ClientConnectorDNSError | aiohttp.ClientSSLError):
                node = node.os_error  # the OS's own error says what went wrong
                continue
        if isinstance(node, aiohttp.ClientConnectorDNSError | socket.gaierror):
            host = endpoint.rpartition(":")[0] if endpoint else requested or "the host"
            detail = node.strerror if isinstance(node, socket.gaierror) else None
            return f"DNS lookup of {host} failed" + (f" ({detail})" if detail else "")
        if isinstance(node, ConnectionRefusedError):
            return f"connection refused by {endpoint}" if endpoint else "connection refused"
        if isinstance(node, ssl.SSLError | aiohttp.ClientSSLError):
            return f"TLS handshake with {endpoint or 'the server'} failed"
        if isinstance(node, TimeoutError | asyncio.TimeoutError):
            return "no answer within the timeout"
        if isinstance(node, aiohttp.ServerDisconnectedError | ConnectionResetError):
            return "the server closed the connection without answering"
        if isinstance(node, OSError) and node.strerror:
            where = f" to {endpoint}" if endpoint else ""
            return f"connection{where} failed ({node.strerror})"
        node = node.__cause__ or node.__context__
    return None


def describe_cause(exc: BaseException) -> str:
    """One line naming why a ccxt call failed (see the module docstring); otherwise
    ccxt's own message with blanks collapsed and cut to a sane length."""
    text = str(exc).strip()
    request = _REQUEST.fullmatch(text)
    transport = _transport_cause(exc, request.group(2) if request else None)
    if transport is not None:
        return transport + (f" ({request.group(1)} {request.group(2)})" if request else "")
    http = _HTTP_ERROR.fullmatch(text)
    if http is not None:
        method, url, code, rest = http.groups()
        rest = rest or ""
        # The reason phrase ends where the body begins (an HTML or JSON document).
        starts = [i for i in (rest.find("<"), rest.find("{"), rest.find("[")) if i >= 0]
        cut = min(starts, default=len(rest))
        reason = _one_line(rest[:cut], 60)
        body = _body_summary(rest[cut:])
        return (
            f"HTTP {code}{' ' + reason if reason else ''} from {method} {url}"
            + (f" ({body})" if body else "")
        )
    return _one_line(text, _MAX_CAUSE)
