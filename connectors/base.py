"""The contract every source follows: what it is, how it fetches, how it parses.

A source is one module in `connectors/` with one `Source` subclass. It declares what it is
(id, kind, providers, URL, key) and offers two steps:

* ``fetch(client, key)`` does the I/O with httpx and *yields* every raw response as it
  arrives, so the caller archives each one before anything is parsed, even when a later page
  fails. Error responses (HTTP 4xx/5xx after retries) are yielded too; they are archived and
  then rejected by ``check_responses``.
* ``parse(responses)`` is pure: recorded bytes in, a polars frame in the common offer schema
  out. It never does I/O, so every parser is tested on recorded bytes.

The common offer schema is ``PARSED_OFFER_SCHEMA``; ``market.rules.finalize_offers``
turns a parsed frame into warehouse rows (canonical GPU, per-GPU price, quarantine).
"""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any, ClassVar, Iterator, Literal

import httpx
import polars as pl

from market.offer import PARSED_OFFER_SCHEMA

SourceKind = Literal["direct", "aggregator", "specs"]


class SourceError(Exception):
    """A source's fetch or parse failed; the message names the source and what to do."""


class ParseError(SourceError):
    """The recorded bytes do not have the shape the parser expects."""


class MissingKey(SourceError):
    """A source that needs an API key was run without one."""


@dataclass(frozen=True)
class RawResponse:
    """One HTTP exchange, as archived. The body is in memory, or on disk for huge files."""

    source: str
    method: str
    url: str  # secrets redacted (see connectors.http.redact_url)
    status: int
    headers: dict[str, str]  # secrets dropped
    fetched_at: datetime  # UTC; for replayed responses, when they were really recorded
    body: bytes | None = None
    body_path: Path | None = None  # large bodies (AWS price list) are spooled to a file
    request_body: bytes | None = None
    _sha256: str | None = field(default=None, compare=False, repr=False)
    _size: int | None = field(default=None, compare=False, repr=False)  # body bytes, when known

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "")

    @property
    def size(self) -> int:
        """Bytes of the body as served (not of its compressed archive file)."""
        if self.body is not None:
            return len(self.body)
        if self._size is not None:
            return self._size
        assert self.body_path is not None
        if self.body_path.suffix in ARCHIVE_SUFFIXES:
            with self.open() as stream:
                size = sum(len(chunk) for chunk in iter(lambda: stream.read(1 << 22), b""))
        else:
            size = self.body_path.stat().st_size
        object.__setattr__(self, "_size", size)
        return size

    @property
    def sha256(self) -> str:
        if self._sha256 is not None:
            return self._sha256
        digest = hashlib.sha256()
        with self.open() as stream:
            for chunk in iter(lambda: stream.read(1 << 20), b""):
                digest.update(chunk)
        object.__setattr__(self, "_sha256", digest.hexdigest())
        return self._sha256  # type: ignore[return-value]

    @property
    def id(self) -> str:
        """Stable id of this exchange: same request and same bytes give the same id."""
        key = "\x1f".join(
            [
                self.source,
                self.method,
                self.url,
                hashlib.sha256(self.request_body or b"").hexdigest(),
                self.sha256,
            ]
        )
        return hashlib.sha256(key.encode()).hexdigest()[:24]

    def open(self) -> IO[bytes]:
        """A binary stream of the body, decompressed if it is an archive file (.zst, or .gz
        from before zstd). A damaged or cut archive file raises ParseError while reading."""
        if self.body is not None:
            return io.BytesIO(self.body)
        assert self.body_path is not None, "RawResponse has neither body nor body_path"
        if self.body_path.suffix in ARCHIVE_SUFFIXES:
            from connectors.bodies import ArchivedBody

            return ArchivedBody(self.body_path, f"{self.source}: {self.url}")
        return self.body_path.open("rb")

    def read(self) -> bytes:
        if self.body is not None:
            return self.body
        with self.open() as stream:
            return stream.read()

    def json(self) -> Any:
        """The body as JSON, or a ParseError that says what came instead (an HTML page, an empty
        body, a body cut before its end: JSON only parses whole, so a cut never half-lands)."""
        from connectors.bodies import complete_body  # bodies builds on this module

        data = complete_body(self)
        try:
            return json.loads(data)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            head = data[:80].decode("utf-8", "replace").strip().lower()
            if head.startswith("<!doctype html") or head.startswith("<html"):
                what = "an HTML page instead of JSON"
            elif not data.strip():
                what = "an empty body"
            else:
                what = f"a body that is not valid JSON ({exc}); it may be truncated"
            raise ParseError(
                f"{self.source}: {self.url} returned {what} ({len(data)} bytes)"
            ) from exc


# The raw archive's body files (warehouse.store writes them): zstd since issue 12, gzip before.
# Both stay readable; which codec and level, and why, is in warehouse/store.py.
ZSTD_SUFFIX, GZIP_SUFFIX = ".zst", ".gz"
ARCHIVE_SUFFIXES = (ZSTD_SUFFIX, GZIP_SUFFIX)


@dataclass
class FetchContext:
    """What a fetch may need besides the HTTP client."""

    api_key: str | None = None  # the value of the source's `key_env`
    secrets: dict[str, str] = field(default_factory=dict)  # further credentials, by env var name
    progress: Any = None  # callable(str) for human progress lines; may be None
    warnings: list[str] = field(default_factory=list)

    def say(self, message: str) -> None:
        if self.progress is not None:
            self.progress(message)

    def warn(self, message: str) -> None:
        """A partial gap that does not fail the source (a cloud's catalog missing, an optional
        document unavailable): said now, and kept in ingest_runs.message for the day."""
        self.warnings.append(message)
        self.say(message)


