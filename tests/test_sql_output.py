"""Every DuckDB type comes out of every output format: `gpu-prices sql` as a table, CSV, JSON and
Parquet, and the dashboard's SQL page (its table and both downloads).

Before, `--format csv` crashed on LIST/STRUCT/MAP columns (the project's own
`ingest_runs.good_raw_ids`) and any INTERVAL crashed every format and the dashboard; UHUGEINT
above 10^38 silently came out as -1. The matrix below pins what each type becomes in each text
format (the rules are in warehouse/results.py) and that Parquet round-trips the value.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import date, datetime, time, timezone
from decimal import Decimal

import polars as pl
import pytest
from click.testing import CliRunner

from cli.main import main
from warehouse import read

# name -> (SQL expression, CSV/table text, JSON value, Parquet value)
TYPES = {
    "boolean": ("true", "true", True, True),
    "hugeint": ("170141183460469231731687303715884105727::HUGEINT", "170141183460469231731687303715884105727",
                170141183460469231731687303715884105727, 170141183460469231731687303715884105727),
    "uhugeint": ("340282366920938463463374607431768211455::UHUGEINT", "340282366920938463463374607431768211455",
                 340282366920938463463374607431768211455, 340282366920938463463374607431768211455),
    "decimal": ("1.50::DECIMAL(5,2)", "1.50", 1.5, Decimal("1.50")),
    "decimal38": ("12345678901234567890.123456789012345678::DECIMAL(38,18)", "12345678901234567890.123456789012345678",
                  "12345678901234567890.123456789012345678", Decimal("12345678901234567890.123456789012345678")),
    "double": ("0.1::DOUBLE", "0.1", 0.1, 0.1),
    "blob": ("'\\xDE\\xAD'::BLOB", "\\xdead", "\\xdead", b"\xde\xad"),
    "bit": ("'0101'::BIT", "0101", "0101", "0101"),
    "uuid": ("'6ba7b810-9dad-11d1-80b4-00c04fd430c8'::UUID", "6ba7b810-9dad-11d1-80b4-00c04fd430c8",
             "6ba7b810-9dad-11d1-80b4-00c04fd430c8", "6ba7b810-9dad-11d1-80b4-00c04fd430c8"),
    "date": ("DATE '2024-01-02'", "2024-01-02", "2024-01-02", date(2024, 1, 2)),
    "date_infinity": ("'infinity'::DATE", "infinity", "infinity", "infinity"),
    "time": ("TIME '04:05:06.789'", "04:05:06.789", "04:05:06.789000", time(4, 5, 6, 789000)),
    "timetz": ("'04:05:06+02'::TIMETZ", "04:05:06+02", "04:05:06+02", "04:05:06+02"),
    "time_ns": ("'04:05:06.123456789'::TIME_NS", "04:05:06.123456789", "04:05:06.123456789", "04:05:06.123456789"),
    "timestamp": ("TIMESTAMP '2024-01-02 03:04:05.678'", "2024-01-02T03:04:05.678000", "2024-01-02T03:04:05.678000",
                  datetime(2024, 1, 2, 3, 4, 5, 678000)),
    "timestamp_ns": ("'2024-01-02 03:04:05.123456789'::TIMESTAMP_NS", "2024-01-02T03:04:05.123456789",
                     "2024-01-02T03:04:05.123456789", None),
    "timestamptz": ("TIMESTAMPTZ '2024-01-02 03:04:05.5+00'", "2024-01-02T03:04:05.500000+0000",
                    "2024-01-02T03:04:05.500000+00:00", datetime(2024, 1, 2, 3, 4, 5, 500000, tzinfo=timezone.utc)),
    "timestamp_far": ("TIMESTAMP '294247-01-10 04:00:54'", "294247-01-10 04:00:54", "294247-01-10 04:00:54",
                      "294247-01-10 04:00:54"),
    "interval": ("INTERVAL '1 year 2 months 3 days 04:05:06.5'", "P1Y2M3DT4H5M6.5S", "P1Y2M3DT4H5M6.5S",
                 "P1Y2M3DT4H5M6.5S"),
    "interval_negative": ("-INTERVAL '36 hours'", "PT-36H", "PT-36H", "PT-36H"),
    "interval_zero": ("INTERVAL 0 DAY", "PT0S", "PT0S", "PT0S"),
    "interval_mixed_signs": ("INTERVAL '-1 month 2 days -3.25 seconds'", "P-1M2DT-3.25S", "P-1M2DT-3.25S",
                             "P-1M2DT-3.25S"),
    "enum": ("'ok'::ENUM('sad', 'ok')", "ok", "ok", "ok"),
    "list": ("[1, 2, 3]", "[1,2,3]", [1, 2, 3], [1, 2, 3]),
    "list_with_null": ("['a', NULL]", '["a",null]', ["a", None], ["a", None]),
    "struct": ("{'a': 1, 'b': 'x'}", '{"a":1,"b":"x"}', {"a": 1, "b": "x"}, {"a": 1, "b": "x"}),
    "map": ("MAP {'k': 1, 'j': 2}", '{"k":1,"j":2}', {"k": 1, "j": 2}, None),
    "array": ("[1, 2, 3]::INTEGER[3]", "[1,2,3]", [1, 2, 3], [1, 2, 3]),
    "union": ("union_value(num := 2)::UNION(num INTEGER, str VARCHAR)", "2", "2", "2"),
    "tuple": ("(1, 'a')", '{"element1":1,"element2":"a"}', {"element1": 1, "element2": "a"},
              {"element1": 1, "element2": "a"}),
    "nested_interval": ("[{'iv': INTERVAL '1 day', 'm': MAP {1: [DATE '2024-01-01']}}]",
                        '[{"iv":"P1D","m":{"1":["2024-01-01"]}}]', [{"iv": "P1D", "m": {"1": ["2024-01-01"]}}], None),
    "list_of_blobs": ("['\\x01'::BLOB, NULL]", '["\\\\x01",null]', ["\\x01", None], [b"\x01", None]),
    "list_of_infinite_dates": ("['infinity'::DATE, DATE '2024-01-01']", "[infinity, 2024-01-01]",
                               "[infinity, 2024-01-01]", "[infinity, 2024-01-01]"),
    "json": ("'{\"a\": [1, 2]}'::JSON", '{"a": [1, 2]}', '{"a": [1, 2]}', '{"a": [1, 2]}'),
    "bignum": ("'123456789012345678901234567890123456789012'::BIGNUM", "123456789012345678901234567890123456789012",
               "123456789012345678901234567890123456789012", "123456789012345678901234567890123456789012"),
    "null": ("NULL", "", None, None),
}

# Where a table cell reads differently from CSV: Python's own text for times (a space, not "T").
TABLE_TEXT = {
    "time": "04:05:06.789000",
    "timestamp": "2024-01-02 03:04:05.678000",
    "timestamptz": "2024-01-02 03:04:05.500000+00:00",
}


def sql_run(warehouse, *args):
    result = CliRunner().invoke(main, ["sql", *args, "--warehouse", str(warehouse)])
    assert result.exit_code == 0, (result.output, result.exception)
    return result


@pytest.mark.parametrize("name", list(TYPES))
def test_csv(replayed_warehouse, name):
    expr, text, _, _ = TYPES[name]
    out = sql_run(replayed_warehouse, f"SELECT {expr} AS v, 'end' AS after", "--format", "csv").stdout
    rows = list(csv.reader(io.StringIO(out)))
    assert rows == [["v", "after"], [text, "end"]]


@pytest.mark.parametrize("name", list(TYPES))
def test_json(replayed_warehouse, name):
    expr, _, value, _ = TYPES[name]
    out = sql_run(replayed_warehouse, f"SELECT {expr} AS v", "--format", "json").stdout
    assert json.loads(out) == [{"v": value}]


@pytest.mark.parametrize("name", list(TYPES))
def test_table(replayed_warehouse, name):
    expr, text, _, _ = TYPES[name]
    text = TABLE_TEXT.get(name, text)
    out = sql_run(replayed_warehouse, f"SELECT 'start' AS before, {expr} AS v", "--format", "table").stdout
    line = next(row for row in out.splitlines() if "start" in row)
    cells = [c.strip() for c in line.split("│")[1:-1]]
    assert cells == ["start", text]
    assert "1 row(s)" in out


@pytest.mark.parametrize("name", list(TYPES))
def test_parquet(replayed_warehouse, tmp_path, name):
    expr, _, _, value = TYPES[name]
    target = tmp_path / "out.parquet"
    sql_run(replayed_warehouse, f"SELECT {expr} AS v", "--format", "parquet", "--output", str(target))
    back = pl.read_parquet(target)
    expected = read.run_user_sql(f"SELECT {expr} AS v", replayed_warehouse).frame
    assert back.height == 1 and back.columns == ["v"]
    assert back.equals(expected), (back, expected)
    if value is not None:
        got = back["v"][0]
        got = got.to_list() if isinstance(got, pl.Series) else got
        assert got == value


def test_every_type_duckdb_has_in_every_format(replayed_warehouse, tmp_path):
    """test_all_types(): every type DuckDB knows, with its minimum, maximum and NULL."""
    sql = "SELECT * FROM test_all_types()"
    result = read.run_user_sql(sql, replayed_warehouse)
    assert result.frame.shape == (3, 59)
    rows = list(csv.reader(io.StringIO(sql_run(replayed_warehouse, sql, "--format", "csv").stdout)))
    assert len(rows) == 4 and len(rows[0]) == 59
    assert len(json.loads(sql_run(replayed_warehouse, sql, "--format", "json").stdout)) == 3
    assert "3 row(s)" in sql_run(replayed_warehouse, sql, "--format", "table").stdout
    sql_run(replayed_warehouse, sql, "--format", "parquet", "-o", str(tmp_path / "all.parquet"))
    assert pl.read_parquet(tmp_path / "all.parquet").shape == (3, 59)


def test_ingest_runs_good_raw_ids_in_csv(replayed_warehouse):
    """The project's own list column, which crashed --format csv."""
    out = sql_run(replayed_warehouse, "SELECT source, good_raw_ids FROM ingest_runs WHERE good_raw_ids IS NOT NULL "
                  "ORDER BY source LIMIT 3", "--format", "csv").stdout
    rows = list(csv.DictReader(io.StringIO(out)))
    assert rows and all(isinstance(json.loads(r["good_raw_ids"]), list) for r in rows)


