"""Headless Chromium (Debian's `chromium`), driven over the DevTools protocol on a pipe (--remote-debugging-pipe):
the standard library only, one browser process for everything a test asks.

`Browser().open(path)` loads a local file with the network switched off (the DevTools offline mode, and a host
resolver that resolves nothing), records the console, uncaught exceptions, the browser's log and every request
the page makes, and can evaluate JavaScript and take a screenshot. The flags are those this closed network needs
(no background connections, a fresh profile each time). `png_pixels` decodes a screenshot (8-bit RGB/RGBA PNG).
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import queue
import shutil
import struct
import subprocess
import tempfile
import threading
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CHROMIUM = "chromium"
FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-extensions", "--disable-default-apps", "--mute-audio",
    "--host-resolver-rules=MAP * ~NOTFOUND",  # nothing resolves: a page that tries the network fails, and we see the request
    "--use-angle=swiftshader", "--enable-unsafe-swiftshader",  # WebGL (plotly's scattergl, parcoords) on the CPU
    "--remote-debugging-pipe",
)  # fmt: skip
TIMEOUT = 120.0  # generous: a loaded 2-core machine (the whole suite on every core) slows the software WebGL a lot


def chromium() -> str:
    """The browser's path; a missing browser is a failure (the CI installs it), never a skip."""
    found = shutil.which(CHROMIUM)
    assert found, f"{CHROMIUM} is not on PATH: install Debian's package (`apt-get install chromium`; .ci/run does)"
    return found


@dataclass
class Page:
    """What a loaded page did: console messages (type, text), uncaught exceptions, log entries (level, text), request URLs."""

    console: list[tuple[str, str]] = field(default_factory=list)
    exceptions: list[str] = field(default_factory=list)
    log: list[tuple[str, str]] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)

    @property
    def errors(self) -> list[str]:
        return ([text for kind, text in self.console if kind in {"error", "assert"}] + self.exceptions
                + [text for level, text in self.log if level == "error"])  # fmt: skip


