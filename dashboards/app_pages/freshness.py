"""Freshness: how each source's last run went, and how old the data really is."""

from __future__ import annotations

from datetime import datetime, timezone

import polars as pl
import streamlit as st

from dashboards import data, ui

STALE_AFTER_DAYS = 2  # a daily job that has not succeeded for two days needs a look
OLD_OBSERVATION_DAYS = 7  # observations this much older than the newest snapshot are flagged

ui.header(
    "Freshness",
    "Each source's last ingest: when it last succeeded, how many offers it holds, and why it failed "
    "if it did. Old data are flagged, never hidden.",
)
ui.as_of()

status = data.ingest_status()
if status.is_empty():
    ui.empty("No ingest has run against this warehouse.", "Run `gpu-prices ingest --replay` (offline) or `gpu-prices ingest`.")
    st.stop()

now = datetime.now(timezone.utc)
observed = data.query(
    """
    SELECT source, max(snapshot_date) AS newest_snapshot, min(observed_at) AS oldest_observation,
           max(observed_at) AS newest_observation, count(*) AS offers
    FROM latest_offers GROUP BY source
    """
)
newest_snapshot = data.latest_window()[1]
frame = status.join(observed, on="source", how="left")


def _days(value) -> int | None:
    return data.days_old(value, now)


rows = []
for r in frame.iter_rows(named=True):
    success_age = _days(r["last_success_at"])
    snapshot_lag = (newest_snapshot - r["last_ok_snapshot_date"]).days if newest_snapshot and r["last_ok_snapshot_date"] else None
    obs = r.get("newest_observation")
    obs_lag = (newest_snapshot - obs.date()).days if newest_snapshot and obs is not None else None
    flags = []
    if r["last_status"] == "failed":
        flags.append("last run failed")
    if r["last_status"] == "skipped":
        flags.append("skipped")
    if r["last_success_at"] is None:
        flags.append("never succeeded")
    elif success_age is not None and success_age > STALE_AFTER_DAYS:
        flags.append(f"no success for {success_age} days")
    if snapshot_lag is not None and snapshot_lag > 0:
        flags.append(f"{snapshot_lag} days behind the newest snapshot")
    if obs_lag is not None and obs_lag > OLD_OBSERVATION_DAYS:
        flags.append(f"prices observed {obs_lag} days before the newest snapshot")
    obs_age = _days(obs)
    if obs_age is not None and obs_age > STALE_AFTER_DAYS:
        flags.append(f"prices are {obs_age} days old" + (" (replayed)" if r["last_mode"] == "replay" else ""))
    rows.append({
        "state": "stale" if flags and r["last_status"] != "failed" else ("failed" if r["last_status"] == "failed" else "fresh"),
        "source": r["source"],
        "flags": "; ".join(flags),
        "last_status": r["last_status"],
        "last_mode": r["last_mode"],
        "last_snapshot_date": r["last_snapshot_date"],
        "last_ok_snapshot_date": r["last_ok_snapshot_date"],
        "last_success_at": r["last_success_at"],
        "success_age_days": success_age,
        "newest_observation": obs,
        "offers_in_latest": r["offers_in_latest"],
        "last_rows_read": r.get("last_rows_read"),
        "last_offers_written": r["last_offers_written"],
        "last_quarantined": r["last_quarantined"],
        "last_unmapped": r.get("last_unmapped"),
        "last_excluded": r.get("last_excluded"),
        "last_stage": r["last_stage"],
        "last_message": r["last_message"],
    })
table = pl.DataFrame(rows, infer_schema_length=None)

failed = table.filter(pl.col("last_status") == "failed")
stale = table.filter(pl.col("flags") != "")
replayed = table.filter(pl.col("last_mode") == "replay").height

m1, m2, m3, m4 = st.columns(4)
m1.metric("Sources", f"{table.height}")
m2.metric("OK on last run", f"{table.filter(pl.col('last_status') == 'ok').height}")
m3.metric("Failed on last run", f"{failed.height}")
age = _days(newest_snapshot)
m4.metric("Newest snapshot", f"{newest_snapshot:%Y-%m-%d}" if newest_snapshot else "none",
          help="The newest snapshot date with offers", delta=f"{age} days old" if age else None,
          delta_color="off", delta_arrow="off")

if age is not None and age > STALE_AFTER_DAYS:
    st.warning(ui.md(
        f"The newest prices in this warehouse are from {newest_snapshot:%Y-%m-%d}, {age} days before today. "
        + ("They were replayed from a recorded snapshot (`--replay`), so they are real but old: read them as "
           "the market on that date, not today's prices. " if replayed else "")
        + "Run `gpu-prices ingest` (live) for today's prices."),
        icon=":material/history:",
    )
if not failed.is_empty():
    for r in failed.iter_rows(named=True):
        st.error(ui.md(
            f"**{r['source']}** failed at the {r['last_stage'] or 'unknown'} stage on {r['last_snapshot_date']}: "
            f"{r['last_message'] or 'no message recorded'}. Its earlier offers are kept"
            + (f" (last good snapshot {r['last_ok_snapshot_date']})." if r["last_ok_snapshot_date"] else ".")),
            icon=":material/error:",
        )

