"""boto3 for the collector: one session, clients per service and region, adaptive retries, errors in one line.

Only the collector imports this module: boto3 costs a third of a second to import, and `compile`
never needs it.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import boto3
import botocore.exceptions
import botocore.parsers
from botocore.config import Config

from spawn_tf import contract
from spawn_tf.contract import ExitCode
from spawn_tf.errors import SpawnError

T = TypeVar("T")
R = TypeVar("R")

# Adaptive mode backs off on throttling across all the threads of a client, not one call at a time.
# A connection is given 10 s (botocore's default is 60 s), and see `fail_fast_offline`.
_CONFIG = Config(retries={"mode": "adaptive", "max_attempts": 10}, max_pool_connections=32, connect_timeout=10)
_NO_CONNECTION = (botocore.exceptions.EndpointConnectionError, botocore.exceptions.ConnectTimeoutError)
WORKERS = 16  # concurrent requests: enough to hide latency, few enough to stay under S3's and EC2's rates


class CollectError(SpawnError):
    """Something the user can fix (a sweep that does not exist, a file that is not a manifest): one line and a hint."""


class Aws:
    """The collector's AWS access: clients made once per (service, region) and shared by threads."""

    def __init__(self, session: boto3.session.Session | None = None, region: str | None = None) -> None:
        self.session = session or boto3.session.Session()
        fail_fast_offline(self.session)
        self.home_region = region or self.session.region_name or _region_from_env() or contract.DEFAULT_HOME_REGION
        self._clients: dict[tuple[str, str], Any] = {}
        self._lock = threading.Lock()  # making a client is not thread-safe; using one is
        self._account_id: str | None = None

    def client(self, service: str, region: str | None = None) -> Any:
        key = (service, region or self.home_region)
        with self._lock:
            if key not in self._clients:
                self._clients[key] = self.session.client(service, region_name=key[1], config=_CONFIG)
            return self._clients[key]

    def s3(self, region: str | None = None) -> Any:
        return self.client("s3", region)

    def ec2(self, region: str) -> Any:
        return self.client("ec2", region)

    def account_id(self) -> str:
        if self._account_id is None:
            self._account_id = self.client("sts").get_caller_identity()["Account"]
        return self._account_id

    def default_bucket(self, region: str | None = None) -> str:
        """spawn-tf-<account-id>-<home region>: where sweeps report unless they name a bucket."""
        return contract.DEFAULT_RESULTS_BUCKET.format(account_id=self.account_id(), region=region or self.home_region)


def fail_fast_offline(session: boto3.session.Session) -> None:
    """Until AWS has answered once, a connection that cannot be made is an error at once, not retried.

    Retries are for a service that answered and is busy; with no network (or a wrong
    AWS_ENDPOINT_URL) ten attempts with backoff only make the user wait half a minute for the same
    error. Clients made from `session` afterwards follow this rule (they copy its handlers).
    """
    answered = threading.Event()

    def on_answer(**_: Any) -> None:
        answered.set()

    def on_retry(caught_exception: BaseException | None = None, **_: Any) -> None:
        if isinstance(caught_exception, _NO_CONNECTION) and not answered.is_set():
            raise caught_exception

    session.events.register("after-call", on_answer)
    session.events.register_first("needs-retry", on_retry)


def no_connection(error: BaseException) -> str | None:
    """The endpoint a call could not reach, or None when `error` is of another kind."""
    if isinstance(error, _NO_CONNECTION):
        return str(error.kwargs.get("endpoint_url") or error)
    return None


def _region_from_env() -> str | None:
    return next((os.environ[name] for name in contract.REGION_ENV_NAMES if os.environ.get(name)), None)


def map_on_threads(work: Callable[[T], R], items: Iterable[T], workers: int = WORKERS) -> list[R]:
    """`work` over `items` on threads, results in the items' order."""
    items = list(items)
    if len(items) <= 1:
        return [work(item) for item in items]
    with ThreadPoolExecutor(max_workers=min(workers, len(items))) as pool:
        return list(pool.map(work, items))


def error_text(error: BaseException) -> str:
    """A boto error in one line: the AWS error code and message, or what went wrong on the way."""
    if isinstance(error, botocore.exceptions.ClientError):
        details = error.response.get("Error", {})
        code = details.get("Code") or error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", "")
        return f"{code}: {details.get('Message') or error}"
    if isinstance(error, botocore.exceptions.NoCredentialsError):
        return "no AWS credentials (set AWS_PROFILE, or run `aws configure`)"
    return f"{type(error).__name__}: {error}"


def is_missing(error: BaseException) -> bool:
    """A 404 from S3: the key or bucket does not exist."""
    if not isinstance(error, botocore.exceptions.ClientError):
        return False
    code = str(error.response.get("Error", {}).get("Code", ""))
    return code in ("404", "NoSuchKey", "NoSuchBucket", "NotFound")


# What a call to AWS can raise: errors AWS answered, failures on the way, and answers that are not AWS's.
AWS_ERRORS = (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError, botocore.parsers.ResponseParserError)


def collecting(work: Callable[[], T]) -> T:
    """`work()`, its AWS failures as SpawnErrors: no credentials or no connection exit 1, an AWS error that stops everything 3."""
    try:
        return work()
    except botocore.exceptions.NoCredentialsError:
        raise SpawnError("no AWS credentials",
                         "set AWS_PROFILE (or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY), or run `aws configure`") from None  # fmt: skip
    except AWS_ERRORS as exc:
        if endpoint := no_connection(exc):
            raise unreachable(endpoint) from None
        raise SpawnError(error_text(exc), exit_code=ExitCode.PARTIAL) from None


def unreachable(endpoint: str) -> SpawnError:
    return SpawnError(f"cannot connect to AWS at {endpoint}", "check the network (a proxy, a VPN), and AWS_ENDPOINT_URL if it is set")
