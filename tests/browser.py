"""A real headless Chromium for tests, driven over the Chrome DevTools Protocol (CDP) with aiohttp's websocket.

No browser download and no extra package: the Debian ``chromium`` the CI installs (scripts/ensure-test-tools.sh)
and the aiohttp the project already depends on. ``open_page`` loads a file and records what a reader's browser
would go through: every request the page makes (anything but the page itself and ``data:`` URLs is *refused*, so
a page that is not self-contained fails here instead of quietly fetching from a CDN), console errors, uncaught
exceptions and browser log errors. Tests then ask the live DOM questions with ``page.evaluate``.

    async with open_page(path, ready="window.done === true") as page:
        assert page.problems == []
        assert await page.evaluate("document.title") == "..."
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import shutil
import signal
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp

# Names the browser goes by on Debian/Ubuntu and elsewhere; CHROMIUM_BIN overrides.
_BINARIES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
# The launch flags that work in a root container without a display or GPU, with no traffic of the browser's own.
_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--disable-dev-shm-usage",
    "--window-size=1280,1600",
    "--remote-debugging-port=0",  # the browser picks a free port and writes it to DevToolsActivePort
)
# Requests a self-contained page may make: itself, and data embedded in it.
_INLINE_SCHEMES = ("data:", "blob:", "about:")


class BrowserMissing(RuntimeError):
    """No Chromium on this machine: the test must fail (CI installs it), never skip."""


def find_chromium() -> str:
    override = os.environ.get("CHROMIUM_BIN")
    if override:
        if not os.access(override, os.X_OK):
            raise BrowserMissing(f"CHROMIUM_BIN={override} is not an executable file")
        return override
    for name in _BINARIES:
        found = shutil.which(name)
        if found:
            return found
    raise BrowserMissing(
        "no Chromium found (looked for CHROMIUM_BIN, " + ", ".join(_BINARIES) + "). The HTML report is checked "
        "in a real browser; install it with `apt-get install -y chromium` (`make test` does this through "
        "scripts/ensure-test-tools.sh)."
    )


class _Cdp:
    """One websocket to the browser; commands get futures by id, events go to one callback."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse, on_event: Callable[[str, dict[str, Any], str | None], None]
                 ) -> None:
        self._ws = ws
        self._ids = itertools.count(1)
        self._waiting: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._on_event = on_event
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for message in self._ws:
            if message.type != aiohttp.WSMsgType.TEXT:
                break
            data = json.loads(message.data)
            future = self._waiting.pop(data.get("id", -1), None)
            if future is not None and not future.done():
                future.set_result(data)
            elif "method" in data:
                self._on_event(data["method"], data.get("params", {}), data.get("sessionId"))
        for future in self._waiting.values():  # the browser went away: nobody waits forever
            if not future.done():
                future.set_exception(ConnectionError("the browser closed the DevTools connection"))

    async def send(self, method: str, params: dict[str, Any] | None = None, session: str | None = None) -> Any:
        call_id = next(self._ids)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiting[call_id] = future
        message: dict[str, Any] = {"id": call_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        await self._ws.send_str(json.dumps(message))
        reply = await future
        if "error" in reply:
            raise RuntimeError(f"CDP {method} failed: {reply['error']}")
        return reply.get("result", {})

    async def close(self) -> None:
        await self._ws.close()
        self._reader.cancel()


class Page:
    """A loaded page: what it requested, what went wrong in it, and a way to ask its DOM questions."""

    def __init__(self, cdp: _Cdp, session: str, url: str) -> None:
        self._cdp = cdp
        self._session = session
        self.url = url
        self.requests: list[str] = []  # every URL the page asked for, in order
        self.blocked: list[str] = []  # requests refused because they would leave the page
        self.problems: list[str] = []  # console errors, uncaught exceptions, browser log errors
        self.loaded = asyncio.Event()
        self._gates: set[asyncio.Task[None]] = set()  # keep a reference until each request is let through or refused

    async def evaluate(self, expression: str) -> Any:
        """The JSON value of a JavaScript expression in the page (promises are awaited)."""
        result = await self._cdp.send(
            "Runtime.evaluate",
            {"expression": expression, "returnByValue": True, "awaitPromise": True},
            self._session,
        )
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression!r} threw: {_describe_exception(result['exceptionDetails'])}")
        return result["result"].get("value")

    async def wait_for(self, expression: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not await self.evaluate(f"!!({expression})"):
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"page never reached {expression!r} within {timeout}s; refused requests: {self.blocked}; "
                    f"problems: {self.problems}")
            await asyncio.sleep(0.1)

    def on_event(self, method: str, params: dict[str, Any]) -> None:
        if method == "Page.loadEventFired":
            self.loaded.set()
        elif method == "Network.requestWillBeSent":
            self.requests.append(params["request"]["url"])
        elif method == "Fetch.requestPaused":
            task = asyncio.create_task(self._gate(params))
            self._gates.add(task)
            task.add_done_callback(self._gates.discard)
        elif method == "Runtime.exceptionThrown":
            self.problems.append("uncaught: " + _describe_exception(params["exceptionDetails"]))
        elif method == "Runtime.consoleAPICalled" and params["type"] in ("error", "assert"):
            text = " ".join(str(a.get("value", a.get("description", ""))) for a in params.get("args", []))
            self.problems.append(f"console.{params['type']}: {text}")
        elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
            entry = params["entry"]
            self.problems.append(f"log ({entry['source']}): {entry['text']} {entry.get('url', '')}".rstrip())

    async def _gate(self, params: dict[str, Any]) -> None:
        # Refuse anything that would leave the page, so the test proves self-containment rather than
        # depending on the test machine having no internet.
        url = params["request"]["url"]
        allowed = url == self.url or url.startswith(_INLINE_SCHEMES)
        if not allowed:
            self.blocked.append(url)
        with contextlib.suppress(ConnectionError, RuntimeError):  # the page may close while a request waits
            if allowed:
                await self._cdp.send("Fetch.continueRequest", {"requestId": params["requestId"]}, self._session)
            else:
                refusal = {"requestId": params["requestId"], "errorReason": "BlockedByClient"}
                await self._cdp.send("Fetch.failRequest", refusal, self._session)

    def outside_requests(self) -> list[str]:
        """Requests for anything other than the page itself and inline data: what a USB stick would not carry."""
        return sorted({u for u in self.requests + self.blocked if u != self.url and not u.startswith(_INLINE_SCHEMES)})