class Browser:
    def __init__(self, width: int = 1280, height: int = 900) -> None:
        self.profile = tempfile.mkdtemp(prefix="chromium-profile-")
        to_browser, self._write = os.pipe()
        self._read, from_browser = os.pipe()
        to_browser, from_browser = _above_four(to_browser), _above_four(from_browser)  # not 3 or 4, which the redirections below take
        # The protocol's pipe is the browser's fds 3 (it reads) and 4 (it writes).
        script = f'exec "$0" "$@" 3<&{to_browser} 4>&{from_browser} {to_browser}<&- {from_browser}>&-'
        self.process = subprocess.Popen(
            ["bash", "-c", script, chromium(), *FLAGS, f"--user-data-dir={self.profile}", f"--window-size={width},{height}", "about:blank"],
            pass_fds=(to_browser, from_browser), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        os.close(to_browser)
        os.close(from_browser)
        self.width, self.height = width, height
        self._ids = iter(range(1, 1 << 30))
        self._answers: dict[int, queue.Queue[dict[str, Any]]] = {}
        self._lock = threading.Lock()
        self.page = Page()
        self.loaded = threading.Event()
        threading.Thread(target=self._listen, daemon=True).start()
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        for method in ("Page.enable", "Runtime.enable", "Log.enable", "Network.enable"):
            self.call(method, session=True)
        self.call("Network.emulateNetworkConditions", session=True, offline=True, latency=0, downloadThroughput=-1, uploadThroughput=-1)
        self.call("Emulation.setDeviceMetricsOverride", session=True, width=width, height=height, deviceScaleFactor=1, mobile=False)

    def _listen(self) -> None:
        buffer = b""
        while chunk := os.read(self._read, 1 << 20):
            buffer += chunk
            *messages, buffer = buffer.split(b"\0")
            for message in messages:
                self._handle(json.loads(message))

    def _handle(self, message: dict[str, Any]) -> None:
        if "id" in message:
            with self._lock:
                waiting = self._answers.get(message["id"])
            if waiting is not None:
                waiting.put(message)
            return
        method, params = message.get("method"), message.get("params", {})
        if method == "Runtime.consoleAPICalled":
            self.page.console.append(
                (params["type"], " ".join(str(arg.get("value", arg.get("description", ""))) for arg in params["args"]))
            )
        elif method == "Runtime.exceptionThrown":
            details = params["exceptionDetails"]
            self.page.exceptions.append(details.get("exception", {}).get("description") or details.get("text", ""))
        elif method == "Log.entryAdded":
            self.page.log.append((params["entry"]["level"], params["entry"]["text"]))
        elif method == "Network.requestWillBeSent":
            self.page.requests.append(params["request"]["url"])
        elif method == "Page.loadEventFired":
            self.loaded.set()

    def call(self, method: str, *, session: bool = False, **params: Any) -> dict[str, Any]:
        number = next(self._ids)
        answer: queue.Queue[dict[str, Any]] = queue.Queue()
        with self._lock:
            self._answers[number] = answer
        message = {"id": number, "method": method, "params": params, **({"sessionId": self.session} if session else {})}
        os.write(self._write, json.dumps(message).encode() + b"\0")
        reply = answer.get(timeout=TIMEOUT)
        assert "error" not in reply, f"{method}: {reply['error']}"
        return reply["result"]

    def open(self, path: Path) -> Page:
        self.loaded.clear()
        self.call("Page.navigate", session=True, url=path.resolve().as_uri())
        assert self.loaded.wait(TIMEOUT), f"{path} did not load within {TIMEOUT} s"
        return self.page

    def evaluate(self, expression: str) -> Any:
        reply = self.call("Runtime.evaluate", session=True, expression=expression, returnByValue=True, awaitPromise=True)
        assert "exceptionDetails" not in reply, reply["exceptionDetails"]
        return reply["result"].get("value")

    def wait_for(self, expression: str, timeout: float = TIMEOUT) -> Any:
        """`expression`'s value once it is truthy."""
        end = time.monotonic() + timeout
        while not (value := self.evaluate(expression)):
            assert time.monotonic() < end, f"not true within {timeout} s: {expression}"
            time.sleep(0.1)
        return value

    def screenshot(self, full_page: bool = True) -> bytes:
        """A PNG of the page (the whole page, as tall as its content, when `full_page`)."""
        if full_page:
            height = int(self.evaluate("document.documentElement.scrollHeight"))
            self.call(
                "Emulation.setDeviceMetricsOverride", session=True, width=self.width, height=height, deviceScaleFactor=1, mobile=False
            )
        return base64.b64decode(self.call("Page.captureScreenshot", session=True, format="png", captureBeyondViewport=full_page)["data"])

    def close(self) -> None:
        try:
            self.call("Browser.close")
        except (AssertionError, OSError, queue.Empty):
            self.process.kill()
        self.process.wait(timeout=TIMEOUT)
        os.close(self._write)
        shutil.rmtree(self.profile, ignore_errors=True)

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def _above_four(fd: int) -> int:
    moved = fcntl.fcntl(fd, fcntl.F_DUPFD, 10)
    os.close(fd)
    return moved


def png_pixels(data: bytes) -> tuple[int, int, list[bytes]]:
    """(width, height, rows of RGB(A) bytes) of an 8-bit, non-interlaced RGB or RGBA PNG, as Chromium writes them."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    position, chunks, header = 8, b"", b""
    while position < len(data):
        (length,), kind = struct.unpack(">I", data[position : position + 4]), data[position + 4 : position + 8]
        body = data[position + 8 : position + 8 + length]
        header, chunks = (body, chunks) if kind == b"IHDR" else (header, chunks + body if kind == b"IDAT" else chunks)
        position += 12 + length
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", header)
    assert depth == 8 and colour in (2, 6) and interlace == 0, (depth, colour, interlace)
    size = 3 if colour == 2 else 4
    raw, rows, previous = zlib.decompress(chunks), [], bytes(width * size)
    for row in range(height):
        start = row * (width * size + 1)
        kind, line = raw[start], bytearray(raw[start + 1 : start + 1 + width * size])
        for i in range(len(line)):
            left = line[i - size] if i >= size else 0
            up, corner = previous[i], previous[i - size] if i >= size else 0
            line[i] = (line[i] + (0, left, up, (left + up) // 2, _paeth(left, up, corner))[kind]) & 0xFF
        rows.append(bytes(line))
        previous = bytes(line)
    return width, height, rows


def _paeth(left: int, up: int, corner: int) -> int:
    guess = left + up - corner
    near_left, near_up, near_corner = abs(guess - left), abs(guess - up), abs(guess - corner)
    if near_left <= near_up and near_left <= near_corner:
        return left
    return up if near_up <= near_corner else corner
