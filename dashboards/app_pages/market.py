"""Market: the cheapest GPU-hour and effective TFLOP-hour per GPU, every offer, the spread."""

from __future__ import annotations

import altair as alt
import polars as pl
import streamlit as st

from dashboards import data, ui

ui.header(
    "Market",
    "Every GPU offer in each source's latest snapshot: the cheapest price per GPU-hour and per "
    "effective TFLOP-hour (bf16 dense peak x utilisation x scaling efficiency), with a link to "
    "where each price was observed.",
)
ui.as_of()

offers = data.market_offers()
if offers.is_empty():
    ui.empty("The warehouse holds no offers yet.", "Run `gpu-prices ingest --replay` and reload.")
    st.stop()

unmapped = offers.filter(pl.col("gpu").is_null())
offers = offers.filter(pl.col("gpu").is_not_null())


def _options(column: str) -> list[str]:
    return sorted(v for v in offers[column].unique().to_list() if v is not None)


# -- filters ----------------------------------------------------------------------------------
pricing_options = _options("pricing")
default_pricing = ["on_demand"] if "on_demand" in pricing_options else pricing_options[:1]

with st.container(border=True):
    c1, c2, c3 = st.columns(3)
    gpus = c1.multiselect("GPU", _options("gpu"), key="market_gpu", placeholder="all GPUs")
    providers = c2.multiselect("Provider", _options("provider"), key="market_provider", placeholder="all providers")
    regions = c3.multiselect("Region", _options("region"), key="market_region", placeholder="all regions")
    c4, c5, c6 = st.columns(3)
    pricing = c4.multiselect(
        "Pricing kind", pricing_options, default=default_pricing, key="market_pricing",
        placeholder="all pricing kinds",
        help="on_demand, spot, reserved terms and marketplace prices are different products; "
        "compare like with like.",
    )
    interconnects = c5.multiselect(
        "Interconnect", _options("interconnect"), key="market_interconnect", placeholder="any interconnect",
        help="The GPU's fabric from its spec sheet (nvlink/nvswitch scale better than pcie).",
    )
    mem_values = [v for v in offers["gpu_memory_gb"].to_list() if v is not None]
    mem_lo, mem_hi = (int(min(mem_values)), int(max(mem_values) + 0.999)) if mem_values else (0, 0)
    if mem_hi > mem_lo:
        memory = c6.slider(
            "GPU memory (GB per GPU)", mem_lo, mem_hi, (mem_lo, mem_hi), key="market_memory",
        )
    else:
        memory = (mem_lo, mem_hi)
        c6.caption(f"GPU memory: every offer lists {mem_lo} GB per GPU.")

filtered = offers
if gpus:
    filtered = filtered.filter(pl.col("gpu").is_in(gpus))
if providers:
    filtered = filtered.filter(pl.col("provider").is_in(providers))
if regions:
    filtered = filtered.filter(pl.col("region").is_in(regions))
if pricing:
    filtered = filtered.filter(pl.col("pricing").is_in(pricing))
if interconnects:
    filtered = filtered.filter(pl.col("interconnect").is_in(interconnects))
if mem_hi > mem_lo and tuple(memory) != (mem_lo, mem_hi):
    filtered = filtered.filter(pl.col("gpu_memory_gb").is_between(memory[0], memory[1]))

if filtered.is_empty():
    chosen = [
        f"{name}: {', '.join(map(str, values))}"
        for name, values in (("GPU", gpus), ("provider", providers), ("region", regions),
                             ("pricing", pricing), ("interconnect", interconnects))
        if values
    ]
    ui.empty(
        "No offer matches these filters (" + ("; ".join(chosen) or "memory range") + ").",
        "Remove a filter or widen the memory range; not every provider lists every GPU, region "
        "or pricing kind.",
    )
    st.stop()

# -- headline metrics -------------------------------------------------------------------------
m1, m2, m3, m4 = st.columns(4)
m1.metric("Offers", f"{filtered.height:,}")
m2.metric("GPU types", f"{filtered['gpu'].n_unique():,}")
m3.metric("Providers", f"{filtered['provider'].n_unique():,}")
cheapest = filtered.sort("price_usd_per_gpu_hour").row(0, named=True)
m4.metric(
    "Cheapest GPU-hour",
    f"${cheapest['price_usd_per_gpu_hour']:.3f} /GPU-h",
    help=f"{cheapest['gpu']} at {cheapest['provider']} ({cheapest['region']}, {cheapest['pricing']})",
)

