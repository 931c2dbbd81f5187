"""Helpers of the browser tests (the fixtures are re-exported by conftest.py): Debian's
headless Chromium driven by Playwright, and real running services (a ``tradeguard run``
or ``tradeguard sim`` subprocess, or a Runtime on its own thread and loop).

Without ``/usr/bin/chromium`` (``make system-deps`` installs it as root) or without
Playwright every test here is skipped with the reason; no browser is ever downloaded.
One browser serves a whole module (``browser``); each test opens its own contexts.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Browser, ConsoleMessage, Page

    from tradeguard.app.runtime import Runtime
    from tradeguard.config import Config

CHROMIUM = Path("/usr/bin/chromium")
TRADEGUARD = [sys.executable, "-m", "tradeguard"]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
WAIT_S = 60.0
"""Bound of every wait: generous, so a slow machine passes and a broken build fails."""

# Flags that keep Chromium from phoning home or tripping on this sandbox-less machine.
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
    "--disable-dev-shm-usage",
]


def _why_no_browser() -> str | None:
    if not CHROMIUM.exists():
        return ("LOUD SKIP: Debian's chromium is not installed at /usr/bin/chromium "
                "(`make system-deps` as root, or apt-get install chromium chromium-driver); "
                "the dashboard's browser tests did NOT run")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return ("LOUD SKIP: playwright is not installed (pip install -e '.[dev]'); the "
                "dashboard's browser tests did NOT run")
    return None


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """One headless Chromium for the module (skips loudly when there is none)."""
    why = _why_no_browser()
    if why is not None:
        pytest.skip(why)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS,
        )
        try:
            yield chromium
        finally:
            chromium.close()


@dataclass
class Console:
    """What a page wrote to its console as errors, and its uncaught exceptions."""

    errors: list[str] = field(default_factory=list)

    def on_console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.errors.append(f"console: {message.text} ({message.location})")

    def on_error(self, error: Exception) -> None:
        self.errors.append(f"page error: {error}")


def open_page(
    browser: Browser, url: str, *, width: int = 1280, height: int = 800,
    color_scheme: str = "light",
) -> tuple[Page, Console]:
    """A new context and page on ``url`` with its console errors collected."""
    context = browser.new_context(
        viewport={"width": width, "height": height}, color_scheme=color_scheme,  # type: ignore[arg-type]
        device_scale_factor=1, service_workers="block",
    )
    context.set_default_timeout(WAIT_S * 1000)
    page = context.new_page()
    console = Console()
    page.on("console", console.on_console)
    page.on("pageerror", console.on_error)
    page.goto(url)
    page.wait_for_selector("body[data-loaded]")
    return page, console


def save_screenshot(page: Page, name: str, tmp_path: Path) -> Path:
    """Screenshot ``page`` (the viewport) into ``tmp_path``; also into docs/screenshots
    when ``TRADEGUARD_SCREENSHOTS=1`` or when that file does not exist yet (so a test run
    does not rewrite the committed images every time)."""
    shot = tmp_path / name
    page.screenshot(path=str(shot), animations="disabled")
    target = SCREENSHOTS / name
    if os.environ.get("TRADEGUARD_SCREENSHOTS") == "1" or not target.exists():
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, target)
    return shot


# --- HTTP ---------------------------------------------------------------------------------


def http_json(url: str, body: Any = None, *, method: str | None = None,
              headers: dict[str, str] | None = None) -> Any:
    """GET (or POST ``body``) ``url`` and its JSON answer; raises on an HTTP error."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        url, data=data, method=method or ("GET" if body is None else "POST"),
        headers={"Content-Type": "application/json", **(headers or {})},
    )
    with urllib.request.urlopen(request, timeout=30) as resp:
        return json.loads(resp.read() or b"null")


