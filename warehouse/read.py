"""Read-only access to the published warehouse, for the dashboard, the CLI and analysts.

Readers open the *published* copy (see `warehouse.store`), never the file an ingest writes, so
reads keep working during an ingest. Every connection here is read-only, with external access
(files, network, extensions) off and its resources bounded (`SqlLimits`: memory, threads,
spill space), and the configuration locked so SQL cannot SET it back.

User SQL (`UserQuery`, `run_user_sql`) is held to a read-only surface on top of that:

* one SELECT-like statement (SELECT, FROM ..., WITH, DESCRIBE, SUMMARIZE, SHOW, EXPLAIN); a
  refusal names the statement by its first keyword (USE, INSTALL, ...), not DuckDB's coarser
  statement type;
* no metadata that discloses server paths or runs SQL hidden in a string (`DISCLOSING`);
* a time limit (the connection is interrupted from a timer), a row cap on what is returned
  (the result says when it was cut), and cancellation from another thread (Ctrl+C in the CLI,
  the Cancel button in the dashboard);
* every DuckDB type comes back as a polars frame every output can write (`warehouse.results`);
* error messages never carry the server's paths.
"""

from __future__ import annotations

import atexit
import os
import re
import shutil
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from functools import cache
from datetime import date, timedelta
from pathlib import Path

import duckdb
import polars as pl

from warehouse import results
from warehouse.store import Warehouse, resolve_path

# Statement types a user may run. Everything else (COPY, ATTACH, INSTALL, CREATE, DELETE, SET,
# PRAGMA, ...) is refused before it reaches the database.
ALLOWED_STATEMENTS = {
    duckdb.StatementType.SELECT,
    duckdb.StatementType.EXPLAIN,
}

# What to say about a refused statement, by its first keyword. DuckDB's StatementType lumps
# some together (USE is a SET statement, INSTALL a LOAD), so the keyword names it.
REFUSAL_HINTS = {
    "SET": "settings are fixed on this surface; current_setting('name') shows one",
    "RESET": "settings are fixed on this surface",
    "USE": "there is one database here, the warehouse; no USE needed",
    "PRAGMA": "pragmas change or disclose the server; the views answer the same questions",
    "INSTALL": "extensions cannot be installed or loaded here",
    "FORCE INSTALL": "extensions cannot be installed or loaded here",
    "LOAD": "extensions cannot be installed or loaded here",
    "ATTACH": "other databases and files cannot be opened here",
    "DETACH": "the warehouse stays attached",
    "COPY": "nothing is written to files here; use `gpu-prices sql --format csv|parquet` or the "
            "dashboard's download buttons",
    "EXPORT": "nothing is written to files here",
    "IMPORT": "nothing is read from files here",
    "CALL": "write it as SELECT * FROM the_function(...) instead",
}

READ_ONLY_CONFIG = {
    "access_mode": "READ_ONLY",
    "enable_external_access": False,  # no read_csv('/etc/...'), no httpfs, no ATTACH of files
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
    "allow_persistent_secrets": False,
    "lock_configuration": True,  # and none of this (nor the limits) can be SET back
}

# Table functions, views and functions a user may not name, with the reason given. Matched on
# identifiers and on string literals, case-insensitively, wherever they appear.
_PATHS = "it shows file paths on the server"
DISCLOSING = {
    "duckdb_databases": _PATHS + " (the warehouse file); duckdb_tables() lists what is in it",
    "pragma_database_list": _PATHS + " (the warehouse file); duckdb_tables() lists what is in it",
    "duckdb_settings": _PATHS + " (temp_directory, allowed_paths, ...); current_setting('name') "
                       "shows one other setting",
    "pg_settings": _PATHS + " (temp_directory, allowed_paths, ...); current_setting('name') "
                   "shows one other setting",
    "duckdb_extensions": _PATHS + " (extension install paths)",
    "duckdb_temporary_files": _PATHS + " (spill files)",
    "duckdb_secrets": "it is about credentials and their storage path",
    "which_secret": "it is about credentials and their storage path",
    "duckdb_secret_types": "it is about credentials",
    "duckdb_logs": "server logs are not part of the warehouse",
    "duckdb_logs_parsed": "server logs are not part of the warehouse",
    "duckdb_log_contexts": "server logs are not part of the warehouse",
    "enable_logging": "it changes the server",
    "disable_logging": "it changes the server",
    "truncate_duckdb_logs": "it changes the server",
    "enable_profiling": "it changes the server and writes files",
    "disable_profiling": "it changes the server",
    "checkpoint": "it writes to the database",
    "force_checkpoint": "it writes to the database",
    "json_execute_serialized_sql": "it runs SQL hidden in a string, which this check cannot see",
    "add_grammar_extension": "it changes the server",
    "remove_grammar_extension": "it changes the server",
    "create_external_resource": "it changes the server",
    "register_external_resource": "it changes the server",
    "register_external_resource_type": "it changes the server",
    "destroy_external_resource": "it changes the server",
    "deregister_external_resource": "it changes the server",
    "duckdb_external_resources": "it is about the server, not the warehouse",
}
# Refused only as calls (they are plausible column names): each runs SQL, or reads a table,
# named in a string, which the check above cannot see into.
_HIDDEN_SQL = "it runs SQL or reads a table named in a string, which this check cannot see into"
DISCLOSING_CALLS = {
    "query": _HIDDEN_SQL + "; write the query itself",
    "query_table": _HIDDEN_SQL + "; name the table itself",
    "histogram": _HIDDEN_SQL + "; GROUP BY gives the same counts",
    "histogram_values": _HIDDEN_SQL + "; GROUP BY gives the same counts",
    "duckdb_table_sample": _HIDDEN_SQL + "; use USING SAMPLE",
}
# Settings whose value is a server path; current_setting() of one is refused, and so is any
# current_setting() whose argument is not a plain string literal.
PATH_SETTINGS = frozenset({
    "temp_directory", "home_directory", "extension_directory", "secret_directory",
    "allowed_directories", "allowed_paths", "log_query_path", "profile_output",
    "profiling_output", "custom_extension_repository", "autoinstall_extension_repository",
    "storage_compatibility_version_path", "http_logging_output",
})

