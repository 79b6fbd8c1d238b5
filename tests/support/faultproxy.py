"""A fault-injecting HTTP proxy in front of moto server, for the agent under faults (issue 22, DESIGN §6).

One proxy per agent (its `AWS_ENDPOINT_URL`), on 127.0.0.1 and an ephemeral port. It forwards every
request to moto unless a fault window covers it:

- `down(service, seconds, after=0, path=None, method=None)`: 503 (`ServiceUnavailable`; `status` and
  `code` for another error, e.g. 403 `AccessDenied`, which clients do not retry) for that
  service ("s3", "ec2", or None for both: read from the request's SigV4 credential scope) during the
  window, optionally only for keys matching `path` (a regex on the URL path), requests matching
  `query` (a regex on the decoded query string, e.g. a listing's prefix) and one HTTP method;
  `seconds=None` is for ever;
- `slow(service, delay, seconds, after=0)`: the same window, but each answer is held back `delay` s;
- `lose_answer(service, path, method)`: the next matching request reaches moto (a write is made)
  but its answer is replaced by a 503, as when a response is lost on the way back; once.

The workload can open a window itself, at a moment of its own (e.g. its last line):
`curl -s --noproxy '*' "$PROXY/__fault__/down?service=s3&seconds=10"` (also `slow`, with `delay=`).
Every request is recorded (`requests`: time, method, path, service, what the proxy did).
"""

from __future__ import annotations

import http.client
import re
import threading
import time
import urllib.parse
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Self

CONTROL = "/__fault__/"
SCOPE = re.compile(r"Credential=[^/]+/[^/]+/[^/]+/([^/]+)/")
HOP_HEADERS = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade"}


@dataclass(frozen=True, slots=True)
class Window:
    service: str | None
    start: float  # monotonic
    end: float
    delay: float | None  # None: 503; else answers held back this long
    path: re.Pattern[str] | None
    method: str | None
    query: re.Pattern[str] | None = None
    lose_answer: bool = False  # forward, then answer 503 (once: the window closes when it is used)
    status: int = 503  # the error answered in the window (delay None)
    code: str = "ServiceUnavailable"

    def covers(self, now: float, service: str | None, method: str, path: str, query: str = "") -> bool:
        return (
            self.start <= now < self.end
            and (self.service is None or self.service == service)
            and (self.method is None or self.method == method)
            and (self.path is None or self.path.search(path) is not None)
            and (self.query is None or self.query.search(query) is not None)
        )


@dataclass(frozen=True, slots=True)
class Seen:
    at: float  # monotonic
    method: str
    path: str
    service: str | None
    answer: str  # "forwarded", "503", "slow" or "answer lost"
    query: str = ""  # decoded, e.g. a listing's prefix


