"""Helpers shared by the connector tests of keyed and aggregator sources (gcp, lambda_cloud,
cyclenerd, gpuhunt, verda, digitalocean): build recorded responses, run a fetch through
`httpx.MockTransport`, finalize a parsed frame, and run `pipelines.ingest.fetch_source`
against a throw-away warehouse. No network, no sleeping between retries."""

from __future__ import annotations

import os

from datetime import date, datetime, timezone
from pathlib import Path
from typing import Callable

import httpx
import polars as pl

from connectors import http
from connectors.base import FetchContext, RawResponse, Source
from pipelines.resources import key_envs
from market.rules import finalize_offers
from pipelines.ingest import Outcome, fetch_source
from warehouse.store import Warehouse

FIXTURES = Path(__file__).resolve().parent / "fixtures"
RECORDED_AT = datetime(2024, 9, 26, 12, 0, tzinfo=timezone.utc)
DAY = date(2024, 9, 26)

Handler = Callable[[httpx.Request], httpx.Response]


def raw(source: str, url: str, body: bytes, status: int = 200, content_type: str = "application/json") -> RawResponse:
    return RawResponse(
        source=source, method="GET", url=url, status=status,
        headers={"content-type": content_type}, fetched_at=RECORDED_AT, body=body,
    )


def client(handler: Handler) -> httpx.Client:
    return http.build_client(httpx.MockTransport(handler), sleep=lambda _seconds: None)


def configured_keys(source: Source) -> dict[str, str | None]:
    """The credentials Dagster's secret resources would hand the source: its variables from the
    environment (tests set them with monkeypatch)."""
    return {name: os.environ.get(name) for name in key_envs(source)}


def fetch_all(source: Source, handler: Handler, api_key: str | None = None, said: list | None = None) -> list[RawResponse]:
    extra = {k: v for k, v in configured_keys(source).items() if v and k != source.key_env}
    ctx = FetchContext(api_key=api_key, secrets=extra, progress=(said.append if said is not None else None))
    with client(handler) as c:
        return list(source.fetch(c, ctx))


def finalize(frame: pl.DataFrame, source_id: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(offers, quarantined rows of every outcome), with the accounting identity asserted."""
    result = finalize_offers(frame, source_id, DAY)
    assert result.unaccounted == 0, result.accounting()
    return result.offers, result.quarantined


def live_fetch(source: Source, handler: Handler, tmp_path: Path) -> tuple[Outcome, list[dict]]:
    """fetch_source in live mode; returns the outcome and the archived raw_responses rows."""
    warehouse = Warehouse(tmp_path / "gpu_prices.duckdb")
    with client(handler) as c:
        outcome = fetch_source(warehouse, source, c, DAY, mode="live", keys=configured_keys(source))
    with warehouse.writer() as w:
        archived = w.con.sql("SELECT url, content_type, request_body, body_file FROM raw_responses").pl().to_dicts()
        state = w.run_state(DAY, source.id)
    outcome.state = state  # type: ignore[attr-defined]
    return outcome, archived


def archived_text(tmp_path: Path, archived: list[dict]) -> str:
    """Everything archived for a fetch (URLs, content types, request bodies, bodies) as text."""
    from connectors.bodies import ArchivedBody

    parts = []
    for row in archived:
        parts += [str(row["url"]), str(row["content_type"]), str(row["request_body"])]
        with ArchivedBody(tmp_path / "raw" / row["body_file"], str(row["url"])) as body:
            parts.append(body.read().decode("utf-8", "replace"))
    return "\n".join(parts)


def no_network(request: httpx.Request) -> httpx.Response:  # pragma: no cover - must not run
    raise AssertionError(f"unexpected request to {request.url}")


def replay_fetch(source: Source, recorded: list[tuple[str, bytes]], tmp_path: Path) -> tuple[Outcome, Outcome]:
    """Record (url, body) pairs as a snapshot in tmp_path, then fetch and parse `source` from it
    in replay mode, the way `gpu-prices ingest --replay DIR` does. Returns (fetch, parse) outcomes."""
    from connectors.snapshot import ReplayTransport, Snapshot, SnapshotEntry, add_entry
    from pipelines.ingest import parse_source

    root = tmp_path / "snapshot"
    for index, (url, body) in enumerate(recorded):
        relative = f"responses/{source.id}/{index:03d}.body"
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_bytes(body)
        entry = SnapshotEntry(
            source=source.id, method="GET", url=http.redact_url(url), status=200, file=relative,
            fetched_at=RECORDED_AT.isoformat(), headers={"content-type": "application/json"},
        )
        add_entry(root, entry, snapshot_date=DAY)
    snapshot = Snapshot(root)
    warehouse = Warehouse(tmp_path / "replayed.duckdb")
    with http.build_client(ReplayTransport(snapshot), sleep=lambda _seconds: None) as c:
        fetched = fetch_source(warehouse, source, c, DAY, mode="replay", snapshot_sources=snapshot.sources())
    return fetched, parse_source(warehouse, source, DAY)
