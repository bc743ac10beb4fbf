"""The warehouse on disk: one writer at a time, readers on a published copy.

Files, all beside each other (the directory of ``path``)::

    gpu_prices.duckdb            the working database; only the writer opens it
    gpu_prices.published.duckdb  the copy readers open read-only (dashboard, `gpu-prices sql`)
    raw/ab/abcdef....zst         content-addressed archive of every raw response body
                                 (named by the sha256 of the body; .gz files from before
                                 zstd stay where they are and are read as they are)
    gpu_prices.lock              serialises writers across processes

DuckDB allows one read-write process *or* many readers, never both. So the writer never
touches the file readers use: `publish()` checkpoints the working file, copies it and swaps
the copy in with an atomic rename. A reader holding the old file keeps reading it, and no
reader ever takes the writer's lock.

One writer per run: inside `Warehouse.session()` (a Dagster run holds one through
`WarehouseResource`, `gpu-prices ingest` one around all its days) every `writer()` shares one
read-write connection, opened at the first write, migrated once, and closed when the session
ends; threads of the process take turns on it. Outside a session `writer()` opens and closes
its own connection (one-off commands, tests).
"""

from __future__ import annotations

import fcntl
import logging
import os
import shutil
import threading
import time
from contextlib import contextmanager
from datetime import date, datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

import duckdb
import polars as pl
import zstandard

from connectors.base import ARCHIVE_SUFFIXES, ZSTD_SUFFIX, RawResponse
from market.offer import OFFER_COLUMNS, QUARANTINE_COLUMNS

if TYPE_CHECKING:  # the domain's result type; warehouse only reads its frames
    from market.rules import FinalizedOffers
from warehouse.schema import migrate

# Relative to the folder the command runs in: the project root for `make demo`, any folder for
# an installed package. Never inside the package itself, which may be read-only.
DEFAULT_WAREHOUSE = Path("data") / "gpu_prices.duckdb"
WAREHOUSE_ENV = "GPU_PRICES_WAREHOUSE"

# How bodies are compressed in the raw archive, chosen by measurement (benchmarks/aws_price_list.py
# prints the table; the numbers are in its docstring): zstd level 1 archives a 361 MB AWS region
# CSV ~7x faster than the gzip level 6 it replaced (1.6 s against 10.9 s there), in a file no
# larger (17.4 MB against 17.6 MB). zstd level 3 took 2x as long for a 5% larger file, level 6
# 5x as long to save 13%. The checksum makes a damaged file fail loudly when read.
ARCHIVE_ZSTD_LEVEL = 1
ARCHIVE_ZSTD_THREADS = 0  # 0 = compress in the calling thread; sources archive concurrently

# Tables rebuilt per day from offers (warehouse.derived).
DERIVED_TABLES = ("cost_metrics", "price_index")

log = logging.getLogger("gpu_prices.warehouse")


def resolve_path(path: str | Path | None = None) -> Path:
    """--warehouse, else $GPU_PRICES_WAREHOUSE, else data/gpu_prices.duckdb in the current folder."""
    chosen = path or os.environ.get(WAREHOUSE_ENV) or DEFAULT_WAREHOUSE
    return Path(chosen).expanduser().resolve()


def published_path(path: Path) -> Path:
    return path.with_name(path.stem + ".published.duckdb")


