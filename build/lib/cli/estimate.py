"""`gpu-prices estimate train|infer`: run cost on the published warehouse's offers.

The arithmetic lives in `costmodel`; this module only reads the warehouse (read-only, through
`warehouse.read.query`), resolves the GPU name, and prints. Prices are the offers of the
as-of day: for each source, its latest snapshot on or before that day. The output always says
which day the prices are from and where the utilisation assumptions came from.

Works standalone (`python -m cli.estimate train ...`) and as a subgroup of the
main CLI (`gpu-prices estimate ...`, attached in cli/main.py).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import replace
from datetime import date, datetime, timedelta
from difflib import get_close_matches
from pathlib import Path

import click
import duckdb
import polars as pl

from costmodel import inference as inf
from costmodel import training as tr
from costmodel.assumptions import Assumptions
from costmodel.errors import EstimateError
from costmodel.gpus import TRAINING_PRECISIONS, GpuSpec
from costmodel.presets import PRESETS, get_preset
from warehouse.read import WarehouseMissing, query

PRICING_CHOICES = (
    "on_demand", "spot", "low_priority", "reserved_1y", "reserved_3y", "savings_plan_1y",
    "savings_plan_3y", "marketplace", "interruptible", "community", "any",
)
_SUFFIXES = {"k": 1e3, "m": 1e6, "b": 1e9, "g": 1e9, "t": 1e12, "p": 1e15}


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
    """The assumptions table, or the documented fallbacks if it is missing or empty."""
    try:
        frame = query("SELECT * FROM assumptions", None, warehouse)
    except duckdb.CatalogException:
        frame = None
    table = Assumptions(frame)
    if table.empty:
        return table, "assumptions table empty: documented fallback constants in costmodel.assumptions"
    return table, f"assumptions table ({len(frame)} rows)"


def load_offers(warehouse: str | None, as_of: date | None, gpu: str | None = None) -> pl.DataFrame:
    """Offers of the as-of day: each source's latest snapshot on or before it."""
    cutoff = "WHERE snapshot_date <= $as_of" if as_of else ""
    params: dict = {"as_of": as_of} if as_of else {}
    gpu_filter = ""
    if gpu:
        gpu_filter = "WHERE o.gpu = $gpu"
        params["gpu"] = gpu
    sql = f"""
        WITH latest AS (
            SELECT source, max(snapshot_date) AS snapshot_date FROM offers {cutoff} GROUP BY source
        )
        SELECT o.source, o.provider, o.region, o.instance_type, o.pricing, o.gpu, o.gpu_count,
               o.price_usd_per_gpu_hour, o.source_url, o.snapshot_date, o.observed_at
        FROM offers o JOIN latest USING (source, snapshot_date)
        {gpu_filter}
    """
    return _read(sql, params or None, warehouse)


def resolve_gpu(name: str, specs: dict[str, GpuSpec]) -> str:
    """Any alias -> the canonical id that has a spec sheet, else a UsageError with suggestions."""
    from market.gpu_names import canonical_gpu

    candidates = []
    try:
        candidates.append(canonical_gpu(name))
    except Exception:  # an alias table under construction must not crash the CLI
        pass
    candidates.append(name.strip())
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


# -- output --------------------------------------------------------------------------------------

def _jsonable(value):
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _records(frame: pl.DataFrame) -> list[dict]:
    return [{k: _jsonable(v) for k, v in row.items()} for row in frame.iter_rows(named=True)]


STALE_DAYS = 30


def _dates(frame: pl.DataFrame | None) -> tuple[date | None, date | None]:
    if frame is None or frame.is_empty() or "snapshot_date" not in frame.columns:
        return None, None
    return frame["snapshot_date"].min(), frame["snapshot_date"].max()


def _as_of_text(frame: pl.DataFrame | None) -> str | None:
    lo, hi = _dates(frame)
    if hi is None:
        return None
    return hi.isoformat() if lo == hi else f"{hi.isoformat()} (sources from {lo.isoformat()} to {hi.isoformat()})"


