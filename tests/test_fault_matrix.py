"""The fault matrix (issue 12): every registered source x every fault a body can carry.

Why this exists: each connector test checks its own bad inputs in isolation; this proves the
whole ingest (pipelines.ingest.fetch_source / parse_source into a real temporary Warehouse)
keeps its promises under each fault, for every source, the same way. A case takes the source's
recorded fixture (tests/fixtures/<id>/manifest.json), mutates bytes of one response in the
test (never on disk), and replays it as the second of two days, after a good run of both days:

1. a recorded reason names the source and the URL of the bad response (in ingest_runs, or on
   the quarantined row from that URL);
2. another source replayed in the same run still lands;
3. the earlier day is untouched, row for row, and a file that failed keeps the day's earlier
   good rows from that file;
4. re-running the faulty day changes nothing.

A fault that cannot apply to a source is listed in NOT_APPLICABLE with its reason, and a test
proves the reason holds (e.g. a one-response source really has one response): never a silent
skip. Sources with no replayable fixture are in NO_FIXTURE, checked against the registry.

The fixtures mix real, documented-sample and hand-made payloads (see each PROVENANCE.md):
TEST data, replayed only into throwaway warehouses under tmp_path.
"""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
import zipfile
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, Callable

import duckdb
import pytest

from connectors.http import build_client
from connectors.registry import all_sources, get_source
from connectors.snapshot import MANIFEST, ReplayTransport, Snapshot
from pipelines.ingest import fetch_source, parse_source
from tests.connector_kit import HTML_ERROR_PAGE
from warehouse.store import Warehouse

FIXTURES = Path(__file__).resolve().parent / "fixtures"
DAY_BEFORE, DAY = date(2026, 1, 1), date(2026, 1, 2)
ABSURD = 1e9  # in any unit a source uses (USD, cents), far above market.rules' ceilings

# Registered sources without a recorded fixture that serves a whole fetch (as in
# tests/test_replay_all_fixtures.py); their bad-input cases live in their connector tests.
NO_FIXTURE = {
    "aws": "no recorded index.json -> region_index.json -> region CSV chain; cut, HTML and renamed "
    "CSV cases are in tests/test_connector_aws.py",
    "gcp": "the recorded SKU page announces a next page that is not recorded; its bad-input cases "
    "are in tests/test_connector_gcp.py",
}

FAULTS = (
    "truncated", "html", "empty", "renamed_field", "price_negative", "price_zero", "price_absurd",
    "garbage_row", "duplicate_rows", "pagination_stop",
)
PRICE_FAULTS = {"price_negative": -5, "price_zero": 0, "price_absurd": ABSURD}


@dataclass(frozen=True)
class Shape:
    """Where a source's fixture keeps what the faults mutate."""

    body: str  # json | csv | zip-csv | yaml
    target: int = 0  # index of the recorded response the faults mutate
    required: str = ""  # a field (JSON key, CSV column, YAML key) the parser cannot do without
    price: str = ""  # the price field (every occurrence is set to the bad price)
    records: tuple = ()  # JSON path to the list of records (garbage and duplicate rows)
    # How the last page/file of the sequence fails to come: "unrecorded" (replay has no answer:
    # the fetch fails naming it) or "404" (SkyPilot: a replay legitimately records a subset of
    # clouds, so an absent one is skipped by design; a 404 is the stop it must report).
    stop: str = "unrecorded"
    # What repeated records become: "excluded" (each repeat counted under the rule
    # "duplicate-zone-row") or "absorbed" (the parser keys records by name, so a repeat IS the
    # same record: YAML mapping keys, OCI's part numbers); the offers must stay the same either way.
    duplicates: str = "excluded"
    # What one garbage record does today: "quarantined" (that row, with its reason; the rest
    # land) or "fails" (the file or source fails with the reason, the day's earlier rows stay).
    # The JSON parsers call require_fields per record, so one record without its fields fails
    # the response: recorded and safe, but stricter than quarantining the row (issue 12 notes).
    garbage: str = "fails"


