"""The read-only SQL surface holds against hostile and runaway SQL, and says what stopped it.

The dashboard's SQL page and `gpu-prices sql` run any text a user types on the server. Each
statement below is one way to write, read files, reach the network, change settings, learn the
server's paths or pin the machine. Every one must be refused, denied by DuckDB's locked
configuration, or stopped by a limit with a one-line message naming the limit, and must leave
the published warehouse byte-for-byte unchanged and write no file. The runaway cases run under
small limits so the module stays quick; the limits themselves are what is being tested.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from tests.conftest import PROJECT_ROOT, run_cli
from warehouse import read
from warehouse.store import Warehouse

# Small limits for the runaway cases: each stops within seconds.
QUICK = read.SqlLimits(timeout_s=3, memory_limit="200MB", max_temp_directory_size="50MB", max_rows=1000,
                       result_limit="16MB")
SLACK_S = 10  # time allowed beyond the limit for the interrupt to land on a loaded machine

REFUSED, DENIED, STOPPED, CAPPED = "refused", "denied", "stopped", "capped"
TARGET = "{target}"  # replaced by a path under the test's tmp_path; it must never appear

HOSTILE = [
    # -- writes --------------------------------------------------------------------------------
    ("DELETE FROM offers", REFUSED, "DELETE"),
    ("UPDATE offers SET price_usd_per_hour = 0", REFUSED, "UPDATE"),
    ("INSERT INTO offers SELECT * FROM offers", REFUSED, "INSERT"),
    ("WITH doomed AS (SELECT 1) DELETE FROM offers", REFUSED, "DELETE"),
    ("CREATE TABLE t AS SELECT 1", REFUSED, "CREATE"),
    ("CREATE TEMP TABLE t (a INT)", REFUSED, "CREATE"),
    ("CREATE OR REPLACE VIEW latest_offers AS SELECT 1", REFUSED, "CREATE"),
    ("CREATE MACRO evil() AS 1", REFUSED, "CREATE"),
    ("DROP TABLE offers", REFUSED, "DROP"),
    ("ALTER TABLE offers RENAME TO gone", REFUSED, "ALTER"),
    ("TRUNCATE offers", REFUSED, "TRUNCATE"),
    ("CHECKPOINT", REFUSED, "CHECKPOINT"),
    ("VACUUM", REFUSED, "VACUUM"),
    ("BEGIN TRANSACTION", REFUSED, "BEGIN"),
    ("COMMENT ON TABLE offers IS 'x'", REFUSED, "COMMENT"),
    ("SELECT 1; DROP TABLE offers", REFUSED, "one statement at a time"),
    ("PREPARE p AS SELECT 1", REFUSED, "PREPARE"),
    ("SELECT * FROM checkpoint()", REFUSED, "checkpoint"),
    # -- files ---------------------------------------------------------------------------------
    (f"COPY offers TO '{TARGET}'", REFUSED, "COPY"),
    (f"COPY (SELECT 1) TO '{TARGET}' (FORMAT parquet)", REFUSED, "COPY"),
    (f"EXPORT DATABASE '{TARGET}'", REFUSED, "EXPORT"),
    ("IMPORT DATABASE '/etc'", REFUSED, "IMPORT"),
    ("SELECT * FROM read_csv('/etc/passwd')", DENIED, None),
    ("SELECT * FROM '/etc/passwd'", "failed (CatalogException)", None),  # no replacement scan of files
    ("SELECT * FROM read_text('/etc/hostname')", DENIED, None),
    ("SELECT * FROM read_blob('/etc/hostname')", DENIED, None),
    ("SELECT * FROM read_json_auto('/etc/hostname')", DENIED, None),
    ("SELECT * FROM read_parquet('/tmp/*.parquet')", DENIED, None),
    ("SELECT * FROM glob('/*')", DENIED, None),
    ("SELECT * FROM sniff_csv('/etc/passwd')", DENIED, None),
    ("SELECT * FROM parquet_metadata('/etc/hostname')", DENIED, None),
    # -- network and other databases -------------------------------------------------------------
    ("SELECT * FROM read_csv('https://example.com/x.csv')", DENIED, None),
    ("SELECT * FROM 'https://example.com/x.parquet'", DENIED, None),
    ("ATTACH 'https://example.com/x.duckdb' AS remote", REFUSED, "ATTACH"),
    (f"ATTACH '{TARGET}' AS other", REFUSED, "ATTACH"),
    ("ATTACH ':memory:' AS scratch", REFUSED, "ATTACH"),
    ("DETACH gpu_prices", REFUSED, "DETACH"),
    ("USE memory", REFUSED, "USE"),
    # -- extensions ----------------------------------------------------------------------------
    ("INSTALL httpfs", REFUSED, "INSTALL"),
    ("FORCE INSTALL httpfs", REFUSED, "FORCE INSTALL"),
    ("LOAD httpfs", REFUSED, "LOAD"),
    ("LOAD '/tmp/evil.duckdb_extension'", REFUSED, "LOAD"),
    ("UPDATE EXTENSIONS", REFUSED, "UPDATE"),
    # -- settings ------------------------------------------------------------------------------
    ("SET enable_external_access = true", REFUSED, "SET"),
    ("SET memory_limit = '100GB'", REFUSED, "SET"),
    ("SET lock_configuration = false", REFUSED, "SET"),
    ("RESET threads", REFUSED, "RESET"),
    ("SET VARIABLE x = 1", REFUSED, "SET"),
    ("PRAGMA memory_limit = '100GB'", REFUSED, "PRAGMA"),
    ("PRAGMA database_list", REFUSED, "PRAGMA"),
    ("CALL pragma_database_list()", REFUSED, "CALL"),
    ("SELECT * FROM enable_logging(storage_path := '/tmp/x')", REFUSED, "enable_logging"),
    ("SELECT * FROM enable_profiling()", REFUSED, "enable_profiling"),
    # -- metadata that discloses server paths --------------------------------------------------
    ("SELECT path FROM duckdb_databases()", REFUSED, "duckdb_databases"),
    ("FROM duckdb_databases", REFUSED, "duckdb_databases"),
    ("SELECT * FROM system.main.duckdb_databases", REFUSED, "duckdb_databases"),
    ('SELECT * FROM "DuckDB_Databases"()', REFUSED, "duckdb_databases"),
    ("SELECT * FROM pragma_database_list", REFUSED, "pragma_database_list"),
    ("SELECT * FROM duckdb_settings()", REFUSED, "duckdb_settings"),
    ("SELECT * FROM pg_catalog.pg_settings", REFUSED, "pg_settings"),
    ("SELECT install_path FROM duckdb_extensions()", REFUSED, "duckdb_extensions"),
    ("SELECT * FROM duckdb_temporary_files()", REFUSED, "duckdb_temporary_files"),
    ("SELECT * FROM duckdb_secrets()", REFUSED, "duckdb_secrets"),
    ("SELECT * FROM which_secret('s3://bucket/x', 's3')", REFUSED, "which_secret"),
    ("SELECT * FROM duckdb_logs", REFUSED, "duckdb_logs"),
    ("SELECT current_setting('temp_directory')", REFUSED, "temp_directory"),
    ("SELECT current_setting('TEMP_DIRECTORY')", REFUSED, "temp_directory"),
    ("SELECT current_setting('home_directory')", REFUSED, "home_directory"),
    ("SELECT current_setting('allowed_paths')", REFUSED, "allowed_paths"),
    ("SELECT current_setting('allowed_directories')", REFUSED, "allowed_directories"),
    ("SELECT current_setting('secret_directory')", REFUSED, "secret_directory"),
    ("SELECT current_setting('extension_directory')", REFUSED, "extension_directory"),
    ("SELECT current_setting('temp_' || 'directory')", REFUSED, "current_setting"),
    ("SELECT current_setting(name) FROM (SELECT 'temp_directory' AS name)", REFUSED, "current_setting"),
    ("SELECT * FROM query('SELECT path FROM duckdb_' || 'databases()')", REFUSED, "query()"),
    ("SELECT * FROM query_table('duckdb_' || 'databases')", REFUSED, "query_table()"),
    ("SELECT * FROM histogram('duckdb_' || 'databases', path)", REFUSED, "histogram()"),
    ("SUMMARIZE duckdb_databases", REFUSED, "duckdb_databases"),
    ("SELECT * FROM json_execute_serialized_sql(json_serialize_sql('SELECT 1'))", REFUSED,
     "json_execute_serialized_sql"),
    # -- runaway: stopped by a limit --------------------------------------------------------------
    ("SELECT count(*) FROM range(100000) a, range(100000) b, range(1000) c", STOPPED, "time limit"),
    ("WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT count(*) FROM r", STOPPED,
     "time limit"),
    ("SELECT count(*) FROM range(1000000) a JOIN range(1000000) b ON a.range + b.range = -1", STOPPED,
     "time limit"),
    ("SELECT pg_sleep(600)", STOPPED, "time limit"),
    ("SELECT list(range) FROM range(1000000000)", STOPPED, "memory limit"),
    ("SELECT string_agg(repeat('x', 1000), '') FROM range(10000000)", STOPPED, "memory limit"),
    ("SELECT count(*) FROM (SELECT DISTINCT range * 7 FROM range(50000000))", STOPPED, "limit"),
    # -- runaway: cut by the row or result-size cap ---------------------------------------------
    ("WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT * FROM r", CAPPED, "row limit"),
    ("SELECT * FROM range(100000) a, range(100000) b", CAPPED, "row limit"),
    ("SELECT * FROM range(10000000) ORDER BY random()", CAPPED, "row limit"),
    ("SELECT repeat('x', 100000) AS wide FROM range(1000)", CAPPED, "result-size limit"),
]


def _published_digest(path: Path) -> str:
    return hashlib.sha256(Warehouse(path).published.read_bytes()).hexdigest()


def _files_under(folder: Path) -> set[Path]:
    return {p for p in folder.rglob("*") if p.is_file()}


def _server_paths(warehouse: Path) -> list[str]:
    return [str(warehouse.resolve().parent), str(Path.home()), sys.prefix]


@pytest.mark.parametrize(("sql", "expected", "words"), HOSTILE, ids=[h[0][:60] for h in HOSTILE])
def test_hostile_statement_is_refused_or_bounded(replayed_warehouse, tmp_path, sql, expected, words):
    target = tmp_path / "stolen"
    sql = sql.replace(TARGET, str(target))
    before_digest = _published_digest(replayed_warehouse)
    before_files = _files_under(replayed_warehouse.parent)
    started = time.monotonic()
    outcome, message = None, ""
    try:
        result = read.run_user_sql(sql, replayed_warehouse, QUICK)
        outcome, message = CAPPED if result.truncated else "ran", " ".join(result.notes())
    except read.SqlRefused as exc:
        outcome, message = REFUSED, str(exc)
    except read.SqlStopped as exc:
        outcome, message = STOPPED, str(exc)
    except duckdb.PermissionException as exc:
        outcome, message = DENIED, str(exc)
    except duckdb.Error as exc:
        outcome, message = f"failed ({type(exc).__name__})", str(exc)
    elapsed = time.monotonic() - started

    assert outcome == expected, f"{sql!r}: {outcome}: {message}"
    if words:
        assert words in message, message
    if outcome in (REFUSED, STOPPED, CAPPED):
        assert "\n" not in message.strip(), "one line, please"
    for folder in _server_paths(replayed_warehouse):
        assert folder not in message, f"the message shows a server path: {message}"
    assert elapsed < QUICK.timeout_s + SLACK_S, f"took {elapsed:.1f} s"
    assert not target.exists()
    assert _published_digest(replayed_warehouse) == before_digest
    assert _files_under(replayed_warehouse.parent) == before_files


def test_the_hostile_list_is_long_enough():
    assert len(HOSTILE) >= 40
    assert sum(1 for _, kind, _ in HOSTILE if kind in (STOPPED, CAPPED)) >= 8


# -- the statement type in refusals ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("sql", "named"),
    [
        ("USE memory", "USE"), ("INSTALL httpfs", "INSTALL"), ("FORCE INSTALL httpfs", "FORCE INSTALL"),
        ("LOAD httpfs", "LOAD"), ("SET threads = 1", "SET"), ("RESET threads", "RESET"),
        ("  -- a comment first\n  /* and another */ use memory;", "USE"),
        ("WITH x AS (SELECT 1) INSERT INTO offers SELECT * FROM offers", "INSERT"),
    ],
)
def test_refusals_name_the_statement_as_written(sql, named):
    with pytest.raises(read.SqlRefused) as caught:
        read.check_user_sql(sql)
    assert str(caught.value).startswith(f"{named} statements are refused"), str(caught.value)


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT 1", "FROM latest_offers LIMIT 1", "DESCRIBE latest_offers", "SUMMARIZE SELECT 1 AS a",
        "SHOW TABLES", "EXPLAIN SELECT 1", "WITH x AS (SELECT 1 AS a) SELECT a FROM x",
        "SELECT current_setting('threads')", "SELECT query FROM (SELECT 1 AS query)",
    ],
)
def test_ordinary_reads_are_not_refused(replayed_warehouse, sql):
    result = read.run_user_sql(sql, replayed_warehouse)
    assert result.frame.width >= 1


def test_a_string_naming_a_disclosing_function_is_refused_too():
    """Table macros such as histogram() take a table name as a string; the check refuses the
    names wherever they appear rather than guess which functions read them."""
    with pytest.raises(read.SqlRefused, match="duckdb_databases"):
        read.check_user_sql("SELECT * FROM pragma_table_info('duckdb_databases')")


# -- metadata: found by enumeration, so a function DuckDB adds later is covered -----------------


def _trusted(replayed_warehouse):
    return read.connect(replayed_warehouse)


def test_every_path_valued_setting_is_refused(replayed_warehouse):
    con = _trusted(replayed_warehouse)
    try:
        settings = con.sql("SELECT name, value FROM duckdb_settings()").fetchall()
    finally:
        con.close()
    leaking = {name.lower() for name, value in settings if value and os.sep in str(value)
               and any(folder in str(value) for folder in [*_server_paths(replayed_warehouse), "/tmp", "/root", "/home"])}
    assert leaking, "the check below would pass on anything"
    assert leaking <= read.PATH_SETTINGS, f"settings holding paths but not refused: {leaking - read.PATH_SETTINGS}"
    for name in sorted(leaking):
        with pytest.raises(read.SqlRefused):
            read.check_user_sql(f"SELECT current_setting('{name}')")


def _no_argument_table_functions(replayed_warehouse) -> list[str]:
    con = _trusted(replayed_warehouse)
    try:
        rows = con.sql(
            "SELECT DISTINCT function_name FROM duckdb_functions() "
            "WHERE function_type = 'table' AND len(parameters) = 0 ORDER BY 1"
        ).fetchall()
        views = con.sql("SELECT schema_name, view_name FROM duckdb_views() WHERE internal ORDER BY 2").fetchall()
    finally:
        con.close()
    return [f'"{name}"()' for (name,) in rows] + [f'"{schema}"."{view}"' for schema, view in views]


def test_no_metadata_function_or_view_shows_a_server_path(replayed_warehouse):
    """Every table function callable without arguments, and every built-in view, run through
    the user surface: each is refused, fails, or answers without the server's folders."""
    relations = _no_argument_table_functions(replayed_warehouse)
    assert len(relations) > 50
    folders = _server_paths(replayed_warehouse) + [str(read._private_temp_directory())]
    answered = 0
    for relation in relations:
        try:
            result = read.run_user_sql(f"SELECT * FROM {relation}", replayed_warehouse, QUICK)
        except (read.SqlRefused, read.SqlStopped, duckdb.Error) as exc:
            text = str(exc)
        else:
            answered += 1
            text = result.frame.write_json() if result.frame.width else ""
            text += " ".join(result.frame.columns)
        for folder in folders:
            assert folder not in text, f"{relation} shows {folder}"
    assert answered > 20, "the enumeration ran almost nothing"