class Warehouse:
    def __init__(self, path: str | Path | None = None) -> None:
        self.path = resolve_path(path)
        self.raw_dir = self.path.parent / "raw"
        self.lock_path = self.path.with_suffix(".lock")
        self.published = published_path(self.path)

    # -- writing ---------------------------------------------------------------------------

    @contextmanager
    def writer(self) -> Iterator["WarehouseWriter"]:
        """The only way to write. Blocks until other writers (other processes, other threads of
        this one) finish; inside a session it reuses the session's connection."""
        session = _session_for(self.path)
        if session is None:
            with self.session():
                with self.writer() as w:
                    yield w
            return
        with session.turn() as con:
            yield WarehouseWriter(self, con)

    @contextmanager
    def session(self) -> Iterator["Warehouse"]:
        """Hold one writer for everything inside (a run, an ingest of many days). Re-entrant.

        The connection opens lazily, at the first `writer()`: a step that never writes never
        takes the lock, and a fetch that writes only at its end holds it only then (which is what
        lets the multiprocess executor's steps overlap)."""
        with _SESSIONS_GUARD:
            session = _session_for(self.path)
            if session is None:
                session = _WriterSession(self.path, self.lock_path)
                _SESSIONS[self.path] = session
            session.users += 1
        try:
            yield self
        finally:
            with _SESSIONS_GUARD:
                session.users -= 1
                last = session.users == 0
                if last:
                    _SESSIONS.pop(self.path, None)
            if last:
                session.close()

    def publish(self) -> Path:
        """Copy the working database to the published file readers use, atomically."""
        # Under the writer's turn no other write can land between the checkpoint and the copy,
        # and the checkpoint leaves every committed row in the main file (nothing in the WAL).
        with self.writer() as w:
            w.con.execute("CHECKPOINT")
            staging = self.published.with_suffix(".staging")
            shutil.copyfile(self.path, staging)
            os.replace(staging, self.published)
        return self.published

    # -- the raw archive -------------------------------------------------------------------

    def body_file(self, sha256: str) -> Path:
        """Where a body with this sha256 is stored: the existing file (a .gz from before zstd
        counts: same bytes, same entry), else the .zst file it will be written to."""
        stem = self.raw_dir / sha256[:2] / sha256
        for suffix in ARCHIVE_SUFFIXES:
            existing = stem.with_suffix(suffix)
            if existing.exists():
                return existing
        return stem.with_suffix(ZSTD_SUFFIX)

    def store_body(self, raw: RawResponse) -> Path:
        """Write the body into the content store once (same bytes, same file)."""
        target = self.body_file(raw.sha256)
        if target.exists():
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = target.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
        compressor = zstandard.ZstdCompressor(
            level=ARCHIVE_ZSTD_LEVEL, write_checksum=True, threads=ARCHIVE_ZSTD_THREADS
        )
        try:
            with raw.open() as src, staging.open("wb") as dst:
                compressor.copy_stream(src, dst, read_size=1 << 20, write_size=1 << 20)
            os.replace(staging, target)
        finally:
            staging.unlink(missing_ok=True)
        return target

    def load_raw(self, row: dict) -> RawResponse:
        """Rebuild an archived RawResponse (body streamed from the store, not loaded)."""
        return RawResponse(
            source=row["source"],
            method=row["method"],
            url=row["url"],
            status=row["status"],
            headers={"content-type": row["content_type"] or ""},
            fetched_at=row["fetched_at"],
            body_path=self.raw_dir / row["body_file"],
            request_body=row["request_body"].encode() if row["request_body"] else None,
            _sha256=row["sha256"],
            _size=row.get("size_bytes"),
        )


class _WriterSession:
    """This process's read-write connection to one warehouse file, and the turns on it.

    The file lock (flock, across processes) is taken when the connection opens and released
    when it closes; the re-entrant `guard` gives this process's threads one turn at a time, so
    a transaction of one thread never interleaves with another's statements."""

    def __init__(self, path: Path, lock_path: Path) -> None:
        self.path = path
        self.lock_path = lock_path
        self.pid = os.getpid()
        self.users = 0
        self.guard = threading.RLock()
        self.con: duckdb.DuckDBPyConnection | None = None
        self._lock_file = None

    @contextmanager
    def turn(self) -> Iterator[duckdb.DuckDBPyConnection]:
        with self.guard:
            if self.con is None:
                self._open()
            yield self.con

    def _open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        lock_file = self.lock_path.open("a")
        try:
            waited = time.perf_counter()
            fcntl.flock(lock_file, fcntl.LOCK_EX)
            opened = time.perf_counter()
            con = duckdb.connect(str(self.path))
            try:
                migrate(con)
            except BaseException:
                con.close()
                raise
        except BaseException:
            lock_file.close()  # closing the file releases the flock
            raise
        log.debug("writer opened on %s (waited %.3fs for the lock, opened and migrated in %.3fs)",
                  self.path, opened - waited, time.perf_counter() - opened)
        self._lock_file, self.con = lock_file, con

    def close(self) -> None:
        with self.guard:
            if self.con is not None:
                try:
                    self.con.close()
                finally:
                    self.con = None
                    fcntl.flock(self._lock_file, fcntl.LOCK_UN)
                    self._lock_file.close()
                    self._lock_file = None


