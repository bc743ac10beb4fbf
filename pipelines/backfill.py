"""Backfill: land the versions of a public git archive, each in the partition of its commit day.

Plain Python (like pipelines.ingest); `gpu-prices backfill` and the Dagster backfill job call it.

Rules, per archive and day:
* A version is one observation: snapshot_date = its commit day (UTC), observed_at = its commit
  time, source_url = the raw file at that commit on the public git host.
* Every version's bytes are archived in raw_responses before anything is parsed, all of them,
  "unchanged since previous commit" versions included (the same bytes at their own commit).
* Several versions on one day: the day's **last** version of each tracked file is what the
  day's offers come from (a day is one observation per offer, like a daily fetch); the earlier
  ones stay in raw_responses and are counted in the run's message.
* The run row says `mode = 'backfill'`; `offers_history.backfilled` comes from it.
* A day the project fetched itself (an ok ingest_runs row in mode live, replay or record) is
  never overwritten: it is skipped and reported.
* Gaps are shown, never filled: days without a version have no rows (see the
  `backfill_gaps` view), and a version whose bytes are unavailable is named in the day's message
  (or, alone on its day, recorded as a skipped run saying so).
* Re-running is idempotent: a day's rows of the source are replaced, archive rows upserted.
"""

from __future__ import annotations

import itertools
import logging
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Callable, Iterable

import httpx
import polars as pl

from connectors import archive as archives
from connectors.base import Source
from connectors.registry import get_archive
from market.rules import finalize_offers
from warehouse.store import Warehouse

log = logging.getLogger("gpu_prices.backfill")

BACKFILL_MODE = "backfill"
PROJECT_MODES = ("live", "replay", "record")  # runs the project fetched itself
# A project run in these states holds its own data (or is about to parse it): never replaced.
# A failed project run may be filled from the archive; its failure stays in the day's history
# only as far as the archive's run message says so.
PROTECTED_STATUSES = ("ok", "fetched")


@dataclass
class DayResult:
    day: date
    status: str  # ok | skipped | failed
    versions: int
    message: str = ""
    offers: int = 0
    quarantined: int = 0
    unmapped: int = 0
    excluded: int = 0
    rows_read: int = 0
    market_quotes: int = 0  # of the excluded: rows kept as market-level quotes (market_quotes)


@dataclass
class BackfillSummary:
    source: str
    days: list[DayResult] = field(default_factory=list)
    seconds: float = 0.0

    def _count(self, status: str) -> int:
        return sum(1 for d in self.days if d.status == status)

    @property
    def versions(self) -> int:
        return sum(d.versions for d in self.days)

    @property
    def landed(self) -> list[date]:
        return [d.day for d in self.days if d.status == "ok"]

    @property
    def skipped_project_days(self) -> list[date]:
        return [d.day for d in self.days if d.status == "skipped" and d.message.startswith("kept")]

    def total(self, name: str) -> int:
        return sum(getattr(d, name) for d in self.days)

    def gaps(self) -> list[tuple[date, date, int]]:
        """(first missing day, last missing day, days) between consecutive observed days: landed
        from the archive or kept as the project fetched them (the `backfill_gaps` view's rule)."""
        days = sorted(set(self.landed) | set(self.skipped_project_days))
        out = []
        for before, after in itertools.pairwise(days):
            missing = (after - before).days - 1
            if missing > 0:
                out.append((date.fromordinal(before.toordinal() + 1), date.fromordinal(after.toordinal() - 1), missing))
        return out

    def lines(self) -> list[str]:
        days = sorted(d.day for d in self.days)
        if not days:
            return [f"{self.source}: no version in the requested range"]
        gaps = self.gaps()
        missing = sum(g[2] for g in gaps)
        longest = max(gaps, key=lambda g: g[2]) if gaps else None
        out = [
            f"{self.source}: {self.versions:,} version(s) on {len(days):,} day(s), {days[0]} -> {days[-1]} "
            f"in {self.seconds:.1f}s",
            f"  landed {len(self.landed):,} day(s): {self.total('offers'):,} offers, "
            f"{self.total('quarantined'):,} quarantined, {self.total('unmapped'):,} unmapped, "
            f"{self.total('excluded'):,} excluded of {self.total('rows_read'):,} rows read"
            + (f" ({self.total('market_quotes'):,} of them kept as market-level quotes)"
               if self.total("market_quotes") else ""),
        ]
        if self.skipped_project_days:
            out.append(f"  kept {len(self.skipped_project_days)} day(s) the project fetched itself: "
                       + ", ".join(str(d) for d in self.skipped_project_days))
        for status in ("skipped", "failed"):
            other = [d for d in self.days if d.status == status and not d.message.startswith("kept")]
            for d in other:
                out.append(f"  {status} {d.day}: {d.message}")
        out.append(f"  gaps (days without an observation, not interpolated): {missing:,} day(s) in {len(gaps):,} gap(s)"
                   + (f"; longest {longest[2]} day(s), {longest[0]} -> {longest[1]}" if longest else ""))
        return out


