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

import csv
import hashlib
import io
import json
import zlib
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any, ClassVar, Iterator, Literal

import httpx
import polars as pl
import zstandard

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


class ArchivedBody(io.BufferedIOBase):
    """A compressed archive file read as the plain body, streaming, in bounded memory.

    Decompression runs without the GIL (zlib and zstd release it), so a reader thread can
    inflate while another thread works on what came before. A file that ends before its
    compressed stream does (a cut copy, a full disk), or whose bytes do not decompress, raises
    ParseError naming the response and the file: never a silently shortened body, which
    ``zstandard``'s own stream reader would give for a cut file.
    """

    _INPUT_BYTES = 1 << 16  # compressed bytes per step: ~1-2 MB of CSV out at the ratios we see

    def __init__(self, path: Path, label: str) -> None:
        super().__init__()
        self.path, self.label = path, label
        self._file = path.open("rb")
        self._gzip = path.suffix == GZIP_SUFFIX
        self._decoder = self._new_decoder()
        self._pending: list[bytes] = []  # decompressed, not yet returned
        self._pending_bytes = 0
        self._ended = False

    def _new_decoder(self):
        if self._gzip:
            return zlib.decompressobj(wbits=zlib.MAX_WBITS | 16)
        return zstandard.ZstdDecompressor().decompressobj()

    def _damaged(self, why: str) -> ParseError:
        return ParseError(
            f"{self.label}: the archived body {self.path.name} {why}; re-fetch the day "
            "(the archive file is cut or damaged)"
        )

    def _step(self) -> None:
        """Decompress one more piece of input into _pending, or mark the end."""
        data = self._file.read(self._INPUT_BYTES)
        if not data:
            if not self._decoder.eof:
                raise self._damaged("ends before the end of its compressed stream")
            self._ended = True
            return
        try:
            while data:
                out = self._decoder.decompress(data)
                if out:
                    self._pending.append(out)
                    self._pending_bytes += len(out)
                if not self._decoder.eof:
                    break
                # A member/frame ended; concatenated ones (gzip allows them, so does zstd) go on.
                data = self._decoder.unused_data
                self._decoder = self._new_decoder()
                if not data:
                    data = self._file.read(self._INPUT_BYTES)
                    if not data:
                        self._ended = True
                        return
        except (zlib.error, zstandard.ZstdError) as exc:
            raise self._damaged(f"does not decompress ({exc})") from exc

    def _take(self, size: int) -> bytes:
        if size >= self._pending_bytes:
            out = self._pending[0] if len(self._pending) == 1 else b"".join(self._pending)
            self._pending, self._pending_bytes = [], 0
            return out
        joined = b"".join(self._pending)
        self._pending, self._pending_bytes = [joined[size:]], len(joined) - size
        return joined[:size]

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            while not self._ended:
                self._step()
            return self._take(self._pending_bytes)
        while self._pending_bytes < size and not self._ended:
            self._step()
        return self._take(size)

    def read1(self, size: int = -1) -> bytes:
        """Up to `size` bytes from one decompression step, handed over without a copy when the
        step's output fits (the AWS CSV scan reads this way); b"" only at the end."""
        while not self._pending_bytes and not self._ended:
            self._step()
        if not self._pending:
            return b""
        first = self._pending[0]
        if size < 0 or len(first) <= size:
            del self._pending[0]
            self._pending_bytes -= len(first)
            return first
        self._pending[0] = first[size:]
        self._pending_bytes -= size
        return first[:size]

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        if not self.closed:
            self._file.close()
        super().close()


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


