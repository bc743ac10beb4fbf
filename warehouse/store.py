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
from market.offer import MARKET_QUOTE_COLUMNS, OFFER_COLUMNS, QUARANTINE_COLUMNS

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

# Tables rebuilt per day from offers (warehouse.derived). Cost metrics are per offer interval
# instead (`replace_interval_metrics`), so a year of them costs one row per change.
DERIVED_TABLES = ("price_index",)

# What an offer interval's values are: two rows of a source with the same key and these values
# on consecutive snapshot days of that source are one interval (schema migration 5).
OFFER_KEY_COLUMNS = ("source", "provider", "region", "instance_type", "pricing")
OFFER_VALUE_COLUMNS = (
    "gpu", "gpu_name_raw", "gpu_count", "gpu_memory_gb", "vcpus", "ram_gb", "price_usd_per_hour",
    "price_usd_per_gpu_hour", "currency", "price_original", "spot_is_estimate", "source_url",
    "identity_basis", "identity_note", "underlying_provider",
)
INTERVAL_METRIC_COLUMNS = (
    "interval_id", "precision", "dense_tflops", "utilisation", "scaling_efficiency", "effective_tflops",
    "usd_per_effective_tflop_hour", "usd_per_exaflop", "usd_per_gb_hour",
)

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
        counts, market-level quotes) in one transaction. Other sources and days are untouched.

        Offers are stored as intervals (schema migration 5): the day's old rows are cut out of
        the source's intervals, and each incoming row extends or joins the intervals on the
        source's neighbouring snapshot days when its values are identical, else starts its own.
        So appending a day, re-running it, or re-parsing a day in the middle all leave exactly
        the intervals the per-day rows imply.

        Rows of the day from `keep_urls` (files that failed this time) stay as they were: a cut
        catalog never replaces that catalog's good rows. Returns how many offers were kept so."""
        offers = finalized.offers.select(list(OFFER_COLUMNS))
        quarantined = finalized.quarantined.select(list(QUARANTINE_COLUMNS))
        exclusions = finalized.exclusions.select("rule", "rows")
        market_quotes = finalized.market_quotes.select(list(MARKET_QUOTE_COLUMNS))
        keep = sorted(set(keep_urls))
        self.con.execute("BEGIN TRANSACTION")
        try:
            params = [snapshot_date, source]
            if keep:
                # A failed file's earlier rows of the day join the incoming ones, so the day is
                # rewritten whole and its intervals stay those the per-day rows imply.
                earlier = self.con.sql(
                    f"SELECT {', '.join(OFFER_COLUMNS)} FROM offers "
                    "WHERE snapshot_date = $d AND source = $s AND list_contains($keep, source_url)",
                    params={"d": snapshot_date, "s": source, "keep": keep},
                ).pl()
                offers = pl.concat([offers, earlier.cast(dict(offers.schema))], how="vertical")
            kept = earlier.height if keep else 0
            self.con.execute(
                "DELETE FROM quarantined_offers WHERE snapshot_date = ? AND source = ? "
                "AND NOT list_contains(?, coalesce(source_url, ''))",
                [*params, keep],
            )
            self.con.execute(
                "DELETE FROM market_quotes WHERE snapshot_date = ? AND source = ? AND NOT list_contains(?, source_url)",
                [*params, keep],
            )
            for table in ("source_exclusions", "offer_observations", "offer_observation_exceptions"):
                self.con.execute(f"DELETE FROM {table} WHERE snapshot_date = ? AND source = ?", params)
            self.con.register("incoming_offers", offers)
            self.con.register("incoming_quarantine", quarantined)
            self.con.register("incoming_exclusions", exclusions)
            self.con.register("incoming_market_quotes", market_quotes)
            self.con.execute("INSERT INTO market_quotes BY NAME SELECT * FROM incoming_market_quotes")
            self.con.execute("INSERT INTO quarantined_offers BY NAME SELECT * FROM incoming_quarantine")
            self.con.execute(
                "INSERT INTO source_exclusions SELECT ?, ?, rule, rows FROM incoming_exclusions", params
            )
            _replace_interval_day(self.con, snapshot_date, source, has_offers=offers.height > 0)
            self.con.execute("COMMIT")
        except Exception:
            self.con.execute("ROLLBACK")
            raise
        finally:
            for name in ("incoming_offers", "incoming_quarantine", "incoming_exclusions", "incoming_market_quotes"):
                self.con.unregister(name)
        return kept

    def replace_day(self, table: str, snapshot_date: date, frame: pl.DataFrame) -> None:
        """Replace one day's rows of a derived per-day table (price_index), in one transaction."""
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

    def replace_interval_metrics(self, interval_ids: pl.Series, metrics: pl.DataFrame) -> int:
        """Make the cost metrics of these intervals equal `metrics` (interval_id, precision and
        the metric columns), writing only the rows that differ. Returns rows written or removed."""
        ids = pl.DataFrame({"interval_id": interval_ids.cast(pl.Int64)})
        incoming = metrics.select(list(INTERVAL_METRIC_COLUMNS))
        self.con.execute("BEGIN TRANSACTION")
        try:
            self.con.register("metric_ids", ids)
            self.con.register("incoming_metrics", incoming)
            self.con.execute(
                "CREATE OR REPLACE TEMP TABLE stored_metrics AS SELECT m.* FROM cost_metric_intervals m "
                "SEMI JOIN metric_ids USING (interval_id)"
            )
            self.con.execute(
                "CREATE OR REPLACE TEMP TABLE gone_metrics AS "
                "SELECT * FROM stored_metrics EXCEPT SELECT * FROM incoming_metrics"
            )
            self.con.execute(
                "DELETE FROM cost_metric_intervals m USING gone_metrics g "
                "WHERE m.interval_id = g.interval_id AND m.precision = g.precision"
            )
            removed = self.con.sql("SELECT count(*) FROM gone_metrics").fetchall()[0][0]
            added = self.con.execute(
                "INSERT INTO cost_metric_intervals SELECT * FROM incoming_metrics "
                "EXCEPT SELECT * FROM stored_metrics"
            ).fetchall()[0][0]
            self.con.execute("DROP TABLE stored_metrics")
            self.con.execute("DROP TABLE gone_metrics")
            self.con.execute("COMMIT")
        except Exception:
            self.con.execute("ROLLBACK")
            raise
        finally:
            self.con.unregister("metric_ids")
            self.con.unregister("incoming_metrics")
        return int(removed) + int(added)

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