def test_error_messages_do_not_show_server_paths(replayed_warehouse):
    """duckdb_extensions() fails with the extension folder in DuckDB's own message; the message a
    user sees has it scrubbed (the function is refused anyway, so call DuckDB's error directly)."""
    home = str(Path.home())
    raw = f'Permission Error: Cannot access directory "{home}/.duckdb/extensions/x"'
    assert home not in read.scrub(raw) and "<server path>" in read.scrub(raw)


# -- the limits ------------------------------------------------------------------------------------


def test_defaults_suit_a_shared_server():
    limits = read.SqlLimits()
    assert limits.timeout_s <= 60 and limits.max_rows <= 1_000_000 and limits.threads <= 4
    assert read.size_bytes(limits.memory_limit) <= 4 * 10**9


def test_limits_are_set_and_locked_on_every_read_only_connection(replayed_warehouse):
    limits = read.SqlLimits(memory_limit="300MB", threads=1, max_temp_directory_size="40MB")
    con = read.connect(replayed_warehouse, limits=limits)
    try:
        memory, threads, spill, locked = con.execute(
            "SELECT current_setting('memory_limit'), current_setting('threads'), "
            "current_setting('max_temp_directory_size'), current_setting('lock_configuration')"
        ).fetchone()
        assert (memory, threads, spill, locked) == ("286.1 MiB", 1, "38.1 MiB", True)
        with pytest.raises(duckdb.Error, match="locked"):
            con.execute("SET memory_limit = '10GB'")
    finally:
        con.close()