SHAPES: dict[str, Shape] = {
    "azure": Shape("json", required="unitPrice", price="unitPrice", records=("Items",)),
    "cloudrift": Shape("json", required="variants", price="cost_per_hour", records=("data", "instance_types")),
    "digitalocean": Shape("json", required="price_hourly", price="price_hourly", records=("sizes",)),
    "lambda_cloud": Shape("json", required="regions_with_capacity_available", price="price_cents_per_hour",
                          records=("data",)),
    "oci": Shape("json", required="partNumber", price="value", records=("items",), duplicates="absorbed"),
    "runpod": Shape("json", required="securePrice", price="securePrice", records=("data", "gpuTypes")),
    "vastai": Shape("json", required="dph_total", price="dph_total", records=("offers",)),
    "verda": Shape("json", required="price_per_hour", price="price_per_hour", records=()),
    "vultr": Shape("json", required="locations", price="hourly_cost", records=("plans",)),
    "cyclenerd": Shape("yaml", required="compute", price="hour", duplicates="absorbed", garbage="quarantined"),
    "gpuhunt": Shape("zip-csv", target=1, required="price", price="price", garbage="quarantined"),
    "skypilot": Shape("csv", required="Price", price="Price", stop="404", garbage="quarantined"),
    "epoch_ai": Shape("csv", required="Hardware name", garbage="quarantined"),
}

# (source, fault) -> why the fault cannot be put to that source; each is proven below.
ONE_RESPONSE = "one response per fetch: there is no page or file after it to stop before"
NOT_APPLICABLE: dict[tuple[str, str], str] = {
    **{(s, "pagination_stop"): ONE_RESPONSE
       for s in ("cloudrift", "digitalocean", "lambda_cloud", "runpod", "vastai", "cyclenerd", "epoch_ai")},
    **{("epoch_ai", f): "a specs source: its figures are not prices (out-of-range figures are "
       "dropped with a reason, tests/test_specs.py)" for f in PRICE_FAULTS},
    ("epoch_ai", "duplicate_rows"): "a specs source: a repeated hardware name is one figure per "
    "metric by rule (first row wins, connectors/epoch_ai.py), not an offer to deduplicate",
    ("lambda_cloud", "duplicate_rows"): "records are keyed by instance type in one JSON object; a "
    "repeated key is one record by JSON's own rules",
}


def the_other(source_id: str) -> str:
    """A second source replayed in the same run: it must land whatever the first one does."""
    return "digitalocean" if source_id == "lambda_cloud" else "lambda_cloud"


# -- mutations: bytes in, bytes out, one per fault ------------------------------------------

def _json_replace_all(node: Any, key: str, replace: Callable[[Any], Any]) -> Any:
    """Every value under `key`, anywhere in the document, passed through `replace`."""
    if isinstance(node, dict):
        return {k: replace(v) if k == key else _json_replace_all(v, key, replace) for k, v in node.items()}
    if isinstance(node, list):
        return [_json_replace_all(v, key, replace) for v in node]
    return node


def _json_rename_all(node: Any, key: str) -> Any:
    if isinstance(node, dict):
        return {(f"{k}_renamed" if k == key else k): _json_rename_all(v, key) for k, v in node.items()}
    if isinstance(node, list):
        return [_json_rename_all(v, key) for v in node]
    return node


def _json_records(document: Any, path: tuple) -> Any:
    for key in path:
        document = document[key]
    return document


def _bad_price(original: Any, price: float) -> Any:
    """The bad price in the original's type (Verda writes prices as strings)."""
    return str(price) if isinstance(original, str) else price


def mutate_json(body: bytes, shape: Shape, fault: str) -> bytes:
    document = json.loads(body)
    if fault == "renamed_field":
        document = _json_rename_all(document, shape.required)
    elif fault in PRICE_FAULTS:
        price = PRICE_FAULTS[fault]
        document = _json_replace_all(document, shape.price, lambda v: _bad_price(v, price) if v is not None else v)
    elif fault in ("garbage_row", "duplicate_rows"):
        records = _json_records(document, shape.records)
        if isinstance(records, dict):
            assert fault == "garbage_row", "a keyed object cannot repeat a record"
            records["garbage"] = {"garbage": "not a record"}
        elif fault == "garbage_row":
            records.insert(1, {"garbage": "not a record"})
        else:
            records.extend(json.loads(json.dumps(records)))  # every record twice
    else:
        raise AssertionError(fault)
    return json.dumps(document).encode()


