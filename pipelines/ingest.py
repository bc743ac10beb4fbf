"""Fetch, archive and parse one source for one day. Plain Python; the Dagster assets call this.

Guarantees, per source and day:
* every response is archived before anything is parsed, failed fetches included;
* a failure (timeout, HTTP 500, HTML, truncated or changed body) is recorded in `ingest_runs`
  with a message naming the source and the problem, and the day's earlier good rows stay;
  when one file of a many-file source fails (a cut catalog), that file's earlier rows stay;
* re-running a day replaces that day's rows for that source only.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Callable

import httpx
import polars as pl

from connectors.base import FetchContext, FileFailure, RawResponse, Source, SourceError, check_responses
from market.rules import finalize_offers
from warehouse.store import Warehouse

log = logging.getLogger("gpu_prices.ingest")



@dataclass(frozen=True)
class IngestEvent:
    """What the ingest steps report, as data: the CLI and Dagster's log render it, nobody parses it.

    `status` is "progress" (a line worth showing), "archived" (a response stored; counters only),
    or a terminal status of the step: fetched | ok | failed | skipped.
    """

    source: str
    status: str
    message: str
    offers: int = 0
    quarantined: int = 0
    rows_read: int = 0
    unmapped: int = 0
    excluded: int = 0

    @property
    def terminal(self) -> bool:
        return self.status in ("ok", "failed", "skipped")


Progress = Callable[[IngestEvent], None]


class _Reporter:
    """Emits one source's events to a Progress callback (or nowhere)."""

    def __init__(self, source_id: str, progress: Progress | None) -> None:
        self.source_id = source_id
        self.progress = progress

    def __call__(self, message: str, status: str = "progress", **counts: int) -> None:
        if self.progress is not None:
            self.progress(IngestEvent(self.source_id, status, message, **counts))


@dataclass
class Outcome:
    source: str
    status: str  # fetched | ok | failed | skipped
    message: str = ""
    responses: int = 0
    offers: int = 0
    quarantined: int = 0
    rows_read: int = 0
    unmapped: int = 0
    excluded: int = 0


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _describe(exc: BaseException, source_id: str) -> str:
    """A one-line reason that names the source, for ingest_runs and the console."""
    if isinstance(exc, SourceError):
        message = str(exc)
    elif isinstance(exc, httpx.TimeoutException):
        message = f"timed out ({type(exc).__name__}): {exc}"
    elif isinstance(exc, httpx.TransportError):
        message = f"could not reach the endpoint ({type(exc).__name__}): {exc}"
    else:
        message = f"{type(exc).__name__}: {exc}"
    return message if message.startswith(source_id) else f"{source_id}: {message}"


def _parse_failed(warehouse: Warehouse, source: Source, snapshot_date: date, exc: BaseException,
                  responses: int, say: _Reporter) -> Outcome:
    """Record a parse failure; the day's earlier rows of the source stay as they were."""
    error = _describe(exc, source.id)
    with warehouse.writer() as w:
        w.record_run(snapshot_date, source.id, status="failed", stage="parse",
                     finished_at=_now(), message=error, offers_written=0, quarantined=0)
    say(error, "failed")
    return Outcome(source.id, "failed", error, responses=responses)


def skip_reason(source: Source, mode: str, snapshot_sources: set[str] | None, keys: dict[str, str | None]) -> str | None:
    """Why a source will not run, or None. Keys matter only when we really call the provider."""
    if mode == "replay":
        if snapshot_sources is not None and source.id not in snapshot_sources:
            return "skipped: not in this snapshot"
        return None
    if source.key_env and not keys.get(source.key_env):
        return f"skipped: no key (set {source.key_env} to enable {source.name})"
    return None


def fetch_source(
    warehouse: Warehouse,
    source: Source,
    client: httpx.Client,
    snapshot_date: date,
    *,
    mode: str,
    run_id: str = "",
    snapshot_sources: set[str] | None = None,
    keys: dict[str, str | None] | None = None,
    progress: Progress | None = None,
) -> Outcome:
    """Fetch one source and archive every response. Never raises for a source's own failure.

    `keys` maps the source's credential env var names to their values (from Dagster's secret
    resources); a replay ignores them: recorded responses never need a key."""
    say = _Reporter(source.id, progress)
    started = _now()
    keys = {} if mode == "replay" else dict(keys or {})
    reason = skip_reason(source, mode, snapshot_sources, keys)
    if reason:
        with warehouse.writer() as w:
            w.record_run(
                snapshot_date, source.id, status="skipped", stage="fetch", mode=mode,
                run_id=run_id, started_at=started, finished_at=_now(), message=reason,
                responses=0, offers_written=0, quarantined=0,
            )
        say(reason, "skipped")
        return Outcome(source.id, "skipped", reason)

    responses: list[RawResponse] = []
    error: str | None = None
    ctx = FetchContext(
        api_key=keys.get(source.key_env) if source.key_env else None,
        secrets={name: value for name, value in keys.items() if value and name != source.key_env},
        progress=say,
    )
    try:
        for raw in source.fetch(client, ctx):
            warehouse.store_body(raw)  # archived the moment it arrives; rows follow below
            responses.append(raw)
            say(f"fetched {len(responses)} response(s), {raw.size:,} bytes last", "archived")
        check_responses(source.id, responses)
    except Exception as exc:  # noqa: BLE001 - a source's failure must not stop the others
        error = _describe(exc, source.id)
        log.warning("fetch failed: %s", error)

    with warehouse.writer() as w:
        ids = [w.archive(raw, snapshot_date) for raw in responses]
        fields = dict(
            stage="fetch", mode=mode, run_id=run_id, started_at=started, finished_at=_now(),
            responses=len(ids),
        )
        if error:
            w.record_run(snapshot_date, source.id, status="failed", message=error,
                         offers_written=0, quarantined=0, **fields)
        else:
            w.record_run(snapshot_date, source.id, status="fetched", message="; ".join(ctx.warnings),
                         good_raw_ids=ids, **fields)
    if error:
        say(error, "failed")
        return Outcome(source.id, "failed", error, responses=len(ids))
    say(f"{len(ids)} response(s) archived", "fetched")
    return Outcome(source.id, "fetched", responses=len(ids))