def test_limits_come_from_the_environment_and_overrides(monkeypatch):
    monkeypatch.setenv(read.TIMEOUT_ENV, "7.5")
    monkeypatch.setenv(read.MAX_ROWS_ENV, "123")
    monkeypatch.setenv(read.MEMORY_ENV, "512MB")
    limits = read.SqlLimits.from_env(max_rows=None, threads=3)
    assert (limits.timeout_s, limits.max_rows, limits.memory_limit, limits.threads) == (7.5, 123, "512MB", 3)
    monkeypatch.setenv(read.MEMORY_ENV, "lots")
    with pytest.raises(ValueError, match="512MB or 2GB"):
        read.SqlLimits.from_env()
    monkeypatch.setenv(read.MEMORY_ENV, "1GB")
    monkeypatch.setenv(read.TIMEOUT_ENV, "soon")
    with pytest.raises(ValueError, match="environment"):
        read.SqlLimits.from_env()


def test_row_cap_says_so(replayed_warehouse):
    result = read.run_user_sql("SELECT * FROM range(1000) ORDER BY range DESC", replayed_warehouse,
                               read.SqlLimits(max_rows=10))
    assert result.frame["range"].to_list() == list(range(999, 989, -1))
    assert result.cut_at_rows and "first 10 rows (the SQL row limit" in result.notes()[0]
    exact = read.run_user_sql("SELECT * FROM range(10)", replayed_warehouse, read.SqlLimits(max_rows=10))
    assert not exact.truncated and exact.notes() == []


