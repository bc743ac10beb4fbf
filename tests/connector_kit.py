"""Small helpers for connector tests: serve bytes to a Source through a real httpx stack.

Why: every connector test must go through the same path production uses (our HTTP policy,
`connectors.http.request`, RawResponse), never the network. `write_snapshot` builds a snapshot
directory in tmp_path that `ReplayTransport` serves (URL and POST body must match exactly, as
in the offline demo); `mock_transport` answers by URL for quick bad-input cases.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import polars as pl

from connectors.base import FetchContext, RawResponse, Source, check_responses
from connectors.http import build_client, canonical_url
from market.rules import finalize_offers
from connectors.snapshot import SnapshotEntry, add_entry

HTML_ERROR_PAGE = (
    b"<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head>"
    b"<body><h1>502 Bad Gateway</h1><p>cloudflare</p></body></html>\n"
)


@dataclass
class Recorded:
    """One response to serve: url (+ POST body), status, body, content type."""

    url: str
    body: bytes
    status: int = 200
    method: str = "GET"
    request_body: bytes | None = None
    content_type: str = "application/json"
    fetched_at: str = "2026-01-01T00:00:00+00:00"
    extra: dict = field(default_factory=dict)


def as_bytes(data: Any) -> bytes:
    return data if isinstance(data, bytes) else json.dumps(data).encode()


def write_snapshot(root: Path, source_id: str, recorded: list[Recorded], day: date = date(2026, 1, 1)) -> Path:
    """A snapshot directory (manifest + bodies) in the format of connectors/snapshot.py."""
    for i, rec in enumerate(recorded):
        rel = f"responses/{source_id}/{i:03d}.body"
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(rec.body)
        entry = SnapshotEntry(
            source=source_id,
            method=rec.method,
            url=rec.url,
            status=rec.status,
            file=rel,
            fetched_at=rec.fetched_at,
            headers={"content-type": rec.content_type},
            request_body_sha256=hashlib.sha256(rec.request_body).hexdigest() if rec.request_body else None,
            extra={"origin": "test", **rec.extra},
        )
        add_entry(root, entry, snapshot_date=day)
    return root


def mock_transport(recorded: list[Recorded]) -> httpx.MockTransport:
    """Answer each request by (method, canonical URL); anything else is a 599 naming it."""
    table = {(r.method, canonical_url(r.url)): r for r in recorded}

    def handler(request: httpx.Request) -> httpx.Response:
        rec = table.get((request.method, canonical_url(request.url)))
        if rec is None:
            return httpx.Response(599, text=f"test: no response for {request.method} {request.url}")
        return httpx.Response(rec.status, content=rec.body, headers={"content-type": rec.content_type})

    return httpx.MockTransport(handler)


def fetch_all(source: Source, transport: httpx.BaseTransport) -> list[RawResponse]:
    """Run a source's fetch through our HTTP policy (no real sleeping on retries)."""
    with build_client(transport, sleep=lambda _s: None) as client:
        return list(source.fetch(client, FetchContext()))


def fetch_checked(source: Source, transport: httpx.BaseTransport) -> list[RawResponse]:
    responses = fetch_all(source, transport)
    check_responses(source.id, responses)
    return responses


def finalize(source: Source, parsed: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(offers, quarantined rows of every outcome), with the accounting identity asserted."""
    result = finalize_offers(parsed, source.id, date(2026, 1, 1))
    assert result.unaccounted == 0, result.accounting()
    return result.offers, result.quarantined