TIMEOUT_ENV = "GPU_PRICES_SQL_TIMEOUT_S"
MAX_ROWS_ENV = "GPU_PRICES_SQL_MAX_ROWS"
MEMORY_ENV = "GPU_PRICES_SQL_MEMORY_LIMIT"
THREADS_ENV = "GPU_PRICES_SQL_THREADS"
TEMP_ENV = "GPU_PRICES_SQL_TEMP_LIMIT"
RESULT_ENV = "GPU_PRICES_SQL_RESULT_LIMIT"
FETCH_BATCH_ROWS = 256  # rows per fetched batch: the result-size cap is checked this often
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(B|KB|MB|GB|TB|KIB|MIB|GIB|TIB)\s*$", re.IGNORECASE)
_UNITS = {"B": 1, "KB": 1000, "MB": 1000**2, "GB": 1000**3, "TB": 1000**4,
          "KIB": 1024, "MIB": 1024**2, "GIB": 1024**3, "TIB": 1024**4}


def size_bytes(text: str) -> int:
    """'256MB' -> 256000000, the way DuckDB reads sizes (KB = 1000, KiB = 1024)."""
    match = _SIZE.match(text)
    if not match:
        raise ValueError(f"not a size such as 512MB or 2GB: {text!r}")
    return int(float(match.group(1)) * _UNITS[match.group(2).upper()])


class WarehouseMissing(FileNotFoundError):
    pass


class SqlRefused(ValueError):
    """A statement that the read-only SQL surface does not run."""


class SqlStopped(RuntimeError):
    """A user query stopped by a limit or by the user. The message is one line, names the limit
    and says how to change it."""


class SqlTimedOut(SqlStopped):
    pass


class SqlOutOfMemory(SqlStopped):
    pass


class SqlCancelled(SqlStopped):
    pass


@dataclass(frozen=True)
class SqlLimits:
    """Bounds on every read-only connection (memory, threads, spill) and on each user query
    (time, rows). Defaults suit a shared server; each can be set by environment variable (and
    the CLI's flags). memory/threads/spill apply per process, to every reader in it together."""

    timeout_s: float = 30.0
    max_rows: int = 100_000
    memory_limit: str = "1GB"
    threads: int = 2
    max_temp_directory_size: str = "2GB"
    result_limit: str = "256MB"

    def __post_init__(self) -> None:
        if not 0 < self.timeout_s <= 24 * 3600:
            raise ValueError(f"SQL time limit must be between 0 and 86400 s, not {self.timeout_s}")
        if self.max_rows < 1:
            raise ValueError(f"SQL row limit must be at least 1, not {self.max_rows}")
        if self.threads < 1:
            raise ValueError(f"SQL threads must be at least 1, not {self.threads}")
        for name in ("memory_limit", "max_temp_directory_size", "result_limit"):
            if not _SIZE.match(getattr(self, name)):
                raise ValueError(f"{name} must be a size such as 512MB or 2GB, not {getattr(self, name)!r}")

    @classmethod
    def from_env(cls, **overrides) -> "SqlLimits":
        """Defaults, then the environment, then explicit overrides (None means 'not given')."""
        env = os.environ
        values = {}
        try:
            if env.get(TIMEOUT_ENV):
                values["timeout_s"] = float(env[TIMEOUT_ENV])
            if env.get(MAX_ROWS_ENV):
                values["max_rows"] = int(env[MAX_ROWS_ENV])
            if env.get(THREADS_ENV):
                values["threads"] = int(env[THREADS_ENV])
        except ValueError as exc:
            raise ValueError(f"bad SQL limit in the environment: {exc}") from exc
        if env.get(MEMORY_ENV):
            values["memory_limit"] = env[MEMORY_ENV]
        if env.get(TEMP_ENV):
            values["max_temp_directory_size"] = env[TEMP_ENV]
        if env.get(RESULT_ENV):
            values["result_limit"] = env[RESULT_ENV]
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    def max_result_bytes(self) -> int:
        return size_bytes(self.result_limit)

    def connection_config(self) -> dict:
        return {
            **READ_ONLY_CONFIG,
            "memory_limit": self.memory_limit,
            "threads": self.threads,
            "max_temp_directory_size": self.max_temp_directory_size,
            "temp_directory": str(_private_temp_directory()),
        }


