"""The one HTTP policy every connector uses.

Timeouts, retries with exponential backoff and jitter (connect errors, 429, 5xx; Retry-After
honoured), a per-host concurrency limit, a response size cap and a descriptive User-Agent.
Whether requests reach the network, a recorded snapshot, or both, is chosen by the transport
(`connectors.snapshot`), never by the connector.
"""

from __future__ import annotations

import email.utils
import logging
import random
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx

from connectors.base import RawResponse, SourceError

USER_AGENT = "gpu-prices/0.1 (open-source GPU price tracker; +https://github.com/gpu-prices/gpu-prices)"

# Query parameters and headers that may carry credentials. They are removed from every URL and
# header we archive, log or record.
SECRET_PARAMS = {"key", "api_key", "apikey", "token", "access_token", "client_secret", "sig"}
SECRET_HEADERS = {"authorization", "api-key", "x-api-key", "cookie", "set-cookie", "proxy-authorization"}

# The replay transport marks when a response was really recorded with this header.
RECORDED_AT_HEADER = "x-gpu-prices-recorded-at"

RETRY_STATUSES = {429, 500, 502, 503, 504}

# httpx logs every request URL at INFO, query string included; a key in a URL must not reach a
# log, so its logger only speaks up for warnings.
logging.getLogger("httpx").setLevel(logging.WARNING)
logging.getLogger("httpcore").setLevel(logging.WARNING)


@dataclass(frozen=True)
class HttpPolicy:
    timeout_s: float = 30.0
    connect_timeout_s: float = 10.0
    max_retries: int = 4
    backoff_base_s: float = 1.0
    backoff_max_s: float = 60.0
    per_host_concurrency: int = 4
    max_body_bytes: int = 64 * 1024 * 1024


DEFAULT_POLICY = HttpPolicy()


def redact_url(url: str | httpx.URL) -> str:
    """The URL with secret query parameters replaced by ***, safe to store and print."""
    parts = urlsplit(str(url))
    if not parts.query:
        return str(url)
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    if not any(k.lower() in SECRET_PARAMS for k, _ in pairs):
        return str(url)
    pairs = [(k, "***" if k.lower() in SECRET_PARAMS else v) for k, v in pairs]
    return urlunsplit(parts._replace(query=urlencode(pairs, safe="$'(),*")))


def canonical_url(url: str | httpx.URL) -> str:
    """A form of the URL that compares equal however its query was encoded or ordered."""
    parts = urlsplit(redact_url(url))
    host = (parts.hostname or "").lower()
    if parts.port and not (
        (parts.scheme == "https" and parts.port == 443) or (parts.scheme == "http" and parts.port == 80)
    ):
        host = f"{host}:{parts.port}"
    query = sorted(parse_qsl(parts.query, keep_blank_values=True))
    return urlunsplit((parts.scheme, host, parts.path or "/", urlencode(query), ""))


def safe_headers(headers: httpx.Headers | dict[str, str]) -> dict[str, str]:
    return {k.lower(): v for k, v in dict(headers).items() if k.lower() not in SECRET_HEADERS}


def _retry_after_seconds(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())