def _csv_text_mutation(text: str, shape: Shape, fault: str) -> str:
    newline = "\r\n" if "\r\n" in text[:4096] else "\n"
    header_line, rest = text.split(newline, 1)
    if fault == "renamed_field":
        header = next(csv.reader([header_line]))
        assert shape.required in header, (shape.required, header)
        return ",".join(f"{c}_renamed" if c == shape.required else c for c in header) + newline + rest
    if fault == "garbage_row":
        return header_line + newline + "this is not,a catalog row" + newline + rest
    if fault == "duplicate_rows":
        return header_line + newline + rest + rest  # every data line twice
    if fault in PRICE_FAULTS:
        rows = list(csv.reader(io.StringIO(text, newline="")))
        column = rows[0].index(shape.price)
        out = io.StringIO(newline="")
        writer = csv.writer(out, lineterminator=newline)
        writer.writerow(rows[0])
        for row in rows[1:]:
            if len(row) > column and row[column].strip():
                row[column] = repr(float(PRICE_FAULTS[fault]))
            writer.writerow(row)
        return out.getvalue()
    raise AssertionError(fault)


def mutate_zip_csv(body: bytes, shape: Shape, fault: str) -> bytes:
    with zipfile.ZipFile(io.BytesIO(body)) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            if name.endswith(".csv"):
                data = _csv_text_mutation(data.decode("utf-8-sig"), shape, fault).encode()
            archive.writestr(name, data)
    return out.getvalue()


def mutate_yaml(body: bytes, shape: Shape, fault: str) -> bytes:
    text = body.decode()
    if fault == "renamed_field":
        mutated = re.sub(rf"(?m)^{shape.required}:", f"{shape.required}_renamed:", text)
    elif fault in PRICE_FAULTS:
        mutated = re.sub(rf"(?m)^(\s+{shape.price}): [0-9.]+$", rf"\1: {PRICE_FAULTS[fault]!r}", text)
    elif fault == "garbage_row":
        mutated = re.sub(r"(?m)^  instance:\n", "  instance:\n    garbage-machine: [not, a, machine]\n", text, count=1)
    elif fault == "duplicate_rows":
        block = re.search(r"(?ms)^  instance:\n(    \S.*?)(?=^    \S)", text).group(1)  # the first machine
        mutated = text.replace("  instance:\n", "  instance:\n" + block, 1)
    else:
        raise AssertionError(fault)
    assert mutated != text, f"the {fault} mutation changed nothing"
    return mutated.encode()


