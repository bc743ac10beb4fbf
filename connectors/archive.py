"""Public git archives of price files: every committed version of a tracked file, as raw responses.

Public trackers commit their price snapshots to git; each commit is a real, dated observation.
This module reads the versions of one tracked file (or several, e.g. one per region) in one
of two ways, and hands each version over as a `RawResponse`, exactly as a fetch would:

* **offline**: an ``index.csv`` + ``versions.tar.xz`` pair (the layout of the shared history
  archives and of ``snapshots/archives/``): one index row per commit that touched the file,
  oldest first (commit, committed_at, status, file, sha256), and the stored bytes by file name.
* **live**: GitHub's public commits API lists the commits that touched the path
  (``GET https://api.github.com/repos/{owner}/{repo}/commits?path=...&per_page=100&page=N``,
  newest first, an empty page at the end) and ``raw.githubusercontent.com`` serves the file at
  each commit. Both go through `connectors.http` (retries, size cap, replay in tests).

Either way a version's response has url = the raw file at that commit on the public host (its
provenance), fetched_at = the commit time in UTC (its observation time) and the body as
committed. An index row "unchanged since previous commit" is still an observation: it carries
the previous version's bytes, at its own commit's URL and time. A row whose bytes are not
available ("version not available", "blob missing ...", "unreadable ...") is a version without
a response: a gap, reported, never filled from its neighbours.

Never Dagster, never the warehouse: the backfill (pipelines.backfill) archives and parses.
"""

from __future__ import annotations

import csv
import heapq
import tarfile
from dataclasses import dataclass, replace
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Callable, Iterator
from urllib.parse import quote

import httpx

from connectors import http
from connectors.base import ParseError, RawResponse, SourceError

API_ROOT = "https://api.github.com"
RAW_ROOT = "https://raw.githubusercontent.com"
PER_PAGE = 100
MAX_PAGES = 100  # 10,000 commits of one file: far beyond any tracker we read; stops a loop
INDEX_COLUMNS = ("commit", "committed_at", "status", "file", "sha256")
STORED, UNCHANGED = "stored", "unchanged since previous commit"


@dataclass(frozen=True)
class ArchiveFile:
    """One tracked file of an archive: where it lives upstream and in the offline copy."""

    repo: str  # owner/name on GitHub
    path: str  # the file's path inside the repository
    folder: str = ""  # sub-folder of the offline archive holding its index.csv + versions.tar.xz
    content_type: str = "application/octet-stream"


@dataclass(frozen=True)
class Archive:
    """A tracker's git archive, named after the tracker: its rows land under `source_id`."""

    source_id: str
    licence: str
    files: tuple[ArchiveFile, ...]
    description: str = ""


@dataclass(frozen=True)
class Version:
    """One commit of one tracked file. `raw` is None when its bytes are not available."""

    file: ArchiveFile
    commit: str
    committed_at: datetime  # UTC
    status: str
    raw: RawResponse | None

    @property
    def day(self) -> date:
        """The partition a version lands in: its commit day in UTC."""
        return self.committed_at.date()


def raw_url(repo: str, commit: str, path: str) -> str:
    return f"{RAW_ROOT}/{repo}/{commit}/{quote(path)}"


def commits_url(repo: str, path: str, page: int) -> str:
    return f"{API_ROOT}/repos/{repo}/commits?path={quote(path, safe='')}&per_page={PER_PAGE}&page={page}"


