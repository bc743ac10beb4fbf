"""History: the daily price index per GPU, one offer's price over time, and the change log."""

from __future__ import annotations

import altair as alt
import polars as pl
import streamlit as st

from dashboards import data, ui

ui.header(
    "History",
    "How prices moved across the snapshots in the warehouse: the daily price index "
    "(docs/price-index.md), a single offer's history, and every recorded price change.",
)

dates = data.snapshot_dates()
if not dates:
    ui.empty("The warehouse holds no snapshots yet.", "Run `gpu-prices ingest --replay` and reload.")
    st.stop()
newest, oldest = max(dates), min(dates)
age = data.days_old(newest)
st.info(ui.md(
    f"Prices as of {newest:%Y-%m-%d} (the newest snapshot); history from {len(dates)} snapshot dates, "
    f"{oldest:%Y-%m-%d} to {newest:%Y-%m-%d}."
    + (f" The newest is {age} days before today: these are recorded prices, not live ones." if age and age > 2 else "")
), icon=":material/event:")
ui.caption(
    f"{len(dates)} snapshot date(s): " + ", ".join(f"{d:%Y-%m-%d}" for d in sorted(dates))
    + ". Between snapshot dates nothing was observed; the lines join the observations."
)

# -- the index ---------------------------------------------------------------------------------
st.subheader("Price index per GPU")
index = data.query("SELECT * FROM price_index_daily ORDER BY snapshot_date, gpu, pricing")
if index.is_empty():
    ui.empty("price_index_daily is empty.", "It is built by the ingest; re-run `gpu-prices ingest --replay`.")
else:
    pricing_kinds = sorted(index["pricing"].unique().to_list())
    c1, c2 = st.columns([1, 3])
    kind = c1.selectbox(
        "Pricing kind", pricing_kinds,
        index=pricing_kinds.index("on_demand") if "on_demand" in pricing_kinds else 0,
        key="history_pricing",
    )
    of_kind = index.filter(pl.col("pricing") == kind)
    popular = (
        of_kind.group_by("gpu").agg(pl.col("providers").max().alias("p"), pl.col("offers").max().alias("o"))
        .sort(["p", "o"], descending=True)["gpu"].to_list()
    )
    chosen = c2.multiselect(
        "GPUs", popular, default=popular[:4], key="history_gpu",
        help="Defaults to the GPUs quoted by the most providers.",
    )
    band = of_kind.filter(pl.col("gpu").is_in(chosen))
    if band.is_empty():
        ui.empty("No GPU chosen (or none has a price index for this pricing kind).", "Pick at least one GPU above.")
    else:
        withheld = band.filter(pl.col("index_usd").is_null())
        gpu_colours = alt.Scale(scheme="tableau10", domain=chosen)
        base = alt.Chart(band).encode(
            x=alt.X("snapshot_date:T", title="snapshot date"),
            color=alt.Color("gpu:N", title="GPU", scale=gpu_colours),
        )
        area = base.mark_area(opacity=0.15).encode(
            color=alt.Color("gpu:N", scale=gpu_colours, legend=None),
            y=alt.Y("p10_usd:Q", title=f"price ({ui.USD_GPU_H})"),
            y2="p90_usd:Q",
        )
        line = base.mark_line(point=True).encode(
            y="median_usd:Q",
            tooltip=[
                alt.Tooltip("gpu:N", title="GPU"),
                alt.Tooltip("snapshot_date:T", title="snapshot date"),
                alt.Tooltip("median_usd:Q", title="median $/GPU-h", format="$.3f"),
                alt.Tooltip("p10_usd:Q", title="p10 $/GPU-h", format="$.3f"),
                alt.Tooltip("p90_usd:Q", title="p90 $/GPU-h", format="$.3f"),
                alt.Tooltip("index_usd:Q", title="index $/GPU-h", format="$.3f"),
                alt.Tooltip("offers:Q"),
                alt.Tooltip("providers:Q"),
            ],
        )
        idx = base.mark_line(strokeDash=[5, 3]).encode(y="index_usd:Q")
        st.altair_chart((area + line + idx).properties(height=360), width="stretch")
        ui.caption(
            f"Solid line: median {ui.USD_GPU_H} over all offers; shaded: p10 to p90; dashed: the index "
            "(median of per-provider medians, each provider counted once)."
        )
        st.dataframe(
            band.sort(["gpu", "snapshot_date"]),
            hide_index=True,
            width="stretch",
            column_config={
                "snapshot_date": st.column_config.DateColumn("snapshot date", format="YYYY-MM-DD"),
                "gpu": "GPU",
                "pricing": "pricing",
                "offers": ui.number("offers", "%d"),
                "providers": ui.number("providers", "%d"),
                "min_usd": ui.money(f"min ({ui.USD_GPU_H})"),
                "p10_usd": ui.money(f"p10 ({ui.USD_GPU_H})"),
                "median_usd": ui.money(f"median ({ui.USD_GPU_H})"),
                "p90_usd": ui.money(f"p90 ({ui.USD_GPU_H})"),
                "index_usd": ui.money(f"index ({ui.USD_GPU_H})"),
                "withheld_reason": "index withheld because",
            },
        )
        if not withheld.is_empty():
            ui.caption(
                f"{withheld.height} row(s) have no index value (too few providers); their spread is shown, "
                "the dashed line skips them."
            )

# -- one offer ---------------------------------------------------------------------------------
st.subheader("One offer over time")
catalog = data.query(
    """
    SELECT gpu, provider, region, instance_type, pricing, source,
           count(*) AS days, min(price_usd_per_hour) <> max(price_usd_per_hour) AS moved
    FROM offers WHERE gpu IS NOT NULL
    GROUP BY ALL
    ORDER BY days DESC, moved DESC, gpu, provider
    """
)
if catalog.is_empty():
    ui.empty("No offer of a known GPU in the warehouse.", "Run an ingest.")