def complete_body(raw: RawResponse) -> bytes:
    """The body, refused when it is shorter (or longer) than the Content-Length announced.

    A recorded or served header is checked only for an unencoded body: with gzip/br the header
    counts the compressed bytes, which httpx has already decoded (and h11 checks on the wire).
    """
    data = raw.read()
    declared = raw.headers.get("content-length", "").strip()
    encoding = raw.headers.get("content-encoding", "").strip().lower()
    if declared.isdigit() and encoding in ("", "identity") and int(declared) != len(data):
        raise ParseError(
            f"{raw.source}: {raw.url} announced {int(declared):,} bytes (Content-Length) but "
            f"{len(data):,} arrived; the body is truncated"
        )
    return data


def _looks_like_html(text: str) -> bool:
    head = text[:200].lstrip().lower()
    return head.startswith("<!doctype html") or head.startswith("<html")


def complete_text(raw: RawResponse, what: str, *, data: bytes | None = None, where: str | None = None) -> str:
    """A line-oriented text body (CSV, YAML) decoded, or a ParseError naming the source and URL
    when it is empty, an HTML page, not UTF-8, or cut before its end.

    Every such file we read ends with a newline (the CSV and YAML writers of the catalogs all
    write one); a body that stops without one stopped mid-record: the transfer was cut. A cut
    that happens to fall on a line end cannot be seen here; the Content-Length check catches
    it where the server announced one.
    """
    where = where or raw.url
    if data is None:
        data = complete_body(raw)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ParseError(f"{raw.source}: {where} is not UTF-8 text ({exc}); it may be damaged") from exc
    if not text.strip():
        raise ParseError(f"{raw.source}: {where} returned an empty body ({len(data)} bytes) instead of {what}")
    if _looks_like_html(text):
        raise ParseError(f"{raw.source}: {where} returned an HTML page instead of {what} ({len(data)} bytes)")
    if not text.endswith(("\n", "\r")):
        last_line = text.count("\n") + 1
        raise ParseError(
            f"{raw.source}: {where} ends mid-record at line {last_line:,} with no final newline "
            f"({len(data):,} bytes); the body is truncated"
        )
    return text


@dataclass(frozen=True)
class CsvRecord:
    """One data line of a CSV: its line number, its cells by header name, and what is wrong
    with its shape (None when it has exactly one cell per header)."""

    line: int
    cells: dict[str, str]
    problem: str | None = None


def csv_records(
    raw: RawResponse, required: tuple[str, ...] = (), *, data: bytes | None = None, where: str | None = None,
) -> tuple[list[str], list[CsvRecord]]:
    """(header, records) of a CSV body, read by header name, refusing an incomplete file.

    The file fails (ParseError naming the source, the URL and the line) when it is empty, HTML,
    lacks a required column, ends without a final newline, or its LAST line has the wrong
    number of cells: the signatures of a cut body, which `csv.DictReader` would pad into a
    half-row. A short or long line elsewhere is kept with its `problem`, for the connector to
    quarantine: one bad line is that line's fault, not the file's.
    """
    where = where or raw.url
    text = complete_text(raw, "a CSV", data=data, where=where)
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
        records: list[CsvRecord] = []
        for cells in reader:
            if not cells:
                continue  # a blank line (DictReader skips them too)
            problem = None
            if len(cells) != len(header):
                more_or_fewer = "more" if len(cells) > len(header) else "fewer"
                problem = f"the line has {more_or_fewer} cells than the header ({len(cells)} for {len(header)})"
            records.append(CsvRecord(reader.line_num, dict(zip(header, cells)), problem))
    except csv.Error as exc:
        raise ParseError(f"{raw.source}: {where} is not a readable CSV at line {reader.line_num:,}: {exc}") from exc
    require_columns(raw.source, header, required, where)
    if records and records[-1].problem:
        raise ParseError(
            f"{raw.source}: {where} ends with an incomplete row (line {records[-1].line:,}: "
            f"{records[-1].problem}); the body is truncated"
        )
    return header, records


def provenance(raw: RawResponse) -> dict:
    """The three columns that tie a parsed row to the bytes it came from."""
    return {
        "source_url": raw.url,
        "observed_at": raw.fetched_at,
        "raw_response_id": raw.id,
    }