def _same_offer(left: str, right: str) -> str:
    """SQL: two interval rows are the same offer with identical values (NULL equals NULL)."""
    keys = [f"{left}.{c} = {right}.{c}" for c in OFFER_KEY_COLUMNS]
    values = [f"{left}.{c} IS NOT DISTINCT FROM {right}.{c}" for c in OFFER_VALUE_COLUMNS]
    return " AND ".join(keys + values)


def _replace_interval_day(con: duckdb.DuckDBPyConnection, day: date, source: str, has_offers: bool) -> None:
    """Inside replace_offers' transaction: make `source`'s intervals say that on `day` it quoted
    exactly `incoming_offers` (a registered frame with the offer columns).

    1. cut `day` out of every interval of the source that spans it (a split keeps the left
       part's id and metrics; the right part gets a new id and a copy of them);
    2. record (or drop, with no offers) `day` as a snapshot day of the source;
    3. each incoming row joins the interval ending on the previous snapshot day and/or the one
       starting on the next, when values are identical; otherwise it is a new one-day interval;
    4. with no offers on `day` any more, intervals on either side of it may now touch: join them.
    """
    params = {"d": day, "s": source}
    prev_day, next_day = con.sql(
        "SELECT max(snapshot_date) FILTER (WHERE snapshot_date < $d), min(snapshot_date) FILTER (WHERE snapshot_date > $d) "
        "FROM source_snapshots WHERE source = $s",
        params=params,
    ).fetchall()[0]
    spans = "source = $s AND valid_from <= $d AND valid_to >= $d"
    # 1. the right parts of intervals running through the day, under new ids
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE split_parts AS SELECT interval_id AS old_id, "
        f"nextval('offer_interval_ids') AS new_id FROM offer_intervals WHERE {spans} AND valid_from < $d AND valid_to > $d",
        params,
    )
    con.execute(
        "INSERT INTO offer_intervals BY NAME SELECT i.* REPLACE (p.new_id AS interval_id, $next AS valid_from) "
        "FROM offer_intervals i JOIN split_parts p ON i.interval_id = p.old_id",
        {"next": next_day},
    )
    con.execute(
        "INSERT INTO cost_metric_intervals SELECT m.* REPLACE (p.new_id AS interval_id) "
        "FROM cost_metric_intervals m JOIN split_parts p ON m.interval_id = p.old_id"
    )
    con.execute(
        f"UPDATE offer_intervals SET valid_to = $prev WHERE {spans} AND valid_from < $d",
        {**params, "prev": prev_day},
    )
    con.execute(
        f"UPDATE offer_intervals SET valid_from = $next WHERE {spans} AND valid_to > $d",
        {**params, "next": next_day},
    )
    _drop_intervals(con, f"SELECT interval_id FROM offer_intervals WHERE {spans}", params)
    con.execute("DROP TABLE split_parts")

    # 2. the snapshot day and its observation facts
    con.execute("DELETE FROM source_snapshots WHERE source = $s AND snapshot_date = $d", params)
    if not has_offers:
        if prev_day is not None and next_day is not None:
            _join_touching(con, source, prev_day, next_day)  # 4.
        return
    con.execute("INSERT INTO source_snapshots VALUES ($s, $d)", params)
    con.execute(
        """
        INSERT INTO offer_observations
        SELECT source, snapshot_date, source_url, observed_at, raw_response_id
        FROM (SELECT source, snapshot_date, source_url, observed_at, raw_response_id, count(*) AS n
              FROM incoming_offers GROUP BY ALL)
        QUALIFY row_number() OVER (PARTITION BY source, snapshot_date, source_url
                                   ORDER BY n DESC, raw_response_id, observed_at) = 1
        """
    )
    con.execute(
        """
        INSERT INTO offer_observation_exceptions
        SELECT o.source, o.snapshot_date, o.provider, o.region, o.instance_type, o.pricing, o.observed_at, o.raw_response_id
        FROM incoming_offers o
        JOIN offer_observations b
          ON b.source = o.source AND b.snapshot_date = o.snapshot_date AND b.source_url = o.source_url
        WHERE b.snapshot_date = $d AND b.source = $s
          AND (o.observed_at <> b.observed_at OR o.raw_response_id <> b.raw_response_id)
        """,
        params,
    )

    # 3. join the neighbours, or start new intervals
    key_values = ", ".join(OFFER_KEY_COLUMNS + OFFER_VALUE_COLUMNS)
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE day_matches AS
        SELECT n.*, l.interval_id AS left_id, r.interval_id AS right_id, r.valid_to AS right_valid_to
        FROM (SELECT {key_values} FROM incoming_offers) n
        LEFT JOIN (SELECT * FROM offer_intervals WHERE source = $s AND valid_to = $prev) l ON {_same_offer('l', 'n')}
        LEFT JOIN (SELECT * FROM offer_intervals WHERE source = $s AND valid_from = $next) r ON {_same_offer('r', 'n')}
        """,
        {"s": source, "prev": prev_day, "next": next_day},
    )
    con.execute(
        "UPDATE offer_intervals SET valid_to = coalesce(m.right_valid_to, $d) "
        "FROM day_matches m WHERE offer_intervals.interval_id = m.left_id",
        {"d": day},
    )
    _drop_intervals(con, "SELECT right_id FROM day_matches WHERE left_id IS NOT NULL AND right_id IS NOT NULL", {})
    con.execute(
        "UPDATE offer_intervals SET valid_from = $d FROM day_matches m "
        "WHERE offer_intervals.interval_id = m.right_id AND m.left_id IS NULL",
        {"d": day},
    )
    con.execute(
        f"""
        INSERT INTO offer_intervals (interval_id, valid_from, valid_to, {key_values})
        SELECT nextval('offer_interval_ids'), $d, $d, {key_values}
        FROM day_matches WHERE left_id IS NULL AND right_id IS NULL
        """,
        {"d": day},
    )
    con.execute("DROP TABLE day_matches")


def _join_touching(con: duckdb.DuckDBPyConnection, source: str, left_end: date, right_start: date) -> None:
    """Join intervals of `source` ending on `left_end` with identical ones starting on
    `right_start` (consecutive snapshot days of the source once a day between them is gone)."""
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE touching AS
        SELECT l.interval_id AS left_id, r.interval_id AS right_id, r.valid_to AS right_valid_to
        FROM (SELECT * FROM offer_intervals WHERE source = $s AND valid_to = $l) l
        JOIN (SELECT * FROM offer_intervals WHERE source = $s AND valid_from = $r) r ON {_same_offer('l', 'r')}
        """,
        {"s": source, "l": left_end, "r": right_start},
    )
    con.execute(
        "UPDATE offer_intervals SET valid_to = t.right_valid_to FROM touching t WHERE offer_intervals.interval_id = t.left_id"
    )
    _drop_intervals(con, "SELECT right_id FROM touching", {})
    con.execute("DROP TABLE touching")


def _drop_intervals(con: duckdb.DuckDBPyConnection, ids_sql: str, params: dict) -> None:
    """Delete these intervals and their cost metrics."""
    con.execute(f"CREATE OR REPLACE TEMP TABLE dropped_ids AS {ids_sql}", params)
    con.execute("DELETE FROM cost_metric_intervals WHERE interval_id IN (SELECT * FROM dropped_ids)")
    con.execute("DELETE FROM offer_intervals WHERE interval_id IN (SELECT * FROM dropped_ids)")
    con.execute("DROP TABLE dropped_ids")
