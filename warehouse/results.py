"""How any DuckDB result becomes a polars frame that every output can hold, and text-safe copies.

An analyst's query can return any DuckDB type. polars cannot import some of them (INTERVAL,
UNION), silently corrupts others (UHUGEINT above 10^38 came out as -1; TIME WITH TIME ZONE
lost its offset; TIME_NS its nanoseconds) and panics on values outside chrono's range
(±infinity dates, year 294247 timestamps, TIME '24:00:00'). So the result is reshaped in
DuckDB first, by type, and checked once more after the fetch, by value:

* kept as they are: booleans, every integer up to 64 bits, FLOAT, DOUBLE, DECIMAL, VARCHAR (and
  JSON), UUID (as text), DATE, TIME, TIMESTAMP (s/ms/us/ns), TIMESTAMPTZ (us/ns), BLOB, ENUM
  (a polars Categorical), and LIST / ARRAY / STRUCT / MAP / TUPLE of those;
* INTERVAL, at any depth: ISO 8601 duration text in PostgreSQL's `iso_8601` style, one signed
  number per DuckDB component (months, days, microseconds): `P1Y2M3DT4H5M6.5S`, `P-1D`,
  `PT-36H`, `PT0S`;
* HUGEINT / UHUGEINT: exact; a polars Int128 / UInt128 column at the top level, text inside
  nested values;
* every other type (BIT, BIGNUM, UNION, TIME WITH TIME ZONE, TIME_NS, GEOMETRY, VARIANT, and any
  type DuckDB adds later): DuckDB's own text for it (`CAST(x AS VARCHAR)`);
* a DATE / TIMESTAMP / TIME column holding a value outside years 1-9999 (or ±infinity, or
  24:00:00), at any depth: DuckDB's text for the whole column (`infinity`, `294247-01-10 ...`).

`text_safe` then turns a frame into one that CSV writers and the browser's table accept: nested
values as compact JSON, BLOBs as `\\x` hex (PostgreSQL's bytea format), 128-bit integers as
decimal text. `plain_value` is the same rule for one Python value (table cells, JSON output).
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import math
from typing import TYPE_CHECKING

import polars as pl

if TYPE_CHECKING:  # pyarrow is imported when a result is fetched, not when the CLI starts
    import pyarrow as pa

# Types polars holds faithfully, by DuckDBPyType.id. Everything not here and not a container
# becomes text: an allowlist, so a type DuckDB adds later cannot crash an output.
NATIVE_TYPE_IDS = frozenset({
    "boolean", "tinyint", "smallint", "integer", "bigint",
    "utinyint", "usmallint", "uinteger", "ubigint",
    "float", "double", "decimal", "varchar", "uuid", "blob", "enum", "null",
    "date", "time", "timestamp", "timestamp_s", "timestamp_ms", "timestamp_ns",
    "timestamp with time zone", "timestamptz_ns",
})
WIDE_INTEGER_IDS = {"hugeint": pl.Int128, "uhugeint": pl.UInt128}
CONTAINER_IDS = frozenset({"list", "array", "struct", "map", "tuple"})

# Python's datetime (which table and JSON output go through) and chrono (polars' formatting)
# both hold years 1-9999; DuckDB holds far more.
_EPOCH = dt.date(1970, 1, 1)
_MIN_DAY = (dt.date(1, 1, 1) - _EPOCH).days
_MAX_DAY = (dt.date(9999, 12, 31) - _EPOCH).days
_PER_SECOND = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}
_DAY_SECONDS = 86_400


def quote_identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def unique_names(names: list[str]) -> list[str]:
    """Column names with duplicates suffixed _1, _2, ... (polars refuses duplicate names)."""
    seen: set[str] = set()
    out = []
    for name in names:
        candidate, n = name, 0
        while candidate in seen:
            n += 1
            candidate = f"{name}_{n}"
        seen.add(candidate)
        out.append(candidate)
    return out


def _iso_interval_sql(value: str, depth: int) -> str:
    """SQL turning INTERVAL `value` into ISO 8601 text. datepart is evaluated once, through a
    one-element list_transform, because SQL has no local variables."""
    p = f"_p{depth}"
    seconds = f"rtrim(rtrim(printf('%.6f', {p}.microsecond / 1000000), '0'), '.')"
    body = (
        f"'P' || if({p}.year <> 0, {p}.year || 'Y', '') || if({p}.month <> 0, {p}.month || 'M', '')"
        f" || if({p}.day <> 0, {p}.day || 'D', '')"
        f" || if({p}.hour <> 0 OR {p}.minute <> 0 OR {p}.microsecond <> 0, 'T'"
        f" || if({p}.hour <> 0, {p}.hour || 'H', '') || if({p}.minute <> 0, {p}.minute || 'M', '')"
        f" || if({p}.microsecond <> 0, {seconds} || 'S', ''), '')"
    )
    parts = f"datepart(['year', 'month', 'day', 'hour', 'minute', 'microsecond'], {value})"
    text = f"list_transform([{parts}], lambda {p}: {body})[1]"
    return f"CASE WHEN {value} IS NULL THEN NULL WHEN {text} = 'P' THEN 'PT0S' ELSE {text} END"


def presentable_sql(value: str, duck_type, depth: int = 0, as_text: bool = False) -> str | None:
    """SQL turning `value` (of `duck_type`) into types polars holds faithfully, or None when it
    already is one. `as_text` forces DuckDB's text (the out-of-range fallback)."""
    kind = duck_type.id
    if as_text:
        return f"CAST({value} AS VARCHAR)"
    if kind in NATIVE_TYPE_IDS:
        return None
    if kind == "interval":
        return _iso_interval_sql(value, depth)
    if kind in WIDE_INTEGER_IDS or kind not in CONTAINER_IDS:
        return f"CAST({value} AS VARCHAR)"
    children = list(duck_type.children)
    var = f"_v{depth}"
    if kind in ("list", "array"):
        inner = presentable_sql(var, children[0][1], depth + 1)
        return None if inner is None else f"list_transform({value}, lambda {var}: {inner})"
    if kind == "map":
        key = presentable_sql(f"{var}.key", children[0][1], depth + 1)
        item = presentable_sql(f"{var}.value", children[1][1], depth + 1)
        if key is None and item is None:
            return None
        pair = f"struct_pack(key := {key or var + '.key'}, value := {item or var + '.value'})"
        return f"map_from_entries(list_transform(map_entries({value}), lambda {var}: {pair}))"
    # struct / tuple
    fields = [(name, presentable_sql(f"{value}.{quote_identifier(name)}", child, depth + 1))
              for name, child in children]
    if all(sql is None for _, sql in fields):
        return None
    if kind == "tuple":  # unnamed fields cannot be rebuilt with struct_pack
        return f"CAST({value} AS VARCHAR)"
    packed = ", ".join(
        f"{quote_identifier(name)} := {sql or value + '.' + quote_identifier(name)}" for name, sql in fields
    )
    return f"CASE WHEN {value} IS NULL THEN NULL ELSE struct_pack({packed}) END"


