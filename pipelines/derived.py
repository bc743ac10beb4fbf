"""Assets derived from the offers: spec sheet, cost metrics, price index, reference runs, and the published copy.

Each asset only orchestrates: the reads, builds and writes are functions of `warehouse`.
"""

from datetime import date

import dagster as dg
import polars as pl

from connectors.base import Source
from connectors.registry import source_kinds
from pipelines import ingest
from pipelines.assets import daily_partitions, emit_progress, raw_asset_key
from pipelines.resources import WarehouseResource
from warehouse.derived import refresh_cost_metrics, refresh_price_index


def build_gpu_specs_asset(sources: list[Source]) -> dg.AssetsDefinition:
    """The `gpu_specs` asset over these spec sources (the registry's, or a test's)."""
    spec_sources = [s for s in sources if s.kind == "specs"]

    @dg.asset(
        name="gpu_specs",
        deps=[raw_asset_key(s) for s in spec_sources],
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
            for s in spec_sources
        ]
        return dg.MaterializeResult(
            metadata={
                **{k: int(v) for k, v in (counts or {}).items()},
                "external_sources": dg.MetadataValue.json(
                    {o.source: {"status": o.status, "rows": o.offers, "message": o.message} for o in outcomes}
                ),
            }
        )

    return gpu_specs


@dg.asset(
    deps=["offers", "gpu_specs"],
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
        day_offers, metrics = refresh_cost_metrics(w, snapshot_date)
    with_gpu = day_offers.filter(pl.col("gpu").is_not_null()).height
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": metrics.height,
            "offers": day_offers.height,
            "offers_with_canonical_gpu": with_gpu,
            "offers_with_specs": metrics.select("source", "provider", "region", "instance_type", "pricing").unique().height,
        }
    )


@dg.asset(
    deps=["offers"],
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
    kinds = source_kinds()
    with warehouse.get().writer() as w:
        index = refresh_price_index(w, snapshot_date, kinds)
    published = index.filter(pl.col("index_usd").is_not_null())
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": index.height,
            "indexed": published.height,
            "withheld": index.height - published.height,
        }
    )


@dg.asset(
    deps=["offers", "gpu_specs", price_index],
    group_name="metrics",
    partitions_def=daily_partitions,
    kinds={"polars", "duckdb"},
)
def reference_runs(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    """What the reference runs (a GPT-3-sized training run, Llama 2 70B on 2T tokens, serving a
    70B model) cost at each week's and month's market, per GPU generation: the cheapest plan a
    team could book on that day's offers. Only the periods this day's prices can reach are
    priced again; the History page reads the rows (same numbers as `gpu-prices estimate
    reference --over`)."""
    from warehouse.reference_history import refresh_reference_history

    snapshot_date = date.fromisoformat(context.partition_key)
    kinds = source_kinds()
    with warehouse.get().writer() as w:
        priced = refresh_reference_history(w, kinds, [snapshot_date], progress=context.log.info)
        rows = w.con.sql("SELECT count(*) FROM reference_run_history").fetchall()[0][0]
    return dg.MaterializeResult(metadata={"periods_priced": priced, "dagster/row_count": int(rows)})


@dg.asset(
    deps=["offers", cost_metrics, price_index, reference_runs, "gpu_specs"],
    group_name="metrics",
    partitions_def=daily_partitions,
    kinds={"duckdb"},
)
def published_warehouse(warehouse: WarehouseResource) -> dg.MaterializeResult:
    """The copy of the warehouse that readers (dashboard, `gpu-prices sql`) open read-only,
    swapped in atomically so reads never meet the writer's lock."""
    path = warehouse.get().publish()
    return dg.MaterializeResult(metadata={"path": str(path), "bytes": path.stat().st_size})