def _price_fields(frame: pl.DataFrame | None, quoted: float | None) -> dict:
    """JSON fields saying which day the prices are from."""
    if quoted is not None:
        return {"prices_as_of": None, "prices_oldest_snapshot": None, "quoted_usd_per_gpu_hour": quoted}
    lo, hi = _dates(frame)
    return {"prices_as_of": hi.isoformat() if hi else None, "prices_oldest_snapshot": lo.isoformat() if lo else None}


def _stale_note(frame: pl.DataFrame | None) -> list[str]:
    lo, hi = _dates(frame)
    if lo is None or (hi - lo).days <= STALE_DAYS:
        return []
    old = frame.filter(pl.col("snapshot_date") < hi - timedelta(days=STALE_DAYS))
    sources = ", ".join(sorted(set(old["source"]))) if "source" in old.columns else "some sources"
    return [
        f"{old.height} offer(s) are from snapshots more than {STALE_DAYS} days older than {hi} "
        f"({sources}): that is each source's latest data on or before the as-of day"
    ]


def _money(x) -> str:
    if x is None:
        return "-"
    if abs(x) >= 1e6:
        return f"${x / 1e6:,.2f}M"
    if abs(x) >= 100:
        return f"${x:,.0f}"
    return f"${x:,.4g}" if abs(x) < 1 else f"${x:,.2f}"


def _console():
    from rich.console import Console

    return Console(width=200, soft_wrap=True, highlight=False, markup=False)


