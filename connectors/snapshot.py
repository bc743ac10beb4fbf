"""Snapshot directories: recorded real responses, replayed or recorded through httpx transports.

Layout of a snapshot directory::

    manifest.json       {"snapshot_date": "YYYY-MM-DD", "description": ..., "entries": [...]}
    responses/<source>/<file>

Each entry: source, method, url (secrets redacted), request_body_sha256 (POST bodies), status,
headers, file, fetched_at (ISO, when it was really observed), and free-form provenance
(origin, licence, note). The replay transport answers a request with the entry whose method,
canonical URL and request body match; a request with no entry fails clearly, naming the URL.
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path

import httpx

from connectors.http import RECORDED_AT_HEADER, canonical_url, redact_url, safe_headers

MANIFEST = "manifest.json"

# OAuth token endpoints: their responses carry access tokens, so they are not recorded.
TOKEN_PATHS = ("/oauth2/token", "/oauth/token", "/token")


class NotRecorded(httpx.TransportError):
    """Replay mode got a request that the snapshot has no response for."""


def _body_sha(body: bytes | None) -> str | None:
    return hashlib.sha256(body).hexdigest() if body else None


@dataclass
class SnapshotEntry:
    source: str
    method: str
    url: str
    status: int
    file: str
    fetched_at: str
    headers: dict[str, str] = field(default_factory=dict)
    request_body_sha256: str | None = None
    extra: dict = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: dict) -> "SnapshotEntry":
        known = {k: data[k] for k in cls.__dataclass_fields__ if k in data and k != "extra"}
        extra = {k: v for k, v in data.items() if k not in cls.__dataclass_fields__}
        return cls(**known, extra=extra)

    def to_json(self) -> dict:
        data = {k: getattr(self, k) for k in self.__dataclass_fields__ if k != "extra"}
        data.update(self.extra)
        return data

    def key(self) -> tuple[str, str, str | None]:
        return (self.method.upper(), canonical_url(self.url), self.request_body_sha256)


class Snapshot:
    """A snapshot directory, read-only."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)
        manifest_path = self.root / MANIFEST
        if not manifest_path.is_file():
            raise FileNotFoundError(
                f"{self.root} is not a snapshot directory: it has no {MANIFEST}. "
                "Pass a directory written by `gpu-prices ingest --record DIR`, or omit DIR to use "
                "the bundled snapshot."
            )
        self.manifest = json.loads(manifest_path.read_text())
        self.entries = [SnapshotEntry.from_json(e) for e in self.manifest.get("entries", [])]
        self._by_key = {e.key(): e for e in self.entries}

    @property
    def snapshot_date(self) -> date:
        return date.fromisoformat(self.manifest["snapshot_date"])

    def sources(self) -> set[str]:
        return {e.source for e in self.entries}

    def lookup(self, request: httpx.Request) -> SnapshotEntry | None:
        body = request.content if request.method.upper() != "GET" else None
        return self._by_key.get((request.method.upper(), canonical_url(request.url), _body_sha(body)))

    def body(self, entry: SnapshotEntry) -> bytes:
        return (self.root / entry.file).read_bytes()


class ReplayTransport(httpx.BaseTransport):
    """Serves recorded responses; never touches the network."""

    def __init__(self, snapshot: Snapshot | Path | str) -> None:
        self.snapshot = snapshot if isinstance(snapshot, Snapshot) else Snapshot(snapshot)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        entry = self.snapshot.lookup(request)
        if entry is None:
            raise NotRecorded(
                f"replay: snapshot {self.snapshot.root} has no recorded response for "
                f"{request.method} {redact_url(request.url)}",
                request=request,
            )
        headers = dict(entry.headers)
        headers[RECORDED_AT_HEADER] = entry.fetched_at
        return httpx.Response(
            entry.status, headers=headers, content=self.snapshot.body(entry), request=request
        )


class RecordingTransport(httpx.BaseTransport):
    """Passes requests to `inner` (the network) and writes each response into a snapshot dir."""

    _lock = threading.Lock()

    def __init__(self, inner: httpx.BaseTransport, root: Path | str, source_id: str) -> None:
        self.inner = inner
        self.root = Path(root)
        self.source_id = source_id
        self.root.mkdir(parents=True, exist_ok=True)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        if request.url.path.rstrip("/").endswith(TOKEN_PATHS):
            return response  # credentials exchanges hold secrets: never written to a snapshot
        body = response.read()
        fetched_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
        request_body = request.content if request.method.upper() != "GET" else None
        digest = hashlib.sha256(body).hexdigest()[:16]
        relative = f"responses/{self.source_id}/{digest}.body"
        (self.root / relative).parent.mkdir(parents=True, exist_ok=True)
        (self.root / relative).write_bytes(body)
        entry = SnapshotEntry(
            source=self.source_id,
            method=request.method.upper(),
            url=redact_url(request.url),
            status=response.status_code,
            file=relative,
            fetched_at=fetched_at,
            headers={
                k: v
                for k, v in safe_headers(response.headers).items()
                if k in ("content-type", "retry-after")
            },
            request_body_sha256=_body_sha(request_body),
            extra={"origin": "recorded live by gpu-prices ingest --record"},
        )
        add_entry(self.root, entry)
        return httpx.Response(
            response.status_code, headers=response.headers, content=body, request=request
        )

    def close(self) -> None:
        self.inner.close()


def add_entry(root: Path, entry: SnapshotEntry, snapshot_date: date | None = None) -> None:
    """Append (or replace) an entry in a snapshot's manifest, creating the manifest if needed."""
    with RecordingTransport._lock:
        path = root / MANIFEST
        manifest = (
            json.loads(path.read_text())
            if path.exists()
            else {
                "snapshot_date": (snapshot_date or datetime.now(timezone.utc).date()).isoformat(),
                "description": "Responses recorded live by gpu-prices ingest --record.",
                "entries": [],
            }
        )
        entries = [e for e in manifest["entries"] if SnapshotEntry.from_json(e).key() != entry.key()]
        entries.append(entry.to_json())
        manifest["entries"] = entries
        path.write_text(json.dumps(manifest, indent=1) + "\n")


def combine_snapshots(roots: list[Path], target: Path, snapshot_date: date, description: str) -> Path:
    """One snapshot that serves every entry of `roots` (e.g. each source's recorded test fixture).

    The bodies are not copied: each entry's file is rewritten as an absolute path to the original.
    Two roots answering the same request is an error, not a silent choice."""
    entries: dict[tuple, dict] = {}
    for root in roots:
        for entry in Snapshot(root).entries:
            data = entry.to_json()
            data["file"] = str((Path(root) / entry.file).resolve())
            key = entry.key()
            if key in entries:
                raise ValueError(f"{entry.method} {entry.url} is recorded in two snapshots ({root} and another)")
            entries[key] = data
    target.mkdir(parents=True, exist_ok=True)
    manifest = {"snapshot_date": snapshot_date.isoformat(), "description": description, "entries": list(entries.values())}
    (target / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n")
    return target
