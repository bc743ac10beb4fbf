"""Data-quality reads over a day's offers, for the pipeline's asset checks."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date


@dataclass(frozen=True)
class OfferQuality:
    drops: list[tuple]  # (source, previous day's offers, today's offers) where today < half
    out_of_bounds: int  # offers whose price per GPU-hour is not in (0, max]
    without_url: int  # offers without a source URL or an observation time
    unaccounted: list[dict]  # sources whose rows read != offers + quarantined + unmapped + excluded


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
    return OfferQuality(drops=list(drops), out_of_bounds=int(out_of_bounds), without_url=int(without_url),
                        unaccounted=accounting_problems(con, snapshot_date))


def accounting_problems(con, snapshot_date: date) -> list[dict]:
    """Sources whose parsed rows do not add up that day (empty when every row is accounted for):
    counted from the stored tables (offers, quarantined_offers, source_exclusions) and compared
    with what ingest_runs recorded for the run."""
    rows = con.sql(
        """
        WITH stored AS (
            SELECT r.source, r.rows_read, r.offers_written, r.quarantined, r.unmapped, r.excluded,
                (SELECT count(*) FROM offers o WHERE o.snapshot_date = r.snapshot_date AND o.source = r.source) AS n_offers,
                (SELECT count(*) FROM quarantined_offers q WHERE q.snapshot_date = r.snapshot_date
                   AND q.source = r.source AND coalesce(q.outcome, 'quarantined') = 'quarantined') AS n_quarantined,
                (SELECT count(*) FROM quarantined_offers q WHERE q.snapshot_date = r.snapshot_date
                   AND q.source = r.source AND q.outcome = 'unmapped') AS n_unmapped,
                (SELECT coalesce(sum(e.rows), 0) FROM source_exclusions e WHERE e.snapshot_date = r.snapshot_date
                   AND e.source = r.source) AS n_excluded
            FROM ingest_runs r
            WHERE r.snapshot_date = $d AND r.status = 'ok' AND r.rows_read IS NOT NULL
        )
        SELECT * FROM stored
        WHERE rows_read <> n_offers + n_quarantined + n_unmapped + n_excluded
           OR offers_written <> n_offers OR quarantined <> n_quarantined
           OR unmapped <> n_unmapped OR excluded <> n_excluded
        ORDER BY source
        """,
        params={"d": snapshot_date},
    ).pl()
    return [{k: (v if isinstance(v, (int, str)) or v is None else str(v)) for k, v in r.items()} for r in rows.to_dicts()]
