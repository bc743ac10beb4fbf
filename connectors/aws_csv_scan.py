"""The line scan of an AWS price-list CSV: which raw lines may be GPU rows, found before any
CSV parsing (connectors/aws_price_list.py parses them and applies the rules).

A region file is hundreds of megabytes; its GPU rows are a few percent of the lines. Parsing
all 91 columns of every line (what polars, pandas or DuckDB would do) costs far more than
inflating the file, so the scan works on raw bytes:

1. The body is inflated by a reader thread (``read_ahead``), a few blocks ahead of the scan:
   zstd and zlib release the GIL, so inflating the next block runs on the other core while
   this one is scanned. Memory is those few blocks, whatever the file size. Between two steps
   the reader needs the GIL back, which a thread busy in Python gives up only every 5 ms (the
   switch interval), so the archive is inflated in large steps (``_LargeStepBody``). (Giving
   the GIL up from the scan with ``os.sched_yield`` was measured slower on a shared machine:
   it gives the core away too.)
2. A line is a candidate when a field starts with a GPU family (``,"p5``, ``,"trn1``, ...).
   That is an attribute of the product, and a SKU is one product whose every row repeats its
   attributes (the CSV is the product x term join of the JSON offer file), so the test runs
   once per run of a SKU, on its first row (AWS writes a product's ~21 rows one after another:
   on-demand, then the reserved terms). Every other line of the run is still looked at, by C:
   one memchr for its end and one memcmp proving it starts with the run's SKU field; the first
   line that does not starts the next run, and gets the GPU test. A row of another SKU between
   two rows of one SKU is therefore tested itself, never taken into the run (tests pin it).
   The SKU must be a whole field, quoted or not, with no quote or comma in it; otherwise
   ('"a,' is a prefix of '"a,b"' and of '"a,c"') each line is a run of its own.
   Skipping a run unseen (one ``rfind`` of ``\\n"<SKU>",`` over a window, as awsperf first
   did) was faster but read a foreign row inside a run as part of it. Proving such a skipped
   run with C counts (lines = ``count(b"\\n")`` = 1 + ``count(b"\\n" + sku)``) was measured
   slower than this walk: the counts visit every byte at 1-3 GB/s, memchr skips to the newline.
3. Candidate lines, in batches, go through polars' CSV reader under the header of the file
   (connectors/aws_price_list.py); those whose Instance Type is a GPU type are read.

Step 2 keeps a superset of what step 3 reads, so the rows are exactly those of a full parse
(tests/test_connector_aws.py compares both on generated files, column orders included).
Where the file breaks the layout the shortcut needs (the header is not quoted, SKU is not the
first column, the Instance Type column is first), the scan drops it: a looser pattern, or the
GPU test on every line. Slower, never different.

Measured on benchmarks/aws_price_list.py's 361 MB file held in memory (2026-12-02, shared
machine, 2 cores, best of 6): the unproven run skip 0.28 s (unsafe), the skip proven by the two
counts 0.68 s, this walk 0.47 s; the regex GPU test on the ~42k first lines is ~0.1 s of each.
"""

from __future__ import annotations

import itertools
import queue
import re
import threading
from typing import IO, Iterator

from connectors.base import ARCHIVE_SUFFIXES, ParseError, RawResponse
from connectors.bodies import ArchivedBody

READ_BLOCK_BYTES = 4 << 20  # at most this many inflated bytes per block handed to the scan
READ_AHEAD_BLOCKS = 2  # blocks the reader thread may have ready before the scan takes them
# A SKU field a run may be joined by: whole (quoted, or not) with neither quote nor comma in it.
# '"a,' of '"a,b"' is no whole field: rows of '"a,c"' start with it too.
_WHOLE_SKU_FIELD = re.compile(rb'(?:"[^",\n]+"|[^",\n]+),').fullmatch


class _LargeStepBody(ArchivedBody):
    """An archived body inflated in larger steps: each step is one GIL-free call into zstd
    (or zlib), and between steps the reader thread must win the GIL back from the scan.
    128 KiB of archive is ~2.6 MB of CSV, about a block (``READ_BLOCK_BYTES``)."""

    _INPUT_BYTES = 1 << 17


def open_body(raw: RawResponse) -> IO[bytes]:
    """``raw.open()``, with an archive file read in large steps (``_LargeStepBody``)."""
    if raw.body is None and raw.body_path is not None and raw.body_path.suffix in ARCHIVE_SUFFIXES:
        return _LargeStepBody(raw.body_path, f"{raw.source}: {raw.url}")
    return raw.open()