def _describe_exception(details: dict[str, Any]) -> str:
    exception = details.get("exception", {})
    return str(exception.get("description") or details.get("text", "unknown error"))


async def _devtools_url(profile: Path, process: asyncio.subprocess.Process, log: Path, timeout: float) -> str:
    # Chromium writes "<port>\n<browser websocket path>" here once it listens: no stderr parsing needed.
    marker = profile / "DevToolsActivePort"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.returncode is not None:
            break
        if marker.exists():
            lines = marker.read_text().split()
            if len(lines) == 2:
                return f"ws://127.0.0.1:{lines[0]}{lines[1]}"
        await asyncio.sleep(0.05)
    tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
    raise RuntimeError(
        f"Chromium did not open its DevTools port within {timeout}s (exit {process.returncode}):\n{tail}")


async def _stop(process: asyncio.subprocess.Process) -> None:
    # The browser forks renderer, GPU and zygote processes into its own process group (we start it in a new
    # session): end the browser first, then that group, so nothing keeps writing into the profile we delete.
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(process.wait(), 5)
    if process.returncode is None:
        process.terminate()
        try:
            await asyncio.wait_for(process.wait(), 5)
        except TimeoutError:
            process.kill()
            await process.wait()
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


@asynccontextmanager
async def open_page(path: Path, *, ready: str = "true", timeout: float = 15.0) -> AsyncIterator[Page]:
    """Launch a fresh headless Chromium, open ``path`` from disk and wait for its load event and ``ready``."""
    binary = find_chromium()
    url = path.resolve().as_uri()
    with tempfile.TemporaryDirectory(prefix="chromium-test-", ignore_cleanup_errors=True) as tmp:
        profile = Path(tmp) / "profile"
        log = Path(tmp) / "chromium.log"
        with log.open("wb") as log_file:
            process = await asyncio.create_subprocess_exec(
                binary, *_FLAGS, f"--user-data-dir={profile}", "about:blank",
                stdin=asyncio.subprocess.DEVNULL, stdout=log_file, stderr=log_file, start_new_session=True,
            )
        try:
            ws_url = await _devtools_url(profile, process, log, timeout)
            async with aiohttp.ClientSession() as http, http.ws_connect(ws_url, max_msg_size=0) as ws:
                pages: dict[str, Page] = {}

                def route(method: str, params: dict[str, Any], session: str | None) -> None:
                    if session in pages:
                        pages[session].on_event(method, params)

                cdp = _Cdp(ws, route)
                try:
                    yield await _navigate(cdp, pages, url, ready, timeout)
                finally:
                    # Ask the browser to shut down cleanly (children and profile writes included) before
                    # any signal; the reply may never come because the connection closes with it.
                    with contextlib.suppress(ConnectionError, RuntimeError, TimeoutError):
                        await asyncio.wait_for(cdp.send("Browser.close"), 5)
                    await cdp.close()
        finally:
            await _stop(process)
            shutil.rmtree(tmp, ignore_errors=True)  # again, after the last child is gone


async def _navigate(cdp: _Cdp, pages: dict[str, Page], url: str, ready: str, timeout: float) -> Page:
    target = await cdp.send("Target.createTarget", {"url": "about:blank"})
    attached = await cdp.send("Target.attachToTarget", {"targetId": target["targetId"], "flatten": True})
    session = attached["sessionId"]
    page = pages[session] = Page(cdp, session, url)
    for domain in ("Page", "Runtime", "Log", "Network"):
        await cdp.send(f"{domain}.enable", {}, session)
    await cdp.send("Fetch.enable", {"patterns": [{"urlPattern": "*"}]}, session)
    page.loaded.clear()  # only the file's own load counts, not about:blank's
    await cdp.send("Page.navigate", {"url": url}, session)
    await asyncio.wait_for(page.loaded.wait(), timeout)
    await page.wait_for(
        f"location.href === {json.dumps(url)} && document.readyState === 'complete' && ({ready})", timeout)
    return page
