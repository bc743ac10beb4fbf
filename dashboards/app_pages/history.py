"""History: the chained and raw price index per GPU, per-provider lines with their price steps,
the market-level (instance-hour) quotes, one offer's price over time, and the change log. Every query is bounded to a pricing kind, a
date range and the chosen GPUs (warehouse.read, "history")."""

from __future__ import annotations


import altair as alt
import polars as pl
import streamlit as st

from dashboards import data, ui
from warehouse import read
from warehouse.read import HISTORY_MAX_GPUS, PRICE_STEP_PCT

ui.header(
    "History",
    "How prices moved across the snapshots in the warehouse: the chained price index, which moves "
    "only when matched offers change price, beside the raw index of the day's market "
    "(docs/price-index.md); each provider's line; and every recorded price change.",
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


def date_axis() -> alt.X:
    """A temporal x axis whose labels carry the year (the archive spans several)."""
    return alt.X("snapshot_date:T", title="snapshot date",
                 axis=alt.Axis(format="%Y-%m-%d", labelAngle=0, labelOverlap=True, tickCount=8))


def download(frame: pl.DataFrame, name: str, key: str) -> None:
    st.download_button(
        f"Download CSV ({frame.height:,} rows)", frame.write_csv(), file_name=name, mime="text/csv",
        key=key, icon=":material/download:", disabled=frame.is_empty(),
    )


# -- what to show --------------------------------------------------------------------------------
summary = data.index_summary()
if summary.is_empty():
    ui.empty("price_index_daily is empty.", "It is built by the ingest; re-run `gpu-prices ingest --replay`.")
    st.stop()
pricing_kinds = sorted(summary["pricing"].unique().to_list())
c1, c2, c3 = st.columns([1, 3, 2])
kind = c1.selectbox(
    "Pricing kind", pricing_kinds,
    index=pricing_kinds.index("on_demand") if "on_demand" in pricing_kinds else 0, key="history_pricing",
)
popular = (
    summary.filter(pl.col("pricing") == kind)
    .sort(["published_days", "providers", "days", "offers"], descending=True)["gpu"].to_list()
)
default_gpus = [g for g in ("H100-SXM-80GB", "A100-SXM-80GB") if g in popular] or popular[:2]
chosen = c2.multiselect(
    "GPUs", popular, default=default_gpus, key="history_gpu", max_selections=HISTORY_MAX_GPUS,
    help=f"Up to {HISTORY_MAX_GPUS}. Listed by how many days their index is published, then by providers.",
)
picked = c3.date_input(
    "Dates", value=(oldest, newest), min_value=oldest, max_value=newest, key="history_range",
    format="YYYY-MM-DD", help="Defaults to everything in the warehouse.",
)
picked = list(picked) if isinstance(picked, (tuple, list)) else [picked]
start = picked[0] if picked else oldest
end = picked[1] if len(picked) > 1 else newest  # while only the first date is picked

# -- the index -----------------------------------------------------------------------------------
st.subheader("Price index per GPU")
if not chosen:
    ui.empty("No GPU chosen.", "Pick at least one GPU above.")
    index = pl.DataFrame()
else:
    index = data.index_history(chosen, kind, start, end)
if chosen and index.is_empty():
    ui.empty(f"No {kind} index for these GPUs between {start:%Y-%m-%d} and {end:%Y-%m-%d}.",
             "Widen the dates or pick another GPU or pricing kind.")
elif chosen:
    gpu_colours = alt.Scale(scheme="tableau10", domain=chosen)
    series_names = {"chained_index_usd": "chained index (solid)", "index_usd": "raw index (dashed)",
                    "median_usd": "median offer (dotted)"}
    lines = (
        index.unpivot(index=["snapshot_date", "gpu", "providers", "matched_providers", "chain_basis"],
                      on=list(series_names), variable_name="series", value_name="usd")
        .with_columns(pl.col("series").replace_strict(series_names))
        .filter(pl.col("usd").is_not_null())
    )
    band = (
        alt.Chart(index).mark_area(opacity=0.12)
        .encode(x=date_axis(), y=alt.Y("p10_usd:Q", title=f"price ({ui.USD_GPU_H})"), y2="p90_usd:Q",
                color=alt.Color("gpu:N", title="GPU", scale=gpu_colours,
                                legend=alt.Legend(orient="top", symbolOpacity=1, symbolType="circle")),
                tooltip=[alt.Tooltip("gpu:N", title="GPU"), alt.Tooltip("snapshot_date:T", title="snapshot date"),
                         alt.Tooltip("p10_usd:Q", title="p10 $/GPU-h", format="$.3f"),
                         alt.Tooltip("p90_usd:Q", title="p90 $/GPU-h", format="$.3f")])
    )
    drawn = (
        alt.Chart(lines).mark_line(point=alt.OverlayMarkDef(size=25))
        .encode(
            x=date_axis(),
            y=alt.Y("usd:Q", title=f"price ({ui.USD_GPU_H})"),
            color=alt.Color("gpu:N", title="GPU", scale=gpu_colours, legend=alt.Legend(orient="top")),
            strokeDash=alt.StrokeDash(
                "series:N", title="line",
                scale=alt.Scale(domain=list(series_names.values()), range=[[1, 0], [6, 3], [1, 3]]),
                legend=alt.Legend(orient="top", symbolType="stroke", symbolStrokeWidth=2, symbolSize=400,
                                  symbolStrokeColor="#444", symbolFillColor="#444", symbolOpacity=1),
            ),
            detail="series:N",
            tooltip=[
                alt.Tooltip("gpu:N", title="GPU"), alt.Tooltip("series:N", title="line"),
                alt.Tooltip("snapshot_date:T", title="snapshot date"),
                alt.Tooltip("usd:Q", title="$/GPU-h", format="$.3f"),
                alt.Tooltip("providers:Q", title="providers"),
                alt.Tooltip("matched_providers:Q", title="providers matched to the day before"),
                alt.Tooltip("chain_basis:N", title="chained level is"),
            ],
        )
    )
    st.altair_chart((band + drawn).properties(height=380), width="stretch")
    providers_chart = (
        alt.Chart(index).mark_line(point=True, interpolate="step-after")
        .encode(x=date_axis(), y=alt.Y("providers:Q", title="providers"),
                color=alt.Color("gpu:N", title="GPU", scale=gpu_colours, legend=None),
                tooltip=[alt.Tooltip("gpu:N", title="GPU"), alt.Tooltip("snapshot_date:T", title="snapshot date"),
                         alt.Tooltip("providers:Q"), alt.Tooltip("offers:Q")])
        .properties(height=110, title="Providers quoting each GPU per day")
    )
    st.altair_chart(providers_chart, width="stretch")
    never = sorted(set(index["gpu"].to_list()) - set(index.drop_nulls("chained_index_usd")["gpu"].to_list()))
    ui.caption(
        "Solid: the **chained index**, which moves only by the price changes of offers present on "
        "both days (a source entering or leaving does not move it), anchored to the raw index on the "
        "first day that is published. Dashed: the **raw index** of the day's market (median of "
        "per-provider medians, published from 3 providers). Dotted: the median offer. Shaded: p10 to p90 "
        f"of all offers ({ui.USD_GPU_H})."
        + (f" No chained level for {', '.join(never)}: its raw index is never published in the warehouse "
           "(fewer than 3 providers on every day)." if never else "")
    )
    download(index, f"price_index_{kind}_{start:%Y%m%d}-{end:%Y%m%d}.csv", "history_index_csv")
    with st.expander("The index rows"):
        st.dataframe(
            index, hide_index=True, width="stretch",
            column_config={
                "snapshot_date": st.column_config.DateColumn("snapshot date", format="YYYY-MM-DD"),
                "gpu": "GPU",
                "providers": ui.number("providers", "%d"),
                "offers": ui.number("offers", "%d"),
                "p10_usd": ui.money(f"p10 ({ui.USD_GPU_H})"),
                "median_usd": ui.money(f"median ({ui.USD_GPU_H})"),
                "p90_usd": ui.money(f"p90 ({ui.USD_GPU_H})"),
                "index_usd": ui.money(f"raw index ({ui.USD_GPU_H})"),
                "chained_index_usd": ui.money(f"chained index ({ui.USD_GPU_H})"),
                "chain_basis": "chained level is",
                "matched_offers": ui.number("matched offers", "%d"),
                "matched_providers": ui.number("matched providers", "%d"),
                "link_factor": ui.number("link (x previous day)", "%.4f"),
                "withheld_reason": "raw index withheld because",
            },
        )

# -- per provider ------------------------------------------------------------------------------
st.subheader("Per provider")
if chosen:
    gpu = st.selectbox("GPU", chosen, key="history_provider_gpu")
    per_provider = data.provider_history(gpu, kind, start, end)
    steps = data.price_steps(gpu, kind, start, end)
    if per_provider.is_empty():
        ui.empty(f"No {kind} offer of {gpu} between {start:%Y-%m-%d} and {end:%Y-%m-%d}.", "Widen the dates.")
    else:
        providers = sorted(per_provider["provider"].unique().to_list())
        provider_colours = alt.Scale(scheme="category20", domain=providers)
        provider_lines = (
            alt.Chart(per_provider).mark_line(point=True, interpolate="step-after")
            .encode(
                x=date_axis(), y=alt.Y("median_usd:Q", title=f"median offer ({ui.USD_GPU_H})"),
                color=alt.Color("provider:N", title="provider", scale=provider_colours),
                tooltip=[alt.Tooltip("provider:N"), alt.Tooltip("snapshot_date:T", title="snapshot date"),
                         alt.Tooltip("median_usd:Q", title="median $/GPU-h", format="$.3f"),
                         alt.Tooltip("offers:Q"), alt.Tooltip("sources:N")],
            )
        )
        layers = provider_lines
        if not steps.is_empty():
            layers = provider_lines + (
                alt.Chart(steps.with_columns(step=pl.lit(f"price step > {PRICE_STEP_PCT:.0f}%")))
                .mark_point(filled=True, size=140, shape="triangle-down", stroke="black", strokeWidth=0.6)
                .encode(
                    x=date_axis(), y="new_usd:Q",
                    color=alt.Color("provider:N", scale=provider_colours, legend=None),
                    shape=alt.Shape("step:N", title="marker", scale=alt.Scale(range=["triangle-down"])),
                    tooltip=[alt.Tooltip("provider:N"), alt.Tooltip("snapshot_date:T", title="changed on"),
                             alt.Tooltip("previous_snapshot_date:T", title="previous snapshot"),
                             alt.Tooltip("region:N"), alt.Tooltip("instance_type:N", title="instance type"),
                             alt.Tooltip("old_usd:Q", title="old $/GPU-h", format="$.3f"),
                             alt.Tooltip("new_usd:Q", title="new $/GPU-h", format="$.3f"),
                             alt.Tooltip("change_pct:Q", title="change %", format="+.1f")],
                )
            )
        st.altair_chart(layers.properties(height=340), width="stretch")
        ui.caption(
            f"Each line: one provider's median {kind} offer of {gpu} per snapshot day (resellers count for "
            f"the cloud behind them). Triangles: an offer whose price moved by more than {PRICE_STEP_PCT:.0f}% "
            f"since its previous snapshot ({steps.height} in this range)."
        )
        d1, d2 = st.columns(2)
        with d1:
            download(per_provider, f"providers_{gpu}_{kind}.csv", "history_provider_csv")
        with d2:
            download(steps, f"price_steps_{gpu}_{kind}.csv", "history_steps_csv")

# -- market-level quotes -----------------------------------------------------------------------
st.subheader("Market-level quotes (per instance-hour)")
quote_models = data.market_quote_models()
if quote_models.is_empty():
    ui.empty("No market-level quotes in the warehouse.",
             "`gpu-prices backfill becloudready` lands the daily multi-provider archive (2024-09 to 2025-04).")
else:
    q1, q2 = st.columns([1, 2])
    quote_model = q1.selectbox("GPU model", quote_models["gpu_model"].to_list(), key="history_quote_model")
    quote_stat = q2.radio("Line", ["cheapest", "median"], horizontal=True, key="history_quote_stat",
                          help="Per provider and day: the cheapest quote, or the median of its quotes.")
    span = quote_models.filter(pl.col("gpu_model") == quote_model).row(0, named=True)
    quotes = data.market_quotes(quote_model, start, end)
    if quotes.is_empty():
        ui.empty(f"No market-level quote of {quote_model} between {start:%Y-%m-%d} and {end:%Y-%m-%d}.",
                 f"They span {span['first_day']:%Y-%m-%d} to {span['last_day']:%Y-%m-%d}: widen the dates.")
    else:
        column = f"{quote_stat}_usd_per_instance_hour"
        quote_providers = sorted(quotes["provider"].unique().to_list())
        st.altair_chart(
            alt.Chart(quotes).mark_line(point=alt.OverlayMarkDef(size=12), interpolate="step-after")
            .encode(
                x=date_axis(),
                y=alt.Y(f"{column}:Q", title=f"{quote_stat} quote ($ per instance-hour, log scale)",
                        scale=alt.Scale(type="log"),
                        axis=alt.Axis(values=[0.25, 0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500], format="$,~f")),
                color=alt.Color("provider:N", title="provider", legend=alt.Legend(orient="top", columns=6),
                                scale=alt.Scale(scheme="category20", domain=quote_providers)),
                tooltip=[alt.Tooltip("provider:N"), alt.Tooltip("snapshot_date:T", title="snapshot date"),
                         alt.Tooltip("cheapest_usd_per_instance_hour:Q", title="cheapest $/instance-h", format="$.2f"),
                         alt.Tooltip("median_usd_per_instance_hour:Q", title="median $/instance-h", format="$.2f"),
                         alt.Tooltip("dearest_usd_per_instance_hour:Q", title="dearest $/instance-h", format="$.2f"),
                         alt.Tooltip("quotes:Q"), alt.Tooltip("source:N")],
            ).properties(height=380),
            width="stretch",
        )
        ui.caption(
            f"Daily quotes for {quote_model} from {span['sources']} ({span['days']} days, {span['providers']} providers, "
            f"{span['first_day']:%Y-%m-%d} to {span['last_day']:%Y-%m-%d}): each is a price per **instance**-hour of an "
            "unstated number of GPUs (1- to 8-GPU instances), spot and on-demand mixed, without region. So these "
            "lines are not per-GPU prices and are not in the index above; the cheapest quote is the cheapest way "
            f"to rent any {quote_model} at that provider that day (connectors/becloudready.py)."
        )
        download(quotes, f"market_quotes_{quote_model}.csv", "history_quotes_csv")

from dashboards.reference_runs import reference_run_section  # noqa: E402

reference_run_section(dates)

# -- one offer ---------------------------------------------------------------------------------
st.subheader("One offer over time")
all_gpus = sorted(summary["gpu"].unique().to_list())
c1, c2 = st.columns(2)
offer_gpu = c1.selectbox(
    "GPU", all_gpus, index=all_gpus.index(chosen[0]) if chosen else 0, key="history_offer_gpu",
)
catalog = data.query(*read.offer_catalog_query(offer_gpu, start, end))
if catalog.is_empty():
    ui.empty(f"No offer of {offer_gpu} between {start:%Y-%m-%d} and {end:%Y-%m-%d}.", "Widen the dates.")
else:
    labels = [
        f"{r['provider']} · {r['region']} · {r['instance_type']} · {r['pricing']} · via {r['source']} "
        f"({r['days']} day{'s' if r['days'] != 1 else ''}{', price moved' if r['moved'] else ''})"
        for r in catalog.iter_rows(named=True)
    ]
    pick = c2.selectbox("Offer", range(len(labels)), format_func=lambda i: labels[i], key="history_offer")
    chosen_offer = catalog.row(pick or 0, named=True)
    series = data.query(
        """
        SELECT snapshot_date, price_usd_per_hour, price_usd_per_gpu_hour,
               previous_price_usd_per_hour, source_url, observed_at
        FROM offers_history
        WHERE source = $source AND provider = $provider AND region = $region
          AND instance_type = $instance_type AND pricing = $pricing
          AND snapshot_date BETWEEN $start AND $end
        ORDER BY snapshot_date
        """,
        {**{k: chosen_offer[k] for k in ("source", "provider", "region", "instance_type", "pricing")},
         "start": start, "end": end},
    )
    chart = (
        alt.Chart(series)
        .mark_line(point=alt.OverlayMarkDef(size=80), interpolate="step-after")
        .encode(
            x=date_axis(),
            y=alt.Y("price_usd_per_gpu_hour:Q", title=f"price ({ui.USD_GPU_H})", scale=alt.Scale(zero=False)),
            tooltip=[
                alt.Tooltip("snapshot_date:T", title="snapshot date"),
                alt.Tooltip("price_usd_per_gpu_hour:Q", title="$/GPU-h", format="$.4f"),
                alt.Tooltip("price_usd_per_hour:Q", title="instance $/h", format="$.4f"),
            ],
        )
        .properties(height=240)
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
if not chosen:
    ui.empty("No GPU chosen.", "Pick at least one GPU above to see its price changes.")
    st.stop()
changes = data.query(*read.changes_of_query(chosen, kind, start, end))
if changes.is_empty():
    ui.empty(
        f"No recorded {kind} price change of {', '.join(chosen)} between {start:%Y-%m-%d} and {end:%Y-%m-%d}.",
        "Changes appear once the same offer has been ingested on two or more days at different prices.",
    )
else:
    c1, c2 = st.columns(2)
    change_providers = c1.multiselect(
        "Provider", sorted(changes["provider"].unique().to_list()), key="history_changes_provider",
        placeholder="all providers",
    )
    direction = c2.radio("Direction", ["all", "cuts", "rises"], horizontal=True, key="history_changes_direction")
    shown = changes
    if change_providers:
        shown = shown.filter(pl.col("provider").is_in(change_providers))
    if direction == "cuts":
        shown = shown.filter(pl.col("change_pct") < 0)
    elif direction == "rises":
        shown = shown.filter(pl.col("change_pct") > 0)
    cuts = shown.filter(pl.col("change_pct") < 0).height
    ui.caption(f"{shown.height:,} change(s): {cuts:,} cuts, {shown.height - cuts:,} rises.")
    if shown.is_empty():
        ui.empty("No change matches these filters.", "Clear the provider filter or set Direction to all.")
    else:
        st.dataframe(
            shown, hide_index=True, width="stretch", height=360,
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
        download(shown, f"price_changes_{kind}.csv", "history_changes_csv")