def mutate(body: bytes, shape: Shape, fault: str) -> tuple[bytes, str | None]:
    """(mutated body, content type or None to keep the recorded one)."""
    if fault == "truncated":
        return body[: len(body) * 6 // 10], None  # cut mid-record, as a dropped transfer is
    if fault == "html":
        return HTML_ERROR_PAGE, "text/html"
    if fault == "empty":
        return b"", None
    if shape.body == "json":
        return mutate_json(body, shape, fault), None
    if shape.body == "csv":
        return _csv_text_mutation(body.decode("utf-8-sig"), shape, fault).encode(), None
    if shape.body == "zip-csv":
        return mutate_zip_csv(body, shape, fault), None
    if shape.body == "yaml":
        return mutate_yaml(body, shape, fault), None
    raise AssertionError(shape.body)


def faulty_snapshot(source_id: str, fault: str, root: Path) -> tuple[Path, str]:
    """The source's fixture with one fault, as a snapshot directory; and the URL it hits."""
    snapshot = Snapshot(FIXTURES / source_id)
    shape = SHAPES[source_id]
    entries = []
    for index, entry in enumerate(snapshot.entries):
        body = snapshot.body(entry)
        data = entry.to_json()
        if fault == "pagination_stop":
            if index == len(snapshot.entries) - 1:
                if shape.stop == "unrecorded":
                    continue  # the last page/file of the sequence is never served
                data["status"], body = 404, b"404: Not Found"
        elif index == shape.target:
            body, content_type = mutate(body, shape, fault)
            if content_type:
                data["headers"] = {**data.get("headers", {}), "content-type": content_type}
        data["file"] = f"responses/{source_id}/{index:03d}.body"
        (root / data["file"]).parent.mkdir(parents=True, exist_ok=True)
        (root / data["file"]).write_bytes(body)
        entries.append(data)
    hit = snapshot.entries[-1 if fault == "pagination_stop" else shape.target].url
    manifest = {"snapshot_date": snapshot.manifest["snapshot_date"],
                "description": f"TEST: {source_id} fixture with the fault {fault!r}; NOT market data",
                "entries": entries}
    (root / MANIFEST).write_text(json.dumps(manifest, indent=1))
    return root, hit


# -- running days and reading the state back ------------------------------------------------

def replay(warehouse: Warehouse, snapshot_root: Path, source_id: str, day: date) -> None:
    source = get_source(source_id)
    snapshot = Snapshot(snapshot_root)
    with build_client(ReplayTransport(snapshot), sleep=lambda _seconds: None) as client:
        fetch_source(warehouse, source, client, day, mode="replay", snapshot_sources=snapshot.sources())
    parse_source(warehouse, source, day)


TABLES = {  # table -> columns that change with the clock, left out of the comparison
    "offers": (), "quarantined_offers": (), "source_exclusions": (), "external_specs": (),
    "raw_responses": ("archived_at", "stored_at"),
    "ingest_runs": ("started_at", "finished_at", "last_success_at", "run_id"),
}


def state(path: Path) -> dict[str, list[tuple]]:
    """Every table the ingest writes, as sorted rows, clock columns left out."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        out = {}
        for table, clock in TABLES.items():
            columns = [c for (c,) in con.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name = ? ORDER BY ordinal_position",
                [table]).fetchall() if c not in clock]
            rows = con.execute(f"SELECT {', '.join(columns)} FROM {table}").fetchall()
            out[table] = sorted(rows, key=repr)
            out[f"{table}:columns"] = columns
        return out
    finally:
        con.close()


def rows_of(st: dict, table: str, **where: Any) -> list[dict]:
    columns = st[f"{table}:columns"]
    rows = [dict(zip(columns, row)) for row in st[table]]
    return [r for r in rows if all(r.get(k) == v for k, v in where.items())]


@pytest.fixture(scope="module")
def good_days(tmp_path_factory) -> Callable[[str], tuple[Path, dict]]:
    """Per source: a warehouse folder after a good replay of it and its companion on both days,
    and its state (built once, copied per case)."""
    built: dict[str, tuple[Path, dict]] = {}

    def build(source_id: str) -> tuple[Path, dict]:
        if source_id not in built:
            folder = tmp_path_factory.mktemp(f"good_{source_id}")
            warehouse = Warehouse(folder / "w.duckdb")
            with warehouse.session():
                for day in (DAY_BEFORE, DAY):
                    for sid in (source_id, the_other(source_id)):
                        replay(warehouse, FIXTURES / sid, sid, day)
            built[source_id] = folder, state(folder / "w.duckdb")
        return built[source_id]

    return build


CASES = [(s, f) for s in sorted(SHAPES) for f in FAULTS if (s, f) not in NOT_APPLICABLE]


@pytest.mark.parametrize(("source_id", "fault"), CASES, ids=[f"{s}-{f}" for s, f in CASES])
def test_fault(source_id, fault, good_days, tmp_path):
    folder = tmp_path / "w"
    good_folder, before = good_days(source_id)
    shutil.copytree(good_folder, folder)
    path = folder / "w.duckdb"
    snapshot_root, hit_url = faulty_snapshot(source_id, fault, tmp_path / "snapshot")
    other = the_other(source_id)
    warehouse = Warehouse(path)

    def faulty_day() -> None:
        with warehouse.session():  # one connection for the day's steps, as a real run holds
            replay(warehouse, snapshot_root, source_id, DAY)
            replay(warehouse, FIXTURES / other, other, DAY)

    faulty_day()
    after = state(path)
    run = rows_of(after, "ingest_runs", snapshot_date=DAY, source=source_id)[0]
    message = run["message"] or ""
    new_quarantine = [r for r in rows_of(after, "quarantined_offers", snapshot_date=DAY, source=source_id,
                                         source_url=hit_url)
                      if r not in rows_of(before, "quarantined_offers", snapshot_date=DAY, source=source_id)]
    run_before = rows_of(before, "ingest_runs", snapshot_date=DAY, source=source_id)[0]
    spec_drops = (run["quarantined"] or 0) - (run_before["quarantined"] or 0) if get_source(source_id).kind == "specs" else 0

    # 1. A recorded reason that names the source and the URL of the bad response.
    failed = run["status"] == "failed" or "file failed: " in message
    if failed:
        assert source_id in message and hit_url in message, (
            f"{source_id} {fault}: {run['status']}, the reason does not name {hit_url}: {message!r}")
    elif fault == "duplicate_rows":
        # Exact repeats are one offer by rule ("duplicate-zone-row"), counted per source and day;
        # the offers themselves must be exactly the good day's.
        assert _offers(after, source_id, DAY, same_bytes=False) == _offers(before, source_id, DAY, same_bytes=False)
        added = _exclusions(after, source_id, "duplicate-zone-row") - _exclusions(before, source_id, "duplicate-zone-row")
        if SHAPES[source_id].duplicates == "excluded":
            assert added >= len(_offers(before, source_id, DAY, hit_url)) > 0, added
        else:
            assert added == 0, added
    elif new_quarantine:
        assert all(r["reason"] for r in new_quarantine), new_quarantine
    elif spec_drops > 0:  # a specs source reports dropped figures in the run's message
        assert hit_url in message, message
    else:
        assert source_id in message and hit_url in message, (
            f"{source_id} {fault}: status {run['status']}, no reason naming {hit_url}: {message!r}")

    if fault == "garbage_row":
        expected = SHAPES[source_id].garbage
        assert ("fails" if failed else "quarantined") == expected, (expected, run["status"], message)
        assert failed or new_quarantine or spec_drops > 0, message

    # A bad price never lands as an offer.
    if fault in PRICE_FAULTS:
        assert new_quarantine, f"{source_id}: no row from {hit_url} was quarantined for a {fault}"
        assert any("price" in r["reason"] for r in new_quarantine), [r["reason"] for r in new_quarantine]
        landed = [r for r in rows_of(after, "offers", snapshot_date=DAY, source=source_id) if r["source_url"] == hit_url]
        assert all(0 < r["price_usd_per_hour"] < 2_000 * 64 for r in landed), landed[:3]

    # 2. The other source landed.
    other_run = rows_of(after, "ingest_runs", snapshot_date=DAY, source=other)[0]
    assert other_run["status"] == "ok" and other_run["offers_written"] > 0, other_run

    # 3. The earlier day is intact; a failed file or source keeps the day's good rows.
    for table in ("offers", "quarantined_offers", "source_exclusions", "external_specs", "ingest_runs"):
        assert rows_of(after, table, snapshot_date=DAY_BEFORE) == rows_of(before, table, snapshot_date=DAY_BEFORE), table
    if failed:
        earlier = _offers(before, source_id, DAY, hit_url)
        assert _offers(after, source_id, DAY, hit_url) == earlier, (
            f"{source_id} {fault}: the day's earlier good rows from {hit_url} were replaced")
        if run["status"] == "ok" and earlier:  # a file failed inside a source that landed
            assert f"{len(earlier)} earlier offer(s) of the day kept" in message, message
        assert _specs(after, source_id, DAY) == _specs(before, source_id, DAY) or run["status"] != "failed"

    # 4. Re-running the faulty day changes nothing.
    faulty_day()
    assert state(path) == after


def _offers(st: dict, source_id: str, day: date, url: str | None = None, same_bytes: bool = True) -> list[dict]:
    """The day's offers of a source (from one URL); without `same_bytes`, compared as offers
    whatever bytes they came from (a mutated body has another raw response id)."""
    rows = [r for r in rows_of(st, "offers", snapshot_date=day, source=source_id) if url is None or r["source_url"] == url]
    return rows if same_bytes else sorted(({k: v for k, v in r.items() if k != "raw_response_id"} for r in rows), key=repr)


def _exclusions(st: dict, source_id: str, rule: str) -> int:
    return sum(r["rows"] for r in rows_of(st, "source_exclusions", snapshot_date=DAY, source=source_id) if r["rule"] == rule)


def _specs(st: dict, source_id: str, day: date) -> list[dict]:
    return rows_of(st, "external_specs", snapshot_date=day, source=source_id)


@pytest.mark.parametrize(("source_id", "fault"), sorted(NOT_APPLICABLE), ids=[f"{s}-{f}" for s, f in sorted(NOT_APPLICABLE)])
def test_fault_not_applicable_for_the_stated_reason(source_id, fault):
    """Each exemption's reason is checked against the fixture, so none outlives its cause."""
    reason = NOT_APPLICABLE[(source_id, fault)]
    source = get_source(source_id)
    if reason == ONE_RESPONSE:
        assert len(Snapshot(FIXTURES / source_id).entries) == 1, reason
    elif fault in PRICE_FAULTS or fault == "duplicate_rows" and source.kind == "specs":
        assert source.kind == "specs", reason
    else:
        body = Snapshot(FIXTURES / source_id).body(Snapshot(FIXTURES / source_id).entries[SHAPES[source_id].target])
        assert isinstance(_json_records(json.loads(body), SHAPES[source_id].records), dict), reason


def test_the_matrix_covers_every_registered_source():
    registered = {s.id for s in all_sources()}
    assert set(SHAPES) | set(NO_FIXTURE) == registered, sorted(registered ^ (set(SHAPES) | set(NO_FIXTURE)))
    assert not set(SHAPES) & set(NO_FIXTURE)
    for source_id in NO_FIXTURE:
        assert not (FIXTURES / source_id / MANIFEST).is_file(), f"{source_id} has a fixture now: add it to SHAPES"
    for source_id in SHAPES:
        covered = {f for f in FAULTS if (source_id, f) not in NOT_APPLICABLE}
        assert covered | {f for (s, f) in NOT_APPLICABLE if s == source_id} == set(FAULTS), source_id


# -- the completeness checks themselves, on cuts the matrix's 60% cut does not make ---------

def _raw(body: bytes, headers: dict | None = None):
    from datetime import datetime, timezone

    from connectors.base import RawResponse

    return RawResponse(source="skypilot", method="GET", url="https://example.test/catalogs/v8/lambda/vms.csv",
                       status=200, headers=headers or {}, fetched_at=datetime(2026, 1, 2, tzinfo=timezone.utc),
                       body=body)


def test_a_cut_on_a_line_end_is_caught_by_the_announced_length():
    """A cut that falls on a newline leaves a well-formed CSV: only Content-Length tells."""
    from connectors.base import ParseError
    from connectors.bodies import csv_records

    real = (FIXTURES / "skypilot" / "v8" / "lambda" / "vms@0f407038.csv").read_bytes()
    cut = real[: real.index(b"\n", len(real) // 2) + 1]
    assert len(csv_records(_raw(cut))[1]) < len(csv_records(_raw(real))[1])  # unannounced: reads as shorter
    with pytest.raises(ParseError, match=r"announced [\d,]+ bytes \(Content-Length\) but [\d,]+ arrived"):
        csv_records(_raw(cut, {"content-length": str(len(real))}))
    assert csv_records(_raw(real, {"content-length": str(len(real))}))[1]  # the whole body passes
    # A gzip-encoded response announces the compressed size: not comparable, not refused.
    assert csv_records(_raw(real, {"content-length": "10", "content-encoding": "gzip"}))[1]


def test_a_short_line_inside_the_file_is_that_lines_problem_not_the_files():
    from connectors.bodies import csv_records

    _, records = csv_records(_raw(b"a,b,c\n1,2,3\n4,5\n6,7,8\n"))
    assert [r.problem for r in records] == [None, "the line has fewer cells than the header (2 for 3)", None]