def utc(timestamp: str) -> datetime:
    """An ISO 8601 time with offset (or Z) as an aware UTC datetime."""
    parsed = datetime.fromisoformat(timestamp.strip().replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        raise ParseError(f"commit time {timestamp!r} has no UTC offset")
    return parsed.astimezone(timezone.utc)


def _in_range(day: date, since: date | None, until: date | None) -> bool:
    return (since is None or day >= since) and (until is None or day <= until)


def _response(source_id: str, file: ArchiveFile, commit: str, at: datetime, body: bytes) -> RawResponse:
    return RawResponse(
        source=source_id, method="GET", url=raw_url(file.repo, commit, file.path), status=200,
        headers={"content-type": file.content_type}, fetched_at=at, body=body,
    )


# -- offline: index.csv + versions.tar.xz -----------------------------------------------------

def read_index(folder: Path) -> list[dict]:
    """The index rows of one offline archive folder, oldest first, checked for shape."""
    index = folder / "index.csv"
    if not index.exists():
        raise SourceError(f"archive index {index} is missing (expected index.csv + versions.tar.xz)")
    with index.open(newline="") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in INDEX_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise ParseError(f"{index}: column(s) {', '.join(missing)} missing (found {reader.fieldnames})")
        rows = list(reader)
    return sorted(rows, key=lambda row: utc(row["committed_at"]))


def _stored_bodies(folder: Path) -> dict[str, bytes]:
    """Every stored version's bytes by file name: one pass over the xz stream (it cannot seek)."""
    bodies: dict[str, bytes] = {}
    with tarfile.open(folder / "versions.tar.xz", mode="r|xz") as tar:
        for member in tar:
            if member.isfile():
                bodies[Path(member.name).name] = tar.extractfile(member).read()  # type: ignore[union-attr]
    return bodies


def offline_file_versions(archive: Archive, file: ArchiveFile, root: Path,
                          since: date | None = None, until: date | None = None) -> Iterator[Version]:
    """The versions of one tracked file from its offline copy, oldest first."""
    folder = root / file.folder if file.folder else root
    rows = read_index(folder)
    bodies = _stored_bodies(folder)
    previous: bytes | None = None
    for row in rows:
        at = utc(row["committed_at"])
        status = row["status"].strip()
        body: bytes | None = None
        if status == STORED:
            body = bodies.get(row["file"])
            if body is None:
                raise ParseError(f"{folder}: index names {row['file']!r}, which versions.tar.xz does not hold")
            previous = body
        elif status == UNCHANGED:
            body = previous  # the same bytes, observed again at this commit
            if body is None:
                status = "unchanged since a commit whose bytes are not available"
        if not _in_range(at.date(), since, until):
            continue
        raw = _response(archive.source_id, file, row["commit"], at, body) if body is not None else None
        yield Version(file, row["commit"], at, status, raw)


def offline_versions(archive: Archive, root: Path, since: date | None = None,
                     until: date | None = None) -> Iterator[Version]:
    """Every version of every file of an archive, in commit-time order across files."""
    streams = [offline_file_versions(archive, f, root, since, until) for f in archive.files]
    return heapq.merge(*streams, key=lambda v: (v.committed_at, v.file.path))


# -- live: the commits API and raw.githubusercontent.com --------------------------------------

def list_commits(client: httpx.Client, archive: Archive, file: ArchiveFile,
                 on_response: Callable[[RawResponse], None] | None = None) -> list[tuple[str, datetime]]:
    """(commit, committer time in UTC) of every commit that touched the file, oldest first.

    Each listing page is handed to `on_response` (to be archived) before it is read."""
    commits: list[tuple[str, datetime]] = []
    for page in range(1, MAX_PAGES + 1):
        raw = http.get(client, archive.source_id, commits_url(file.repo, file.path, page),
                       headers={"accept": "application/vnd.github+json"})
        if on_response is not None:
            on_response(raw)
        if not 200 <= raw.status < 300:
            snippet = raw.read()[:200].decode("utf-8", "replace")
            raise SourceError(f"{archive.source_id}: HTTP {raw.status} from {raw.url}: {snippet!r}")
        items = raw.json()
        if not isinstance(items, list):
            raise ParseError(f"{archive.source_id}: {raw.url} is not a list of commits")
        for item in items:
            try:
                commits.append((item["sha"], utc(item["commit"]["committer"]["date"])))
            except (KeyError, TypeError) as exc:
                raise ParseError(f"{archive.source_id}: a commit in {raw.url} lacks sha or "
                                 f"commit.committer.date ({exc})") from exc
        if len(items) < PER_PAGE:
            return sorted(commits, key=lambda c: c[1])
    raise SourceError(f"{archive.source_id}: more than {MAX_PAGES} pages of commits for {file.path}; stopping")


def live_versions(client: httpx.Client, archive: Archive, since: date | None = None,
                  until: date | None = None,
                  on_listing: Callable[[RawResponse], None] | None = None) -> Iterator[Version]:
    """Every version in the date range, fetched from the host, in commit-time order across files.

    A raw file the host does not serve (404 for a commit whose blob is gone) is a version
    without bytes: a gap, like "version not available" offline."""
    listed: list[tuple[datetime, str, ArchiveFile]] = []
    for file in archive.files:
        for commit, at in list_commits(client, archive, file, on_listing):
            if _in_range(at.date(), since, until):
                listed.append((at, commit, file))
    for at, commit, file in sorted(listed, key=lambda item: (item[0], item[2].path)):
        raw = http.get(client, archive.source_id, raw_url(file.repo, commit, file.path))
        if raw.status == 404:
            yield Version(file, commit, at, "version not available (HTTP 404)", None)
            continue
        if not 200 <= raw.status < 300:
            snippet = raw.read()[:200].decode("utf-8", "replace")
            raise SourceError(f"{archive.source_id}: HTTP {raw.status} from {raw.url}: {snippet!r}")
        # Observed when it was committed, not when we downloaded it again.
        yield Version(file, commit, at, STORED, replace(raw, fetched_at=at))


def commits_page_json(commits: list[tuple[str, datetime]], repo: str) -> bytes:
    """A commits-API page in GitHub's documented shape (the fields we read, plus the usual
    ones): used to build recorded responses for tests from an archive's index."""
    import json

    items = []
    for sha, at in commits:
        stamp = at.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        items.append({
            "sha": sha,
            "node_id": "",
            "commit": {
                "author": {"name": "", "email": "", "date": stamp},
                "committer": {"name": "", "email": "", "date": stamp},
                "message": "",
                "url": f"{API_ROOT}/repos/{repo}/git/commits/{sha}",
            },
            "url": f"{API_ROOT}/repos/{repo}/commits/{sha}",
            "html_url": f"https://github.com/{repo}/commit/{sha}",
            "parents": [],
        })
    return json.dumps(items, indent=1).encode()


__all__ = [
    "Archive", "ArchiveFile", "Version", "commits_page_json", "commits_url", "list_commits",
    "live_versions", "offline_versions", "raw_url", "read_index", "utc",
]