# -- cheapest per GPU ------------------------------------------------------------------------
st.subheader("Cheapest per GPU")
ui.caption(
    f"Per GPU type: the lowest price per GPU-hour ({ui.USD_GPU_H}) and the lowest price per "
    f"effective TFLOP-hour ({ui.USD_TFLOP_H}) among the offers above, and who quotes them."
)
by_gpu = (
    filtered.group_by("gpu")
    .agg(
        offers=pl.len(),
        providers=pl.col("provider").n_unique(),
        min_usd=pl.col("price_usd_per_gpu_hour").min(),
        cheapest_provider=pl.col("provider").sort_by("price_usd_per_gpu_hour").first(),
        median_usd=pl.col("price_usd_per_gpu_hour").median(),
        min_usd_tflop=pl.col("usd_per_effective_tflop_hour").min(),
        tflop_provider=pl.col("provider").sort_by("usd_per_effective_tflop_hour", nulls_last=True).first(),
        effective_tflops=pl.col("effective_tflops").max(),
        memory_gb=pl.col("gpu_memory_gb").max(),
        interconnect=pl.col("interconnect").first(),
    )
    .with_columns(
        tflop_provider=pl.when(pl.col("min_usd_tflop").is_null()).then(None).otherwise(pl.col("tflop_provider"))
    )
    .sort("min_usd")
)
st.dataframe(
    by_gpu,
    hide_index=True,
    width="stretch",
    column_config={
        "gpu": "GPU",
        "offers": ui.number("offers", "%d"),
        "providers": ui.number("providers", "%d"),
        "min_usd": ui.money(f"cheapest ({ui.USD_GPU_H})"),
        "cheapest_provider": "at",
        "median_usd": ui.money(f"median ({ui.USD_GPU_H})"),
        "min_usd_tflop": ui.money(f"cheapest ({ui.USD_TFLOP_H})", digits=4),
        "tflop_provider": "at",
        "effective_tflops": ui.number("effective TFLOPS/GPU", "%.0f", "bf16 (fp16 where no bf16) dense peak x MFU x scaling"),
        "memory_gb": ui.number("memory (GB/GPU)", "%.0f"),
        "interconnect": "interconnect",
    },
)
missing_tflop = by_gpu.filter(pl.col("min_usd_tflop").is_null())["gpu"].to_list()
if missing_tflop:
    ui.caption(
        "No $/effective TFLOP-h for " + ", ".join(missing_tflop)
        + ": gpu_specs has no dense bf16/fp16 figure for them (see the Specs page)."
    )

# -- spread chart -----------------------------------------------------------------------------
st.subheader("Price spread per GPU")
ui.caption(
    f"Each box spans the offers' 25th-75th percentile {ui.USD_GPU_H}, whiskers the full range; each dot is one "
    "provider's cheapest offer. Log scale."
)
top = by_gpu.sort("offers", descending=True).head(25)["gpu"].to_list()
spread = filtered.filter(pl.col("gpu").is_in(top))
if len(top) < by_gpu.height:
    ui.caption(f"Showing the {len(top)} GPUs with the most offers; pick GPUs above to chart others.")
order = spread.group_by("gpu").agg(pl.col("price_usd_per_gpu_hour").median().alias("m")).sort("m")["gpu"].to_list()
per_provider = (
    spread.group_by("gpu", "provider")
    .agg(pl.col("price_usd_per_gpu_hour").min().alias("price_usd_per_gpu_hour"), pl.len().alias("offers"))
)
price_axis = alt.X(
    "price_usd_per_gpu_hour:Q", title=f"price ({ui.USD_GPU_H}, log scale)", scale=alt.Scale(type="log")
)
gpu_axis = alt.Y("gpu:N", title="GPU", sort=order)
box = (
    alt.Chart(spread.select("gpu", "price_usd_per_gpu_hour"))
    .mark_boxplot(extent="min-max", size=14, opacity=0.45, color="#7f8c8d")
    .encode(x=price_axis, y=gpu_axis)
)
dots = (
    alt.Chart(per_provider)
    .mark_circle(size=70, opacity=0.9)
    .encode(
        x=price_axis,
        y=gpu_axis,
        color=alt.Color("provider:N", title="provider", scale=alt.Scale(scheme="tableau20"),
                        legend=alt.Legend(columns=2, symbolLimit=60)),
        tooltip=[
            alt.Tooltip("gpu:N", title="GPU"),
            alt.Tooltip("provider:N"),
            alt.Tooltip("price_usd_per_gpu_hour:Q", title="cheapest $/GPU-h", format="$.3f"),
            alt.Tooltip("offers:Q", title="offers"),
        ],
    )
)
st.altair_chart(
    (box + dots).properties(height=max(220, 26 * len(order))), width="stretch"
)

# -- every offer ------------------------------------------------------------------------------
st.subheader("Offers")
table = filtered.select(
    "gpu", "provider", "region", "instance_type", "pricing", "price_usd_per_gpu_hour",
    "usd_per_effective_tflop_hour", "price_usd_per_hour", "gpu_count", "gpu_memory_gb", "source_url",
    "effective_tflops", "interconnect", "spot_is_estimate", "identity_basis", "identity_note",
    "underlying_provider", "source", "snapshot_date",
).sort("price_usd_per_gpu_hour")
defaulted = table.filter(pl.col("identity_basis") == "name default").height
ui.caption(f"{table.height:,} offers, cheapest per GPU-hour first. 'open ↗' goes to the page or API the price came from.")
st.dataframe(
    table,
    hide_index=True,
    width="stretch",
    height=480,
    column_config=ui.OFFER_COLUMNS,
)
if defaulted:
    ui.caption(
        f"{defaulted:,} of these offers name their GPU too vaguely to tell the form factor or memory "
        "(a bare 'H100' or 'A100'); the documented default of that name was assumed. They show "
        "'name default' under 'GPU known from'."
    )
unmapped_rows = unmapped.height + int(data.query("SELECT coalesce(sum(offers), 0) AS n FROM unmapped_gpus")["n"][0])
if unmapped_rows:
    ui.caption(
        f"{unmapped_rows:,} further rows name a GPU we cannot map to a canonical GPU yet; they are "
        "kept out of the market above. The `unmapped_gpus` view on the SQL page and the Freshness "
        "page list them."
    )