def test_duplicate_column_names_stay_apart(replayed_warehouse):
    out = sql_run(replayed_warehouse, "SELECT 1 AS a, 2 AS a", "--format", "json").stdout
    assert json.loads(out) == [{"a": 1, "a_1": 2}]


def test_non_finite_floats_are_json_null_and_csv_text(replayed_warehouse):
    sql = "SELECT 'nan'::DOUBLE AS n, 'inf'::DOUBLE AS i, '-inf'::FLOAT AS m"
    assert json.loads(sql_run(replayed_warehouse, sql, "--format", "json").stdout) == [{"n": None, "i": None, "m": None}]
    assert sql_run(replayed_warehouse, sql, "--format", "csv").stdout.splitlines()[1] == "NaN,inf,-inf"


def test_parquet_goes_to_a_pipe_and_needs_a_file_on_a_terminal(replayed_warehouse):
    out = CliRunner().invoke(main, ["sql", "SELECT 42 AS answer", "--format", "parquet",
                                    "--warehouse", str(replayed_warehouse)])
    assert out.exit_code == 0 and out.stdout_bytes.startswith(b"PAR1")
    assert pl.read_parquet(io.BytesIO(out.stdout_bytes))["answer"].to_list() == [42]


def test_output_file_for_text_formats_and_not_for_tables(replayed_warehouse, tmp_path):
    target = tmp_path / "o.json"
    sql_run(replayed_warehouse, "SELECT 1 AS one", "--format", "json", "-o", str(target))
    assert json.loads(target.read_text()) == [{"one": 1}]
    refused = CliRunner().invoke(main, ["sql", "SELECT 1", "-o", str(tmp_path / "t.txt"),
                                        "--warehouse", str(replayed_warehouse)])
    assert refused.exit_code == 2 and "--output needs --format csv, json or parquet" in refused.output


