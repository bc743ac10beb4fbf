"""The CLI's one output layer: frames as a table, CSV, JSON or Parquet, and the shared tables
(source status, key/value summaries) every command prints.

What each format does with DuckDB's types is decided once, in `warehouse.results`: nested
values (LIST, STRUCT, MAP, ARRAY) are compact JSON in table cells and CSV, and real JSON in
JSON; BLOBs are `\\x` hex; INTERVALs arrive as ISO 8601 text; Parquet keeps every type it can
hold. Data goes to stdout (or --output); notes and errors go to stderr, so a pipe gets only data.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
import polars as pl
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from warehouse import results

FORMATS = ("table", "csv", "json", "parquet")
STATUS_COLOURS = {"ok": "green", "failed": "red", "skipped": "yellow", "fetched": "cyan"}
CELL_SAMPLE_ROWS = 5_000  # rows looked at to size a piped table (a weekly history over years is ~1,000)

console = Console()
err_console = Console(stderr=True)


def print_wide(renderable, width: int = 200) -> None:
    """Piped output has no terminal width: print tables whole rather than folded."""
    out = console if console.is_terminal else Console(width=max(80, width))
    out.print(renderable)


def cell(value) -> str:
    """One value as table text: nested values as compact JSON, floats to 6 significant digits."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, (bytes, bytearray, memoryview)):
        return results.plain_value(value)
    if isinstance(value, (dict, list, tuple, pl.Series)):
        return results.json_text(value)
    return str(value)


def _display(frame: pl.DataFrame) -> pl.DataFrame:
    return results.nanoseconds_as_text(frame)


def table_width(frame: pl.DataFrame) -> int:
    shown = _display(frame.head(CELL_SAMPLE_ROWS))
    widths = [max([len(name), *(len(cell(v)) for v in shown[name].to_list())]) + 3 for name in shown.columns]
    return sum(widths) + 1


def frame_table(frame: pl.DataFrame, title: str | None = None) -> Table:
    table = Table(title=title, show_lines=False)
    for name in frame.columns:
        table.add_column(escape(name), no_wrap=True)
    for row in _display(frame).iter_rows():
        table.add_row(*[escape(cell(v)) for v in row])
    return table


def _parquet_bytes_target(output: Path | None):
    if output is not None:
        return output
    if sys.stdout.isatty():
        raise click.UsageError("Parquet is binary: pass --output FILE.parquet or redirect stdout to a file")
    return sys.stdout.buffer


def write_frame(frame: pl.DataFrame, fmt: str, output: Path | None = None) -> None:
    """Write `frame` as `fmt` (one of FORMATS) to `output`, or stdout."""
    if fmt == "table":
        if output is not None:
            raise click.UsageError("--output needs --format csv, json or parquet")
        print_wide(frame_table(frame), table_width(frame))
        console.print(f"[dim]{frame.height:,} row(s)[/dim]")
        return
    if fmt == "parquet":
        target = _parquet_bytes_target(output)
        results.parquet_safe(frame).write_parquet(target)
        if target is sys.stdout.buffer:
            sys.stdout.buffer.flush()
        return
    if fmt == "csv":
        text = results.csv_text(frame)
    elif fmt == "json":
        text = json.dumps(results.records(frame), ensure_ascii=False, indent=1) + "\n"
    else:  # pragma: no cover - click.Choice stops it
        raise click.UsageError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if output is not None:
        output.write_text(text, encoding="utf-8")
    else:
        click.echo(text, nl=False)


def note(message: str) -> None:
    """A one-line note for the user, on stderr (stdout stays data)."""
    err_console.print(f"[yellow]note:[/yellow] {escape(message)}", highlight=False)


def status_text(status: str | None) -> str:
    """A run status in its colour, as rich markup."""
    colour = STATUS_COLOURS.get(status or "", "white")
    return f"[{colour}]{escape(status or '-')}[/{colour}]"


def status_table(title: str, columns: list[str], rows: list[list[str]]) -> Table:
    """A table of sources and their runs; cells are rich markup (use status_text for statuses)."""
    table = Table(title=title, show_lines=False)
    for name in columns:
        table.add_column(name, overflow="fold")
    for row in rows:
        table.add_row(*row)
    return table


def plain_console() -> Console:
    """A console for reports that must read the same in a terminal, a pipe or a test."""
    return Console(width=200, soft_wrap=True, highlight=False, markup=False)


def print_key_values(title: str, rows: list[tuple[str, str]], notes: list[str]) -> None:
    """A titled two-column summary (label, value), then one 'note:' line per note."""
    out = plain_console()
    table = Table(title=title, show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold")
    table.add_column()
    for key, value in rows:
        table.add_row(key, value)
    out.print(table)
    for line in notes:
        out.print(f"note: {line}")


def print_columns(title: str, frame: pl.DataFrame, columns: list[tuple[str, str, callable]]) -> None:
    """A titled table of chosen columns: (header, column name, formatter) each."""
    out = plain_console()
    table = Table(title=title)
    for header, _, _ in columns:
        table.add_column(header)
    for row in frame.iter_rows(named=True):
        table.add_row(*[fmt(row.get(col)) for _, col, fmt in columns])
    out.print(table)