class FaultProxy:
    def __init__(self, upstream: str) -> None:
        parsed = urllib.parse.urlsplit(upstream)
        self.upstream = (parsed.hostname or "127.0.0.1", parsed.port or 80)
        self._lock = threading.Lock()
        self._windows: list[Window] = []
        self._seen: list[Seen] = []
        self._server: ThreadingHTTPServer | None = None
        self.closed = False  # then requests still held back are dropped, not forwarded to the next test's moto

    # --- what tests do ---------------------------------------------------------------------------

    def down(
        self,
        service: str | None,
        seconds: float | None,
        *,
        after: float = 0,
        path: str | None = None,
        method: str | None = None,
        query: str | None = None,
        status: int = 503,
        code: str = "ServiceUnavailable",
    ) -> None:
        self._open(service, seconds, after=after, delay=None, path=path, method=method, query=query, error=(status, code))

    def slow(self, service: str | None, delay: float, seconds: float | None, *, after: float = 0) -> None:
        self._open(service, seconds, after=after, delay=delay, path=None, method=None)

    def _open(
        self,
        service: str | None,
        seconds: float | None,
        *,
        after: float,
        delay: float | None,
        path: str | None,
        method: str | None,
        query: str | None = None,
        error: tuple[int, str] = (503, "ServiceUnavailable"),
    ) -> None:
        start = time.monotonic() + after
        end = float("inf") if seconds is None else start + seconds
        window = Window(service, start, end, delay, re.compile(path) if path else None, method, re.compile(query) if query else None,
                        status=error[0], code=error[1])  # fmt: skip
        with self._lock:
            self._windows.append(window)

    def lose_answer(self, service: str | None, *, path: str, method: str) -> None:
        window = Window(service, time.monotonic(), float("inf"), None, re.compile(path), method, None, lose_answer=True)
        with self._lock:
            self._windows.append(window)

    def clear(self) -> None:
        """Every window closes now: the service is back."""
        with self._lock:
            self._windows.clear()

    @property
    def requests(self) -> list[Seen]:
        with self._lock:
            return list(self._seen)

    @property
    def endpoint(self) -> str:
        if self._server is None:
            raise RuntimeError("the proxy is not started")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    # --- lifecycle -------------------------------------------------------------------------------

    def __enter__(self) -> Self:
        handler = type("Handler", (_Handler,), {"proxy": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None) -> None:
        self.closed = True
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        self._server = None

    # --- what the server does --------------------------------------------------------------------

    def _fault(self, service: str | None, method: str, path: str, query: str) -> Window | None:
        now = time.monotonic()
        with self._lock:
            window = next((window for window in self._windows if window.covers(now, service, method, path, query)), None)
            if window is not None and window.lose_answer:
                self._windows.remove(window)
            return window

    def _record(self, method: str, path: str, service: str | None, answer: str, query: str = "") -> None:
        with self._lock:
            self._seen.append(Seen(time.monotonic(), method, path, service, answer, query))

    def _control(self, path: str) -> None:
        """`/__fault__/down?service=s3&seconds=10` or `/__fault__/slow?service=s3&delay=30&seconds=60`."""
        kind = path[len(CONTROL) :].split("?", maxsplit=1)[0]
        query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(path).query))
        service = query.get("service") or None
        seconds = float(query["seconds"]) if "seconds" in query else None
        if kind == "slow":
            self.slow(service, float(query["delay"]), seconds)
        else:
            self.down(service, seconds, path=query.get("path"), method=query.get("method"))


class _Handler(BaseHTTPRequestHandler):
    proxy: FaultProxy
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _any(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if self.path.startswith(CONTROL):
            self.proxy._control(self.path)
            self._answer(200, b"ok\n", {})
            return
        found = SCOPE.search(self.headers.get("Authorization", ""))
        service = found.group(1) if found else None
        target = urllib.parse.urlsplit(self.path)
        path = target.path
        query = urllib.parse.unquote(target.query)
        window = self.proxy._fault(service, self.command, path, query)
        if window is not None and window.delay is None and not window.lose_answer:
            self.proxy._record(self.command, path, service, str(window.status), query)
            error = f"<Error><Code>{window.code}</Code><Message>injected by the test proxy</Message></Error>".encode()
            self._answer(window.status, error, {"Content-Type": "application/xml"})
            return
        if window is None or window.delay is not None:
            self.proxy._record(self.command, path, service, "slow" if window else "forwarded", query)  # on arrival
        if window is not None and window.delay is not None:
            time.sleep(window.delay)
            if self.proxy.closed:
                return
        upstream = http.client.HTTPConnection(*self.proxy.upstream, timeout=60)
        try:
            headers = {key: value for key, value in self.headers.items() if key.lower() not in HOP_HEADERS}
            upstream.request(self.command, self.path, body=body, headers=headers)
            response = upstream.getresponse()
            data = response.read()
            if window is not None and window.lose_answer:
                self.proxy._record(self.command, path, service, "answer lost")
                self._answer(
                    503,
                    b"<Error><Code>ServiceUnavailable</Code><Message>answer lost by the test proxy</Message></Error>",
                    {"Content-Type": "application/xml"},
                )
                return
            dropped = HOP_HEADERS if self.command == "HEAD" else HOP_HEADERS | {"content-length"}
            kept = {key: value for key, value in response.getheaders() if key.lower() not in dropped}
            self._answer(response.status, data, kept)
        finally:
            upstream.close()

    def _answer(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        try:
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            if self.command != "HEAD":
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (its own timeout): nothing to answer

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _any
