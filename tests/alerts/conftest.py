"""Real receivers on 127.0.0.1: an SMTP server (aiosmtpd) and an HTTP webhook (aiohttp)."""

from __future__ import annotations

import email
import email.message
import socket
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from aiosmtpd.controller import Controller


def free_port() -> int:
    """A TCP port nothing listens on (bound then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


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


@dataclass
class Hook:
    """What the webhook server received: (path with query, headers, JSON body)."""

    port: int
    posts: list[tuple[str, dict[str, str], dict[str, Any]]] = field(default_factory=list)

    def url(self, path: str = "/hook") -> str:
        return f"json://127.0.0.1:{self.port}{path}"


@pytest.fixture
async def webhook() -> AsyncIterator[Hook]:
    hook = Hook(port=0)

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