def test_result_size_cap_says_so(replayed_warehouse):
    result = read.run_user_sql("SELECT repeat('x', 10000) AS s FROM range(1000)", replayed_warehouse,
                               read.SqlLimits(result_limit="1MB"))
    assert result.cut_at_bytes and 0 < result.frame.height < 1000
    assert result.frame["s"].str.len_bytes().sum() <= 1_000_000
    assert "result-size limit" in result.notes()[0]


def test_cancel_stops_a_running_query(replayed_warehouse):
    running = read.UserQuery(
        "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT count(*) FROM r",
        replayed_warehouse, read.SqlLimits(timeout_s=120),
    )
    time.sleep(0.5)
    assert not running.done
    running.cancel()
    assert running.wait(SLACK_S), "cancel did not stop the query"
    with pytest.raises(read.SqlCancelled, match="cancelled after"):
        running.result()
    assert running.elapsed_s < SLACK_S


def test_the_cross_join_from_the_issue_stops_in_the_cli(replayed_warehouse):
    """The issue's example, through the real CLI: it stops by itself with one line naming the
    limit (a short --timeout here; the default of 30 s behaves the same, only later)."""
    started = time.monotonic()
    result = run_cli("sql", "select count(*) from range(100000) a, range(100000) b, range(1000) c",
                     "--timeout", "3", "--warehouse", str(replayed_warehouse), check=False, timeout=120)
    elapsed = time.monotonic() - started
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert lines == ["Error: stopped after 3 s (the SQL time limit; narrow the query, or raise the limit "
                     "with --timeout or GPU_PRICES_SQL_TIMEOUT_S)"], result.stderr
    assert elapsed < 3 + 30, "including interpreter start-up"


