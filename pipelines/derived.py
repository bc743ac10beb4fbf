"""Assets derived from the offers: spec sheet, cost metrics, price index, and the published copy."""


from datetime import date

import dagster as dg
import polars as pl

from connectors.registry import all_sources
from pipelines import ingest
from pipelines.assets import daily_partitions, emit_progress, offers, raw_asset_key
from pipelines.resources import WarehouseResource
from pipelines.transforms import build_cost_metrics, build_price_index, offers_as_of

SPEC_SOURCES = [s for s in all_sources() if s.kind == "specs"]


@dg.asset(
    deps=[raw_asset_key(s) for s in SPEC_SOURCES],
    group_name="warehouse",
    partitions_def=daily_partitions,
    kinds={"polars", "duckdb"},
)
def gpu_specs(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    """The curated spec sheet (dense TFLOPS per precision, memory, bandwidth, interconnect, a
    source URL per row), the alias table (every GPU name seen -> one canonical id) and the
    utilisation / scaling assumptions; plus the day's external spec sources (Epoch AI), parsed
    and cross-checked: disagreements beyond 10% show in `spec_disagreements`, never overwrite."""
    from warehouse.specs import load_reference_tables

    snapshot_date = date.fromisoformat(context.partition_key)
    with warehouse.get().writer() as w:
        counts = load_reference_tables(w)
    outcomes = [
        ingest.parse_source(warehouse.get(), s, snapshot_date, progress=emit_progress)
        for s in SPEC_SOURCES
    ]
    return dg.MaterializeResult(
        metadata={
            **{k: int(v) for k, v in (counts or {}).items()},
            "external_sources": dg.MetadataValue.json(
                {o.source: {"status": o.status, "rows": o.offers, "message": o.message} for o in outcomes}
            ),
        }
    )


def _read_frame(con, sql: str, params: dict | None = None) -> pl.DataFrame:
    return con.sql(sql, params=params).pl() if params else con.sql(sql).pl()


@dg.asset(
    deps=[offers, gpu_specs],
    group_name="metrics",
    partitions_def=daily_partitions,
    kinds={"polars", "duckdb"},
)
def cost_metrics(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    """Cost per *effective* TFLOP for every offer of the day, per precision: effective TFLOPS =
    dense peak x utilisation (MFU) x multi-GPU scaling efficiency (by interconnect and GPU
    count); then $ per effective TFLOP-hour, $ per 1e18 useful FLOPs and $ per GB-hour."""
    snapshot_date = date.fromisoformat(context.partition_key)
    with warehouse.get().writer() as w:
        day_offers, metrics = refresh_cost_metrics(w.con, snapshot_date)
    with_gpu = day_offers.filter(pl.col("gpu").is_not_null()).height
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": metrics.height,
            "offers": day_offers.height,
            "offers_with_canonical_gpu": with_gpu,
            "offers_with_specs": metrics.select("source", "provider", "region", "instance_type", "pricing").unique().height,
        }
    )


def refresh_cost_metrics(con, snapshot_date: date) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Recompute one day's cost_metrics from offers, specs and assumptions (one transaction)."""
    day_offers = _read_frame(con, "SELECT * FROM offers WHERE snapshot_date = $d", {"d": snapshot_date})
    specs = _read_frame(con, "SELECT * FROM gpu_specs")
    assumptions = _read_frame(con, "SELECT * FROM assumptions")
    metrics = build_cost_metrics(day_offers, specs, assumptions)
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute("DELETE FROM cost_metrics WHERE snapshot_date = ?", [snapshot_date])
        con.register("incoming_metrics", metrics)
        con.execute("INSERT INTO cost_metrics BY NAME SELECT * FROM incoming_metrics")
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise
    finally:
        con.unregister("incoming_metrics")
    return day_offers, metrics


@dg.asset(
    deps=[offers],
    group_name="metrics",
    partitions_def=daily_partitions,
    kinds={"polars", "duckdb"},
)
def price_index(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    """Daily market price index per GPU and pricing kind, in USD per GPU-hour: offers, providers,
    min, p10, median, p90, and an index in which each provider counts once (median of
    per-provider medians), withheld with the reason when fewer than 3 providers quote.
    Methodology: docs/price-index.md."""
    snapshot_date = date.fromisoformat(context.partition_key)
    kinds = {s.id: s.kind for s in all_sources()}
    with warehouse.get().writer() as w:
        recent = _read_frame(
            w.con,
            "SELECT * FROM offers WHERE snapshot_date <= $d AND snapshot_date > $d - INTERVAL 30 DAY",
            {"d": snapshot_date},
        )
        index = build_price_index(offers_as_of(recent, snapshot_date, kinds), snapshot_date)
        w.con.execute("BEGIN TRANSACTION")
        w.con.execute("DELETE FROM price_index WHERE snapshot_date = ?", [snapshot_date])
        w.con.register("incoming_index", index)
        w.con.execute("INSERT INTO price_index BY NAME SELECT * FROM incoming_index")
        w.con.unregister("incoming_index")
        w.con.execute("COMMIT")
    published = index.filter(pl.col("index_usd").is_not_null())
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": index.height,
            "indexed": published.height,
            "withheld": index.height - published.height,
        }
    )


@dg.asset(
    deps=[offers, cost_metrics, price_index, gpu_specs],
    group_name="metrics",
    partitions_def=daily_partitions,
    kinds={"duckdb"},
)
def published_warehouse(warehouse: WarehouseResource) -> dg.MaterializeResult:
    """The copy of the warehouse that readers (dashboard, `gpu-prices sql`) open read-only,
    swapped in atomically so reads never meet the writer's lock."""
    path = warehouse.get().publish()
    return dg.MaterializeResult(metadata={"path": str(path), "bytes": path.stat().st_size})

