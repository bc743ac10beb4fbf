"""Reading a response body whole, or refusing it: the completeness checks every source uses.

A body cut in transfer must fail its file with a reason naming the source and URL, never land
as a shorter list of offers: JSON only parses whole (`RawResponse.json`), and line-oriented
text (CSV, YAML) is checked here for the signatures of a cut (no final newline, a short last
row, a Content-Length that does not match).
"""

from __future__ import annotations

import csv
import io
import zlib
from dataclasses import dataclass
from pathlib import Path

import zstandard

from connectors.base import GZIP_SUFFIX, ParseError, RawResponse, require_columns


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
