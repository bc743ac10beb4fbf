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
import ssl
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


class HostSlots:
    """How many requests to each host are in flight in this process, across every client,
    source and thread. A request takes a slot before it is sent and gives it back when its
    response is closed (body read or abandoned), so a streamed download counts for as long as
    it lasts. Each caller waits for its own policy's limit against the shared count."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._in_flight: dict[str, int] = {}

    def acquire(self, host: str, limit: int) -> None:
        with self._changed:
            while self._in_flight.get(host, 0) >= max(1, limit):
                self._changed.wait()
            self._in_flight[host] = self._in_flight.get(host, 0) + 1

    def release(self, host: str) -> None:
        with self._changed:
            self._in_flight[host] -= 1
            if not self._in_flight[host]:
                del self._in_flight[host]
            self._changed.notify_all()

    def in_flight(self, host: str) -> int:
        with self._changed:
            return self._in_flight.get(host, 0)


HOST_SLOTS = HostSlots()


class _SlotHeldStream(httpx.SyncByteStream):
    """A response body that gives its host slot back when it is closed, exactly once."""

    def __init__(self, inner: httpx.SyncByteStream, release: Callable[[], None]) -> None:
        self.inner = inner
        self._release: Callable[[], None] | None = release

    def __iter__(self):
        yield from self.inner

    def close(self) -> None:
        try:
            close = getattr(self.inner, "close", None)
            if close is not None:
                close()
        finally:
            release, self._release = self._release, None
            if release is not None:
                release()


_TIMEOUT_PHASES = {
    httpx.ConnectTimeout: ("connect", "no connection"),
    httpx.ReadTimeout: ("read", "no data"),
    httpx.WriteTimeout: ("write", "the request could not be sent"),
    httpx.PoolTimeout: ("pool", "no free connection"),
}


def naming_url(exc: httpx.TransportError, url: str | httpx.URL, attempts: int | None = None,
               timeouts: dict | None = None) -> httpx.TransportError:
    """`exc` again (same type, so callers catch it as before), its message naming the URL that
    failed (secrets redacted; for a paged source the URL names the page), how long we waited and
    how often we tried. httpx's own message ("The read operation timed out") names neither."""
    where = redact_url(url)
    if where in str(exc):
        return exc
    detail = str(exc) or type(exc).__name__
    phase = next((v for k, v in _TIMEOUT_PHASES.items() if isinstance(exc, k)), None)
    facts = []
    if phase is not None:
        limit = (timeouts or {}).get(phase[0])
        facts.append(f"{phase[1]} within {limit:g} s" if isinstance(limit, (int, float)) else phase[1])
    if attempts:
        facts.append(f"gave up after {attempts} attempt(s)")
    message = f"{where}: {detail}" + (f" ({'; '.join(facts)})" if facts else "")
    try:
        named = type(exc)(message, request=getattr(exc, "_request", None))
    except TypeError:  # a subclass with its own constructor: keep it as it is
        return exc
    return named


class RetryTransport(httpx.BaseTransport):
    """Retries connect errors, timeouts, 429 and 5xx with backoff; caps concurrency per host.

    After the last attempt an error *response* is returned (so it gets archived); a transport
    error is raised.
    """

    def __init__(
        self,
        inner: httpx.BaseTransport,
        policy: HttpPolicy = DEFAULT_POLICY,
        sleep: Callable[[float], None] = time.sleep,
        slots: HostSlots = HOST_SLOTS,
    ) -> None:
        self.inner = inner
        self.policy = policy
        self.sleep = sleep
        self.slots = slots

    def _backoff(self, attempt: int) -> float:
        ceiling = min(self.policy.backoff_max_s, self.policy.backoff_base_s * 2**attempt)
        return random.uniform(ceiling / 2, ceiling)  # "equal jitter"

    def _send(self, request: httpx.Request) -> httpx.Response:
        """One attempt, holding a slot of the host until the response is closed."""
        host = request.url.host
        self.slots.acquire(host, self.policy.per_host_concurrency)
        try:
            response = self.inner.handle_request(request)
        except BaseException:
            self.slots.release(host)
            raise
        if response.is_closed:  # its body is already in memory (a replayed response): nothing in flight
            self.slots.release(host)
        else:
            response.stream = _SlotHeldStream(response.stream, lambda: self.slots.release(host))
        return response

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        attempt = 0
        while True:
            try:
                response = self._send(request)
            except (httpx.ConnectError, httpx.TimeoutException, httpx.RemoteProtocolError) as exc:
                if attempt >= self.policy.max_retries:
                    raise naming_url(exc, request.url, attempt + 1, request.extensions.get("timeout")) from exc
                self.sleep(self._backoff(attempt))
                attempt += 1
                continue
            if response.status_code in RETRY_STATUSES and attempt < self.policy.max_retries:
                wait = _retry_after_seconds(response)
                response.close()  # gives the slot back before waiting
                self.sleep(min(self.policy.backoff_max_s, wait) if wait is not None else self._backoff(attempt))
                attempt += 1
                continue
            return response

    def close(self) -> None:
        self.inner.close()


_ssl_context: ssl.SSLContext | None = None
_ssl_context_guard = threading.Lock()


def shared_ssl_context() -> ssl.SSLContext:
    """One TLS context for every client of the process: building one loads the whole CA bundle
    (~0.3 s), and a day's run builds a client per source, all at once."""
    global _ssl_context
    with _ssl_context_guard:
        if _ssl_context is None:
            _ssl_context = httpx.create_ssl_context()
        return _ssl_context


def network_transport() -> httpx.HTTPTransport:
    """A transport to the real network, with the shared TLS context."""
    return httpx.HTTPTransport(verify=shared_ssl_context())


def build_client(
    transport: httpx.BaseTransport | None = None,
    policy: HttpPolicy = DEFAULT_POLICY,
    sleep: Callable[[float], None] = time.sleep,
) -> httpx.Client:
    """An httpx client with our policy around `transport` (the network when None)."""
    inner = transport or network_transport()
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
    try:
        return _read_response(client, source_id, method, url, cap, spool_to_disk, **kwargs)
    except httpx.TimeoutException as exc:  # a body that stalls half-way: not retried, but named
        raise naming_url(exc, url, timeouts=client.timeout.as_dict()) from exc


def _read_response(client: httpx.Client, source_id: str, method: str, url: str, cap: int,
                   spool_to_disk: bool, **kwargs) -> RawResponse:
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
