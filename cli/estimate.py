"""`gpu-prices estimate train|serve`: plans a team could book, on the published warehouse's offers.

The arithmetic lives in `costmodel`; this module reads the warehouse (read-only, through
`warehouse.read.query`), resolves the GPU name, and prints. Prices are the offers of the
as-of day: each source's latest snapshot on or before it, the same offer once (a provider's
direct quote beats an aggregator's copy; `costmodel.offers.one_quote_per_offer`), with each
instance type's intra-node link and inter-node fabric from the providers' instance tables.

The cost model's errors carry a reason and values; `advice_for` words them in this command
line's terms (flags), as the dashboard words them in its own.

`--over START:END` (on `train` and `serve`) and `estimate reference` price one run at each
week's or month's market instead of one day's: one row per period and GPU generation, the
cheapest deployable plan (`costmodel.reference_runs`), through cli/output.py's formats.

Works standalone (`python -m cli.estimate train ...`) and as a subgroup of the main CLI
(`gpu-prices estimate ...`, attached in cli/main.py). `infer` is kept as an alias of `serve`.
"""

from __future__ import annotations

import calendar
import json
import math
import re
import time
from collections import Counter
from dataclasses import replace
from datetime import date, datetime, timedelta
from difflib import get_close_matches
from pathlib import Path
from typing import Callable

import click
import duckdb
import polars as pl

from cli.output import plain_console, print_columns, print_key_values, write_frame
from costmodel import inference as serving
from costmodel import reference_runs, training
from costmodel.assumptions import Assumptions
from costmodel.calibration import MLPERF_LLAMA2_70B_SERVER, benchmark_shape, mlperf_workload
from costmodel.errors import EstimateError
from costmodel.gpus import TRAINING_PRECISIONS, GpuSpec
from costmodel.offers import bookable_offers, one_quote_per_offer, with_node_facts
from costmodel.presets import PRESETS, get_preset
from warehouse.read import WarehouseMissing, connect, query

PRICING_CHOICES = (
    "on_demand", "spot", "low_priority", "reserved_1y", "reserved_3y", "savings_plan_1y",
    "savings_plan_3y", "marketplace", "interruptible", "community", "any",
)
_SUFFIXES = {"k": 1e3, "m": 1e6, "b": 1e9, "g": 1e9, "t": 1e12, "p": 1e15}
STALE_DAYS = 30


class Quantity(click.ParamType):
    """A count such as 70e9, 70B, 2T, 1.5M or 70,000,000,000."""

    name = "count"

    def convert(self, value, param, ctx):
        if isinstance(value, (int, float)):
            return float(value)
        text = str(value).strip().replace(",", "").replace("_", "")
        match = re.fullmatch(r"([+-]?[0-9]*\.?[0-9]+(?:e[+-]?[0-9]+)?)\s*([kmbgtp]?)", text, re.IGNORECASE)
        if not match:
            self.fail(f"{value!r} is not a count; write e.g. 70e9, 70B or 2T", param, ctx)
        number = float(match.group(1)) * _SUFFIXES.get(match.group(2).lower(), 1.0)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        return number


COUNT = Quantity()

# -- the cost model's reasons, worded for this command line -------------------------------------

FIELD_FLAGS = {
    "params": "--params", "active_params": "--active-params", "tokens": "--tokens", "flops_factor": "--flops-factor",
    "mfu": "--mfu", "gpus": "--gpus", "deadline_days": "--deadline-days", "spot_allowance": "--spot-allowance",
    "quoted price": "--price-per-gpu-hour", "average requests/s": "--avg-rps", "peak requests/s": "--peak-rps",
    "prompt/output tokens": "--prompt-tokens / --output-tokens", "context_length": "--context",
    "kv_bytes": "--kv-bytes", "compute_efficiency": "--compute-efficiency",
    "memory_efficiency": "--memory-efficiency", "max_batch": "--max-batch",
    "max_ms_per_output_token": "--latency-ms-per-token", "max_seconds_to_first_token": "--max-first-token-seconds",
    "n_layers": "--layers", "n_kv_heads": "--kv-heads", "head_dim": "--head-dim",
}


def _min_gpus_advice(v: dict) -> str:
    return f"use --gpus {v.get('min_gpus_whole_nodes', v.get('min_gpus')):,} or more, or a GPU with more memory"


def _deadline_advice(v: dict) -> str:
    return (f"use --deadline-days {math.ceil(v.get('best_days', 0) * 10) / 10:g} or more, fewer --tokens, "
            "a faster --gpu, or --precision fp8 where the GPU has it")


def _precision_advice(v: dict) -> str:
    return f"use --precision {v['available'][0]}" if v.get("available") else "pick another --gpu"


def _field_advice(v: dict) -> str:
    return f"check {FIELD_FLAGS.get(v.get('field'), v.get('field'))}"


def _presets_advice(v: dict) -> str:
    return f"known presets: {', '.join(v.get('known', []))}"


ADVICE = {
    "too_few_gpus_for_memory": _min_gpus_advice,
    "deadline_unreachable": _deadline_advice,
    "precision_unavailable": _precision_advice,
    "invalid_input": _field_advice,
    "unknown_preset": _presets_advice,
    "model_too_large": "pick a --gpu with more memory",
    "model_does_not_fit": "use --weight-precision fp8 or int4, a shorter --context, or a GPU with more memory",
    "latency_unreachable": "relax --latency-ms-per-token / --max-first-token-seconds, or pick a faster --gpu",
    "fleet_too_large": "lower --avg-rps / --peak-rps",
    "no_assumption": "pass --mfu (training) or --compute-efficiency (serving) with your own figure",
    "missing_shape": "pick a --preset or pass --layers, --kv-heads and --head-dim",
    "needs_fabric": "multi-node plans need an instance with a known inter-node fabric: use --gpus for one node, "
                    "a longer --deadline-days, or another --gpu",
    "fractional_gpu": "a share of a GPU cannot join a cluster",
}


def advice_for(exc: EstimateError) -> str:
    """What to change on this command line, from the error's reason and values."""
    advice = ADVICE.get(exc.reason, "")
    return advice(exc.values) if callable(advice) else advice


def usage_error(exc: EstimateError) -> click.UsageError:
    hint = advice_for(exc)
    return click.UsageError(f"{exc}" + (f"; {hint}" if hint else ""))