class RetryTransport(httpx.BaseTransport):
    """Retries connect errors, timeouts, 429 and 5xx with backoff; caps concurrency per host.

    After the last attempt an error *response* is returned (so it gets archived); a transport
    error is raised.
    """

    _host_locks: dict[tuple[str, int], threading.BoundedSemaphore] = {}
    _host_locks_guard = threading.Lock()

    def __init__(
        self,
        inner: httpx.BaseTransport,
        policy: HttpPolicy = DEFAULT_POLICY,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.inner = inner
        self.policy = policy
        self.sleep = sleep

    def _host_slot(self, host: str) -> threading.BoundedSemaphore:
        key = (host, self.policy.per_host_concurrency)
        with self._host_locks_guard:
            if key not in self._host_locks:
                self._host_locks[key] = threading.BoundedSemaphore(self.policy.per_host_concurrency)
            return self._host_locks[key]

    def _backoff(self, attempt: int) -> float:
        ceiling = min(self.policy.backoff_max_s, self.policy.backoff_base_s * 2**attempt)
        return random.uniform(ceiling / 2, ceiling)  # "equal jitter"

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        attempt = 0
        while True:
            with self._host_slot(request.url.host):
                try:
                    response = self.inner.handle_request(request)
                except (httpx.ConnectError, httpx.TimeoutException, httpx.RemoteProtocolError):
                    if attempt >= self.policy.max_retries:
                        raise
                    self.sleep(self._backoff(attempt))
                    attempt += 1
                    continue
            if response.status_code in RETRY_STATUSES and attempt < self.policy.max_retries:
                wait = _retry_after_seconds(response)
                response.close()
                self.sleep(min(self.policy.backoff_max_s, wait) if wait is not None else self._backoff(attempt))
                attempt += 1
                continue
            return response

    def close(self) -> None:
        self.inner.close()


def build_client(
    transport: httpx.BaseTransport | None = None,
    policy: HttpPolicy = DEFAULT_POLICY,
    sleep: Callable[[float], None] = time.sleep,
) -> httpx.Client:
    """An httpx client with our policy around `transport` (the network when None)."""
    inner = transport or httpx.HTTPTransport()
    return httpx.Client(
        transport=RetryTransport(inner, policy, sleep=sleep),
        timeout=httpx.Timeout(policy.timeout_s, connect=policy.connect_timeout_s),
        headers={"user-agent": USER_AGENT},
        follow_redirects=True,
    )


def per_host_limit(client: httpx.Client) -> int:
    """How many requests `client` lets run at once against one host (its policy's limit)."""
    transport = getattr(client, "_transport", None)
    policy = transport.policy if isinstance(transport, RetryTransport) else DEFAULT_POLICY
    return policy.per_host_concurrency


def _fetched_at(response: httpx.Response) -> datetime:
    recorded = response.headers.get(RECORDED_AT_HEADER)
    if recorded:
        return datetime.fromisoformat(recorded.replace("Z", "+00:00")).astimezone(timezone.utc)
    return datetime.now(timezone.utc)


def request(
    client: httpx.Client,
    source_id: str,
    method: str,
    url: str,
    *,
    spool_to_disk: bool = False,
    max_body_bytes: int | None = None,
    **kwargs,
) -> RawResponse:
    """One request, the body read in full under the size cap, returned as a RawResponse.

    With ``spool_to_disk`` the body goes to a temporary file instead of memory (the AWS price
    list files are hundreds of megabytes); the caller's archive step moves it into the store.
    """
    cap = max_body_bytes or DEFAULT_POLICY.max_body_bytes
    with client.stream(method, url, **kwargs) as response:
        declared = response.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > cap:
            raise SourceError(
                f"{source_id}: {redact_url(url)} announces {int(declared):,} bytes, over the "
                f"{cap:,}-byte cap; raise max_body_bytes for this source if that is expected"
            )
        received = 0
        body: bytes | None = None
        body_path: Path | None = None
        if spool_to_disk:
            handle = tempfile.NamedTemporaryFile(prefix=f"{source_id}-", suffix=".body", delete=False)
            body_path = Path(handle.name)
            sink = handle
        else:
            chunks: list[bytes] = []
        try:
            for chunk in response.iter_bytes(1 << 20):
                received += len(chunk)
                if received > cap:
                    raise SourceError(
                        f"{source_id}: {redact_url(url)} sent more than the {cap:,}-byte cap"
                    )
                if spool_to_disk:
                    sink.write(chunk)
                else:
                    chunks.append(chunk)
        except BaseException:
            if body_path is not None:
                sink.close()
                body_path.unlink(missing_ok=True)  # a partial download is not worth keeping
            raise
        finally:
            if spool_to_disk:
                sink.close()
        if not spool_to_disk:
            body = b"".join(chunks)
        request_body = response.request.content if response.request.content else None
        return RawResponse(
            source=source_id,
            method=method.upper(),
            url=redact_url(response.request.url),
            status=response.status_code,
            headers={k: v for k, v in safe_headers(response.headers).items() if k != RECORDED_AT_HEADER},
            fetched_at=_fetched_at(response),
            body=body,
            body_path=body_path,
            request_body=request_body,
        )


def get(client: httpx.Client, source_id: str, url: str, **kwargs) -> RawResponse:
    return request(client, source_id, "GET", url, **kwargs)


def post(client: httpx.Client, source_id: str, url: str, **kwargs) -> RawResponse:
    return request(client, source_id, "POST", url, **kwargs)


def post_json(client: httpx.Client, source_id: str, url: str, body: bytes) -> RawResponse:
    """POST an already-encoded JSON body; kept as bytes so a replayed request matches exactly."""
    return post(client, source_id, url, content=body, headers={"content-type": "application/json"})