def wait_for(condition: Callable[[], Any], what: str, *, timeout_s: float = WAIT_S) -> Any:
    """Poll ``condition`` until it is truthy (returns it); an error counts as not yet."""
    deadline = time.monotonic() + timeout_s
    last: BaseException | None = None
    while time.monotonic() < deadline:
        try:
            value = condition()
        except (OSError, urllib.error.URLError, ValueError, KeyError) as exc:
            last = exc
        else:
            if value:
                return value
        time.sleep(0.1)
    raise AssertionError(f"never happened within {timeout_s:.0f} s: {what} (last error: {last})")


# --- processes ----------------------------------------------------------------------------


@dataclass
class Proc:
    """A subprocess whose stdout/stderr go to files (nothing blocks on a full pipe)."""

    popen: subprocess.Popen[bytes]
    out: Path
    err: Path

    def output(self) -> str:
        return self.out.read_text(errors="replace") + self.err.read_text(errors="replace")

    def wait_for_line(self, pattern: str, what: str) -> re.Match[str]:
        regex = re.compile(pattern)

        def found() -> re.Match[str] | None:
            if self.popen.poll() is not None:
                raise AssertionError(f"{what}: the process exited {self.popen.returncode}:\n"
                                     f"{self.output()[-3000:]}")
            return regex.search(self.out.read_text(errors="replace"))

        match: re.Match[str] = wait_for(found, what)
        return match

    def kill(self) -> None:
        """SIGKILL: no clean shutdown."""
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGKILL)
        self.popen.wait(timeout=30)

    def stop(self) -> int:
        """SIGTERM and wait (a clean stop); SIGKILL if it does not stop."""
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout=30)
        return self.popen.returncode


def spawn(args: list[str], logs: Path, name: str, env: dict[str, str] | None = None) -> Proc:
    """Start ``args`` with its output in ``logs/name.{out,err}``."""
    logs.mkdir(parents=True, exist_ok=True)
    out, err = logs / f"{name}.out", logs / f"{name}.err"
    with out.open("wb") as out_file, err.open("wb") as err_file:
        popen = subprocess.Popen(
            args, stdout=out_file, stderr=err_file, stdin=subprocess.DEVNULL,
            env={**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "200", **(env or {})},
        )
    return Proc(popen, out, err)


@pytest.fixture
def processes() -> Iterator[list[Proc]]:
    """Processes a test starts; any still running at its end are killed."""
    started: list[Proc] = []
    yield started
    for proc in started:
        with contextlib.suppress(Exception):
            proc.kill()


# --- an in-process runtime on its own thread -------------------------------------------------


class ThreadedRuntime:
    """A :class:`Runtime` running on its own thread and event loop, so a synchronous test
    (Playwright's sync API) can drive a browser against it. ``configure`` is called
    with the runtime before it starts (e.g. to sample the charts more often)."""

    def __init__(self, config: Config, *, configure: Callable[[Runtime], None] | None = None,
                 **kwargs: Any) -> None:
        self._config = config
        self._configure = configure
        self._kwargs = kwargs
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._main, name="runtime", daemon=True)
        self.runtime: Runtime | None = None

    def _main(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:  # reported to the test thread
            self._error = exc
            self._ready.set()

    async def _serve(self) -> None:
        from tradeguard.app.runtime import Runtime

        runtime = Runtime(self._config, self._config.storage.url, handle_signals=False,
                          **self._kwargs)
        if self._configure is not None:
            self._configure(runtime)
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        async with runtime:
            self.runtime = runtime
            self._ready.set()
            await self._stop.wait()

    def __enter__(self) -> ThreadedRuntime:
        self._thread.start()
        if not self._ready.wait(WAIT_S):
            raise AssertionError("the runtime did not start")
        if self._error is not None:
            raise self._error
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(WAIT_S)

    @property
    def url(self) -> str:
        assert self.runtime is not None
        url = self.runtime.http_url
        assert url is not None
        return url

    @property
    def sim_url(self) -> str:
        """The built-in simulator's base URL."""
        assert self.runtime is not None
        return self.runtime.where.split(" at ", 1)[1].split()[0]