def _print_summary(title: str, rows: list[tuple[str, str]], notes: list[str]) -> None:
    from rich.table import Table

    console = _console()
    table = Table(title=title, show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold")
    table.add_column()
    for key, value in rows:
        table.add_row(key, value)
    console.print(table)
    for note in notes:
        console.print(f"note: {note}")


def _print_frame(title: str, frame: pl.DataFrame, columns: list[tuple[str, str, callable]]) -> None:
    from rich.table import Table

    console = _console()
    table = Table(title=title)
    for header, _, _ in columns:
        table.add_column(header)
    for row in frame.iter_rows(named=True):
        table.add_row(*[fmt(row.get(col)) for _, col, fmt in columns])
    console.print(table)


def _text(x) -> str:
    return "-" if x is None else str(x)


def _num(x) -> str:
    if x is None:
        return "-"
    return f"{x:,.0f}" if float(x).is_integer() else f"{x:,.2f}"


def _common_options(fn):
    options = [
        click.option("--pricing", type=click.Choice(PRICING_CHOICES), default="on_demand", show_default=True,
                     help="Offer kind to price at ('any' = every kind)."),
        click.option("--price-per-gpu-hour", type=float, default=None,
                     help="Price at this quoted $/GPU-hour instead of the warehouse's offers."),
        click.option("--as-of", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
                     help="Prices of this day (each source's latest snapshot on or before it). Default: latest."),
        click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True),
        click.option("--limit", type=click.IntRange(min=1), default=20, show_default=True, help="Offers to show."),
        click.option("--warehouse", type=click.Path(path_type=Path), default=None,
                     help="Warehouse file (default: $GPU_PRICES_WAREHOUSE or data/gpu_prices.duckdb)."),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


# -- commands --------------------------------------------------------------------------------------

@click.group("estimate")
def estimate() -> None:
    """Price a training run or an inference deployment on the tracked offers."""


@estimate.command("train")
@click.option("--params", type=COUNT, required=True, help="Total parameters, e.g. 70e9 or 70B.")
@click.option("--active-params", type=COUNT, default=None, help="MoE: parameters active per token.")
@click.option("--tokens", type=COUNT, default=None, help="Training tokens, e.g. 2e12 or 2T (default 20 x params).")
@click.option("--flops-factor", type=float, default=None, help="FLOPs per parameter per token (default 6).")
@click.option("--full-recompute", is_flag=True, help="Full activation recomputation: factor 8.")
@click.option("--precision", type=click.Choice(TRAINING_PRECISIONS), default="bf16", show_default=True)
@click.option("--mfu", type=float, default=None, help="Utilisation (MFU) override, e.g. 0.4.")
@click.option("--gpu", "gpu_name", required=True, help="GPU, any alias (A100-80GB, 'NVIDIA A100 80GB', ...).")
@click.option("--gpus", type=click.IntRange(min=1), default=None, help="Cluster size.")
@click.option("--deadline-days", type=float, default=None, help="Size the cluster to finish within this many days.")
@click.option("--spot-allowance", type=float, default=tr.DEFAULT_SPOT_ALLOWANCE, show_default=True,
              help="Extra GPU-hours on spot/interruptible offers, as a fraction.")
@_common_options
def train(params, active_params, tokens, flops_factor, full_recompute, precision, mfu, gpu_name, gpus,
          deadline_days, spot_allowance, pricing, price_per_gpu_hour, as_of, fmt, limit, warehouse) -> None:
    """Training run: FLOPs, GPU-hours, wall-clock and the cost on every matching offer."""
    if flops_factor is not None and full_recompute:
        raise click.UsageError("give --flops-factor or --full-recompute, not both")
    if gpus is not None and deadline_days is not None:
        raise click.UsageError("give --gpus or --deadline-days, not both")
    specs = load_specs(warehouse)
    gpu = resolve_gpu(gpu_name, specs)
    assumed, assumptions_text = load_assumptions(warehouse)
    kind = None if pricing == "any" else pricing
    try:
        spec = tr.TrainingSpec(
            params=params, active_params=active_params, tokens=tokens, full_recompute=full_recompute,
            flops_factor=flops_factor, precision=precision, mfu=mfu, gpu=gpu, gpus=gpus,
            deadline_days=deadline_days, pricing=kind, spot_allowance=spot_allowance,
        )
        result = tr.estimate_training(spec, specs, assumed)
        if price_per_gpu_hour is not None:
            priced = tr.quoted_price(result, price_per_gpu_hour, pricing=kind)
            as_of_text = f"quoted ${price_per_gpu_hour:g}/GPU-hour"
        else:
            offers = load_offers(warehouse, as_of.date() if as_of else None, gpu)
            priced = tr.price_offers(result, offers)
            as_of_text = _as_of_text(priced) or _as_of_text(offers)
    except EstimateError as exc:
        raise click.UsageError(str(exc)) from None

    notes = list(result.notes)
    dated = None if price_per_gpu_hour is not None else priced
    notes += _stale_note(dated)
    if priced.is_empty():
        notes.append(
            f"no {kind or ''} whole-GPU offers of {gpu} in the warehouse"
            + (f" as of {as_of.date()}" if as_of else "")
            + "; try another --pricing, --as-of, or --price-per-gpu-hour"
        )
    shown = priced.head(limit)
    if fmt == "json":
        payload = {
            "command": "train",
            "gpu": gpu,
            **_price_fields(dated, price_per_gpu_hour),
            "assumptions": assumptions_text,
            **{k: _jsonable(v) for k, v in result.to_dict().items()},
            "effective_tflops_per_gpu": result.effective_tflops,
            "offers_matched": priced.height,
            "offers": _records(shown),
        }
        click.echo(json.dumps(payload, indent=2))
        return
    rows = [
        ("GPU", f"{gpu} ({result.precision}, dense {result.dense_tflops:g} TFLOPS)"),
        ("total FLOPs", f"{result.total_flops:.3e} ({result.flops_factor:g} x {result.active_params:.3g} active params x {result.tokens:.3g} tokens)"),
        ("cluster", f"{result.gpus:,} GPUs (by {result.gpus_chosen_by}; memory minimum {result.min_gpus:,})"),
        ("utilisation (MFU)", f"{result.utilisation:.3f}  [{result.utilisation_source}]"),
        ("scaling efficiency", f"{result.scaling_efficiency:.3f}  [{result.scaling_source}]"),
        ("effective TFLOPS/GPU", f"{result.effective_tflops:,.1f}"),
        ("GPU-hours", f"{result.gpu_hours:,.0f}"),
        ("wall-clock", f"{result.wall_clock_days:,.1f} days"),
        ("assumptions", assumptions_text),
        ("prices as of", as_of_text or "-"),
    ]
    _print_summary("Training run estimate", rows, notes)
    if not shown.is_empty():
        _print_frame(
            f"Cost per offer (prices as of {as_of_text}; {shown.height} of {priced.height})",
            shown,
            [
                ("#", "rank", _text), ("provider", "provider", _text), ("region", "region", _text),
                ("instance", "instance_type", _text), ("pricing", "pricing", _text),
                ("$/GPU-h", "price_usd_per_gpu_hour", _money), ("nodes", "nodes", _text),
                ("billed GPU-h", "billed_gpu_hours", _num), ("total cost", "total_cost_usd", _money),
            ],
        )


@estimate.command("infer")
@click.option("--preset", default=None, help=f"Model preset: {', '.join(PRESETS)}.")
@click.option("--params", type=COUNT, default=None, help="Total parameters (overrides the preset).")
@click.option("--active-params", type=COUNT, default=None, help="MoE: parameters active per token.")
@click.option("--layers", type=click.IntRange(min=1), default=None)
@click.option("--kv-heads", type=click.IntRange(min=1), default=None)
@click.option("--head-dim", type=click.IntRange(min=1), default=None)
@click.option("--weight-precision", type=click.Choice(list(inf.WEIGHT_BYTES)), default="fp16", show_default=True)
@click.option("--kv-bytes", type=float, default=2.0, show_default=True, help="Bytes per KV-cache element.")
@click.option("--prompt-tokens", type=click.IntRange(min=0), default=1024, show_default=True)
@click.option("--output-tokens", type=click.IntRange(min=1), default=1024, show_default=True)
@click.option("--context", type=click.IntRange(min=1), default=None, help="KV context reserved per sequence (default prompt + output).")
@click.option("--avg-rps", type=float, default=1.0, show_default=True, help="Average requests per second.")
@click.option("--peak-rps", type=float, default=None, help="Peak requests per second (default = average).")
@click.option("--latency-ms-per-token", type=float, default=None, help="Max time per output token, ms.")
@click.option("--max-request-seconds", type=float, default=None, help="Max time per request, s.")
@click.option("--mfu", type=float, default=inf.DEFAULT_FLOPS_EFFICIENCY, show_default=True, help="FLOPs efficiency.")
@click.option("--memory-efficiency", type=float, default=inf.DEFAULT_MEMORY_EFFICIENCY, show_default=True)
@click.option("--gpu", "gpu_name", default=None, help="GPU, any alias; omit to rank GPU types.")
@_common_options
def infer(preset, params, active_params, layers, kv_heads, head_dim, weight_precision, kv_bytes, prompt_tokens,
          output_tokens, context, avg_rps, peak_rps, latency_ms_per_token, max_request_seconds, mfu,
          memory_efficiency, gpu_name, pricing, price_per_gpu_hour, as_of, fmt, limit, warehouse) -> None:
    """Serving: GPUs per replica, throughput, replicas for the peak, $/month and $/1M tokens."""
    if preset is None and params is None:
        raise click.UsageError("give --preset or --params (with --layers, --kv-heads, --head-dim)")
    if price_per_gpu_hour is not None and gpu_name is None:
        raise click.UsageError("--price-per-gpu-hour prices one GPU type: add --gpu")
    kind = None if pricing == "any" else pricing
    try:
        overrides = dict(
            params=params, active_params=active_params, n_layers=layers, n_kv_heads=kv_heads, head_dim=head_dim,
            weight_precision=weight_precision, kv_bytes=kv_bytes, prompt_tokens=prompt_tokens,
            output_tokens=output_tokens, context_length=context, avg_rps=avg_rps, peak_rps=peak_rps,
            max_ms_per_output_token=latency_ms_per_token, max_request_seconds=max_request_seconds,
            flops_efficiency=mfu, memory_efficiency=memory_efficiency,
        )
        if preset:
            model = get_preset(preset)
            if params is not None and active_params is None:
                overrides["active_params"] = params if model.active_params == model.params else None
            spec = inf.InferenceSpec.from_preset(model, **overrides)
        else:
            spec = inf.InferenceSpec(**{k: v for k, v in overrides.items() if v is not None})
        spec = replace(spec, pricing=kind)
    except EstimateError as exc:
        raise click.UsageError(str(exc)) from None

    specs = load_specs(warehouse)
    try:
        if gpu_name is not None:
            gpu = resolve_gpu(gpu_name, specs)
            spec = replace(spec, gpu=gpu)
            result = inf.estimate_inference(spec, specs)
            if price_per_gpu_hour is not None:
                priced = inf.quoted_price(result, price_per_gpu_hour)
                as_of_text = f"quoted ${price_per_gpu_hour:g}/GPU-hour"
            else:
                offers = load_offers(warehouse, as_of.date() if as_of else None, gpu)
                priced = inf.price_offers(result, offers)
                as_of_text = _as_of_text(priced) or _as_of_text(offers)
            ranking, skipped = None, []
        else:
            offers = load_offers(warehouse, as_of.date() if as_of else None)
            ranking, skipped = inf.rank_gpu_types(spec, specs, offers)
            as_of_text = _as_of_text(ranking)
            result = priced = None
    except EstimateError as exc:
        raise click.UsageError(str(exc)) from None

    if ranking is not None:
        shown = ranking.head(limit)
        if fmt == "json":
            click.echo(json.dumps({
                "command": "infer", **_price_fields(ranking, None), "pricing": kind,
                "gpu_types": _records(shown), "skipped": skipped,
            }, indent=2))
            return
        _print_summary("Inference: cheapest offer per GPU type", [("prices as of", as_of_text or "-")],
                       _stale_note(ranking) + [f"skipped {s}" for s in skipped])
        _print_frame(
            f"GPU types by monthly cost (prices as of {as_of_text})", shown,
            [("#", "rank", _text), ("gpu", "gpu", _text), ("GPUs/replica", "gpus_per_replica", _text),
             ("batch", "batch_size", _text), ("ms/token", "ms_per_output_token", _num),
             ("replicas", "replicas", _text), ("provider", "provider", _text), ("$/GPU-h", "price_usd_per_gpu_hour", _money),
             ("$/month", "usd_per_month", _money), ("$/1M tokens", "usd_per_million_tokens", _money),
             ("peak premium/month", "peak_premium_usd_per_month", _money)],
        )
        return

    notes = list(result.notes)
    dated = None if price_per_gpu_hour is not None else priced
    notes += _stale_note(dated)
    if priced.is_empty():
        notes.append(f"no {kind or ''} whole-GPU offers of {result.gpu}; try another --pricing or --price-per-gpu-hour")
    shown = priced.head(limit)
    if fmt == "json":
        click.echo(json.dumps({
            "command": "infer", "gpu": result.gpu, **_price_fields(dated, price_per_gpu_hour),
            **{k: _jsonable(v) for k, v in result.to_dict().items()},
            "offers_matched": priced.height, "offers": _records(shown),
        }, indent=2))
        return
    rows = [
        ("GPU", f"{result.gpu} (math at {result.compute_precision})"),
        ("weights", f"{result.weight_bytes / 1e9:,.1f} GB"),
        ("KV cache", f"{result.kv_bytes_per_token / 1e3:,.1f} kB/token, {result.kv_bytes_per_sequence / 1e9:,.2f} GB/sequence"),
        ("replica", f"{result.gpus_per_replica} GPU(s) (memory minimum {result.min_gpus_per_replica}), batch {result.batch_size} (limited by {result.batch_limited_by})"),
        ("prefill", f"{result.prefill_seconds * 1e3:,.1f} ms per request"),
        ("decode", f"{result.decode_step_seconds * 1e3:,.2f} ms per step ({result.decode_bound}-bound)"),
        ("throughput", f"{result.output_tokens_per_second_per_replica:,.0f} output tokens/s per replica"),
        ("fleet", f"{result.replicas} replicas for the peak {result.peak_rps:g} req/s ({result.baseline_replicas} at the average {result.avg_rps:g})"),
        ("average utilisation", f"{result.average_utilisation:.0%}"),
        ("prices as of", as_of_text or "-"),
    ]
    _print_summary("Inference estimate", rows, notes)
    if not shown.is_empty():
        _print_frame(
            f"Cost per offer (prices as of {as_of_text}; {shown.height} of {priced.height})", shown,
            [("#", "rank", _text), ("provider", "provider", _text), ("region", "region", _text),
             ("instance", "instance_type", _text), ("$/GPU-h", "price_usd_per_gpu_hour", _money),
             ("instances", "instances", _text), ("$/month", "usd_per_month", _money),
             ("$/1M tokens", "usd_per_million_tokens", _money),
             ("peak premium/month", "peak_premium_usd_per_month", _money)],
        )


if __name__ == "__main__":
    estimate()