def presentable_select(relation_name: str, columns: list[str], types: list, limit: int,
                       as_text: frozenset[int] = frozenset()) -> str:
    """SELECT over `relation_name` reshaping every column (see module docstring), at most `limit`
    rows. Columns are addressed by position, so duplicate or odd names cannot collide."""
    positional = [f"_c{i}" for i in range(len(columns))]
    exprs = []
    for i, (name, duck_type) in enumerate(zip(unique_names(columns), types)):
        sql = presentable_sql(positional[i], duck_type, as_text=i in as_text)
        exprs.append(f"{sql or positional[i]} AS {quote_identifier(name)}")
    alias = ", ".join(positional)
    return f"SELECT {', '.join(exprs)} FROM {relation_name} AS _u({alias}) LIMIT {int(limit)}"


def _out_of_range(array: pa.Array) -> bool:
    """True if a temporal value anywhere in `array` lies outside what Python and polars hold."""
    import pyarrow as pa
    import pyarrow.compute as pc

    kind = array.type
    if isinstance(array, pa.ChunkedArray):
        return any(_out_of_range(chunk) for chunk in array.chunks)
    if pa.types.is_date32(kind):
        low, high = _MIN_DAY, _MAX_DAY
        raw = array.view(pa.int32())
    elif pa.types.is_timestamp(kind):
        per_second = _PER_SECOND[kind.unit]
        low, high = _MIN_DAY * _DAY_SECONDS * per_second, (_MAX_DAY + 1) * _DAY_SECONDS * per_second - 1
        raw = array.view(pa.int64())
    elif pa.types.is_time(kind):
        low, high = 0, _DAY_SECONDS * _PER_SECOND[kind.unit] - 1
        raw = array.view(pa.int64() if pa.types.is_time64(kind) else pa.int32())
    elif pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_fixed_size_list(kind):
        return _out_of_range(array.flatten())
    elif pa.types.is_map(kind):
        return _out_of_range(array.keys) or _out_of_range(array.items)
    elif pa.types.is_struct(kind):
        return any(_out_of_range(array.field(i)) for i in range(kind.num_fields))
    else:
        return False
    if len(raw) == 0 or raw.null_count == len(raw):
        return False
    bounds = pc.min_max(raw)
    return bounds["min"].as_py() < low or bounds["max"].as_py() > high