class Source:
    """Base class of every connector. Subclasses set the class attributes and two methods."""

    id: ClassVar[str]
    name: ClassVar[str]
    kind: ClassVar[SourceKind]
    providers: ClassVar[tuple[str, ...]]  # providers it covers ("*" style lists are spelled out)
    url: ClassVar[str]  # the public endpoint or catalog it reads
    docs_url: ClassVar[str] = ""
    key_env: ClassVar[str | None] = None  # environment variable holding the API key, if needed
    extra_key_envs: ClassVar[tuple[str, ...]] = ()  # further credentials (e.g. an OAuth client id)
    description: ClassVar[str] = ""

    def fetch(self, client: httpx.Client, ctx: FetchContext) -> Iterator[RawResponse]:
        raise NotImplementedError

    def parse(self, responses: list[RawResponse]) -> pl.DataFrame:
        raise NotImplementedError

    def parse_isolated(self, responses: list[RawResponse]) -> tuple[pl.DataFrame, list[str]]:
        """`parse`, plus the files that failed alone without sinking the rest (see parse_each).

        Sources made of independent files (one per cloud or provider) override this; for the
        others a failure is the whole source's, so this default has no partial failures.
        """
        return self.parse(responses), []

    def __repr__(self) -> str:  # pragma: no cover - debugging aid
        return f"<Source {self.id}>"


def check_responses(source_id: str, responses: list[RawResponse]) -> None:
    """Reject a fetch that has nothing usable: no responses, or any non-2xx response."""
    if not responses:
        raise SourceError(f"{source_id}: the fetch returned no responses")
    for raw in responses:
        if not 200 <= raw.status < 300:
            snippet = raw.read()[:200].decode("utf-8", "replace").strip().replace("\n", " ")
            raise SourceError(f"{source_id}: HTTP {raw.status} from {raw.url}: {snippet!r}")


def require_fields(source_id: str, record: dict, fields: tuple[str, ...], where: str) -> None:
    """A clear error naming the field when a record lost one we rely on."""
    missing = [f for f in fields if f not in record]
    if missing:
        raise ParseError(
            f"{source_id}: required field(s) {', '.join(repr(m) for m in missing)} missing in "
            f"{where}; the source may have changed its format"
        )


def require_columns(source_id: str, columns: list[str], needed: tuple[str, ...], where: str) -> None:
    """Same as require_fields, for CSV headers: parse by name, fail clearly on a missing one."""
    missing = [c for c in needed if c not in columns]
    if missing:
        raise ParseError(
            f"{source_id}: column(s) {', '.join(repr(m) for m in missing)} missing in {where} "
            f"(found: {', '.join(columns)}); the source may have renamed them"
        )


def number(source_id: str, value: Any, field: str, where: str) -> float:
    """A required numeric field as float, or a ParseError naming the field and the value."""
    try:
        return float(value)
    except (TypeError, ValueError) as exc:
        raise ParseError(f"{source_id}: {field!r} is not a number ({value!r}) in {where}") from exc


def optional_number(value: Any) -> float | None:
    """A descriptive numeric field (vCPUs, RAM) as float, or None when absent or not a number."""
    try:
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def json_object(source_id: str, raw: RawResponse) -> dict:
    """The body as a JSON object (dict), or a ParseError saying what came instead."""
    body = raw.json()
    if not isinstance(body, dict):
        raise ParseError(f"{source_id}: {raw.url} is not a JSON object (got {type(body).__name__})")
    return body


def offers_frame(rows: list[dict], source_id: str) -> pl.DataFrame:
    """Build a parsed-offer frame from row dicts; absent optional columns become null."""
    if not rows:
        return pl.DataFrame(schema=PARSED_OFFER_SCHEMA)
    normalised = [{col: row.get(col) for col in PARSED_OFFER_SCHEMA} for row in rows]
    try:
        return pl.DataFrame(normalised, schema=PARSED_OFFER_SCHEMA)
    except Exception as exc:  # polars raises several types for bad values
        raise ParseError(f"{source_id}: could not build the offer table: {exc}") from exc


class FileFailure(str):
    """One failed file's message, as `parse_isolated` lists it, carrying the file's URL so the
    ingest step keeps that file's earlier rows of the day instead of replacing them by none."""

    url: str

    def __new__(cls, message: str, url: str) -> "FileFailure":
        failure = super().__new__(cls, message)
        failure.url = url
        return failure


def parse_each(
    source_id: str, responses: list[RawResponse], parse_one, *, name=lambda url: url,
) -> tuple[list[dict], list[str]]:
    """Parse responses one at a time: a bad one fails alone, its reason kept.

    Returns (rows of the good responses, one message per failed response). When every
    response fails, the source has nothing readable: a ParseError naming each failure.
    """
    rows: list[dict] = []
    failures: list[str] = []
    for raw in responses:
        try:
            rows.extend(parse_one(raw))
        except (ParseError, UnicodeDecodeError) as exc:
            failures.append(FileFailure(f"{name(raw.url)}: {exc}", raw.url))
    if responses and len(failures) == len(responses):
        raise ParseError(f"{source_id}: no response could be read: " + "; ".join(failures))
    return rows, failures


def provenance(raw: RawResponse) -> dict:
    """The three columns that tie a parsed row to the bytes it came from."""
    return {
        "source_url": raw.url,
        "observed_at": raw.fetched_at,
        "raw_response_id": raw.id,
    }
