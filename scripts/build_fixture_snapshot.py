"""Build tests/fixtures/replay_all/manifest.json: every recorded test fixture as one replayable
snapshot. Offline, idempotent.

Usage: python scripts/build_fixture_snapshot.py [--check]

The snapshot is for TESTS ONLY. It mixes real recorded payloads, documented sample responses
(API docs, other projects' unit-test literals) and hand-made fixtures, so it is never market
data and must never be copied into `snapshots/` or replayed into a warehouse anyone reads.

How the entries are found, so that they are exactly what each connector requests:

1. For every registered source, `CANDIDATES` offers fixture files at URLs built from the
   connector module's own constants and functions (`connectors.azure.first_page_url`,
   `connectors.skypilot.catalog_url`, `connectors.gpuhunt.version_url`, ...). POST bodies are
   the connectors' own serialised request bodies.
2. The registered source's real `fetch` then runs, without any API key (as a replay does),
   through `connectors.http.build_client` around a transport that answers from those offers
   and raises `NotRecorded` for anything else, exactly like `connectors.snapshot.ReplayTransport`.
   Each request it answers becomes one manifest entry: method, URL (redacted like a recording)
   and sha256 of ``request.content`` as httpx encoded it (what `connectors.snapshot` matches on).
3. The fetched responses are checked (`check_responses`), parsed and finalised; a source
   whose chain cannot be served from the fixtures, or that would not end "ok", is left out and
   the reason goes into the manifest description and `left_out`.
4. After writing, every included source is fetched again through the real `ReplayTransport` on
   the written manifest, to prove the snapshot serves it.

Entry `file`s point at the existing fixture files (relative paths, `../<id>/...`); no bytes
are copied. Each entry's `fixture` names the fixture's PROVENANCE.md and what kind of payload it is.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Callable
from urllib.parse import urljoin

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import httpx  # noqa: E402

from connectors import aws, azure, cloudrift, digitalocean, gcp, gcp_pricing_yml  # noqa: E402
from connectors import gpuhunt, lambda_cloud, oci, runpod, skypilot, vast, verda, vultr  # noqa: E402
from connectors.base import FetchContext, Source, check_responses  # noqa: E402
from connectors.epoch_ai import EpochAIHardware  # noqa: E402
from connectors.http import RECORDED_AT_HEADER, build_client, canonical_url, redact_url  # noqa: E402
from market.rules import finalize_offers  # noqa: E402
from connectors.registry import all_sources  # noqa: E402
from connectors.snapshot import MANIFEST, NotRecorded, ReplayTransport  # noqa: E402

FIXTURES = REPO / "tests" / "fixtures"
BUNDLED = REPO / "snapshots" / "bundled"
OUT = FIXTURES / "replay_all"
SNAPSHOT_DATE = "2026-01-01"  # a label for the test partition, not an observation day
PLACEHOLDER_FETCHED_AT = f"{SNAPSHOT_DATE}T00:00:00+00:00"

# Fixture kinds, from each PROVENANCE.md.
REAL = "real recorded payload"
DOCUMENTED = "documented sample / test literal (shape real, prices may be illustrative)"
HANDMADE = "hand-made test fixture (invented values, not market data)"
CONSTRUCTED = "constructed for tests from real values (not a recorded response)"

JSON = "application/json"
TEXT = "text/plain; charset=utf-8"  # what raw.githubusercontent.com serves

# Why a source is left out, in words; the builder adds the request that could not be served.
KNOWN_GAPS = {
    "aws": (
        "after the spot advisor document (served), the fetch chain index.json -> "
        "region_index.json -> one offer CSV per region of the region index cannot be served: the region index fixture (hand-written) lists us-east-1 "
        "and eu-west-1, the only offer fixture is the real us-east-1 p4d JSON excerpt (at its "
        ".json URL, while the connector asks for the .csv), and no eu-west-1 offer file exists"
    ),
    "gcp": (
        "the one recorded SKU page (tests/fixtures/gcp/skus_page1.json) announces a real "
        "nextPageToken; the terminal page answering it exists only as an inline hand-made literal "
        "in tests/test_connector_gcp.py, not as a fixture file"
    ),
}

# Why an offered fixture is not requested (keyed by a folder on the fixture's path).
UNREQUESTED_WHY = {
    "datacrunch": (
        ": the connector's CATALOGS names gpuhunt's current 'verda' catalog, and this constructed "
        "zip holds datacrunch.csv, so it cannot stand in for it"
    ),
}


@dataclass(frozen=True)
class Offer:
    """A fixture file offered as the response to one request."""

    source: str
    method: str
    url: str
    file: Path
    fetched_at: str
    content_type: str
    provenance: str  # path of the PROVENANCE.md, relative to the repo
    kind: str
    note: str = ""
    body: bytes | None = None  # the POST body the connector sends

    def key(self) -> tuple[str, str, str | None]:
        content = httpx.Request(self.method, self.url, content=self.body).content if self.body else None
        return (self.method.upper(), canonical_url(self.url), _sha(content))


def _sha(body: bytes | None) -> str | None:
    return hashlib.sha256(body).hexdigest() if body else None  # as connectors/snapshot.py


def _prov(source_dir: str) -> str:
    return f"tests/fixtures/{source_dir}/PROVENANCE.md"


def _bundled_fetched_at(snapshot_day: str, file_name: str) -> str:
    """The real observation time the bundled manifest gives a bundled response file."""
    manifest = json.loads((BUNDLED / snapshot_day / MANIFEST).read_text())
    for entry in manifest["entries"]:
        if entry["file"].endswith("/" + file_name):
            return entry["fetched_at"]
    raise SystemExit(f"{file_name} is not in snapshots/bundled/{snapshot_day}/{MANIFEST}")


# -- what each source's requests can be answered with -----------------------------------------


def offers_aws() -> list[Offer]:
    folder = FIXTURES / "aws"
    source_id = "aws"
    index_file = folder / "index_documented_shape.json"
    region_file = folder / "region_index_documented_shape.json"
    index = json.loads(index_file.read_text())
    region_index_url = urljoin(aws.INDEX_URL, index["offers"]["AmazonEC2"]["currentRegionIndexUrl"])
    regions = json.loads(region_file.read_text())["regions"]
    offers = [
        Offer(source_id, "GET", aws.SPOT_ADVISOR_URL, folder / "spot_advisor_documented_shape.json",
              PLACEHOLDER_FETCHED_AT, JSON, _prov("aws"), HANDMADE,
              "hand-written spot advisor document; savings percentages invented"),
        Offer(source_id, "GET", aws.INDEX_URL, index_file, PLACEHOLDER_FETCHED_AT, JSON, _prov("aws"),
              HANDMADE, "hand-written in the documented shape of the service index; no prices"),
        Offer(source_id, "GET", region_index_url, region_file, PLACEHOLDER_FETCHED_AT, JSON, _prov("aws"),
              HANDMADE, "hand-written in the documented shape of the EC2 region index; no prices"),
    ]
    # The real excerpt is the us-east-1 offer file in JSON form: offered at its own .json URL.
    offers.append(
        Offer(source_id, "GET", urljoin(region_index_url, regions["us-east-1"]["currentVersionUrl"]),
              folder / "aws_pricelist_offer_AmazonEC2_us-east-1_p4d_excerpt.json",
              "2024-05-28T20:35:22+00:00", JSON, _prov("aws"), REAL,
              "opencost's trimmed copy of the real us-east-1 EC2 offer file (two p4d.24xlarge products)")
    )
    return offers


def offers_azure() -> list[Offer]:
    # The enveloped real pages of the bundled 2026-08-22 day (tests/fixtures/azure/PROVENANCE.md:
    # "the tests replay those directly"); page n+1's URL is page n's NextPageLink.
    day = "2026-08-22"
    folder = BUNDLED / day / "responses" / "azure"
    offers = []
    url: str | None = azure.first_page_url()
    for page in sorted(folder.glob("page*.json")):
        if not url:
            raise SystemExit(f"azure: {page} follows a page without NextPageLink")
        offers.append(
            Offer("azure", "GET", url, page, _bundled_fetched_at(day, page.name), "application/json; charset=utf-8",
                  _prov("azure"), REAL,
                  f"real azure-pricing-radar records in the API page envelope, from snapshots/bundled/{day} "
                  "(see snapshots/bundled/README.md, 'Azure')")
        )
        url = json.loads(page.read_text()).get("NextPageLink")
    return offers


def offers_cloudrift() -> list[Offer]:
    return [Offer("cloudrift", "POST", cloudrift.LIST_URL, FIXTURES / "cloudrift" / "instance_types_handmade.json",
                  PLACEHOLDER_FETCHED_AT, JSON, _prov("cloudrift"), HANDMADE, body=cloudrift.REQUEST_BODY)]


def offers_digitalocean() -> list[Offer]:
    return [Offer("digitalocean", "GET", digitalocean.FIRST_PAGE_URL, FIXTURES / "digitalocean" / "v2_sizes.json",
                  "2025-08-29T00:00:00+00:00", JSON, _prov("digitalocean"), DOCUMENTED,
                  "gpuhunt unit-test literal mirroring GET /v2/sizes; fetched_at = its commit date")]


def offers_gcp() -> list[Offer]:
    first = str(httpx.URL(gcp.API_URL, params={"key": gcp.REDACTED, "pageSize": str(gcp.PAGE_SIZE)}))
    return [Offer("gcp", "GET", first, FIXTURES / "gcp" / "skus_page1.json", "2023-08-14T00:00:00+00:00", JSON,
                  _prov("gcp"), REAL, "opencost's trimmed copy of a real SKU page")]


def offers_lambda_cloud() -> list[Offer]:
    return [Offer("lambda_cloud", "GET", lambda_cloud.API_URL,
                  FIXTURES / "lambda_cloud" / "instance_types_openapi_example.json", PLACEHOLDER_FETCHED_AT, JSON,
                  _prov("lambda_cloud"), DOCUMENTED, "the OpenAPI spec's example response; prices illustrative")]


def offers_oci() -> list[Offer]:
    folder = FIXTURES / "oci"
    return [
        Offer("oci", "GET", oci.PRICES_URL, folder / "oci_cetools_products_prices_usd.json",
              "2024-01-19T00:00:00+00:00", JSON, _prov("oci"), REAL, "Oracle's price list as opencost recorded it"),
        Offer("oci", "GET", oci.SHAPES_URL, folder / "oci_shape_part_numbers.json",
              "2024-10-16T00:00:00+00:00", TEXT, _prov("oci"), REAL, "opencost's shape -> part-number map"),
    ]


def offers_runpod() -> list[Offer]:
    return [Offer("runpod", "POST", runpod.GRAPHQL_URL, FIXTURES / "runpod" / "gpu_types_handmade.json",
                  PLACEHOLDER_FETCHED_AT, JSON, _prov("runpod"), HANDMADE, body=runpod.REQUEST_BODY)]


def offers_vastai() -> list[Offer]:
    return [Offer("vastai", "POST", vast.BUNDLES_URL, FIXTURES / "vastai" / "bundles_handmade.json",
                  PLACEHOLDER_FETCHED_AT, JSON, _prov("vastai"), HANDMADE, body=vast.REQUEST_BODY)]


def offers_verda() -> list[Offer]:
    # Without a key (a replay) the connector makes no token exchange: just the two GETs.
    folder = FIXTURES / "verda"
    availability = str(httpx.URL(verda.AVAILABILITY_URL, params={"is_spot": "false"}))
    note = "gpuhunt unit-test literal mirroring the live API; fetched_at = its commit date"
    return [
        Offer("verda", "GET", verda.TYPES_URL, folder / "instance_types.json", "2026-08-14T00:00:00+00:00", JSON,
              _prov("verda"), DOCUMENTED, note),
        Offer("verda", "GET", availability, folder / "instance_availability.json", "2026-08-14T00:00:00+00:00", JSON,
              _prov("verda"), DOCUMENTED, note),
    ]


def offers_vultr() -> list[Offer]:
    folder = FIXTURES / "vultr"
    note = "gpuhunt unit-test literal mirroring the live API (no meta block: one page); fetched_at = its commit date"
    return [
        Offer("vultr", "GET", vultr.PLANS_URL, folder / "vultr_v2_plans_excerpt.json", "2025-01-08T00:00:00+00:00",
              JSON, _prov("vultr"), DOCUMENTED, note),
        Offer("vultr", "GET", vultr.METAL_URL, folder / "vultr_v2_plans-metal_excerpt.json",
              "2025-01-08T00:00:00+00:00", JSON, _prov("vultr"), DOCUMENTED, note),
    ]


def offers_cyclenerd() -> list[Offer]:
    # tests/fixtures/cyclenerd/PROVENANCE.md: the real files live in the bundled snapshot; the newest.
    day = "2026-07-30"
    path = next((BUNDLED / day / "responses" / "cyclenerd").glob("*.yml"))
    return [Offer("cyclenerd", "GET", gcp_pricing_yml.PRICING_URL, path, _bundled_fetched_at(day, path.name), TEXT,
                  _prov("cyclenerd"), REAL, f"GPU subset of pricing.yml, from snapshots/bundled/{day}")]


def offers_gpuhunt() -> list[Offer]:
    offers = []
    for folder in sorted(p for p in (FIXTURES / "gpuhunt" / "v3").iterdir() if p.is_dir()):
        provider = folder.name
        version = (folder / "version").read_text().strip()
        common = dict(fetched_at="2024-09-26T00:00:00+00:00", provenance=_prov("gpuhunt"), kind=CONSTRUCTED)
        offers.append(Offer("gpuhunt", "GET", gpuhunt.version_url(provider), folder / "version",
                            content_type="binary/octet-stream", **common))
        offers.append(Offer("gpuhunt", "GET", gpuhunt.catalog_url(provider, version),
                            folder / version / "catalog.zip", content_type="application/zip", **common))
    return offers


def offers_skypilot() -> list[Offer]:
    # The connector asks for catalog_url(cloud) (schema v8) per cloud; each cloud is answered
    # with its newest fixture file, whatever schema directory that file came from.
    newest: dict[str, Path] = {}
    for path in sorted((FIXTURES / "skypilot").glob("v*/*/vms@*.csv"), key=lambda p: int(p.parts[-3][1:])):
        newest[path.parent.name] = path
    offers = []
    for cloud, path in sorted(newest.items()):
        schema = path.parts[-3]
        note = f"real catalogs/{schema}/{cloud}/vms.csv at the commit in the file name"
        if schema != skypilot.SCHEMA_VERSION:
            note += f", served at the {skypilot.SCHEMA_VERSION} URL the connector requests"
        if "first" in path.name:
            note += "; an EXCERPT (prefix rows)"
        offers.append(Offer("skypilot", "GET", skypilot.catalog_url(cloud), path, "2026-08-22T00:00:00+00:00", TEXT,
                            _prov("skypilot"), REAL, note + "; commit date unknown, fetched_at approximated"))
    return offers


def offers_epoch_ai() -> list[Offer]:
    return [Offer("epoch_ai", "GET", EpochAIHardware.url, FIXTURES / "epoch_ai" / "ml_hardware_2026-04-22.csv",
                  "2026-04-22T00:00:00+00:00", "text/csv", _prov("epoch_ai"), REAL,
                  "Epoch AI's ML hardware CSV, byte-for-byte (specs, not prices)")]


CANDIDATES: dict[str, Callable[[], list[Offer]]] = {
    "aws": offers_aws,
    "azure": offers_azure,
    "cloudrift": offers_cloudrift,
    "digitalocean": offers_digitalocean,
    "gcp": offers_gcp,
    "lambda_cloud": offers_lambda_cloud,
    "oci": offers_oci,
    "runpod": offers_runpod,
    "vastai": offers_vastai,
    "verda": offers_verda,
    "vultr": offers_vultr,
    "cyclenerd": offers_cyclenerd,
    "gpuhunt": offers_gpuhunt,
    "skypilot": offers_skypilot,
    "epoch_ai": offers_epoch_ai,
}


# -- running the real fetch against the offers --------------------------------------------------


@dataclass
class Served:
    offer: Offer
    method: str
    url: str
    request_body_sha256: str | None


def dry_run(source: Source, offers: list[Offer]) -> tuple[list[Served], str | None]:
    """Run the source's fetch, parse and finalise against `offers`; (requests served, failure)."""
    by_key = {o.key(): o for o in offers}
    served: list[Served] = []

    def answer(request: httpx.Request) -> httpx.Response:
        body = request.content if request.method.upper() != "GET" else None
        offer = by_key.get((request.method.upper(), canonical_url(request.url), _sha(body)))
        if offer is None:
            raise NotRecorded(f"no fixture answers {request.method} {redact_url(request.url)}", request=request)
        served.append(Served(offer, request.method.upper(), redact_url(request.url), _sha(body)))
        headers = {"content-type": offer.content_type, RECORDED_AT_HEADER: offer.fetched_at}
        return httpx.Response(200, headers=headers, content=offer.file.read_bytes(), request=request)

    client = build_client(httpx.MockTransport(answer), sleep=lambda _s: None)
    try:
        responses = list(source.fetch(client, FetchContext(api_key=None)))
        check_responses(source.id, responses)
        parsed = source.parse(responses)
        if source.kind != "specs":
            landed = finalize_offers(parsed, source.id, date.fromisoformat(SNAPSHOT_DATE)).offers
            if landed.height == 0:
                return served, "parses, but lands no offer"
    except Exception as exc:  # noqa: BLE001 - every failure becomes a reason to leave it out
        return served, f"{type(exc).__name__}: {exc}"
    finally:
        client.close()
    return served, None