else:
    c1, c2 = st.columns(2)
    offer_gpus = sorted(catalog["gpu"].unique().to_list())
    first = catalog["gpu"][0]
    gpu = c1.selectbox("GPU", offer_gpus, index=offer_gpus.index(first), key="history_offer_gpu")
    of_gpu = catalog.filter(pl.col("gpu") == gpu)
    labels = [
        f"{r['provider']} · {r['region']} · {r['instance_type']} · {r['pricing']} · via {r['source']} "
        f"({r['days']} day{'s' if r['days'] != 1 else ''}{', price moved' if r['moved'] else ''})"
        for r in of_gpu.iter_rows(named=True)
    ]
    pick = c2.selectbox("Offer", range(len(labels)), format_func=lambda i: labels[i], key="history_offer")
    chosen_offer = of_gpu.row(pick or 0, named=True)
    series = data.query(
        """
        SELECT snapshot_date, price_usd_per_hour, price_usd_per_gpu_hour,
               previous_price_usd_per_hour, source_url, observed_at
        FROM offers_history
        WHERE source = $source AND provider = $provider AND region = $region
          AND instance_type = $instance_type AND pricing = $pricing
        ORDER BY snapshot_date
        """,
        {k: chosen_offer[k] for k in ("source", "provider", "region", "instance_type", "pricing")},
    )
    chart = (
        alt.Chart(series)
        .mark_line(point=alt.OverlayMarkDef(size=80), interpolate="step-after")
        .encode(
            x=alt.X("snapshot_date:T", title="snapshot date"),
            y=alt.Y("price_usd_per_gpu_hour:Q", title=f"price ({ui.USD_GPU_H})", scale=alt.Scale(zero=False)),
            tooltip=[
                alt.Tooltip("snapshot_date:T", title="snapshot date"),
                alt.Tooltip("price_usd_per_gpu_hour:Q", title="$/GPU-h", format="$.4f"),
                alt.Tooltip("price_usd_per_hour:Q", title="instance $/h", format="$.4f"),
            ],
        )
        .properties(height=260)
    )
    st.altair_chart(chart, width="stretch")
    if series.height == 1:
        ui.caption("This offer was seen on one snapshot date only; pick one seen on more days for a line.")
    st.dataframe(
        series, hide_index=True, width="stretch",
        column_config={
            "snapshot_date": st.column_config.DateColumn("snapshot date", format="YYYY-MM-DD"),
            "price_usd_per_hour": ui.money("instance ($/h)", digits=4),
            "price_usd_per_gpu_hour": ui.money(f"price ({ui.USD_GPU_H})", digits=4),
            "previous_price_usd_per_hour": ui.money("previous instance ($/h)", digits=4),
            "source_url": ui.link(),
            "observed_at": st.column_config.DatetimeColumn("observed at (UTC)", format="YYYY-MM-DD HH:mm"),
        },
    )

# -- change log --------------------------------------------------------------------------------
st.subheader("Change log")
changes = data.query("SELECT * FROM price_changes ORDER BY changed_on DESC, abs(change_pct) DESC")
if changes.is_empty():
    ui.empty(
        "No recorded price changes: no offer was quoted at a different price on two snapshot dates.",
        "Changes appear once the same offer has been ingested on two or more days.",
    )
else:
    c1, c2, c3 = st.columns(3)
    change_gpus = c1.multiselect(
        "GPU", sorted(v for v in changes["gpu"].unique().to_list() if v), key="history_changes_gpu",
        placeholder="all GPUs",
    )
    change_providers = c2.multiselect(
        "Provider", sorted(changes["provider"].unique().to_list()), key="history_changes_provider",
        placeholder="all providers",
    )
    direction = c3.radio("Direction", ["all", "cuts", "rises"], horizontal=True, key="history_changes_direction")
    shown = changes
    if change_gpus:
        shown = shown.filter(pl.col("gpu").is_in(change_gpus))
    if change_providers:
        shown = shown.filter(pl.col("provider").is_in(change_providers))
    if direction == "cuts":
        shown = shown.filter(pl.col("change_pct") < 0)
    elif direction == "rises":
        shown = shown.filter(pl.col("change_pct") > 0)
    cuts = shown.filter(pl.col("change_pct") < 0).height
    ui.caption(f"{shown.height:,} change(s): {cuts:,} cuts, {shown.height - cuts:,} rises.")
    if shown.is_empty():
        ui.empty("No change matches these filters.", "Clear the GPU / provider filter or set Direction to all.")
    else:
        st.dataframe(
            shown, hide_index=True, width="stretch", height=420,
            column_config={
                "changed_on": st.column_config.DateColumn("changed on", format="YYYY-MM-DD"),
                "previous_snapshot_date": st.column_config.DateColumn("previous snapshot", format="YYYY-MM-DD"),
                "instance_type": "instance type",
                "gpu": "GPU",
                "gpu_count": ui.number("GPUs", "%.2g"),
                "old_price_usd_per_hour": ui.money("old ($/h, instance)", digits=4),
                "new_price_usd_per_hour": ui.money("new ($/h, instance)", digits=4),
                "change_pct": ui.number("change (%)", "%+.2f"),
            },
        )

# -- what a reference run cost (dashboards/reference_runs.py) ----------------------------------
from dashboards.reference_runs import reference_run_section  # noqa: E402  (the section, last on the page)

reference_run_section(dates)
