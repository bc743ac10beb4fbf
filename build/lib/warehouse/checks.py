"""Data-quality reads over a day's offers, for the pipeline's asset checks."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date


@dataclass(frozen=True)
class OfferQuality:
    drops: list[tuple]  # (source, previous day's offers, today's offers) where today < half
    out_of_bounds: int  # offers whose price per GPU-hour is not in (0, max]
    without_url: int  # offers without a source URL or an observation time


def offer_quality(writer, snapshot_date: date, max_usd_per_gpu_hour: float) -> OfferQuality:
    con = writer.con
    drops = con.sql(
        """
        WITH counts AS (
            SELECT source, snapshot_date, count(*) AS n FROM offers GROUP BY ALL
        ), today AS (SELECT * FROM counts WHERE snapshot_date = $d),
        previous AS (
            SELECT c.source, arg_max(c.n, c.snapshot_date) AS n
            FROM counts c WHERE c.snapshot_date < $d GROUP BY c.source
        )
        SELECT p.source, p.n AS previous, coalesce(t.n, 0) AS today
        FROM previous p LEFT JOIN today t USING (source)
        WHERE t.n IS NOT NULL AND t.n < 0.5 * p.n
        """,
        params={"d": snapshot_date},
    ).fetchall()
    out_of_bounds = con.sql(
        "SELECT count(*) FROM offers WHERE snapshot_date = $d AND NOT "
        "(price_usd_per_gpu_hour > 0 AND price_usd_per_gpu_hour <= $max)",
        params={"d": snapshot_date, "max": max_usd_per_gpu_hour},
    ).fetchall()[0][0]
    without_url = con.sql(
        "SELECT count(*) FROM offers WHERE snapshot_date = $d AND "
        "(coalesce(source_url, '') = '' OR observed_at IS NULL)",
        params={"d": snapshot_date},
    ).fetchall()[0][0]
    return OfferQuality(drops=list(drops), out_of_bounds=int(out_of_bounds), without_url=int(without_url))