Progress = Callable[[str], None]


def _now() -> datetime:
    return datetime.now(timezone.utc)


def backfill_versions(
    warehouse: Warehouse,
    source: Source,
    versions: Iterable[archives.Version],
    *,
    run_id: str = "",
    progress: Progress | None = None,
) -> BackfillSummary:
    """Land versions (in commit-time order) day by day under one writer session."""
    summary = BackfillSummary(source.id)
    started = time.perf_counter()
    with warehouse.session():
        for day, group in itertools.groupby(versions, key=lambda v: v.day):
            result = backfill_day(warehouse, source, day, list(group), run_id=run_id)
            summary.days.append(result)
            if progress is not None:
                progress(_progress_line(source.id, result))
    summary.seconds = time.perf_counter() - started
    return summary


def _progress_line(source_id: str, r: DayResult) -> str:
    if r.status == "ok":
        return (f"{source_id} {r.day}: {r.versions} version(s), {r.offers:,} offers, {r.quarantined:,} "
                f"quarantined, {r.unmapped:,} unmapped, {r.excluded:,} excluded of {r.rows_read:,} rows"
                + (f" ({r.market_quotes:,} kept as market-level quotes)" if r.market_quotes else "")
                + (f" ({r.message})" if "not available" in r.message else ""))
    return f"{source_id} {r.day}: {r.status}: {r.message}"


def backfill_day(warehouse: Warehouse, source: Source, day: date, versions: list[archives.Version],
                 *, run_id: str = "") -> DayResult:
    """One day of an archive: archive every version, parse each file's last one, replace the day."""
    started = _now()
    available = [v for v in versions if v.raw is not None]
    unavailable = [f"{v.file.path}@{v.commit[:8]} {v.status}" for v in versions if v.raw is None]
    with warehouse.writer() as w:
        state = w.run_state(day, source.id)
        own = state is not None and state.get("mode") in PROJECT_MODES
        if own and state["status"] in PROTECTED_STATUSES:
            return DayResult(day, "skipped", len(versions),
                             f"kept: the project fetched this day itself ({state['mode']} run, {state['status']})")
        if not available and own:
            return DayResult(day, "skipped", len(versions), "archive gap (the project's own failed run is kept): "
                             + "; ".join(unavailable))
        if not available:
            message = "archive gap: no version of this day is available: " + "; ".join(unavailable)
            w.record_run(day, source.id, status="skipped", stage="fetch", mode=BACKFILL_MODE, run_id=run_id,
                         started_at=started, finished_at=_now(), responses=0, offers_written=0,
                         quarantined=0, rows_read=0, unmapped=0, excluded=0, message=message)
            return DayResult(day, "skipped", len(versions), message)
        for version in available:
            w.archive(version.raw, day)  # every version's bytes, before anything is parsed
    last_per_file: dict[str, archives.Version] = {}
    for version in available:
        last_per_file[version.file.path] = version  # versions come oldest first: the last wins
    chosen = [last_per_file[path] for path in sorted(last_per_file)]
    raws = [v.raw for v in chosen]
    notes = [f"backfill of {len(available)} version(s); the day's last per file is parsed: "
             + ", ".join(f"{v.file.path.rsplit('/', 1)[-1]}@{v.commit[:8]} {v.committed_at:%H:%M:%S}Z" for v in chosen)]
    notes += [f"not available: {u}" for u in unavailable]
    try:
        parsed, file_failures = source.parse_isolated(raws)
        finalized = finalize_offers(parsed, source.id, day)
    except Exception as exc:  # noqa: BLE001 - one bad version must not stop the archive
        message = f"{source.id}: {type(exc).__name__}: {exc}"
        with warehouse.writer() as w:
            w.record_run(day, source.id, status="failed", stage="parse", mode=BACKFILL_MODE, run_id=run_id,
                         started_at=started, finished_at=_now(), responses=len(available),
                         offers_written=0, quarantined=0, message="; ".join([message, *notes]))
        return DayResult(day, "failed", len(versions), message)
    counts = finalized.accounting()
    notes += [f"file failed: {f}" for f in file_failures]
    with warehouse.writer() as w:
        w.replace_offers(day, source.id, finalized)
        unmapped = finalized.quarantined.filter(pl.col("outcome") == "unmapped")
        w.record_aliases(finalized.offers, source.id, day, unmapped)
        w.record_run(day, source.id, status="ok", stage="write", mode=BACKFILL_MODE, run_id=run_id,
                     started_at=started, finished_at=_now(), responses=len(available),
                     good_raw_ids=[r.id for r in raws], offers_written=counts["offers"],
                     quarantined=counts["quarantined"], rows_read=counts["rows_read"],
                     unmapped=counts["unmapped"], excluded=counts["excluded"], message="; ".join(notes))
    return DayResult(day, "ok", len(versions), "; ".join(notes), offers=counts["offers"],
                     quarantined=counts["quarantined"], unmapped=counts["unmapped"],
                     excluded=counts["excluded"], rows_read=counts["rows_read"],
                     market_quotes=int(finalized.market_quotes["quotes"].sum() or 0))