@cache
def _private_temp_directory() -> Path:
    """Where this process's readers spill: private to the process (two processes never share
    spill files) and never beside the warehouse (which may sit on a read-only volume)."""
    folder = Path(tempfile.mkdtemp(prefix="gpu-prices-sql-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder


def published_file(path: str | Path | None = None) -> Path:
    warehouse = Warehouse(path)
    if not warehouse.published.exists():
        raise WarehouseMissing(
            f"No published warehouse at {warehouse.published}. Run `gpu-prices ingest --replay` "
            "(the bundled snapshot, offline) or `gpu-prices ingest` (live) first, or point "
            "--warehouse / GPU_PRICES_WAREHOUSE at an existing one."
        )
    return warehouse.published


def connect(path: str | Path | None = None, retries: int = 5,
            limits: SqlLimits | None = None) -> duckdb.DuckDBPyConnection:
    """A read-only, bounded connection to the published warehouse, retried briefly if a swap
    races it. Every connection a process holds at once must share one `limits` (DuckDB shares
    one database instance per file and refuses a second configuration)."""
    target = published_file(path)
    config = (limits or SqlLimits.from_env()).connection_config()
    for attempt in range(retries):
        try:
            return duckdb.connect(str(target), config=dict(config))
        except duckdb.IOException:
            if attempt == retries - 1:
                raise
            time.sleep(0.1 * (attempt + 1))
    raise AssertionError("unreachable")


def query(sql: str, params: dict | list | None = None, path: str | Path | None = None) -> pl.DataFrame:
    """Run trusted SQL (our own code) read-only and return a polars frame."""
    con = connect(path)
    try:
        return con.sql(sql, params=params).pl() if params else con.sql(sql).pl()
    finally:
        con.close()


# -- checking user SQL -----------------------------------------------------------------------


@dataclass(frozen=True)
class _Token:
    kind: str  # keyword | identifier | string_const | numeric_const | operator | comment
    text: str


def _tokens(sql: str) -> list[_Token]:
    found = duckdb.tokenize(sql)
    out = []
    for index, (start, kind) in enumerate(found):
        end = found[index + 1][0] if index + 1 < len(found) else len(sql)
        out.append(_Token(kind.name, sql[start:end].strip()))
    return [t for t in out if t.kind != "comment"]


def _name(token: _Token) -> str:
    """An identifier or string literal's text, unquoted and lower-cased."""
    text = token.text
    if token.kind == "identifier" and len(text) >= 2 and text[0] == text[-1] == '"':
        text = text[1:-1].replace('""', '"')
    elif token.kind == "string_const":
        if text[:2] in ("E'", "e'"):
            text = text[1:]
        if len(text) >= 2 and text[0] == text[-1] == "'":
            text = text[1:-1]
        text = text.replace("''", "'")
    return text.strip().lower()


def _statement_name(statement) -> str:
    """The statement's kind as the user wrote it: its first keyword (FORCE INSTALL as two)."""
    words = [t.text.upper() for t in _tokens(statement.query) if t.kind in ("keyword", "identifier")]
    if not words or words[0] in ("WITH", "FROM", "("):
        try:
            return statement.type.name
        except ValueError:
            return words[0] if words else "this"
    if words[0] == "FORCE" and len(words) > 1:
        return f"FORCE {words[1]}"
    return words[0]


def _refuse_disclosing(sql: str) -> None:
    tokens = _tokens(sql)
    for index, token in enumerate(tokens):
        if token.kind not in ("identifier", "keyword", "string_const"):
            continue
        name = _name(token)
        following = tokens[index + 1].text if index + 1 < len(tokens) else ""
        if name in DISCLOSING:
            raise SqlRefused(f"{name} is refused: {DISCLOSING[name]}.")
        if name in DISCLOSING_CALLS and following == "(" and token.kind != "string_const":
            raise SqlRefused(f"{name}() is refused: {DISCLOSING_CALLS[name]}.")
        if token.kind == "string_const" and name in PATH_SETTINGS:
            raise SqlRefused(f"the setting {name} is refused: its value is a path on the server.")
        if name == "current_setting" and following == "(" and token.kind != "string_const":
            argument = tokens[index + 2] if index + 2 < len(tokens) else None
            closing = tokens[index + 3].text if index + 3 < len(tokens) else ""
            if argument is None or argument.kind != "string_const" or closing != ")":
                raise SqlRefused(
                    "current_setting() is refused unless its argument is a plain string such as "
                    "current_setting('threads'): some settings are server paths."
                )


def check_user_sql(sql: str) -> str:
    """Return the single statement if the read-only surface allows it, else raise SqlRefused."""
    try:
        statements = duckdb.extract_statements(sql)
    except duckdb.Error as exc:
        raise SqlRefused(f"could not parse the query: {scrub(_first_line(exc))}") from exc
    if not statements:
        raise SqlRefused("the query is empty")
    if len(statements) > 1:
        raise SqlRefused("one statement at a time, please (found %d)" % len(statements))
    statement = statements[0]
    try:
        allowed = statement.type in ALLOWED_STATEMENTS
    except ValueError:  # a statement type this DuckDB build has no name for (UPDATE EXTENSIONS)
        allowed = False
    if not allowed:
        kind = _statement_name(statement)
        hint = REFUSAL_HINTS.get(kind)
        raise SqlRefused(
            f"{kind} statements are refused: this SQL surface is read-only"
            + (f" ({hint})" if hint else "")
            + ". Query the views (latest_offers, gpu_cost_metrics, price_index_daily, ...) with "
            "SELECT; to change data, run an ingest."
        )
    _refuse_disclosing(sql)
    return sql


# -- error text --------------------------------------------------------------------------------


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _server_paths() -> list[str]:
    """Folders whose names must not reach a user, longest first."""
    candidates = {
        str(_private_temp_directory()), str(Path.home()), tempfile.gettempdir(), sys.prefix,
        os.getcwd(), str(resolve_path().resolve().parent),
    }
    return sorted((c for c in candidates if c and c != os.sep), key=len, reverse=True)


def scrub(text: str, extra: list[str] | None = None) -> str:
    """`text` with the server's folders replaced by <server path>."""
    for folder in sorted(extra or [], key=len, reverse=True) + _server_paths():
        text = text.replace(folder, "<server path>")
    return text


# -- running user SQL --------------------------------------------------------------------------


@dataclass
class SqlResult:
    frame: pl.DataFrame
    limits: SqlLimits
    elapsed_s: float
    cut_at_rows: bool = False  # more rows existed than limits.max_rows
    cut_at_bytes: bool = False  # the rows passed limits.result_limit; frame holds those that fit
    text_columns: list[str] = field(default_factory=list)  # out-of-range temporal values, as text

    @property
    def truncated(self) -> bool:
        return self.cut_at_rows or self.cut_at_bytes

    def notes(self) -> list[str]:
        """One line per thing the user should know about what is shown."""
        out = []
        if self.cut_at_bytes:
            out.append(
                f"showing the first {self.frame.height:,} rows, {self.limits.result_limit} of data "
                f"(the SQL result-size limit; select fewer or narrower columns, or raise it with "
                f"--result-limit or {RESULT_ENV})"
            )
        elif self.cut_at_rows:
            out.append(
                f"showing the first {self.limits.max_rows:,} rows (the SQL row limit; add LIMIT / "
                f"WHERE, or raise it with --max-rows or {MAX_ROWS_ENV})"
            )
        if self.text_columns:
            out.append(
                "as text, because they hold dates or times outside years 1-9999 (or infinity): "
                + ", ".join(self.text_columns)
            )
        return out


@dataclass
class _Fetched:
    frame: pl.DataFrame
    cut_at_rows: bool = False
    cut_at_bytes: bool = False
    text_columns: list[str] = field(default_factory=list)


def _read_capped(relation, select: str, limits: SqlLimits):
    """The rows of `select`, streamed in batches and cut once they pass the result-size cap.
    Returns (arrow table, cut_at_bytes)."""
    import pyarrow as pa

    cap = limits.max_result_bytes()
    reader = relation.query("_user_query", select).to_arrow_reader(FETCH_BATCH_ROWS)
    batches, total, cut = [], 0, False
    try:
        for batch in reader:
            if total + batch.nbytes > cap:
                room = max(0, cap - total) * batch.num_rows // max(batch.nbytes, 1)
                batches.append(batch.slice(0, room))
                cut = True
                break
            batches.append(batch)
            total += batch.nbytes
    finally:
        reader.close()
    return pa.Table.from_batches(batches, schema=reader.schema), cut


def _fetch(con: duckdb.DuckDBPyConnection, sql: str, limits: SqlLimits) -> _Fetched:
    relation = con.sql(sql)
    if relation is None or not relation.columns:
        return _Fetched(pl.DataFrame())
    columns, types = list(relation.columns), list(relation.types)
    as_text: frozenset[int] = frozenset()
    while True:
        select = results.presentable_select("_user_query", columns, types, limits.max_rows + 1, as_text)
        table, cut_at_bytes = _read_capped(relation, select, limits)
        more = results.out_of_range_columns(table) - as_text
        if not more:
            break
        as_text |= more  # rare: run once more with those columns as DuckDB's text
    frame = results.to_polars(table, types, as_text)
    cut_at_rows = frame.height > limits.max_rows
    names = results.unique_names(columns)
    return _Fetched(frame.head(limits.max_rows) if cut_at_rows else frame, cut_at_rows, cut_at_bytes,
                    [names[i] for i in sorted(as_text)])


class UserQuery:
    """One analyst query, checked, then run in a background thread within `limits`.

    `wait()` for it, `cancel()` it from any thread, then `result()` returns a SqlResult or
    raises SqlStopped (time limit, memory limit, cancelled) or a scrubbed duckdb.Error.
    """

    def __init__(self, sql: str, path: str | Path | None = None, limits: SqlLimits | None = None) -> None:
        check_user_sql(sql)
        self.sql = sql
        self.limits = limits or SqlLimits.from_env()
        self._path = path
        self._published = published_file(path)  # WarehouseMissing here, in the caller
        self._lock = threading.Lock()
        self._con: duckdb.DuckDBPyConnection | None = None
        self._stop_reason: str | None = None
        self._done = threading.Event()
        self._result: SqlResult | None = None
        self._error: BaseException | None = None
        self.started = time.monotonic()
        self.finished: float | None = None
        self._thread = threading.Thread(target=self._run, name="gpu-prices-user-sql", daemon=True)
        self._thread.start()

    @property
    def elapsed_s(self) -> float:
        return (self.finished or time.monotonic()) - self.started

    @property
    def done(self) -> bool:
        return self._done.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        return self._done.wait(timeout)

    def cancel(self) -> None:
        self._stop("cancelled")

    def result(self) -> SqlResult:
        self._done.wait()
        # The worker is done but may still be unwinding DuckDB; a process that exits while a
        # daemon thread holds a DuckDB object can abort ("terminate called ..."), so join it.
        self._thread.join()
        if self._error is not None:
            raise self._error
        assert self._result is not None
        return self._result

    def _stop(self, reason: str) -> None:
        with self._lock:
            if self._stop_reason is None:
                self._stop_reason = reason
            if self._con is not None:
                self._con.interrupt()

    def _run(self) -> None:
        timer = threading.Timer(self.limits.timeout_s, self._stop, args=("timeout",))
        timer.daemon = True
        con = None
        try:
            con = connect(self._path, limits=self.limits)
            with self._lock:
                self._con = con
                stopped = self._stop_reason
            if stopped:
                raise duckdb.InterruptException("stopped before it started")
            timer.start()
            fetched = _fetch(con, self.sql, self.limits)
            self._result = SqlResult(fetched.frame, self.limits, time.monotonic() - self.started,
                                     fetched.cut_at_rows, fetched.cut_at_bytes, fetched.text_columns)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller by result()
            self._error = self._explain(exc)
        finally:
            timer.cancel()
            if timer.is_alive():
                timer.join()
            with self._lock:
                self._con = None
            if con is not None:
                con.close()
            self.finished = time.monotonic()
            self._done.set()

    def _explain(self, exc: BaseException) -> BaseException:
        """The exception the caller sees: a one-line SqlStopped for a limit, else a scrubbed copy."""
        limits, elapsed = self.limits, time.monotonic() - self.started
        if isinstance(exc, duckdb.InterruptException) or self._stop_reason:
            if self._stop_reason == "timeout":
                return SqlTimedOut(
                    f"stopped after {limits.timeout_s:g} s (the SQL time limit; narrow the query, "
                    f"or raise the limit with --timeout or {TIMEOUT_ENV})"
                )
            return SqlCancelled(f"cancelled after {elapsed:.1f} s")
        if isinstance(exc, duckdb.OutOfMemoryException):
            text = str(exc)
            if "max_temp_directory_size" in text or "temp" in text.lower() and "directory" in text.lower():
                return SqlOutOfMemory(
                    f"stopped after {elapsed:.1f} s: it needed more than {limits.max_temp_directory_size} "
                    f"of spill space (the SQL spill limit; narrow the query, or raise it with "
                    f"--temp-limit or {TEMP_ENV})"
                )
            return SqlOutOfMemory(
                f"stopped after {elapsed:.1f} s: it needed more than {limits.memory_limit} of memory "
                f"(the SQL memory limit; narrow the query, or raise it with --memory-limit or {MEMORY_ENV})"
            )
        if isinstance(exc, duckdb.Error):
            return type(exc)(scrub(str(exc), [str(self._published.parent)]))
        return exc


def run_user_sql(sql: str, path: str | Path | None = None, limits: SqlLimits | None = None) -> SqlResult:
    """Run an analyst's SQL on the read-only surface and wait for it. Ctrl+C cancels it.

    Raises SqlRefused, WarehouseMissing, SqlStopped or duckdb.Error (paths scrubbed)."""
    running = UserQuery(sql, path, limits)
    try:
        while not running.wait(0.2):
            pass
    except KeyboardInterrupt:
        running.cancel()
        running.wait()
        raise
    return running.result()


def table_exists(name: str, path: str | Path | None = None) -> bool:
    frame = query(
        "SELECT count(*) AS n FROM information_schema.tables WHERE table_name = $name",
        {"name": name},
        path,
    )
    return bool(frame["n"][0])


def resolved(path: str | Path | None = None) -> Path:
    return resolve_path(path)


# -- bounded history reads (the dashboard's pages) ---------------------------------------------
#
# History is stored as intervals (warehouse/schema.py migration 5), so these read the intervals
# or the as-of macros, and each asks for a bounded slice: one GPU, one offer, a date range, or a
# page of the change log with the total count beside it.

CHANGE_LOG_PAGE = 500
CHANGE_LOG_DAYS = 30


def snapshot_days(path: str | Path | None = None) -> list[date]:
    """Every day some source landed offers, newest first."""
    return query(*snapshot_days_query(), path=path)["snapshot_date"].to_list()


MARKET_COLUMNS = ("snapshot_date, source, provider, region, instance_type, pricing, gpu, gpu_count, "
                  "price_usd_per_hour, price_usd_per_gpu_hour, spot_is_estimate, source_url, observed_at")


def offers_on_query(day: date | None = None, gpu: str | None = None) -> tuple[str, dict]:
    """The market on `day` (None: the newest day held) as every page and command reads it: the
    priced offers of known GPUs (one GPU when given) of each source current on that day
    (offers_as_of: a source past its cadence has dropped out). The one rule for "what could I
    rent on day D", shared by the Train/Serve pages, the reference runs and `gpu-prices estimate`."""
    market = "offers_as_of($day)" if day is not None else "latest_offers"
    params: dict = {"day": day} if day is not None else {}
    where = "gpu IS NOT NULL"
    if gpu is not None:
        where, params["gpu"] = "gpu = $gpu", gpu
    return f"SELECT {MARKET_COLUMNS} FROM {market} WHERE {where}", params


def offers_on(day: date | None, path: str | Path | None = None, gpu: str | None = None) -> pl.DataFrame:
    """`offers_on_query`, read."""
    return query(*offers_on_query(day, gpu), path=path)


def snapshot_days_query() -> tuple[str, dict]:
    return "SELECT DISTINCT snapshot_date FROM source_snapshots ORDER BY snapshot_date DESC", {}


def window_on_query(day: date) -> tuple[str, dict]:
    return ("SELECT min(snapshot_date) AS lo, max(snapshot_date) AS hi FROM current_source_days($day)",
            {"day": day})


def window_on(day: date, path: str | Path | None = None) -> tuple[date | None, date | None]:
    """(oldest, newest) snapshot day among the sources current on `day`."""
    frame = query(*window_on_query(day), path=path)
    return (frame["lo"][0], frame["hi"][0]) if frame.height else (None, None)


def index_history(gpu: str, pricing: str | None = None, since: date | None = None, until: date | None = None,
                  path: str | Path | None = None) -> pl.DataFrame:
    """price_index_daily of one GPU (one pricing kind, a date range, when given)."""
    return query(
        """
        SELECT * FROM price_index_daily
        WHERE gpu = $gpu AND ($pricing IS NULL OR pricing = $pricing)
          AND snapshot_date BETWEEN coalesce($since, DATE '0001-01-01') AND coalesce($until, DATE '9999-12-31')
        ORDER BY snapshot_date, pricing
        """,
        {"gpu": gpu, "pricing": pricing, "since": since, "until": until}, path,
    )


def index_summary(path: str | Path | None = None) -> pl.DataFrame:
    """One row per GPU and pricing kind of the index: days, most providers and offers, latest
    day (what a page needs to offer a choice, not every day of every GPU)."""
    return query(
        """
        SELECT gpu, pricing, count(*) AS days, max(providers) AS providers, max(offers) AS offers,
               max(snapshot_date) AS last_day
        FROM price_index_daily GROUP BY ALL ORDER BY providers DESC, offers DESC, gpu, pricing
        """,
        path=path,
    )


OFFER_CATALOG_LIMIT = 500


def offer_catalog_query(gpu: str, since: date | None = None, until: date | None = None,
                        limit: int = OFFER_CATALOG_LIMIT) -> tuple[str, dict]:
    """The offers of one GPU (in a date range, when given): the snapshot days each was quoted on
    and whether its price moved, most-quoted first. Read from the intervals, not the per-day view."""
    return (
        f"""
        WITH runs AS (
            SELECT i.*, (SELECT count(*) FROM source_snapshots s
                         WHERE s.source = i.source AND s.snapshot_date BETWEEN i.valid_from AND i.valid_to
                           AND s.snapshot_date BETWEEN coalesce($since, DATE '0001-01-01')
                                                   AND coalesce($until, DATE '9999-12-31')) AS days
            FROM offer_intervals i
            WHERE i.gpu = $gpu
              AND i.valid_to >= coalesce($since, DATE '0001-01-01') AND i.valid_from <= coalesce($until, DATE '9999-12-31')
        )
        SELECT gpu, provider, region, instance_type, pricing, source, sum(days)::BIGINT AS days,
               min(price_usd_per_hour) <> max(price_usd_per_hour) AS moved
        FROM runs GROUP BY ALL HAVING sum(days) > 0
        ORDER BY days DESC, moved DESC, provider, region, instance_type, pricing, source
        LIMIT {int(limit)}
        """,
        {"gpu": gpu, "since": since, "until": until},
    )


def offer_catalog(gpu: str, path: str | Path | None = None, since: date | None = None,
                  until: date | None = None) -> pl.DataFrame:
    """`offer_catalog_query`, read."""
    return query(*offer_catalog_query(gpu, since, until), path=path)


def offer_price_history(source: str, provider: str, region: str, instance_type: str, pricing: str,
                        since: date | None = None, until: date | None = None,
                        path: str | Path | None = None) -> pl.DataFrame:
    """One offer's prices, one row per price run (valid_from..valid_to, its source's snapshot
    days), in a date range when given: a step chart needs the changes, not every day."""
    return query(
        """
        SELECT valid_from, valid_to, price_usd_per_hour, price_usd_per_gpu_hour, source_url
        FROM offer_intervals
        WHERE source = $source AND provider = $provider AND region = $region
          AND instance_type = $instance_type AND pricing = $pricing
          AND valid_to >= coalesce($since, DATE '0001-01-01') AND valid_from <= coalesce($until, DATE '9999-12-31')
        ORDER BY valid_from
        """,
        {"source": source, "provider": provider, "region": region, "instance_type": instance_type,
         "pricing": pricing, "since": since, "until": until}, path,
    )


CHANGES_OF_LIMIT = 5000


def changes_of_query(gpus: list[str], pricing: str, since: date, until: date,
                     limit: int = CHANGES_OF_LIMIT) -> tuple[str, dict]:
    """The price changes of a few GPUs (at most HISTORY_MAX_GPUS) of one pricing kind between two
    days, newest and biggest first: one `price_changes_in` slice per GPU, so only those GPUs'
    intervals starting in the range are read."""
    if not gpus:
        raise ValueError("name at least one GPU")
    if len(gpus) > HISTORY_MAX_GPUS:
        raise ValueError(f"at most {HISTORY_MAX_GPUS} GPUs at a time, not {len(gpus)}")
    slices = " UNION ALL ".join(f"SELECT * FROM price_changes_in($g{i}, $since, $until)" for i in range(len(gpus)))
    return (
        f"SELECT * FROM ({slices}) WHERE pricing = $pricing "
        f"ORDER BY changed_on DESC, abs(change_pct) DESC, source, provider, region, instance_type LIMIT {int(limit)}",
        {**{f"g{i}": g for i, g in enumerate(gpus)}, "pricing": pricing, "since": since, "until": until},
    )


def change_log(gpu: str | None = None, provider: str | None = None, since: date | None = None,
               until: date | None = None, limit: int = CHANGE_LOG_PAGE,
               path: str | Path | None = None) -> tuple[pl.DataFrame, int]:
    """(the newest `limit` price changes of one GPU (None: all) and provider between two days,
    biggest first within a day; how many match in all). Without a GPU or a start day it covers
    the CHANGE_LOG_DAYS before the newest snapshot: a year holds ~100k changes, a page a page."""
    if gpu is None and since is None:
        newest = query("SELECT max(snapshot_date) AS d FROM source_snapshots", path=path)["d"][0]
        since = newest - timedelta(days=CHANGE_LOG_DAYS) if newest is not None else None
    rows = query(
        f"""
        SELECT *, count(*) OVER () AS matching FROM price_changes_in($gpu, $since, $until)
        WHERE $provider IS NULL OR provider = $provider
        ORDER BY changed_on DESC, abs(change_pct) DESC, source, provider, region, instance_type, pricing
        LIMIT {int(limit)}
        """,
        {"gpu": gpu, "provider": provider, "since": since, "until": until}, path,
    )
    total = rows["matching"][0] if rows.height else 0
    return rows.drop("matching"), int(total)


# -- history: bounded reads for the History page and analysts ---------------------------------
# Each returns (sql, params) for `query` (or the dashboard's cached query): one pricing kind,
# a date range and at most HISTORY_MAX_GPUS GPUs, so a page never asks for the whole history.

HISTORY_MAX_GPUS = 8
PRICE_STEP_PCT = 10.0  # a provider's day-over-day change above this is marked on the History page


def _bounded_gpus(gpus: list[str]) -> dict[str, str]:
    if not gpus:
        raise ValueError("name at least one GPU")
    if len(gpus) > HISTORY_MAX_GPUS:
        raise ValueError(f"at most {HISTORY_MAX_GPUS} GPUs at a time, not {len(gpus)}")
    return {f"gpu{i}": g for i, g in enumerate(gpus)}


def index_summary_query() -> tuple[str, dict]:
    """Per GPU and pricing kind: days, first and last day, most providers (picks what to show)."""
    return (
        "SELECT gpu, pricing, count(*) AS days, min(snapshot_date) AS first_day, "
        "max(snapshot_date) AS last_day, max(providers) AS providers, max(offers) AS offers, "
        "count(index_usd) AS published_days FROM price_index GROUP BY gpu, pricing ORDER BY gpu, pricing",
        {},
    )


def index_history_query(gpus: list[str], pricing: str, start, end) -> tuple[str, dict]:
    """price_index_daily for some GPUs, one pricing kind, start..end (dates, inclusive)."""
    names = _bounded_gpus(gpus)
    return (
        "SELECT snapshot_date, gpu, pricing, providers, offers, p10_usd, median_usd, p90_usd, index_usd, "
        "chained_index_usd, chain_basis, matched_offers, matched_providers, link_factor, withheld_reason "
        f"FROM price_index_daily WHERE gpu IN ({', '.join('$' + k for k in names)}) AND pricing = $pricing "
        "AND snapshot_date BETWEEN $start AND $end ORDER BY gpu, snapshot_date",
        {**names, "pricing": pricing, "start": start, "end": end},
    )


def provider_history_query(gpu: str, pricing: str, start, end) -> tuple[str, dict]:
    """One GPU's median price per provider (the cloud behind a reseller) per snapshot day, from
    its intervals expanded over the range's snapshot days only (not through the offers view,
    whose observation joins this summary does not need)."""
    return (
        "SELECT s.snapshot_date, coalesce(i.underlying_provider, i.provider) AS provider, "
        "median(i.price_usd_per_gpu_hour) AS median_usd, count(*) AS offers, "
        "string_agg(DISTINCT i.source, ', ' ORDER BY i.source) AS sources "
        "FROM offer_intervals i JOIN source_snapshots s "
        "ON s.source = i.source AND s.snapshot_date BETWEEN i.valid_from AND i.valid_to "
        "WHERE i.gpu = $gpu AND i.pricing = $pricing AND i.valid_to >= $start AND i.valid_from <= $end "
        "AND s.snapshot_date BETWEEN $start AND $end AND i.price_usd_per_gpu_hour > 0 "
        "GROUP BY ALL ORDER BY provider, s.snapshot_date",
        {"gpu": gpu, "pricing": pricing, "start": start, "end": end},
    )


def reference_history_query(step: str, pricing_asked: str) -> tuple[str, dict]:
    """The stored reference-run history (warehouse/reference_history.py) of one step and pricing
    asked: every run's rows, a few thousand at most."""
    return (
        "SELECT * EXCLUDE (step, pricing_asked) FROM reference_run_history "
        "WHERE step = $step AND pricing_asked = $pricing ORDER BY run, period, generation",
        {"step": step, "pricing": pricing_asked},
    )


def reference_periods_query(step: str, pricing_asked: str) -> tuple[str, dict]:
    """The periods priced for that step and pricing (with or without a plan), oldest first."""
    return (
        "SELECT period, as_of FROM reference_run_periods WHERE step = $step AND pricing_asked = $pricing ORDER BY period",
        {"step": step, "pricing": pricing_asked},
    )


def market_quote_models_query() -> tuple[str, dict]:
    """The GPU models market-level sources quoted, with their span and days (small: a summary)."""
    return (
        "SELECT gpu_model, string_agg(DISTINCT source, ', ' ORDER BY source) AS sources, "
        "min(snapshot_date) AS first_day, max(snapshot_date) AS last_day, "
        "count(DISTINCT snapshot_date) AS days, count(DISTINCT provider) AS providers, sum(quotes) AS quotes "
        "FROM market_quotes GROUP BY gpu_model ORDER BY quotes DESC",
        {},
    )


def market_quotes_query(gpu_model: str, start, end) -> tuple[str, dict]:
    """One GPU model's market-level quotes per provider and day (cheapest, median, dearest per
    instance-hour): the daily multi-provider series whose GPU count is not stated."""
    return (
        "SELECT snapshot_date, provider, source, quotes, cheapest_usd_per_instance_hour, "
        "median_usd_per_instance_hour, dearest_usd_per_instance_hour, source_url "
        "FROM market_quotes_daily WHERE gpu_model = $model AND snapshot_date BETWEEN $start AND $end "
        "ORDER BY provider, snapshot_date",
        {"model": gpu_model, "start": start, "end": end},
    )


def price_steps_query(gpu: str, pricing: str, start, end, min_pct: float = PRICE_STEP_PCT) -> tuple[str, dict]:
    """One GPU's offers whose price changed by more than `min_pct` % since the offer's previous
    snapshot day, at the new price per GPU-hour. The comparison of the price_changes view, read
    from this GPU's intervals (a price run each) instead of its per-day rows: a step is an
    interval whose price differs from the offer's previous interval's."""
    return (
        "WITH runs AS (SELECT valid_from, source, coalesce(underlying_provider, provider) AS provider, "
        "region, instance_type, gpu_count, price_usd_per_hour, "
        "lag(price_usd_per_hour) OVER offer_runs AS old_price, lag(valid_to) OVER offer_runs AS previous_snapshot_date "
        "FROM offer_intervals WHERE gpu = $gpu AND pricing = $pricing AND valid_from <= $end "
        "WINDOW offer_runs AS (PARTITION BY source, provider, region, instance_type, pricing ORDER BY valid_from)) "
        "SELECT valid_from AS snapshot_date, provider, source, region, instance_type, "
        "round(100 * (price_usd_per_hour / old_price - 1), 2) AS change_pct, previous_snapshot_date, "
        "old_price / gpu_count AS old_usd, price_usd_per_hour / gpu_count AS new_usd FROM runs "
        "WHERE valid_from BETWEEN $start AND $end AND old_price > 0 AND gpu_count > 0 "
        "AND price_usd_per_hour <> old_price "
        "AND abs(100 * (price_usd_per_hour / old_price - 1)) > $min_pct ORDER BY snapshot_date, provider",
        {"gpu": gpu, "pricing": pricing, "start": start, "end": end, "min_pct": min_pct},
    )