# The open sessions of this process, by warehouse file.
_SESSIONS: dict[Path, _WriterSession] = {}
_SESSIONS_GUARD = threading.Lock()


def _session_for(path: Path) -> _WriterSession | None:
    session = _SESSIONS.get(path)
    # A forked child inherits the parent's table but not its right to the connection.
    return session if session is not None and session.pid == os.getpid() else None


class WarehouseWriter:
    """Write operations on an open read-write connection (see Warehouse.writer)."""

    def __init__(self, warehouse: Warehouse, con: duckdb.DuckDBPyConnection) -> None:
        self.warehouse = warehouse
        self.con = con

    def archive(self, raw: RawResponse, snapshot_date: date) -> str:
        """Archive one raw response (body to the store, metadata to raw_responses). Idempotent."""
        stored = self.warehouse.store_body(raw)
        object.__setattr__(raw, "_size", raw.size)  # the body's bytes, before body_path moves to the archive file
        if raw.body_path is not None and raw.body_path.parent != self.warehouse.raw_dir and raw.body_path.suffix == ".body":
            raw.body_path.unlink(missing_ok=True)  # a spooled temp file; the store has it now
            object.__setattr__(raw, "body_path", stored)
        self.con.execute(
            """
            INSERT OR REPLACE INTO raw_responses
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, now())
            """,
            [
                raw.id,
                snapshot_date,
                raw.source,
                raw.method,
                raw.url,
                raw.status,
                raw.fetched_at,
                raw.content_type,
                raw.sha256,
                raw.size,
                str(stored.relative_to(self.warehouse.raw_dir)),
                raw.request_body.decode("utf-8", "replace") if raw.request_body else None,
            ],
        )
        return raw.id

    def raw_responses(self, snapshot_date: date, ids: list[str]) -> list[RawResponse]:
        """The archived responses with these ids, in the given order."""
        if not ids:
            return []
        rows = self.con.sql(
            "SELECT * FROM raw_responses WHERE snapshot_date = $d AND list_contains($ids, id)",
            params={"d": snapshot_date, "ids": ids},
        ).pl().to_dicts()
        by_id = {r["id"]: r for r in rows}
        return [self.warehouse.load_raw(by_id[i]) for i in ids if i in by_id]

    def replace_offers(
        self, snapshot_date: date, source: str, finalized: "FinalizedOffers", *, keep_urls: list[str] | tuple = (),
    ) -> int:
        """Replace one source's rows for one day (offers, quarantined and unmapped rows, exclusion
        counts) in one transaction. Other sources and days are untouched.

        Rows of the day from `keep_urls` (files that failed this time) stay as they were: a cut
        catalog never replaces that catalog's good rows. Returns how many offers were kept so."""
        offers = finalized.offers.select(list(OFFER_COLUMNS))
        quarantined = finalized.quarantined.select(list(QUARANTINE_COLUMNS))
        exclusions = finalized.exclusions.select("rule", "rows")
        keep = sorted(set(keep_urls))
        self.con.execute("BEGIN TRANSACTION")
        try:
            params = [snapshot_date, source]
            kept = self.con.execute(
                "SELECT count(*) FROM offers WHERE snapshot_date = ? AND source = ? AND list_contains(?, source_url)",
                [*params, keep],
            ).fetchone()[0] if keep else 0
            for table in ("offers", "quarantined_offers"):
                self.con.execute(
                    f"DELETE FROM {table} WHERE snapshot_date = ? AND source = ? "
                    "AND NOT list_contains(?, coalesce(source_url, ''))",
                    [*params, keep],
                )
            self.con.execute("DELETE FROM source_exclusions WHERE snapshot_date = ? AND source = ?", params)
            self.con.register("incoming_offers", offers)
            self.con.register("incoming_quarantine", quarantined)
            self.con.register("incoming_exclusions", exclusions)
            self.con.execute("INSERT INTO offers BY NAME SELECT * FROM incoming_offers")
            self.con.execute("INSERT INTO quarantined_offers BY NAME SELECT * FROM incoming_quarantine")
            self.con.execute(
                "INSERT INTO source_exclusions SELECT ?, ?, rule, rows FROM incoming_exclusions", params
            )
            self.con.execute("COMMIT")
        except Exception:
            self.con.execute("ROLLBACK")
            raise
        finally:
            for name in ("incoming_offers", "incoming_quarantine", "incoming_exclusions"):
                self.con.unregister(name)
        return kept

    def replace_day(self, table: str, snapshot_date: date, frame: pl.DataFrame) -> None:
        """Replace one day's rows of a derived table (cost_metrics, price_index), in one transaction."""
        if table not in DERIVED_TABLES:
            raise ValueError(f"{table!r} is not a derived table ({', '.join(DERIVED_TABLES)})")
        self.con.execute("BEGIN TRANSACTION")
        try:
            self.con.execute(f"DELETE FROM {table} WHERE snapshot_date = ?", [snapshot_date])
            self.con.register("incoming_rows", frame)
            self.con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM incoming_rows")
            self.con.execute("COMMIT")
        except Exception:
            self.con.execute("ROLLBACK")
            raise
        finally:
            self.con.unregister("incoming_rows")

    def record_aliases(
        self, offers: pl.DataFrame, source: str, snapshot_date: date, unmapped: pl.DataFrame | None = None
    ) -> None:
        """Remember every GPU name a source used, mapped or not (unmapped ones surface in a view)."""
        from market.gpu_names import normalise_alias

        seen = offers.select("gpu_name_raw", "gpu").unique().filter(pl.col("gpu_name_raw").is_not_null())
        if unmapped is not None and unmapped.height:
            names = unmapped.select("gpu_name_raw").unique().filter(pl.col("gpu_name_raw").is_not_null())
            seen = pl.concat([seen, names.with_columns(gpu=pl.lit(None, dtype=pl.String))])
        seen = seen.unique().sort("gpu_name_raw", "gpu", nulls_last=True)
        rows: dict[str, str | None] = {}
        for name, gpu in seen.iter_rows():
            rows[normalise_alias(name)] = gpu
        if not rows:
            return
        incoming = pl.DataFrame({"alias": list(rows), "gpu": list(rows.values())}, schema={"alias": pl.String, "gpu": pl.String})
        # One statement for the lot: a statement per alias cost ~30 ms each on a day of offers.
        self.con.register("incoming_aliases", incoming)
        try:
            self.con.execute(
                """
                INSERT INTO gpu_aliases
                SELECT alias, gpu, ?, ?::DATE, ?::DATE FROM incoming_aliases
                ON CONFLICT (alias) DO UPDATE SET
                    gpu = coalesce(gpu_aliases.gpu, excluded.gpu),
                    first_seen = least(coalesce(gpu_aliases.first_seen, excluded.first_seen), excluded.first_seen),
                    last_seen = greatest(coalesce(gpu_aliases.last_seen, excluded.last_seen), excluded.last_seen)
                """,
                [source, snapshot_date, snapshot_date],
            )
        finally:
            self.con.unregister("incoming_aliases")

    def run_state(self, snapshot_date: date, source: str) -> dict | None:
        rows = self.con.sql(
            "SELECT * FROM ingest_runs WHERE snapshot_date = $d AND source = $s",
            params={"d": snapshot_date, "s": source},
        ).pl().to_dicts()
        return rows[0] if rows else None

    def record_run(self, snapshot_date: date, source: str, **fields) -> None:
        """Upsert the (day, source) row of ingest_runs with the given fields."""
        current = self.run_state(snapshot_date, source) or {
            "snapshot_date": snapshot_date,
            "source": source,
        }
        current.update(fields)
        if current.get("status") == "ok":
            current["last_success_at"] = fields.get("finished_at") or datetime.now(timezone.utc)
        columns = [
            "snapshot_date", "source", "status", "stage", "mode", "run_id", "started_at",
            "finished_at", "responses", "offers_written", "quarantined", "message",
            "good_raw_ids", "last_success_at", "rows_read", "unmapped", "excluded",
        ]
        self.con.execute(
            f"INSERT OR REPLACE INTO ingest_runs ({', '.join(columns)}) "
            f"VALUES ({', '.join('?' for _ in columns)})",
            [current.get(c) for c in columns],
        )