def test_the_endless_recursive_cte_stops_in_the_cli_by_environment(replayed_warehouse):
    env = {**os.environ, read.TIMEOUT_ENV: "2"}
    result = subprocess.run(
        [sys.executable, "-m", "cli.main", "sql",
         "with recursive r(n) as (select 1 union all select n + 1 from r) select count(*) from r",
         "--warehouse", str(replayed_warehouse)],
        cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 1 and "stopped after 2 s (the SQL time limit" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


def test_ctrl_c_cancels_the_cli_query(replayed_warehouse):
    proc = subprocess.Popen(
        [sys.executable, "-m", "cli.main", "sql",
         "with recursive r(n) as (select 1 union all select n + 1 from r) select count(*) from r",
         "--timeout", "300", "--warehouse", str(replayed_warehouse)],
        cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        time.sleep(6)  # start-up, then the query is running
        assert proc.poll() is None
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=SLACK_S + 20)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 1 and "cancelled (Ctrl+C)" in stderr, stderr
    assert "Traceback" not in stderr


def test_cli_notes_a_cut_result_on_stderr_only(replayed_warehouse):
    result = run_cli("sql", "select * from range(50)", "--max-rows", "5", "--format", "csv",
                     "--warehouse", str(replayed_warehouse))
    assert result.stdout.splitlines() == ["range", "0", "1", "2", "3", "4"]
    assert "first 5 rows (the SQL row limit" in result.stderr


def test_cli_rejects_bad_limits_without_a_traceback(replayed_warehouse):
    for flags, words in ((["--memory-limit", "lots"], "512MB or 2GB"), (["--timeout", "0"], "timeout"),
                         (["--max-rows", "0"], "max-rows")):
        result = run_cli("sql", "select 1", *flags, "--warehouse", str(replayed_warehouse), check=False)
        assert result.returncode == 2 and words in result.stderr, result.stderr
        assert "Traceback" not in result.stderr


# -- the dashboard's SQL page ---------------------------------------------------------------------


def _dashboard_run(monkeypatch, warehouse, sql, **env):
    from tests.test_dashboard_pages import open_page

    monkeypatch.setenv("GPU_PRICES_WAREHOUSE", str(warehouse))
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    at = open_page("sql")
    at.text_area(key="sql_query").input(sql)
    started = time.monotonic()
    at.button(key="sql_run").click().run()
    assert not at.exception, [e.value for e in at.exception]
    return at, time.monotonic() - started


def test_dashboard_stops_an_endless_recursive_cte(replayed_warehouse, monkeypatch):
    at, elapsed = _dashboard_run(
        monkeypatch, replayed_warehouse,
        "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT count(*) FROM r",
        **{read.TIMEOUT_ENV: "2"},
    )
    assert [e.value for e in at.error] == [
        "Stopped: the query stopped after 2 s (the SQL time limit; narrow the query, or raise the limit "
        "with --timeout or GPU_PRICES_SQL_TIMEOUT_S)."
    ]
    assert elapsed < 2 + SLACK_S


def test_dashboard_says_when_rows_were_cut(replayed_warehouse, monkeypatch):
    at, _ = _dashboard_run(monkeypatch, replayed_warehouse, "SELECT * FROM range(100000) a, range(100000) b",
                           **{read.MAX_ROWS_ENV: "500"})
    assert len(at.dataframe[-1].value) == 500
    assert any("first 500 rows (the SQL row limit" in w.value for w in at.warning)


def test_dashboard_refuses_path_metadata(replayed_warehouse, monkeypatch):
    at, _ = _dashboard_run(monkeypatch, replayed_warehouse, "SELECT path FROM duckdb_databases()")
    assert at.error and at.error[0].value.startswith("Refused: duckdb_databases is refused")
    assert str(replayed_warehouse.parent) not in " ".join(e.value for e in at.error)