def test_text_columns_are_noted_on_stderr(replayed_warehouse):
    result = sql_run(replayed_warehouse, "SELECT 'infinity'::DATE AS d", "--format", "csv")
    assert result.stdout.splitlines() == ["d", "infinity"]
    assert "as text, because they hold dates or times outside years 1-9999" in result.stderr


# -- the dashboard's SQL page -------------------------------------------------------------------


@pytest.fixture
def sql_page(replayed_warehouse, monkeypatch):
    from tests.test_dashboard_pages import open_page

    monkeypatch.setenv("GPU_PRICES_WAREHOUSE", str(replayed_warehouse))
    return open_page("sql")


def _run(at, sql):
    at.text_area(key="sql_query").input(sql)
    at.button(key="sql_run").click().run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_dashboard_shows_every_type_and_offers_both_downloads(sql_page):
    exprs = ", ".join(f"{expr} AS {name}" for name, (expr, *_rest) in TYPES.items())
    at = _run(sql_page, f"SELECT {exprs}")
    assert not at.error, [e.value for e in at.error]
    shown = at.dataframe[-1].value
    assert list(shown.columns) == list(TYPES)
    assert shown["interval"][0] == "P1Y2M3DT4H5M6.5S" and shown["list"][0] == "[1,2,3]"
    labels = {b.proto.label for b in at.get("download_button")}
    assert {"Download CSV", "Download Parquet"} <= labels


def test_dashboard_shows_test_all_types(sql_page):
    at = _run(sql_page, "SELECT * FROM test_all_types()")
    assert not at.error, [e.value for e in at.error]
    assert at.dataframe[-1].value.shape == (3, 59)
    assert any("outside years 1-9999" in w.value for w in at.warning)