def parse_source(
    warehouse: Warehouse,
    source: Source,
    snapshot_date: date,
    *,
    reparse: bool = False,
    progress: Progress | None = None,
) -> Outcome:
    """Parse the day's archived responses of one source and replace its offers.

    Parses only a fresh successful fetch, unless `reparse` asks to parse the latest good fetch
    again (for example after a parser fix). Never raises for a source's own failure.
    """
    say = _Reporter(source.id, progress)
    with warehouse.writer() as w:
        state = w.run_state(snapshot_date, source.id)
        if state is None:
            return Outcome(source.id, "skipped", "not fetched for this day")
        if state["status"] != "fetched" and not (reparse and state.get("good_raw_ids")):
            return Outcome(source.id, state["status"], state.get("message") or "")
        raws = w.raw_responses(snapshot_date, list(state.get("good_raw_ids") or []))

    if source.kind == "specs":
        return _parse_specs(warehouse, source, snapshot_date, raws, say)
    try:
        parsed, file_failures = source.parse_isolated(raws)
        finalized = finalize_offers(parsed, source.id, snapshot_date)
    except Exception as exc:  # noqa: BLE001
        return _parse_failed(warehouse, source, snapshot_date, exc, len(raws), say)

    counts = finalized.accounting()
    with warehouse.writer() as w:
        # A file that failed this time keeps its earlier rows of the day (a cut catalog must not
        # replace good rows by none); the run's message says how many stayed.
        failed_urls = [f.url for f in file_failures if isinstance(f, FileFailure)]
        kept = w.replace_offers(snapshot_date, source.id, finalized, keep_urls=failed_urls)
        unmapped = finalized.quarantined.filter(pl.col("outcome") == "unmapped")
        w.record_aliases(finalized.offers, source.id, snapshot_date, unmapped)
        # The fetch's warnings (partial gaps) stay; a re-parse adds nothing twice.
        earlier = (state.get("message") or "") if state["status"] in ("fetched", "ok") else ""
        fetch_warnings = [m for m in earlier.split("; ") if m and not _is_parse_note(m)]
        notes = [f"file failed: {f}" for f in file_failures]
        if kept:
            notes.append(f"{kept} earlier offer(s) of the day kept from the failed file(s)")
        if counts["quarantined"]:
            notes.append(f"{counts['quarantined']} row(s) quarantined")
        if counts["unmapped"]:
            notes.append(f"{counts['unmapped']} row(s) with an unmapped GPU")
        w.record_run(snapshot_date, source.id, status="ok", stage="write", finished_at=_now(),
                     offers_written=counts["offers"], quarantined=counts["quarantined"],
                     rows_read=counts["rows_read"], unmapped=counts["unmapped"], excluded=counts["excluded"],
                     message="; ".join(fetch_warnings + notes))
    summary = f"{counts['offers']:,} offers of {counts['rows_read']:,} rows read"
    extras = [f"{counts[k]:,} {k}" for k in ("quarantined", "unmapped", "excluded") if counts[k]]
    say(summary + (f" ({', '.join(extras)})" if extras else "") + "".join(f"; file failed: {f}" for f in file_failures),
        "ok", offers=counts["offers"], quarantined=counts["quarantined"], rows_read=counts["rows_read"],
        unmapped=counts["unmapped"], excluded=counts["excluded"])
    return Outcome(source.id, "ok", responses=len(raws), offers=counts["offers"], quarantined=counts["quarantined"],
                   rows_read=counts["rows_read"], unmapped=counts["unmapped"], excluded=counts["excluded"])


def _is_parse_note(message: str) -> bool:
    """A note the parse step wrote on an earlier run (re-written on every parse, never kept twice)."""
    return message.startswith("file failed: ") or message.endswith(
        ("quarantined", "with an unmapped GPU", "kept from the failed file(s)"))


def _parse_specs(warehouse: Warehouse, source: Source, snapshot_date: date, raws, say: _Reporter) -> Outcome:
    """A specs source lands in `external_specs` (cross-checked, never overwriting curated specs)."""
    from warehouse.specs import replace_external_specs

    try:
        # A specs source may also say what it left out (dropped cells, absent columns).
        with_report = getattr(source, "parse_with_report", None)
        frame, report = with_report(raws) if with_report else (source.parse(raws), None)
    except Exception as exc:  # noqa: BLE001
        return _parse_failed(warehouse, source, snapshot_date, exc, len(raws), say)
    dropped = report.dropped.height if report is not None else 0
    message = report.summary() if report is not None else ""
    with warehouse.writer() as w:
        replace_external_specs(w, snapshot_date, source.id, frame)
        w.record_run(snapshot_date, source.id, status="ok", stage="write", finished_at=_now(),
                     offers_written=frame.height, quarantined=dropped, message=message)
    say(f"{frame.height:,} spec figures" + (f"; {message}" if message else ""), "ok",
        offers=frame.height, quarantined=dropped)
    return Outcome(source.id, "ok", responses=len(raws), offers=frame.height, quarantined=dropped)