st.subheader("Sources")
st.dataframe(
    table,
    hide_index=True,
    width="stretch",
    column_config={
        "state": "state",
        "last_status": "last status",
        "last_mode": "mode",
        "last_snapshot_date": st.column_config.DateColumn("last run's snapshot", format="YYYY-MM-DD"),
        "last_ok_snapshot_date": st.column_config.DateColumn("last good snapshot", format="YYYY-MM-DD"),
        "last_success_at": st.column_config.DatetimeColumn("last success (UTC)", format="YYYY-MM-DD HH:mm"),
        "success_age_days": ui.number("since success (days)", "%d"),
        "newest_observation": st.column_config.DatetimeColumn("prices observed (UTC)", format="YYYY-MM-DD"),
        "offers_in_latest": ui.number("offers (latest)", "%d"),
        "last_rows_read": ui.number("rows read (last run)", "%d", "Every parsed row of the source's responses"),
        "last_offers_written": ui.number("offers written (last run)", "%d"),
        "last_quarantined": ui.number("quarantined (last run)", "%d", "Rows rejected with a reason: a bad cell, a zero, negative, absurd or non-USD price, an implausible GPU (memory above the family's, an impossible count)"),
        "last_unmapped": ui.number("unmapped GPU (last run)", "%d", "Rows whose GPU name maps to no canonical GPU yet: kept, listed below"),
        "last_excluded": ui.number("excluded (last run)", "%d", "Rows that are not offers, by a named rule (see below)"),
        "last_stage": "stage",
        "flags": st.column_config.TextColumn("flags", width="large"),
        "last_message": st.column_config.TextColumn("message / failure reason", width="large"),
    },
)
ui.caption(
    f"A source is flagged when its last success is more than {STALE_AFTER_DAYS} days before now, when it lags "
    f"the newest snapshot, when its prices were observed more than {OLD_OBSERVATION_DAYS} days before the "
    f"newest snapshot, or when its prices are more than {STALE_AFTER_DAYS} days old. 'last success' is when the "
    "ingest ran; 'prices observed' is when the data were fetched."
)

st.subheader("Where every row went")
st.markdown(
    "Each source's last run: rows read = offers + quarantined + unmapped + excluded. A blocking "
    "check stops the metrics and the index of a day on which a source's rows do not add up."
)
accounting = data.query(
    """
    SELECT a.source, a.snapshot_date, a.rows_read, a.offers, a.quarantined, a.unmapped, a.excluded, a.unaccounted
    FROM source_accounting a JOIN ingest_status s
      ON a.source = s.source AND a.snapshot_date = s.last_snapshot_date
    ORDER BY a.source
    """
)
if accounting.is_empty():
    ui.empty("No accounting recorded yet.", "Run an ingest.")
else:
    bad = accounting.filter(pl.col("unaccounted").is_not_null() & (pl.col("unaccounted") != 0))
    if not bad.is_empty():
        st.error(ui.md(f"Rows unaccounted for in {', '.join(bad['source'])}: the day's metrics were not built."),
                 icon=":material/error:")
    st.dataframe(
        accounting, hide_index=True, width="stretch",
        column_config={
            "snapshot_date": st.column_config.DateColumn("snapshot", format="YYYY-MM-DD"),
            "rows_read": ui.number("rows read", "%d"),
            "offers": ui.number("offers", "%d"),
            "quarantined": ui.number("quarantined", "%d"),
            "unmapped": ui.number("unmapped", "%d"),
            "excluded": ui.number("excluded", "%d"),
            "unaccounted": ui.number("unaccounted", "%d", "Must be 0"),
        },
    )
exclusions = data.query(
    """
    SELECT e.source, e.rule, e.rows FROM source_exclusions e JOIN ingest_status s
      ON e.source = s.source AND e.snapshot_date = s.last_snapshot_date
    ORDER BY e.source, e.rows DESC
    """
)
left, right = st.columns(2)
with left:
    st.markdown("**Excluded, by rule**")
    if exclusions.is_empty():
        st.caption("No rows excluded on the sources' last runs.")
    else:
        st.dataframe(exclusions, hide_index=True, width="stretch",
                     column_config={"rows": ui.number("rows", "%d")})
with right:
    st.markdown("**Unmapped GPU names** (the `unmapped_gpus` view)")
    unmapped_names = data.query("SELECT gpu_name_raw, offers, sources, last_seen FROM unmapped_gpus LIMIT 50")
    if unmapped_names.is_empty():
        st.caption("Every GPU name maps to a canonical GPU.")
    else:
        st.dataframe(unmapped_names, hide_index=True, width="stretch",
                     column_config={"offers": ui.number("rows", "%d"),
                                    "last_seen": st.column_config.DateColumn("last seen", format="YYYY-MM-DD")})

st.subheader("Snapshots")
per_day = data.query(
    """
    SELECT snapshot_date, count(DISTINCT source) AS sources, count(DISTINCT provider) AS providers,
           count(*) AS offers, count(DISTINCT gpu) AS gpus
    FROM offers GROUP BY snapshot_date ORDER BY snapshot_date DESC
    """
)
if per_day.is_empty():
    ui.empty("No offers in any snapshot.", "Run an ingest.")
else:
    st.dataframe(
        per_day, hide_index=True, width="stretch",
        column_config={
            "snapshot_date": st.column_config.DateColumn("snapshot date", format="YYYY-MM-DD"),
            "sources": ui.number("sources", "%d"),
            "providers": ui.number("providers", "%d"),
            "offers": ui.number("offers", "%d"),
            "gpus": ui.number("GPU types", "%d"),
        },
    )