def build() -> tuple[dict, list[str]]:
    """The manifest, and warnings about fixtures offered but never requested."""
    entries: list[dict] = []
    left_out: dict[str, str] = {}
    warnings: list[str] = []
    for source in all_sources():
        make = CANDIDATES.get(source.id)
        if make is None:
            left_out[source.id] = "no fixture is mapped for it in scripts/build_fixture_snapshot.py"
            continue
        offers = make()
        served, failure = dry_run(source, offers)
        if failure:
            known = KNOWN_GAPS.get(source.id)
            left_out[source.id] = f"{known}. Replaying it fails with: {failure}" if known else failure
            continue
        requested = {id(s.offer) for s in served}
        for offer in offers:
            if id(offer) not in requested:
                warnings.append(
                    f"{source.id}: {offer.file.relative_to(REPO)} (offered at {offer.url}) is not "
                    "requested by the connector's fetch" + next(
                        (why for folder, why in UNREQUESTED_WHY.items() if folder in offer.file.parts), ""
                    )
                )
        for s in served:
            entries.append(
                {
                    "source": source.id,
                    "method": s.method,
                    "url": s.url,
                    "status": 200,
                    "file": os.path.relpath(s.offer.file, OUT),
                    "fetched_at": s.offer.fetched_at,
                    "headers": {"content-type": s.offer.content_type},
                    "request_body_sha256": s.request_body_sha256,
                    "fixture": {
                        "provenance": s.offer.provenance,
                        "kind": s.offer.kind,
                        **({"note": s.offer.note} if s.offer.note else {}),
                    },
                }
            )
    description = (
        "TEST snapshot, NOT market data: never copy it into snapshots/ and replay it only into a "
        "throwaway warehouse. It mixes real recorded fixtures, documented sample responses (API "
        "docs, other projects' unit-test literals whose prices may be illustrative) and hand-made "
        "fixtures with invented prices; each entry's `fixture` names its PROVENANCE.md and kind. "
        "Entries point at the existing fixture files (no copies) and carry the exact method, URL "
        "and POST-body sha256 each connector's fetch requests (keyed sources are replayed without "
        "keys). fetched_at is the fixture's own recording or origin-commit date, or "
        f"{PLACEHOLDER_FETCHED_AT} for hand-made and undated payloads; snapshot_date is only the "
        "test partition label. Built by scripts/build_fixture_snapshot.py, used by "
        "tests/test_replay_all_fixtures.py. Left out: "
        + ("; ".join(f"{sid}: {why}" for sid, why in left_out.items()) or "nothing")
        + ". Fixtures not requested by any fetch: "
        + ("; ".join(warnings) or "none")
        + "."
    )
    manifest = {
        "snapshot_date": SNAPSHOT_DATE,
        "description": description,
        "left_out": left_out,
        "unrequested_fixtures": warnings,
        "entries": entries,
    }
    return manifest, warnings