class read_ahead:
    """``with read_ahead(stream) as blocks:`` the stream's bytes in blocks of about
    ``READ_BLOCK_BYTES``, read (and so inflated) by a thread at most ``READ_AHEAD_BLOCKS``
    ahead. An error of the stream (a damaged archive: ParseError) is raised where the block
    it stopped would have come. Leaving the ``with`` stops and joins the thread, so the
    stream can be closed after it."""

    def __init__(self, stream: IO[bytes], block_bytes: int | None = None) -> None:
        self._stream, self._size = stream, block_bytes or READ_BLOCK_BYTES
        self._queue: queue.Queue = queue.Queue(maxsize=READ_AHEAD_BLOCKS)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._work, name="aws-csv-read-ahead", daemon=True)

    def _put(self, item: object) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _work(self) -> None:
        read = getattr(self._stream, "read1", self._stream.read)  # a step's output, not copied to a size
        try:
            while data := read(self._size):
                if not self._put(data):
                    return
            self._put(b"")
        except BaseException as exc:  # handed to the scan, raised there
            self._put(exc)

    def _blocks(self) -> Iterator[bytes]:
        while True:
            item = self._queue.get()
            if isinstance(item, BaseException):
                raise item
            if not item:
                return
            yield item

    def __enter__(self) -> Iterator[bytes]:
        self._thread.start()
        return self._blocks()

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        while self._thread.is_alive():
            try:
                self._queue.get(timeout=0.05)  # unblock a put waiting for room
            except queue.Empty:
                pass
        self._thread.join()


def line_blocks(chunks: Iterator[bytes], label: str) -> Iterator[tuple[bytes, int, int]]:
    """``(block, lo, hi)`` with ``block[lo:hi]`` whole lines, in file order.

    A body whose last line has no newline raises ParseError at the end: AWS ends every row with
    one, so a body that stops mid-row was cut off.
    """
    carry = b""  # the start of a line whose end is in the next chunk
    for data in chunks:
        first = data.find(b"\n")
        if first < 0:
            carry += data
            continue
        lo = 0
        if carry:
            joined = carry + data[: first + 1]
            yield joined, 0, len(joined)
            lo, carry = first + 1, b""
        hi = data.rfind(b"\n") + 1
        if hi > lo:
            yield data, lo, hi
        carry = data[hi:]
    if carry:
        raise ParseError(f"{label} does not end with a complete row; the body is truncated")


def header_lines(
    blocks: Iterator[tuple[bytes, int, int]], count: int, label: str
) -> tuple[list[bytes], Iterator[tuple[bytes, int, int]]]:
    """The first ``count`` lines (the disclaimer lines and the header line), and the blocks after them."""
    lines: list[bytes] = []
    for block, lo, hi in blocks:
        while len(lines) < count and lo < hi:
            end = block.index(b"\n", lo, hi) + 1
            lines.append(block[lo:end])
            lo = end
        if len(lines) == count:
            return lines, itertools.chain([(block, lo, hi)], blocks)
    raise ParseError(f"{label} ends before its header line (line {count}); the body is truncated")


class CandidateLines:
    """Finds, in blocks of raw lines, the lines that may be GPU rows (see the module docstring)."""

    def __init__(self, family_pattern: str, header: list[str], header_line: bytes, type_column: str) -> None:
        # A field starting with a GPU family. Where every field is quoted, the pattern starts
        # with the literal ',"', which the regex engine looks for first: measured 4-5x faster
        # per line than a substring search per family prefix.
        quoted_type = header_line.startswith(b'"') and header.index(type_column) > 0
        if quoted_type:
            self._field = re.compile(rb',"' + family_pattern.encode()).search
        else:
            self._field = re.compile(rb'(?:^|,)"?' + family_pattern.encode(), re.MULTILINE).search
        self._any_field = re.compile(rb'(?:^|,)"?' + family_pattern.encode(), re.MULTILINE).search
        self.sku_first = header[0] == "SKU"

    def scan(self, block: bytes, lo: int, hi: int) -> list[tuple[int, int]]:
        """The candidate lines of ``block[lo:hi]`` (whole lines), in order, as (start, end) spans
        of consecutive lines: copied once into the batch, never a bytes object per line."""
        if self.sku_first:
            return self._scan_sku_runs(block, lo, hi)
        return self._scan_lines(block, lo, hi)

    def _scan_sku_runs(self, block: bytes, lo: int, hi: int) -> list[tuple[int, int]]:
        """The hot loop when SKU is the first column: per run of a SKU, the GPU test on its
        first line; each line after it joins the run only if it starts with the same whole SKU
        field (module docstring, step 2). Every line is looked at: one memchr and one memcmp."""
        find, startswith = block.find, block.startswith
        gpu_field, whole_sku = self._field, _WHOLE_SKU_FIELD
        found: list[tuple[int, int]] = []
        start = lo
        while start < hi:
            first_end = end = find(b"\n", start, hi) + 1  # every line of the range ends with one
            sku = block[start : find(b",", start, first_end) + 1]  # the SKU field and its comma
            if startswith(sku, end) and whole_sku(sku):  # a run of more than one line
                while end < hi and startswith(sku, end):
                    end = find(b"\n", end, hi) + 1
            if gpu_field(block, start, first_end) is not None:
                if found and found[-1][1] == start:
                    found[-1] = (found[-1][0], end)
                else:
                    found.append((start, end))
            start = end
        return found

    def _scan_lines(self, block: bytes, lo: int, hi: int) -> list[tuple[int, int]]:
        """Without SKU first: every line that has a field starting with a GPU family."""
        find, rfind, search = block.find, block.rfind, self._any_field
        found = []
        pos = lo
        while (hit := search(block, pos, hi)) is not None:
            start = rfind(b"\n", lo, hit.start() + 1) + 1 or lo
            end = find(b"\n", hit.end(), hi) + 1  # every line of the range ends with one
            found.append((start, end))
            pos = end
        return found