def out_of_range_columns(table: pa.Table) -> frozenset[int]:
    return frozenset(i for i, column in enumerate(table.columns) if _out_of_range(column))


def to_polars(table: pa.Table, types: list, as_text: frozenset[int] = frozenset()) -> pl.DataFrame:
    """The fetched arrow table as polars, with top-level wide integers parsed back exactly."""
    frame = pl.from_arrow(table)
    wide = {
        name: WIDE_INTEGER_IDS[t.id]
        for i, (name, t) in enumerate(zip(frame.columns, types))
        if t.id in WIDE_INTEGER_IDS and i not in as_text
    }
    if wide:
        frame = frame.with_columns(pl.col(n).str.to_integer(dtype=d) for n, d in wide.items())
    return frame


# -- text-safe copies ------------------------------------------------------------------------


def _hex(value: bytes) -> str:
    return "\\x" + value.hex()


def _decimal(value: decimal.Decimal):
    """Decimals as JSON numbers while a float holds every digit, else as exact text."""
    if not value.is_finite():
        return None
    digits = len(value.as_tuple().digits)
    return float(value) if digits <= 15 else str(value)


def plain_value(value):
    """One polars value as plain JSON-able Python: the rule every text output uses."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, decimal.Decimal):
        return _decimal(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return _hex(bytes(value))
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, dt.timedelta):  # only from frames built elsewhere; SQL results are text
        return str(value)
    if isinstance(value, dict):
        return {str(k): plain_value(v) for k, v in value.items()}
    if isinstance(value, pl.Series):
        return [plain_value(v) for v in value.to_list()]
    if isinstance(value, (list, tuple)):
        return [plain_value(v) for v in value]
    return str(value)


def json_text(value) -> str | None:
    """A nested value as compact JSON (None stays None)."""
    if value is None:
        return None
    return json.dumps(plain_value(value), ensure_ascii=False, separators=(",", ":"))


def _needs_text(dtype: pl.DataType) -> bool:
    return dtype.is_nested() or dtype in (pl.Binary, pl.Int128, pl.UInt128, pl.Object)


def nanoseconds_as_text(frame: pl.DataFrame) -> pl.DataFrame:
    """Top-level nanosecond timestamps as ISO text: Python's datetime would drop the last three
    digits on the way to a table cell or JSON."""
    ns = [n for n, d in frame.schema.items() if isinstance(d, pl.Datetime) and d.time_unit == "ns"]
    if not ns:
        return frame
    return frame.with_columns(
        pl.col(n).dt.to_string("%Y-%m-%dT%H:%M:%S%.9f" + ("%:z" if frame.schema[n].time_zone else ""))
        for n in ns
    )


def text_safe(frame: pl.DataFrame) -> pl.DataFrame:
    """The frame with nested values as JSON text, BLOBs as hex and 128-bit integers as exact
    text: what CSV and the browser's table can hold."""
    columns = []
    for name, dtype in frame.schema.items():
        if not _needs_text(dtype):
            columns.append(frame[name])
        elif dtype == pl.Binary:
            columns.append(pl.Series(name, [None if v is None else _hex(v) for v in frame[name].to_list()], pl.String))
        elif dtype.is_nested() or dtype == pl.Object:
            columns.append(pl.Series(name, [json_text(v) for v in frame[name].to_list()], pl.String))
        else:
            columns.append(frame[name].cast(pl.String))
    return pl.DataFrame(columns) if columns else frame


def csv_text(frame: pl.DataFrame) -> str:
    """The frame as CSV: text_safe values; times without trailing zeros (04:05:06.789)."""
    return text_safe(frame).write_csv(time_format="%H:%M:%S%.f")


def _has_empty_struct(dtype: pl.DataType) -> bool:
    if isinstance(dtype, pl.Struct):
        return not dtype.fields or any(_has_empty_struct(f.dtype) for f in dtype.fields)
    if isinstance(dtype, (pl.List, pl.Array)):
        return _has_empty_struct(dtype.inner)
    return False


def parquet_safe(frame: pl.DataFrame) -> pl.DataFrame:
    """The frame with the columns Parquet cannot hold (a STRUCT with no fields, at any depth) as
    JSON text; everything else keeps its type."""
    empty = [n for n, d in frame.schema.items() if _has_empty_struct(d)]
    if not empty:
        return frame
    return frame.with_columns(pl.Series(n, [json_text(v) for v in frame[n].to_list()], pl.String) for n in empty)


def records(frame: pl.DataFrame) -> list[dict]:
    """Rows as plain JSON-able dicts (the JSON output)."""
    frame = nanoseconds_as_text(frame)
    names = frame.columns
    return [dict(zip(names, (plain_value(v) for v in row))) for row in frame.iter_rows()]