def archive_versions(
    source_id: str,
    *,
    root: Path | None = None,
    client: httpx.Client | None = None,
    since: date | None = None,
    until: date | None = None,
    on_listing: Callable | None = None,
):
    """The archive's versions in range: offline from `root` (the folder holding the archive's
    index.csv + versions.tar.xz, or its per-file sub-folders), or live through `client`."""
    _, spec = get_archive(source_id)
    if client is not None:
        return archives.live_versions(client, spec, since, until, on_listing)
    if root is None:
        raise ValueError("an offline backfill needs the archive folder (root)")
    return archives.offline_versions(spec, root, since, until)


def run_backfill(
    warehouse: Warehouse,
    source_id: str,
    *,
    root: Path | None = None,
    client: httpx.Client | None = None,
    since: date | None = None,
    until: date | None = None,
    run_id: str = "",
    progress: Progress | None = None,
) -> BackfillSummary:
    """Backfill one archive, offline (root) or live (client). The live commit listings are
    archived too, under the day they were fetched."""
    source, _ = get_archive(source_id)

    def archive_listing(raw) -> None:
        with warehouse.writer() as w:
            w.archive(raw, raw.fetched_at.date())

    with warehouse.session():
        versions = archive_versions(source_id, root=root, client=client, since=since, until=until,
                                    on_listing=archive_listing)
        return backfill_versions(warehouse, source, versions, run_id=run_id, progress=progress)


def refresh_derived(warehouse: Warehouse, days: Iterable[date], cost_metric_days: Iterable[date] = (),
                    progress: Progress | None = None) -> int:
    """Rebuild the price index of every backfilled day, and cost_metrics of `cost_metric_days`;
    then price the reference runs of the periods those days reach.

    The index is the market's history (one small row per GPU, pricing and day). cost_metrics is
    one row per offer and precision (about 4.5 per offer: 2.9 million rows for the three
    archives, most of the warehouse), and its views read each source's latest day only, so
    the backfill rebuilds it for each archive's most recent day; `gpu-prices assumptions set`
    rebuilds it for every day when someone needs it. Returns the number of index days."""
    from connectors.registry import source_kinds
    from warehouse.derived import refresh_cost_metrics, refresh_price_index

    kinds = source_kinds()
    done = 0
    with warehouse.session():
        for day in sorted(set(cost_metric_days)):
            with warehouse.writer() as w:
                refresh_cost_metrics(w, day)
        for day in sorted(set(days)):
            with warehouse.writer() as w:
                refresh_price_index(w, day, kinds)
            done += 1
            if progress is not None and done % 50 == 0:
                progress(f"price index: {done} day(s)")
        if done:
            from warehouse.reference_history import refresh_reference_history

            with warehouse.writer() as w:
                refresh_reference_history(w, kinds, days, progress=progress)
    return done