def verify(manifest: dict) -> None:
    """Every included source fetches completely through the real ReplayTransport on OUT."""
    client = build_client(ReplayTransport(OUT), sleep=lambda _s: None)
    try:
        for source_id in dict.fromkeys(e["source"] for e in manifest["entries"]):
            source = next(s for s in all_sources() if s.id == source_id)
            responses = list(source.fetch(client, FetchContext(api_key=None)))
            check_responses(source_id, responses)
            expected = [e["url"] for e in manifest["entries"] if e["source"] == source_id]
            got = [r.url for r in responses]
            if sorted(got) != sorted(expected):
                raise SystemExit(f"{source_id}: replay fetched {got}, manifest has {expected}")
    finally:
        client.close()


def render(manifest: dict) -> str:
    return json.dumps(manifest, indent=1, ensure_ascii=False) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the written manifest is not up to date")
    args = parser.parse_args()
    manifest, warnings = build()
    for line in warnings:
        print(f"warning: {line}", file=sys.stderr)
    path = OUT / MANIFEST
    if args.check:
        current = path.read_text() if path.exists() else ""
        if current != render(manifest):
            print(f"{path.relative_to(REPO)} is out of date: run python scripts/build_fixture_snapshot.py",
                  file=sys.stderr)
            return 1
        print(f"{path.relative_to(REPO)} is up to date")
        return 0
    OUT.mkdir(parents=True, exist_ok=True)
    path.write_text(render(manifest))
    verify(manifest)
    sources = list(dict.fromkeys(e["source"] for e in manifest["entries"]))
    print(f"wrote {path.relative_to(REPO)}: {len(manifest['entries'])} entries, {len(sources)} sources "
          f"({', '.join(sources)})")
    for source_id, why in manifest["left_out"].items():
        print(f"left out {source_id}: {why}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
