"""A stand-in for the EC2 instance metadata service, IMDSv2 only (DESIGN §6, §8).

Serves what the agent and the AWS CLI ask an instance about itself, on 127.0.0.1 and an ephemeral port,
with the rules of the real service that matter to a client:

- `PUT /latest/api/token` needs `X-aws-ec2-metadata-token-ttl-seconds` (1..21600; 400 otherwise) and
  returns a fresh token, valid for that many seconds;
- every `GET` needs `X-aws-ec2-metadata-token` holding an issued, unexpired token: 401 otherwise, as on
  an instance launched with `http_tokens = "required"` (IMDSv1 refused);
- `spot/instance-action` is 404 until the test calls `interrupt()`, then the notice's JSON;
- `iam/security-credentials/<role>` hands out the dummy credentials moto accepts, so a process that has
  no credentials in its environment finds them the way it does on an instance (instance profile).

Every request is recorded (`requests`), so tests can assert that IMDSv2 was used.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Self

TOKEN_PATH = "/latest/api/token"
TOKEN_TTL_HEADER = "X-aws-ec2-metadata-token-ttl-seconds"
TOKEN_HEADER = "X-aws-ec2-metadata-token"
MAX_TOKEN_TTL_SECONDS = 21600
META = "/latest/meta-data/"
SPOT_ACTION_PATH = META + "spot/instance-action"
ROLE_NAME = "spawn-tf-test-role"
# The dummy credentials moto accepts (and that the tests' own clients use).
ACCESS_KEY_ID = "testing"
SECRET_ACCESS_KEY = "testing"


@dataclass(frozen=True, slots=True)
class ImdsRequest:
    method: str
    path: str
    token_valid: bool | None  # None for the token PUT itself
    status: int


def iso_utc(moment: datetime) -> str:
    """The form IMDS uses for times: 2026-01-02T03:04:05Z."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Imds:
    """The metadata of one instance; `instance_id`, `region` and `life_cycle` may be changed at any time."""

    def __init__(
        self,
        *,
        instance_id: str = "i-0123456789abcdef0",
        region: str = "us-east-1",
        life_cycle: str = "spot",
        extra: dict[str, str] | None = None,
    ) -> None:
        self.instance_id = instance_id
        self.region = region
        self.life_cycle = life_cycle
        self.extra = dict(extra or {})  # more meta-data paths (relative to /latest/meta-data/) -> body
        self._lock = threading.Lock()
        self._tokens: dict[str, float] = {}  # token -> monotonic expiry
        self._requests: list[ImdsRequest] = []
        self._spot_action: dict[str, str] | None = None
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- what tests do ---------------------------------------------------------------------------

    def interrupt(self, action: str = "terminate", when: datetime | None = None) -> dict[str, str]:
        """Post a spot interruption notice; `when` defaults to two minutes from now, as AWS gives."""
        notice = {"action": action, "time": iso_utc(when or datetime.now(UTC) + timedelta(minutes=2))}
        with self._lock:
            self._spot_action = notice
        return notice

    def clear_interruption(self) -> None:
        with self._lock:
            self._spot_action = None

    @property
    def requests(self) -> list[ImdsRequest]:
        with self._lock:
            return list(self._requests)

    def gets(self, path: str) -> list[ImdsRequest]:
        """The GETs of one path (absolute, e.g. `/latest/meta-data/instance-id`)."""
        return [request for request in self.requests if request.method == "GET" and request.path == path]

    @property
    def endpoint(self) -> str:
        if self._server is None:
            raise RuntimeError("the IMDS stand-in is not started")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    # --- lifecycle -------------------------------------------------------------------------------

    def start(self) -> Self:
        handler = type("Handler", (_Handler,), {"imds": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), name="imds-stand-in", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None) -> None:
        self.stop()

    # --- what the server answers -----------------------------------------------------------------

    def _issue_token(self, ttl: int) -> str:
        token = secrets.token_urlsafe(32)
        with self._lock:
            self._tokens[token] = time.monotonic() + ttl
        return token

    def _token_valid(self, token: str | None) -> bool:
        with self._lock:
            expiry = self._tokens.get(token or "")
        return expiry is not None and time.monotonic() < expiry

    def _record(self, request: ImdsRequest) -> None:
        with self._lock:
            self._requests.append(request)

    def _metadata(self, path: str) -> tuple[str, str] | None:
        """(content type, body) of a GET path, or None for 404."""
        if path == SPOT_ACTION_PATH:
            with self._lock:
                notice = self._spot_action
            return None if notice is None else ("application/json", json.dumps(notice))
        if not path.startswith(META):
            return None
        relative = path[len(META) :]
        fixed = {
            "instance-id": self.instance_id,
            "placement/region": self.region,
            "placement/availability-zone": self.region + "a",
            "instance-life-cycle": self.life_cycle,
            "iam/security-credentials/": ROLE_NAME,
            "iam/security-credentials": ROLE_NAME,
            **self.extra,
        }
        if relative not in fixed and relative.endswith("/"):
            relative = relative.rstrip("/")  # botocore asks for placement/availability-zone/
        if relative in fixed:
            return "text/plain", fixed[relative]
        if relative == f"iam/security-credentials/{ROLE_NAME}":
            return "application/json", json.dumps(_credentials())
        return None


def _credentials() -> dict[str, str]:
    now = datetime.now(UTC)
    return {
        "Code": "Success",
        "LastUpdated": iso_utc(now),
        "Type": "AWS-HMAC",
        "AccessKeyId": ACCESS_KEY_ID,
        "SecretAccessKey": SECRET_ACCESS_KEY,
        "Token": "testing-session-token",
        "Expiration": iso_utc(now + timedelta(hours=6)),
    }


class _Handler(BaseHTTPRequestHandler):
    imds: Imds  # set on the subclass made per server
    server_version = "EC2ws"
    sys_version = ""

    def log_message(self, format: str, *args: object) -> None:
        pass  # requests are recorded, not printed

    def _send(self, status: int, body: str = "", content_type: str = "text/plain", headers: dict[str, str] | None = None) -> None:
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _path(self) -> str:
        return self.path.split("?", 1)[0]

    # Each request is recorded before it is answered: a client that has its answer finds it in `requests`.
    def do_PUT(self) -> None:
        path = self._path()
        ttl_text = self.headers.get(TOKEN_TTL_HEADER)
        if path != TOKEN_PATH:
            status = 404 if not path.startswith("/latest/") else 405
            self.imds._record(ImdsRequest("PUT", path, None, status))
            self._send(status)
        elif ttl_text is None or not ttl_text.strip().isdigit() or not 1 <= int(ttl_text) <= MAX_TOKEN_TTL_SECONDS:
            self.imds._record(ImdsRequest("PUT", path, None, 400))
            self._send(400, "Missing or invalid X-aws-ec2-metadata-token-ttl-seconds")
        else:
            ttl = int(ttl_text)
            token = self.imds._issue_token(ttl)
            self.imds._record(ImdsRequest("PUT", path, None, 200))
            self._send(200, token, headers={TOKEN_TTL_HEADER: str(ttl)})

    def do_GET(self) -> None:
        path = self._path()
        valid = self.imds._token_valid(self.headers.get(TOKEN_HEADER))
        found = self.imds._metadata(path) if valid else None
        status = 401 if not valid else 404 if found is None else 200
        self.imds._record(ImdsRequest("GET", path, valid, status))
        if found is None:
            self._send(status, "" if not valid else "Not Found")
        else:
            self._send(status, found[1], content_type=found[0])

    def do_POST(self) -> None:
        self.imds._record(ImdsRequest("POST", self._path(), None, 405))
        self._send(405)