# -- warehouse access ----------------------------------------------------------------------------

def _read(sql: str, params: dict | None, warehouse: str | None) -> pl.DataFrame:
    try:
        return query(sql, params, warehouse)
    except WarehouseMissing as exc:
        raise click.ClickException(str(exc)) from None
    except duckdb.CatalogException as exc:
        raise click.ClickException(
            f"the warehouse lacks a table this command reads ({exc}). Run `gpu-prices ingest --replay` "
            "to build a complete one."
        ) from None


def load_specs(warehouse: str | None) -> dict[str, GpuSpec]:
    frame = _read("SELECT * FROM gpu_specs", None, warehouse)
    return {row["gpu"]: GpuSpec.from_row(row) for row in frame.iter_rows(named=True)}


def load_assumptions(warehouse: str | None) -> tuple[Assumptions, str]:
    """The warehouse's assumption table, or the packaged defaults if it is missing, empty or old."""
    try:
        frame = query("SELECT * FROM assumptions", None, warehouse)
    except duckdb.Error:
        frame = None
    table = Assumptions(frame)
    if table.from_package:
        return table, "packaged assumption table (market/data/assumptions.csv); the warehouse has none"
    return table, f"assumptions table ({len(table.rows)} rows in the warehouse)"


def source_kinds() -> dict[str, str]:
    from connectors.registry import source_kinds as registered

    return registered()


def load_offers(warehouse: str | None, as_of: date | None, gpu: str | None = None) -> pl.DataFrame:
    """The market of the as-of day (None: the newest day held), each offer once, with node facts.
    The same read as the dashboard's (`warehouse.read.offers_on_query`): a source past its
    cadence on that day has dropped out, so old prices never pass as current."""
    from warehouse.read import offers_on_query

    sql, params = offers_on_query(as_of, gpu)
    frame = _read(sql, params or None, warehouse)
    return with_node_facts(one_quote_per_offer(frame, source_kinds()))


def resolve_gpu(name: str, specs: dict[str, GpuSpec]) -> str:
    """Any alias -> the canonical id that has a spec sheet, else a UsageError with suggestions."""
    from market.gpu_names import canonical_gpu

    candidates = [name.strip()]
    try:
        candidates.insert(0, canonical_gpu(name))
    except Exception:  # an alias table under construction must not crash the CLI
        pass
    by_lower = {k.lower(): k for k in specs}
    for candidate in candidates:
        if candidate and candidate in specs:
            return candidate
        if candidate and candidate.lower() in by_lower:
            return by_lower[candidate.lower()]
    close = get_close_matches(name.upper(), list(specs), n=3, cutoff=0.4)
    hint = f"did you mean {', '.join(close)}? " if close else ""
    known = ", ".join(sorted(specs)) or "(none: the warehouse has no gpu_specs rows)"
    raise click.UsageError(f"unknown GPU {name!r}: {hint}GPUs with a spec sheet: {known}")


# -- output helpers ------------------------------------------------------------------------------

def _jsonable(value):
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    return value


def _dates(frame: pl.DataFrame | None) -> tuple[date | None, date | None]:
    if frame is None or frame.is_empty() or "snapshot_date" not in frame.columns:
        return None, None
    days = frame["snapshot_date"].drop_nulls()
    return (days.min(), days.max()) if len(days) else (None, None)


def as_of_text(frame: pl.DataFrame | None) -> str | None:
    lo, hi = _dates(frame)
    if hi is None:
        return None
    return hi.isoformat() if lo == hi else f"{hi.isoformat()} (sources from {lo.isoformat()} to {hi.isoformat()})"


def price_fields(frame: pl.DataFrame | None, quoted: float | None) -> dict:
    if quoted is not None:
        return {"prices_as_of": None, "prices_oldest_snapshot": None, "quoted_usd_per_gpu_hour": quoted}
    lo, hi = _dates(frame)
    return {"prices_as_of": hi.isoformat() if hi else None, "prices_oldest_snapshot": lo.isoformat() if lo else None}


def stale_note(frame: pl.DataFrame | None) -> list[str]:
    lo, hi = _dates(frame)
    if lo is None or (hi - lo).days <= STALE_DAYS:
        return []
    old = frame.filter(pl.col("snapshot_date") < hi - timedelta(days=STALE_DAYS))
    sources = ", ".join(sorted(set(old["source"].drop_nulls()))) if "source" in old.columns else "some sources"
    return [f"{old.height} offer(s) are from snapshots more than {STALE_DAYS} days older than {hi} ({sources}): "
            "each source's latest data on or before the as-of day"]


def left_out_summary(left_out: list) -> dict:
    counts = Counter(item.reason for item in left_out)
    examples = {}
    for item in left_out:
        examples.setdefault(item.reason, f"{item.offer}: {item.message}")
    return {"count": len(left_out), "by_reason": dict(counts), "examples": examples}


def money(x) -> str:
    if x is None:
        return "-"
    if abs(x) >= 1e6:
        return f"${x / 1e6:,.2f}M"
    if abs(x) >= 100:
        return f"${x:,.0f}"
    return f"${x:,.4g}" if abs(x) < 1 else f"${x:,.2f}"


def text(x) -> str:
    return "-" if x is None else str(x)


def num(x) -> str:
    if x is None:
        return "-"
    return f"{x:,.0f}" if float(x).is_integer() else f"{x:,.2f}"


def pct(x) -> str:
    return "-" if x is None else f"{x:+.1%}"


def fraction(x) -> str:
    return "-" if x is None else f"{x:.3f}"


