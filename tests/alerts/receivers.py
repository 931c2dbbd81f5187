"""Real alert receivers on 127.0.0.1, shared by every alerts test (here and tests/app).

- ``smtp_inbox``: an aiosmtpd SMTP server (apprise ``mailto://``);
- ``webhook``: an aiohttp JSON webhook (apprise ``json://``) that records every post;
- :class:`StuckReceiver` (``stuck_receiver``): accepts a connection, reads the request
  and answers nothing until released, as a receiver that hangs does;
- :func:`free_port`: a port nothing listens on (connection refused).

``tests/alerts/conftest.py`` provides the fixtures to the tests here; a test module
elsewhere imports them (``from alerts.receivers import webhook``).
"""

from __future__ import annotations

import asyncio
import email
import email.message
import socket
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from aiosmtpd.controller import Controller

__all__ = [
    "Hook",
    "Inbox",
    "StuckReceiver",
    "free_port",
    "smtp_inbox",
    "stuck_receiver",
    "text_of",
    "webhook",
]


def free_port() -> int:
    """A TCP port nothing listens on (bound then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


# --- SMTP ------------------------------------------------------------------------------


@dataclass
class Inbox:
    """What the SMTP server received."""

    port: int
    messages: list[email.message.Message] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        del server, session
        self.messages.append(email.message_from_bytes(envelope.content))
        return "250 OK"

    @property
    def url(self) -> str:
        """The apprise URL of this plain (no TLS, no auth) SMTP server."""
        return (
            f"mailto://127.0.0.1:{self.port}?from=bot@example.com&to=ops@example.com&mode=insecure"
        )


def text_of(message: email.message.Message) -> str:
    """The text/plain (else first) body part of a message, decoded."""
    parts = list(message.walk()) if message.is_multipart() else [message]
    for part in parts:
        if part.get_content_type() in ("text/plain", "text/html"):
            payload = part.get_payload(decode=True)
            assert isinstance(payload, bytes)
            return payload.decode(part.get_content_charset() or "utf-8")
    raise AssertionError("no text part")


@pytest.fixture
def smtp_inbox() -> Iterator[Inbox]:
    inbox = Inbox(port=free_port())
    controller = Controller(inbox, hostname="127.0.0.1", port=inbox.port)
    controller.start()
    try:
        yield inbox
    finally:
        controller.stop()


# --- JSON webhook ----------------------------------------------------------------------


@dataclass
class Hook:
    """What the webhook server received: (path with query, headers, JSON body) per post."""

    port: int = 0
    posts: list[tuple[str, dict[str, str], dict[str, Any]]] = field(default_factory=list)

    def url(self, path: str = "/hook") -> str:
        """The apprise ``json://`` URL of this receiver."""
        return f"json://127.0.0.1:{self.port}{path}"

    @property
    def payloads(self) -> list[dict[str, Any]]:
        """The JSON bodies received, in order (apprise's ``title``, ``message``, ``type``)."""
        return [payload for _, _, payload in self.posts]

    def titles(self, containing: str) -> list[str]:
        """The titles of the alerts received whose title contains ``containing``."""
        return [str(p.get("title")) for p in self.payloads if containing in str(p.get("title"))]

    def message(self, containing: str) -> str:
        """The body of the one alert whose title contains ``containing``."""
        [body] = [
            str(p.get("message")) for p in self.payloads if containing in str(p.get("title"))
        ]
        return body


@pytest.fixture
async def webhook() -> AsyncIterator[Hook]:
    hook = Hook()

    async def receive(request: web.Request) -> web.Response:
        hook.posts.append((request.path_qs, dict(request.headers), await request.json()))
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_post("/{tail:.*}", receive)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    server = site._server
    assert server is not None
    hook.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
    try:
        yield hook
    finally:
        await runner.cleanup()


# --- a receiver that hangs -------------------------------------------------------------


@dataclass
class StuckReceiver:
    """Accepts every connection and reads its request, then answers nothing until
    :meth:`release`; from then on each connection is closed without an answer (the
    sender sees a failed delivery). ``holding`` counts requests held right now."""

    port: int = 0
    connections: int = 0
    holding: int = 0
    released: asyncio.Event = field(default_factory=asyncio.Event)

    def url(self, path: str = "/hook") -> str:
        """The apprise ``json://`` URL of this receiver, with a read timeout (``rto``)
        long enough that only :meth:`release` ends a held request (apprise's default
        of 4 s would end it on a slow machine, and the sender would retry meanwhile)."""
        return f"json://127.0.0.1:{self.port}{path}?rto=600"

    def release(self) -> None:
        """Close the held connections (and every later one at once), unanswered."""
        self.released.set()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            await reader.read(65536)  # the request has arrived
            self.holding += 1
            try:
                await self.released.wait()
            finally:
                self.holding -= 1
        finally:
            writer.close()


@pytest.fixture
async def stuck_receiver() -> AsyncIterator[StuckReceiver]:
    stuck = StuckReceiver()
    server = await asyncio.start_server(stuck.handle, "127.0.0.1", 0)
    stuck.port = server.sockets[0].getsockname()[1]
    try:
        yield stuck
    finally:
        stuck.release()  # a sender thread still waiting gets its answer (none) now
        server.close()
        await server.wait_closed()