def common_options(fn):
    options = [
        click.option("--pricing", type=click.Choice(PRICING_CHOICES), default="on_demand", show_default=True,
                     help="Offer kind to price at ('any' = every kind)."),
        click.option("--price-per-gpu-hour", type=float, default=None,
                     help="Price at this quoted $/GPU-hour instead of the warehouse's offers."),
        click.option("--gpus-per-node", type=click.IntRange(1, 72), default=8, show_default=True,
                     help="With --price-per-gpu-hour: GPUs per quoted node (quoted nodes are taken to cluster)."),
        click.option("--as-of", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
                     help="Prices of this day (each source's latest snapshot on or before it). Default: latest."),
        click.option("--format", "fmt", type=click.Choice(["table", "json", "csv"]), default="table", show_default=True,
                     help="csv only with --over (one row per period and GPU generation)."),
        click.option("--limit", type=click.IntRange(min=1), default=15, show_default=True, help="Plans to show."),
        click.option("--warehouse", type=click.Path(path_type=Path), default=None,
                     help="Warehouse file (default: $GPU_PRICES_WAREHOUSE or data/gpu_prices.duckdb)."),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def offers_for(gpu: str, kind: str | None, quoted: float | None, gpus_per_node: int, as_of, warehouse,
               quoted_offer) -> pl.DataFrame:
    """The offers a plan is ranked over: the warehouse's bookable offers, or one quoted node."""
    if quoted is not None:
        return pl.DataFrame([quoted_offer(gpu, quoted, kind, gpus_per_node)])
    offers = load_offers(warehouse, as_of.date() if as_of else None, gpu)
    return bookable_offers(offers, gpu, kind)


# -- over time: one run at each period's market -------------------------------------------------

class Span(click.ParamType):
    """START:END, each YYYY, YYYY-MM or YYYY-MM-DD: from the first day of START to the last of END."""

    name = "START:END"

    @staticmethod
    def _day(text: str, last: bool) -> date:
        parts = [int(p) for p in text.split("-")]
        if len(parts) == 3:
            return date(*parts)
        if len(parts) == 2:
            return date(parts[0], parts[1], calendar.monthrange(*parts)[1] if last else 1)
        if len(parts) == 1:
            return date(parts[0], 12, 31) if last else date(parts[0], 1, 1)
        raise ValueError(text)

    def convert(self, value, param, ctx):
        if isinstance(value, tuple):
            return value
        start_text, sep, end_text = str(value).strip().partition(":")
        try:
            start = self._day(start_text.strip(), last=False)
            end = self._day((end_text if sep else start_text).strip(), last=True)
        except (ValueError, TypeError):
            self.fail(f"{value!r} is not a span; write START:END as YYYY-MM:YYYY-MM (or YYYY-MM-DD)", param, ctx)
        if end < start:
            self.fail(f"{value!r} ends before it starts", param, ctx)
        return start, end


SPAN = Span()


def over_options(fn):
    options = [
        click.option("--over", "over", type=SPAN, default=None,
                     help="Price the run at each period's market from START to END (e.g. 2022-01:2026-08): one row "
                          "per period and GPU generation, its cheapest deployable plan."),
        click.option("--step", type=click.Choice(reference_runs.STEPS), default="week", show_default=True,
                     help="With --over: weeks (Monday to Sunday) or months, each priced at its last day's market."),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def refuse_with_over(**given) -> None:
    """Options that name one day's market or one quote have no meaning over a span."""
    wrong = [flag for flag, value in given.items() if value is not None]
    if wrong:
        raise click.UsageError(f"--over prices each period's market: drop {', '.join(wrong)}")


OVER_COLUMNS = {
    reference_runs.TRAIN: [("period", "period"), ("generation", "generation"), ("gpu", "gpu"),
                           ("provider", "provider"), ("instance", "instance_type"), ("pricing", "pricing"),
                           ("nodes", "nodes"), ("GPUs", "gpus"), ("days", "days"), ("MFU", "mfu_used"),
                           ("total $", "total_cost_usd"), ("$/1M tokens", "usd_per_million_tokens"),
                           ("snapshot", "snapshot_date")],
    reference_runs.SERVE: [("period", "period"), ("generation", "generation"), ("gpu", "gpu"),
                           ("provider", "provider"), ("instance", "instance_type"), ("pricing", "pricing"),
                           ("nodes", "nodes"), ("GPUs", "gpus"), ("$/month", "usd_per_month"),
                           ("$/1M out", "usd_per_million_tokens"), ("snapshot", "snapshot_date")],
}
UNUSED_BY_KIND = {reference_runs.TRAIN: ["usd_per_month"], reference_runs.SERVE: ["days", "mfu_used", "total_cost_usd"]}


def over_frame(frame: pl.DataFrame, kind: str, fmt: str) -> pl.DataFrame:
    """The rows as printed: a table shows the plan's headline columns, csv/json every column."""
    if fmt != "table":
        return frame.drop(UNUSED_BY_KIND[kind])
    shown = frame.with_columns(
        interruptible_mark=pl.when(pl.col("interruptible")).then(pl.lit(" [interruptible]")).otherwise(pl.lit("")),
    ).with_columns(pricing=pl.col("pricing") + pl.col("interruptible_mark"))
    money_columns = [c for c in ("total_cost_usd", "usd_per_month", "usd_per_million_tokens") if c in shown.columns]
    shown = shown.with_columns(
        [pl.col(c).map_elements(money, return_dtype=pl.String) for c in money_columns]
        + ([pl.col("days").round(1)] if kind == reference_runs.TRAIN else [])
        + ([pl.col("mfu_used").round(4)] if kind == reference_runs.TRAIN else [])
    )
    columns = OVER_COLUMNS[kind]
    return shown.select([pl.col(c).alias(header) for header, c in columns])


def market_reader(warehouse) -> Callable[[date], pl.DataFrame]:
    """`load_offers` for each day, remembered for the call (several runs share the days)."""
    markets: dict[date, pl.DataFrame] = {}

    def market_on(day: date) -> pl.DataFrame:
        if day not in markets:
            markets[day] = load_offers(warehouse, day)
        return markets[day]

    return market_on


def price_runs_over(runs: list[reference_runs.ReferenceRun], span: tuple[date, date], step: str, warehouse,
                    gpus: list[str] | None = None) -> pl.DataFrame:
    """Every run at every period's market, with progress on stderr."""
    specs = load_specs(warehouse)
    assumed, _ = load_assumptions(warehouse)
    newest = _read("SELECT max(snapshot_date) AS d FROM source_snapshots", None, warehouse)["d"][0]
    if newest is not None and span[1] > newest >= span[0]:
        # A period after the newest data held has no market: price up to the newest day instead.
        click.echo(f"note: the warehouse's newest snapshot is {newest}; the span is cut there (asked: to {span[1]})",
                   err=True)
        span = (span[0], newest)
    try:
        spans = reference_runs.periods(span[0], span[1], step)
    except EstimateError as exc:
        raise usage_error(exc) from None
    market_on = market_reader(warehouse)
    every = max(1, len(spans) // 10)
    started = time.perf_counter()

    def progress_of(key: str) -> Callable[[int, int, date], None]:
        def progress(number: int, total: int, day: date) -> None:
            if number == 1 or number == total or number % every == 0:
                click.echo(f"pricing {key}: {step} {number}/{total} (market of {day})", err=True)
        return progress

    # One connection held open for the call: DuckDB then serves each week's read from the open
    # database instead of opening the file again (most of a week's read time otherwise).
    held = connect(warehouse)
    try:
        frames = [reference_runs.price_over(run, spans, market_on, specs, assumed, gpus, progress_of(run.key))
                  for run in runs]
    finally:
        held.close()
    frame = pl.concat(frames) if frames else pl.DataFrame(schema=reference_runs.ROW_SCHEMA)
    click.echo(f"priced {len(runs)} run(s) over {len(spans)} {step}s in {time.perf_counter() - started:.1f} s: "
               f"{frame.height} row(s), {frame['period'].n_unique()} {step}(s) with a plan", err=True)
    for run in runs:
        for line in over_notes(frame.filter(pl.col("run") == run.key), spans, step):
            click.echo(f"note: {run.key}: {line}", err=True)
    return frame


def over_notes(frame: pl.DataFrame, spans: list[tuple[date, date]], step: str) -> list[str]:
    """Periods with no plan at all, and rows priced from snapshots much older than their period."""
    notes = []
    planned = set(frame["period"].to_list())
    empty = [start for start, _ in spans if start not in planned]
    if empty:
        notes.append(f"{len(empty)} {step}(s) without any plan (the first {empty[0]}, the last {empty[-1]}): no offer "
                     "on those markets can run the job (none yet, or none with a known inter-node fabric for a "
                     "multi-node run)")
    old = frame.filter(pl.col("snapshot_date") < pl.col("as_of") - pl.duration(days=STALE_DAYS))
    if not old.is_empty():
        sources = ", ".join(sorted(set(old["source"].drop_nulls())))
        notes.append(f"{old.height} row(s) are priced from snapshots more than {STALE_DAYS} days older than their "
                     f"period ({sources}): a source counts as current until its cadence has passed")
    return notes


def print_first_and_last(frame: pl.DataFrame) -> None:
    trend = reference_runs.first_and_last(frame)
    print_columns(
        "First and last period with a plan, per GPU generation", trend,
        [("run", "run", text), ("generation", "generation", text), ("first", "first_period", text),
         ("cost", "first_cost_usd", money), ("GPU", "first_gpu", text), ("last", "last_period", text),
         ("cost", "last_cost_usd", money), ("GPU", "last_gpu", text),
         ("last / first", "last_over_first", lambda x: "-" if x is None else f"x {x:.3f}")],
    )


def print_over(run: reference_runs.ReferenceRun, frame: pl.DataFrame, fmt: str) -> None:
    if frame.is_empty():
        raise click.ClickException(
            f"no period in the span has an offer that can run {run.name}; try another --over, --pricing or --gpu")
    if fmt == "table":
        plain_console().print(f"{run.name}: the cheapest deployable plan per GPU generation, each period at its "
                              f"last day's market ({run.source})")
    write_frame(over_frame(frame, run.kind, fmt), fmt)
    if fmt == "table":
        print_first_and_last(frame)


# -- train ---------------------------------------------------------------------------------------

@click.group("estimate")
def estimate() -> None:
    """Plan and price a training run or a serving fleet on the tracked offers."""


@estimate.command("train")
@click.option("--params", type=COUNT, required=True, help="Total parameters, e.g. 70e9 or 70B.")
@click.option("--active-params", type=COUNT, default=None, help="MoE: parameters active per token.")
@click.option("--tokens", type=COUNT, default=None, help="Training tokens, e.g. 2e12 or 2T (default 20 x params).")
@click.option("--flops-factor", type=float, default=None, help="FLOPs per parameter per token (default 6).")
@click.option("--full-recompute", is_flag=True, help="Full activation recomputation: factor 8.")
@click.option("--precision", type=click.Choice(TRAINING_PRECISIONS), default="bf16", show_default=True)
@click.option("--mfu", type=float, default=None,
              help="End-to-end MFU, used exactly (default: the assumption table for this GPU, precision and size).")
@click.option("--gpu", "gpu_name", default=None,
              help="GPU, any alias (A100-80GB, 'NVIDIA A100 80GB', H100, ...); with --over optional (default: all).")
@click.option("--gpus", type=click.IntRange(min=1), default=None,
              help="Cluster size in GPUs, rounded up to whole nodes of each offer (default: size for the deadline).")
@click.option("--deadline-days", type=float, default=None,
              help=f"Size the cluster to finish within this many days (default {training.DEFAULT_DEADLINE_DAYS:g}).")
@click.option("--spot-allowance", type=float, default=training.DEFAULT_SPOT_ALLOWANCE, show_default=True,
              help="Extra time and cost on spot/interruptible offers, as a fraction.")
@common_options
@over_options
def train(params, active_params, tokens, flops_factor, full_recompute, precision, mfu, gpu_name, gpus,
          deadline_days, spot_allowance, pricing, price_per_gpu_hour, gpus_per_node, as_of, fmt, limit,
          warehouse, over, step) -> None:
    """Training: whole nodes of one instance type, sized for a deadline, on every matching offer.

    \b
    Without --gpus the plan is the fewest whole nodes that finish within the deadline (30 days
    unless --deadline-days) and hold the training state. More than one node needs an instance
    with a known inter-node fabric. Plans longer than 180 days or above 2,048 GPUs are warned.
    """
    if flops_factor is not None and full_recompute:
        raise click.UsageError("give --flops-factor or --full-recompute, not both")
    if gpus is not None and deadline_days is not None:
        raise click.UsageError("give --gpus or --deadline-days, not both")
    kind = None if pricing == "any" else pricing
    try:
        spec = training.TrainingSpec(
            params=params, active_params=active_params, tokens=tokens, full_recompute=full_recompute,
            flops_factor=flops_factor, precision=precision, mfu=mfu, gpus=gpus, deadline_days=deadline_days,
            pricing=kind, spot_allowance=spot_allowance,
        )
    except EstimateError as exc:
        raise usage_error(exc) from None
    if over is not None:
        refuse_with_over(**{"--as-of": as_of, "--price-per-gpu-hour": price_per_gpu_hour})
        run = reference_runs.ReferenceRun(
            "train", f"Training {params / 1e9:,.4g}B parameters on {spec.n_tokens / 1e9:,.4g}B tokens",
            reference_runs.TRAIN, spec, "your command line")
        only = [resolve_gpu(gpu_name, load_specs(warehouse))] if gpu_name else None
        print_over(run, price_runs_over([run], over, step, warehouse, only), fmt)
        return
    if fmt == "csv":
        raise click.UsageError("--format csv needs --over (one row per period); use --format json for one plan")
    if gpu_name is None:
        raise click.UsageError("give --gpu (or --over START:END to price every GPU generation over time)")
    specs = load_specs(warehouse)
    gpu = resolve_gpu(gpu_name, specs)
    assumed, assumptions_text = load_assumptions(warehouse)
    try:
        offers = offers_for(gpu, kind, price_per_gpu_hour, gpus_per_node, as_of, warehouse, training.quoted_offer)
        ranked = training.rank_plans(spec, specs[gpu], offers, assumed)
    except EstimateError as exc:
        raise usage_error(exc) from None
    if ranked.best is None:
        raise no_plan_error(gpu, kind, ranked.left_out, offers, as_of)
    frame = training.plans_frame(ranked.plans)
    dated = None if price_per_gpu_hour is not None else frame
    if fmt == "json":
        click.echo(json.dumps(train_payload(spec, ranked, frame.head(limit), dated, price_per_gpu_hour,
                                            assumptions_text), indent=2))
        return
    print_train(spec, ranked, frame.head(limit), dated, price_per_gpu_hour, assumptions_text)


def no_plan_error(gpu: str, kind: str | None, left_out: list, offers: pl.DataFrame, as_of) -> click.ClickException:
    """Why no offer can run the plan: one example per reason, each with this command line's advice."""
    if offers.is_empty():
        when = f" as of {as_of.date()}" if as_of else ""
        return click.ClickException(
            f"no whole-GPU {kind or ''} offer of {gpu} in the warehouse{when}; try another --pricing, --as-of, "
            "or --price-per-gpu-hour"
            + (" (a source's snapshot counts as current only for its cadence, e.g. 3 days for a daily source: "
               "`gpu-prices sources` shows each source's days)" if as_of else "")
        )
    summary = left_out_summary(left_out)
    first_by_reason: dict = {}
    for item in left_out:
        first_by_reason.setdefault(item.reason, item)
    details = []
    for reason, item in first_by_reason.items():
        hint = advice_for(EstimateError(item.message, reason, item.values))
        details.append(f"{item.offer}: {item.message}" + (f"; {hint}" if hint else ""))
    counts = ", ".join(f"{n} x {reason}" for reason, n in summary["by_reason"].items())
    return click.ClickException(f"none of the {offers.height} offers of {gpu} can run this plan ({counts}). "
                                + " | ".join(details))


def train_payload(spec, ranked, shown: pl.DataFrame, dated, quoted, assumptions_text) -> dict:
    best, compute = ranked.best, ranked.compute
    return _jsonable({
        "command": "train", "gpu": compute.gpu, **price_fields(dated, quoted), "assumptions": assumptions_text,
        "params": compute.params, "active_params": compute.active_params, "tokens": compute.tokens,
        "tokens_defaulted": compute.tokens_defaulted, "flops_factor": compute.flops_factor,
        "total_flops": compute.total_flops, "precision": compute.precision, "dense_tflops": compute.dense_tflops,
        "min_gpus_for_memory": compute.min_gpus, "deadline_days": spec.deadline,
        "deadline_is_default": spec.deadline_days is None and spec.gpus is None,
        "sized_by": best.sized_by, "provider": best.provider, "instance_type": best.instance_type,
        "region": best.region, "pricing": best.pricing, "interruptible": best.interruptible,
        "nodes": best.nodes, "gpus_per_node": best.gpus_per_node, "gpus": best.gpus,
        "inter_node_fabric": best.inter_node_fabric, "mfu_used": best.mfu_used, "mfu_source": best.mfu_source,
        "mfu_table": best.mfu_table, "mfu_scale_factor": best.mfu_scale_factor,
        "gpu_hours": best.gpu_hours, "billed_gpu_hours": best.billed_gpu_hours, "days": best.days,
        "wall_clock_days": best.days, "total_cost_usd": best.total_cost_usd,
        "usd_per_million_tokens": best.usd_per_million_tokens,
        "warnings": [w.to_dict() for w in best.warnings], "notes": list(compute.notes),
        "plans_matched": len(ranked.plans), "plans": shown.to_dicts(), "left_out": left_out_summary(ranked.left_out),
    })


def mfu_text(plan: training.TrainingPlan) -> str:
    if plan.mfu_table is None:
        return f"{plan.mfu_used:.4f} (your value, used as given)"
    extrapolated = f" x {plan.mfu_scale_factor:.3f} extrapolation" if plan.mfu_scale_factor < 1 else ""
    return f"{plan.mfu_used:.4f} = {plan.mfu_table:.4f}{extrapolated}  [{plan.mfu_source}]"


def print_train(spec, ranked, shown: pl.DataFrame, dated, quoted, assumptions_text) -> None:
    best, compute = ranked.best, ranked.compute
    deadline = (f"{spec.deadline:g} days" + (" (the default; --deadline-days to change)" if spec.deadline_days is None
                                             else "")) if spec.gpus is None else f"- (sized by --gpus {spec.gpus:,})"
    fabric = f"{best.inter_node_fabric} between nodes" if best.nodes > 1 else "one node"
    rows = [
        ("plan", f"{best.nodes:,} x {best.provider} {best.instance_type} ({best.gpus_per_node} x {best.gpu}, {fabric})"
                 f" = {best.gpus:,} GPUs, {best.pricing}" + (" [interruptible]" if best.interruptible else "")),
        ("time and cost", f"{best.days:,.1f} days, {money(best.total_cost_usd)} total, "
                          f"{money(best.usd_per_million_tokens)} per 1M training tokens"),
        ("deadline", deadline),
        ("compute", f"{compute.total_flops:.3e} FLOPs ({compute.flops_factor:g} x {compute.active_params:.3g} active "
                    f"params x {compute.tokens:.3g} tokens)"),
        ("MFU", mfu_text(best)),
        ("GPU-hours", f"{best.gpu_hours:,.0f} (billed {best.billed_gpu_hours:,.0f})"),
        ("memory minimum", f"{compute.min_gpus:,} GPUs ({compute.state_bytes / 1e12:,.3g} TB of training state)"),
        ("assumptions", assumptions_text),
        ("prices as of", f"quoted ${quoted:g}/GPU-hour" if quoted is not None else (as_of_text(dated) or "-")),
    ]
    warnings = [f"WARNING: {w.message}" for w in best.warnings]
    print_key_values("Training plan (cheapest bookable)", rows, warnings + list(compute.notes) + stale_note(dated))
    print_columns(
        f"Plans by total cost ({shown.height} of {len(ranked.plans)})", shown,
        [("#", "rank", text), ("provider", "provider", text), ("instance", "instance_type", text),
         ("region", "region", text), ("pricing", "pricing", text), ("nodes", "nodes", text),
         ("GPUs/node", "gpus_per_node", text), ("fabric", "inter_node_fabric", text),
         ("$/h (instance)", "price_usd_per_hour", money), ("days", "days", num),
         ("total", "total_cost_usd", money), ("$/1M tokens", "usd_per_million_tokens", money)],
    )
    if ranked.left_out:
        summary = left_out_summary(ranked.left_out)
        reasons = ", ".join(f"{n} {reason.replace('_', ' ')}" for reason, n in summary["by_reason"].items())
        plain_console().print(f"left out: {summary['count']} offer(s) that cannot run this plan ({reasons})")


# -- serve ---------------------------------------------------------------------------------------

def serving_spec(preset, params, active_params, layers, kv_heads, head_dim, overrides: dict) -> serving.ServingSpec:
    if preset is None and params is None:
        raise click.UsageError("give --preset or --params (with --layers, --kv-heads, --head-dim)")
    shape = dict(params=params, active_params=active_params, n_layers=layers, n_kv_heads=kv_heads, head_dim=head_dim)
    if preset:
        model = get_preset(preset)
        if params is not None and active_params is None and model.active_params == model.params:
            shape["active_params"] = params
        return serving.ServingSpec.from_preset(model, **shape, **overrides)
    return serving.ServingSpec(**{k: v for k, v in {**shape, **overrides}.items() if v is not None})


def benchmark_lines(preset: str | None, gpu: str, specs: dict[str, GpuSpec], assumed: Assumptions) -> list[dict]:
    """For Llama-2-70B: the model at MLPerf's workload beside each published MLPerf system of this GPU."""
    if not preset or get_preset(preset).key != "llama-2-70b":
        return []
    rows = []
    for bench in MLPERF_LLAMA2_70B_SERVER:
        if bench.gpu != gpu:
            continue
        modelled = serving.node_throughput(mlperf_workload(), specs[gpu], benchmark_shape(bench), assumed)
        rows.append({"system": bench.name, "role": bench.role, "published_tokens_per_second_per_gpu": bench.per_gpu,
                     "model_tokens_per_second_per_gpu": modelled, "error": modelled / bench.per_gpu - 1,
                     "source_url": bench.source_url})
    return rows


SERVE_OPTIONS = [
    click.option("--preset", default=None, help=f"Model preset: {', '.join(PRESETS)}."),
    click.option("--params", type=COUNT, default=None, help="Total parameters (overrides the preset)."),
    click.option("--active-params", type=COUNT, default=None, help="MoE: parameters active per token."),
    click.option("--layers", type=click.IntRange(min=1), default=None),
    click.option("--kv-heads", type=click.IntRange(min=1), default=None),
    click.option("--head-dim", type=click.IntRange(min=1), default=None),
    click.option("--weight-precision", type=click.Choice(list(serving.WEIGHT_BYTES)), default="fp16",
                 show_default=True),
    click.option("--kv-bytes", type=float, default=2.0, show_default=True, help="Bytes per KV-cache element (1 = fp8)."),
    click.option("--prompt-tokens", type=click.IntRange(min=0), default=1024, show_default=True),
    click.option("--output-tokens", type=click.IntRange(min=1), default=1024, show_default=True),
    click.option("--context", type=click.IntRange(min=1), default=None,
                 help="KV context reserved per sequence (default prompt + output)."),
    click.option("--avg-rps", type=float, default=1.0, show_default=True, help="Average requests per second."),
    click.option("--peak-rps", type=float, default=None, help="Peak requests per second (default = average)."),
    click.option("--latency-ms-per-token", type=float, default=None, help="Max time per output token, ms."),
    click.option("--max-first-token-seconds", type=float, default=None, help="Max time to the first token, s."),
    click.option("--max-batch", type=click.IntRange(1, 100_000), default=serving.DEFAULT_MAX_BATCH, show_default=True,
                 help="Most sequences a replica batches."),
    click.option("--compute-efficiency", type=float, default=None,
                 help="Fraction of dense peak (default: the assumption table, calibrated on MLPerf)."),
    click.option("--memory-efficiency", type=float, default=None, help="Fraction of memory bandwidth (default: table)."),
    click.option("--gpu", "gpu_name", default=None, help="GPU, any alias; omit to rank GPU types."),
]


def serve_options(fn):
    for option in reversed(SERVE_OPTIONS):
        fn = option(fn)
    return common_options(over_options(fn))


@click.command("serve")
@serve_options
def serve(preset, params, active_params, layers, kv_heads, head_dim, weight_precision, kv_bytes, prompt_tokens,
          output_tokens, context, avg_rps, peak_rps, latency_ms_per_token, max_first_token_seconds, max_batch,
          compute_efficiency, memory_efficiency, gpu_name, pricing, price_per_gpu_hour, gpus_per_node, as_of, fmt,
          limit, warehouse, over, step) -> None:
    """Serving: replicas that fit the hardware, for the peak rate, priced per instance at the average rate.

    \b
    Replicas use tensor parallelism of 1, 2, 4 or 8 inside an NVLink domain and pipeline stages
    across GPUs or (with a known fabric) nodes. Prefill is compute-bound, decode memory-bound;
    efficiencies are calibrated on MLPerf Inference. Costs per 1M input and output tokens are
    reported separately.
    """
    if price_per_gpu_hour is not None and gpu_name is None:
        raise click.UsageError("--price-per-gpu-hour prices one GPU type: add --gpu")
    kind = None if pricing == "any" else pricing
    overrides = dict(weight_precision=weight_precision, kv_bytes=kv_bytes, prompt_tokens=prompt_tokens,
                     output_tokens=output_tokens, context_length=context, avg_rps=avg_rps, peak_rps=peak_rps,
                     max_ms_per_output_token=latency_ms_per_token, max_seconds_to_first_token=max_first_token_seconds,
                     max_batch=max_batch, compute_efficiency=compute_efficiency, memory_efficiency=memory_efficiency)
    try:
        spec = replace(serving_spec(preset, params, active_params, layers, kv_heads, head_dim, overrides), pricing=kind)
    except EstimateError as exc:
        raise usage_error(exc) from None
    if over is not None:
        refuse_with_over(**{"--as-of": as_of, "--price-per-gpu-hour": price_per_gpu_hour})
        run = reference_runs.ReferenceRun(
            "serve", f"Serving {spec.params / 1e9:,.4g}B parameters at {spec.avg_rps:g} req/s "
                     f"(peak {spec.peak:g})", reference_runs.SERVE, spec, "your command line")
        only = [resolve_gpu(gpu_name, load_specs(warehouse))] if gpu_name else None
        print_over(run, price_runs_over([run], over, step, warehouse, only), fmt)
        return
    if fmt == "csv":
        raise click.UsageError("--format csv needs --over (one row per period); use --format json for one plan")
    specs = load_specs(warehouse)
    assumed, assumptions_text = load_assumptions(warehouse)
    if gpu_name is None:
        serve_ranking(spec, specs, assumed, kind, as_of, fmt, limit, warehouse)
        return
    gpu = resolve_gpu(gpu_name, specs)
    try:
        offers = offers_for(gpu, kind, price_per_gpu_hour, gpus_per_node, as_of, warehouse, serving.quoted_offer)
        ranked = serving.rank_plans(spec, specs[gpu], offers, assumed)
    except EstimateError as exc:
        raise usage_error(exc) from None
    if ranked.best is None:
        raise no_plan_error(gpu, kind, ranked.left_out, offers, as_of)
    frame = serving.plans_frame(ranked.plans)
    dated = None if price_per_gpu_hour is not None else frame
    bench = benchmark_lines(preset, gpu, specs, assumed)
    if fmt == "json":
        click.echo(json.dumps(serve_payload(spec, ranked, frame.head(limit), dated, price_per_gpu_hour,
                                            assumptions_text, bench), indent=2))
        return
    print_serve(spec, ranked, frame.head(limit), dated, price_per_gpu_hour, assumptions_text, bench)


def serve_payload(spec, ranked, shown: pl.DataFrame, dated, quoted, assumptions_text, bench: list[dict]) -> dict:
    best = ranked.best
    return _jsonable({
        "command": "serve", "gpu": ranked.gpu, **price_fields(dated, quoted), "assumptions": assumptions_text,
        "weight_bytes": spec.weight_bytes, "kv_bytes_per_token": spec.kv_bytes_per_token, "context": spec.context,
        "avg_rps": spec.avg_rps, "peak_rps": spec.peak, **{k: v for k, v in best.to_dict().items()
                                                            if k not in ("warnings",)},
        "warnings": [w.to_dict() for w in best.warnings], "plans_matched": len(ranked.plans),
        "plans": shown.to_dicts(), "left_out": left_out_summary(ranked.left_out), "mlperf_comparison": bench,
    })


def print_serve(spec, ranked, shown: pl.DataFrame, dated, quoted, assumptions_text, bench: list[dict]) -> None:
    best = ranked.best
    rows = [
        ("plan", f"{best.nodes:,} x {best.provider} {best.instance_type} ({best.gpus_per_node} x {best.gpu}) = "
                 f"{best.gpus:,} GPUs, {best.pricing}" + (" [interruptible]" if best.interruptible else "")),
        ("replicas", f"{best.replicas:,} for the peak {spec.peak:g} req/s: tensor parallel {best.tp} x pipeline "
                     f"{best.pp} = {best.gpus_per_replica} GPU(s) each, batch {best.batch} (limited by "
                     f"{best.batch_limited_by})"),
        ("latency", f"{best.ms_per_output_token:,.1f} ms per output token, {best.seconds_to_first_token:,.2f} s to "
                    "the first token"),
        ("throughput", f"{best.output_tokens_per_second_per_gpu:,.0f} output tokens/s per GPU; average utilisation "
                       f"{best.average_utilisation:.0%} at {spec.avg_rps:g} req/s"),
        ("cost", f"{money(best.usd_per_month)}/month; {money(best.usd_per_million_input_tokens)} per 1M input tokens, "
                 f"{money(best.usd_per_million_output_tokens)} per 1M output tokens"),
        ("peak premium", f"{money(best.peak_premium_usd_per_month)}/month over a fleet sized for the average"),
        ("memory", f"weights {spec.weight_bytes / 1e9:,.1f} GB, KV cache {spec.kv_bytes_per_token / 1e3:,.1f} kB/token "
                   f"x {spec.context:,} tokens per sequence"),
        ("assumptions", assumptions_text),
        ("prices as of", f"quoted ${quoted:g}/GPU-hour" if quoted is not None else (as_of_text(dated) or "-")),
    ]
    notes = [f"WARNING: {w.message}" for w in best.warnings] + stale_note(dated)
    print_key_values("Serving plan (cheapest bookable)", rows, notes)
    for line in bench:
        plain_console().print(f"MLPerf v4.1 Llama-2-70B Server, {line['system']} ({line['role']}): published "
                        f"{line['published_tokens_per_second_per_gpu']:,.0f} tokens/s/GPU, this model at that workload "
                        f"{line['model_tokens_per_second_per_gpu']:,.0f} ({line['error']:+.1%}). {line['source_url']}")
    print_columns(
        f"Fleets by monthly cost ({shown.height} of {len(ranked.plans)})", shown,
        [("#", "rank", text), ("provider", "provider", text), ("instance", "instance_type", text),
         ("region", "region", text), ("nodes", "nodes", text), ("replica", "replica_layout", text),
         ("replicas", "replicas", text),
         ("$/h (instance)", "price_usd_per_hour", money), ("$/month", "usd_per_month", money),
         ("$/1M in", "usd_per_million_input_tokens", money), ("$/1M out", "usd_per_million_output_tokens", money)],
    )


def serve_ranking(spec, specs: dict[str, GpuSpec], assumed: Assumptions, kind, as_of, fmt, limit, warehouse) -> None:
    """No --gpu: every GPU type with offers, by its cheapest fleet."""
    offers = load_offers(warehouse, as_of.date() if as_of else None)
    rows, skipped = [], []
    for gpu in sorted(set(offers["gpu"].drop_nulls().to_list())):
        if gpu not in specs:
            skipped.append(f"{gpu}: no spec sheet")
            continue
        try:
            ranked = serving.rank_plans(spec, specs[gpu], bookable_offers(offers, gpu, kind), assumed)
        except EstimateError as exc:
            skipped.append(f"{gpu}: {exc}")
            continue
        if ranked.best is None:
            reason = ranked.left_out[0].message if ranked.left_out else "no whole-GPU offer of this pricing kind"
            skipped.append(f"{gpu}: {reason}")
            continue
        rows.append({"gpu": gpu, "offers": len(ranked.plans), **ranked.best.to_dict(),
                     "replica_layout": serving.layout_text(ranked.best)})
    if not rows:
        raise click.ClickException("no GPU type with offers can serve this workload (" + "; ".join(skipped[:5]) + ")")
    frame = pl.DataFrame(rows, infer_schema_length=None).sort(["usd_per_month", "price_usd_per_gpu_hour"])
    frame = frame.with_row_index("rank", offset=1)
    shown = frame.head(limit)
    if fmt == "json":
        click.echo(json.dumps(_jsonable({"command": "serve", **price_fields(frame, None), "pricing": kind,
                                         "gpu_types": shown.drop("warnings").to_dicts(), "skipped": skipped}), indent=2))
        return
    print_key_values("Serving: the cheapest fleet per GPU type", [("prices as of", as_of_text(frame) or "-")],
                  stale_note(frame) + [f"skipped {s}" for s in skipped[:10]])
    print_columns(
        "GPU types by monthly cost", shown,
        [("#", "rank", text), ("gpu", "gpu", text), ("provider", "provider", text), ("instance", "instance_type", text),
         ("nodes", "nodes", text), ("replica", "replica_layout", text), ("replicas", "replicas", text),
         ("$/month", "usd_per_month", money), ("$/1M in", "usd_per_million_input_tokens", money),
         ("$/1M out", "usd_per_million_output_tokens", money)],
    )


estimate.add_command(serve)
estimate.add_command(serve, name="infer")


@estimate.command("reference")
@click.option("--run", "run_keys", multiple=True, type=click.Choice(list(reference_runs.REFERENCE_RUNS)),
              help="Reference run(s) to price (repeatable; default: all).")
@click.option("--over", "over", type=SPAN, required=True, help="START:END, e.g. 2022-01:2026-08.")
@click.option("--step", type=click.Choice(reference_runs.STEPS), default="week", show_default=True)
@click.option("--pricing", type=click.Choice(PRICING_CHOICES), default="on_demand", show_default=True,
              help="Offer kind to price at ('any' = every kind; spot plans are marked interruptible).")
@click.option("--mfu", type=float, default=None, help="Training runs: end-to-end MFU, used exactly.")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table", show_default=True)
@click.option("--warehouse", type=click.Path(path_type=Path), default=None)
def reference(run_keys, over, step, pricing, mfu, fmt, warehouse) -> None:
    """The reference runs (GPT-3 175B on 300B tokens, Llama 2 70B on 2T, serving Llama 2 70B at
    1,000 output tokens/s) at each period's market: one row per run, period and GPU generation."""
    kind = None if pricing == "any" else pricing
    try:
        runs = [reference_runs.get_reference_run(k).with_options(kind, mfu) for k in (run_keys or
                                                                                      reference_runs.REFERENCE_RUNS)]
    except EstimateError as exc:
        raise usage_error(exc) from None
    frame = price_runs_over(runs, over, step, warehouse)
    if fmt == "table":
        for run in runs:
            rows = frame.filter(pl.col("run") == run.key)
            plain_console().print(f"{run.name} ({run.source}; {run.note})")
            if rows.is_empty():
                plain_console().print("  no period in the span has an offer that can run it")
                continue
            write_frame(over_frame(rows, run.kind, fmt), fmt)
        print_first_and_last(frame)
        return
    write_frame(frame, fmt)


@estimate.command("calibration")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.option("--warehouse", type=click.Path(path_type=Path), default=None)
def calibration(fmt, warehouse) -> None:
    """The published runs behind the defaults: default estimates against each, with the error."""
    from costmodel.calibration import serving_table, training_table
    from market.specs import load_curated_specs

    # The curated spec sheet (what the warehouse loads) holds every calibration GPU; the
    # warehouse's assumption table, overrides included, is what is being checked.
    specs = {r["gpu"]: GpuSpec.from_row(r) for r in load_curated_specs().iter_rows(named=True)}
    assumed, _ = load_assumptions(warehouse)
    train_rows, serve_rows = training_table(specs, assumed), serving_table(specs, assumed)
    if fmt == "json":
        click.echo(json.dumps(_jsonable({"training": train_rows.to_dicts(), "serving": serve_rows.to_dicts()}), indent=2))
        return
    print_columns("Training runs: published vs default-parameter GPU-hours", train_rows,
                [("run", "run", text), ("role", "role", text), ("GPU", "gpu", text),
                 ("published GPU-h", "published_gpu_hours", num), ("default MFU", "default_mfu", fraction),
                 ("estimated GPU-h", "estimated_gpu_hours", num), ("error", "error", pct)])
    print_columns("MLPerf v4.1 Llama-2-70B Server: published vs model tokens/s per GPU", serve_rows,
                [("system", "system", text), ("role", "role", text),
                 ("published", "published_tokens_per_second_per_gpu", num),
                 ("model", "model_tokens_per_second_per_gpu", num), ("error", "error", pct)])


if __name__ == "__main__":
    estimate()
