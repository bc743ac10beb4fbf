"""Build snapshots/bundled/<date>/ from the real payloads in ../shared/data. Offline, idempotent.

Usage: python scripts/build_bundled_snapshot.py [SHARED_DATA_DIR]   (default: ../shared/data)

Each *builder* below turns real files into recorded responses (`Recorded`) for one source.
The script rewrites, for every snapshot date, the entries and response files of the sources
it builds, and leaves every other source's entries in the manifest alone, so payloads added
by hand (or by another builder later) survive a re-run. To add a source: write a function
`build_<source>(data: Path) -> list[Recorded]` and add it to `BUILDERS`.

Real market data only: nothing here invents a price. Where a payload had to be enveloped or
placed at a URL other than where it was observed, the entry's `note` says exactly how.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from connectors.azure import first_page_url  # noqa: E402
from connectors.skypilot import CATALOG_VERSIONS, catalog_url  # noqa: E402

BUNDLED = REPO / "snapshots" / "bundled"
DESCRIPTION = (
    "Bundled real snapshot for the offline demo (real market data only). Built by "
    "scripts/build_bundled_snapshot.py from ../shared/data; see snapshots/bundled/README.md "
    "for origins, licences and what was trimmed or enveloped."
)


@dataclass
class Recorded:
    """One response to write into snapshots/bundled/<snapshot_date>/."""

    snapshot_date: str
    source: str
    url: str
    body: bytes
    file_name: str
    fetched_at: str
    content_type: str
    provenance: dict = field(default_factory=dict)
    method: str = "GET"
    status: int = 200


# --- Azure: azure-pricing-radar records in the Retail Prices page envelope -------------------

RADAR_REPO = "andy-diericks/azure-pricing-radar"
RADAR_FILES = [
    # (snapshot dir, shared file, origin path, commit, observed on)
    ("2026-07-15", "vm-eu-west_gpu_2026-07-15_25ddcc8.json", "data/latest/vm-eu-west.json",
     "25ddcc86e253f69d7799875d4e5e123f88e9d95a", "2026-07-15"),
    ("2026-08-01", "vm-eu-west_gpu_2026-08-01_c06e72a.json", "data/latest/vm-eu-west.json",
     "c06e72a87cf444d5d487719cced97261399b0885", "2026-08-01"),
    ("2026-08-22", "vm-eu-west_gpu_2026-08-20_1b7f554.json", "data/latest/vm-eu-west.json",
     "1b7f55446201ecb7bd3df5a9875afce68a27e6f7", "2026-08-20"),
    ("2026-08-22", "vm-francecentral_gpu_2026-08-22_cf741f2.json", "data/latest/vm-francecentral.json",
     "cf741f25c50759745f8eb5dcaf6c3746669c8f31", "2026-08-22"),
]
AZURE_PAGE_SIZE = 100
RADAR_NOTE = (
    "Real Azure Retail Prices API records as kept by azure-pricing-radar (its own query: "
    "serviceName eq 'Virtual Machines' and armRegionName eq '<region>' and priceType eq "
    "'Consumption', api-version 2023-01-01-preview; the shared-data copy keeps the rows whose "
    "productName starts 'Virtual Machines N[CDGV]'). The radar stored only armRegionName, "
    "meterName, productName, retailPrice, skuName, unitOfMeasure, unitPrice (+ savingsPlanPrice, "
    "a single number whose term it did not record) per item, keyed 'skuId|meterId|type|"
    "reservationTerm'. Enveloped here into the API's page shape (BillingCurrency 'USD', the API "
    "default; CustomerEntityId 'Default'; CustomerEntityType 'Retail'; Items; NextPageLink; Count) "
    "in pages of up to 100 items in the radar's key order, linked by $skip NextPageLinks, and "
    "served at the URL the azure connector requests (an all-region N-series query): so the "
    "replay covers only this region. Each item gets back type, meterId, skuId and productId "
    "(the skuId prefix) from the radar's key; currencyCode, armSkuName, location, "
    "effectiveStartDate, serviceName etc. remain absent, and the parser tolerates exactly that. "
    "fetched_at is the radar commit date (day precision; time of day unknown)."
)


def _radar_items(records: dict) -> list[dict]:
    items = []
    for key, record in records.items():
        sku_id, meter_id, kind, term = (key.split("|") + ["", "", "", ""])[:4]
        item = dict(record)
        item["type"] = kind
        item["meterId"] = meter_id
        item["skuId"] = sku_id
        item["productId"] = sku_id.split("/", 1)[0]
        if term:
            item["reservationTerm"] = term
        items.append(item)
    return items


def _page_url(skip: int) -> str:
    return first_page_url() if skip == 0 else f"{first_page_url()}&$skip={skip}"


def build_azure(data: Path) -> list[Recorded]:
    out: list[Recorded] = []
    by_date: dict[str, list[tuple]] = {}
    for spec in RADAR_FILES:
        by_date.setdefault(spec[0], []).append(spec)
    for snapshot_date, specs in by_date.items():
        # One chain per snapshot day; pages never mix files, so each keeps its own date.
        chunks: list[tuple[list[dict], tuple]] = []
        for spec in specs:
            path = data / "azure" / "azure-pricing-radar" / spec[1]
            items = _radar_items(json.loads(path.read_text()))
            for start in range(0, len(items), AZURE_PAGE_SIZE):
                chunks.append((items[start:start + AZURE_PAGE_SIZE], spec))
        skip = 0
        for n, (items, spec) in enumerate(chunks):
            last = n == len(chunks) - 1
            envelope = {
                "BillingCurrency": "USD",
                "CustomerEntityId": "Default",
                "CustomerEntityType": "Retail",
                "Items": items,
                "NextPageLink": None if last else _page_url(skip + len(items)),
                "Count": len(items),
            }
            _, shared_name, origin_path, commit, observed = spec
            out.append(Recorded(
                snapshot_date=snapshot_date,
                source="azure",
                url=_page_url(skip),
                body=(json.dumps(envelope, indent=1, ensure_ascii=False) + "\n").encode(),
                file_name=f"page{n + 1:03d}.json",
                fetched_at=f"{observed}T00:00:00+00:00",
                content_type="application/json; charset=utf-8",
                provenance={
                    "origin": {
                        "repo": RADAR_REPO,
                        "path": origin_path,
                        "commit": commit,
                        "licence": "MIT",
                        "shared_copy": f"../shared/data/azure/azure-pricing-radar/{shared_name}",
                    },
                    "note": RADAR_NOTE,
                },
            ))
            skip += len(items)
    return out


# --- SkyPilot: catalog CSVs, byte for byte ---------------------------------------------------

SKYPILOT_REPO = "skypilot-org/skypilot-catalog"
SKYPILOT_DATE = "2026-08-22"
# cloud -> (shared file, schema dir it came from, commit, excerpt?)
SKYPILOT_FILES = {
    "cudo": ("v8/cudo/vms@113567a7_first74rows.csv", "v8", "113567a74b2f208af08e0c9236e26cc354a2bf65",
             "header + first 74 complete rows of 33,536 chars"),
    "do": ("v6/do/vms@1fbe7331.csv", "v6", "1fbe7331", None),
    "fluidstack": ("v6/fluidstack/vms@002403bc.csv", "v6", "002403bc", None),
    "hyperstack": ("v8/hyperstack/vms@fdc9d908.csv", "v8", "fdc9d908ab0b2af9f468f139fb3f662c8c6b3257", None),
    "lambda": ("v8/lambda/vms@0f407038.csv", "v8", "0f4070387edc953d7004cff197940e1918a1d6aa", None),
    "nebius": ("v8/nebius/vms@0082b043.csv", "v8", "0082b0435f3912ae4c566856b272455cc78f4f61", None),
    "paperspace": ("v6/paperspace/vms@e5200541.csv", "v6", "e5200541", None),
    "runpod": ("v6/runpod/vms@098741e7.csv", "v6", "098741e7", None),
    "shadeform": ("v8/shadeform/vms@002363da_first82rows.csv", "v8", "002363dac75913b446b2d3d564ae795678849dfd",
                  "header + first 82 complete rows of 23,166 chars"),
    "vast": ("v8/vast/vms@01b8cdda.csv", "v8", "01b8cdda287814b30ff0acb49746cca19fbd4355", None),
    "verda": ("v8/verda/vms@000c1d0b.csv", "v8", "000c1d0bf24621f4ac37cfa585f0897c1aa1d9cf", None),
}
# Excerpts of catalogs too big for ../shared/data, kept in this repo (EXCERPTS, with their
# PROVENANCE.md): lines read with the `read_file` tool from the stored public repository and
# written out unchanged, header first, original order kept; only whole lines were selected.
EXCERPTS = BUNDLED / "excerpts" / "skypilot-catalog"
SKYPILOT_EXCERPTS = {
    "aws": ("v8/aws/vms@00148f2a_p4d-to-p6_excerpt.csv", "v8", "00148f2af3672e2229b4f7bf8157d5a3f36e3c35",
            "header + the 135 consecutive lines from the first p4d.24xlarge line to the last line "
            "before r3 (p4d.24xlarge, p4de.24xlarge, p5.48xlarge, p5.4xlarge, p5e.48xlarge, "
            "p5en.48xlarge, p6-b200.48xlarge, p6-b300.48xlarge in every region and availability "
            "zone listed; chars 2,551,130-2,589,582 of 3,654,773); every other instance type "
            "(CPU, g*, p2/p3, trn, inf ...) is not recorded"),
    "azure": ("v6/azure/vms@098741e7_H100-A100_excerpt.csv", "v6", "098741e70562f65d7af1cceb81e33b284f742604",
              "header + the 31 lines of the H100 and A100 sizes (NC40ads_H100_v5, NC48ads_A100_v4, "
              "NC80adis_H100_v5, NC96ads_A100_v4, ND96amsr_A100_v4, ND96asr_v4, ND96isr_H100_v5), "
              "original order; this catalog version lists US regions only; every other size is "
              "not recorded"),
}


def _full_commit(shared_manifest: str, origin_path: str, short: str) -> str:
    """The full commit id from MANIFEST.md when it names one, else the short id we have."""
    for line in shared_manifest.splitlines():
        if f"`{origin_path}`" in line and short in line:
            for cell in line.split("|"):
                cell = cell.strip().strip("`")
                if len(cell) == 40 and cell.startswith(short):
                    return cell
    return short


def build_skypilot(data: Path) -> list[Recorded]:
    shared_manifest = (data / "MANIFEST.md").read_text()
    out: list[Recorded] = []
    files = [(cloud, spec, data / "skypilot-catalog") for cloud, spec in SKYPILOT_FILES.items()]
    files += [(cloud, spec, EXCERPTS) for cloud, spec in SKYPILOT_EXCERPTS.items()]
    for cloud, (shared_file, schema, commit, excerpt), root in sorted(files, key=lambda f: f[0]):
        path = root / shared_file
        origin_path = f"catalogs/{schema}/{cloud}/vms.csv"
        in_repo = root == EXCERPTS
        commit = commit if in_repo else _full_commit(shared_manifest, origin_path, commit)
        copy = (f"snapshots/bundled/excerpts/skypilot-catalog/{shared_file}" if in_repo
                else f"../shared/data/skypilot-catalog/{shared_file}")
        if in_repo:
            note = (
                f"Lines of {SKYPILOT_REPO}@{commit[:12]} {origin_path}, read from the stored public "
                "repository and written out unchanged (whole lines selected, header first, "
                "original order, LF as the original); no value edited. The commit date is "
                "unknown, so fetched_at is approximated to the snapshot date."
            )
        else:
            note = (
                f"Byte-for-byte copy of {SKYPILOT_REPO}@{commit[:12]} {origin_path} (the newest file "
                f"for {cloud} in ../shared/data). The commit date is unknown, so fetched_at is "
                f"approximated to the snapshot date."
            )
        requested = CATALOG_VERSIONS.get(cloud)
        if schema != requested:
            note += (
                f" It is a {schema}-schema file served here at the {requested} URL the connector "
                "requests (the newest directory holding this cloud); the parser reads columns by "
                "name, so the older column order is handled."
            )
        if excerpt:
            note += f" Excerpt of the real file: {excerpt} (the rest of the file is not recorded)."
        out.append(Recorded(
            snapshot_date=SKYPILOT_DATE,
            source="skypilot",
            url=catalog_url(cloud),
            body=path.read_bytes(),
            file_name=f"{cloud}__vms.csv",
            fetched_at=f"{SKYPILOT_DATE}T00:00:00+00:00",
            content_type="text/plain; charset=utf-8",
            provenance={
                "origin": {
                    "repo": SKYPILOT_REPO,
                    "path": origin_path,
                    "commit": commit,
                    "licence": "no LICENSE file in the catalog repo (SkyPilot itself is Apache-2.0)",
                    ("repo_copy" if in_repo else "shared_copy"): copy,
                },
                "origin_url": f"https://raw.githubusercontent.com/{SKYPILOT_REPO}/{commit}/{origin_path}",
                "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
                "note": note,
            },
        ))
    return out


# --- Epoch AI: the machine-learning hardware CSV, byte for byte --------------------------------

EPOCH_DATE = "2026-04-22"


def build_epoch_ai(data: Path) -> list[Recorded]:
    from connectors.epoch_ai import EpochAIHardware

    path = data / "epoch-ai" / f"ml_hardware_{EPOCH_DATE}.csv"
    body = path.read_bytes()
    return [Recorded(
        snapshot_date=EPOCH_DATE,
        source="epoch_ai",
        url=EpochAIHardware.url,
        body=body,
        file_name="ml_hardware.csv",
        fetched_at=f"{EPOCH_DATE}T00:00:00+00:00",
        content_type="text/csv",
        provenance={
            "origin": {
                "repo": "natepaulo43-oss/Capstone-AI-Capex-Wall (a copy of Epoch AI's download)",
                "path": "data/ml_hardware.csv",
                "commit": "73ab8a4b77886be5396772f757da064fb1e02ce4",
                "commit_date": EPOCH_DATE,
                "licence": "Epoch AI data: CC-BY 4.0",
                "shared_copy": f"../shared/data/epoch-ai/ml_hardware_{EPOCH_DATE}.csv",
            },
            "sha256": hashlib.sha256(body).hexdigest(),
            "note": (
                "Epoch AI's 'Machine Learning Hardware' CSV as downloaded by a third party and "
                "committed on the given date; byte-for-byte. Observation day = that commit date "
                "(time of day unknown, so midnight UTC)."
            ),
        },
    )]


BUILDERS = {
    "azure": build_azure,
    "skypilot": build_skypilot,
    "epoch_ai": build_epoch_ai,
}


# --- writing ---------------------------------------------------------------------------------


def write(records: list[Recorded], sources: set[str], root: Path = BUNDLED) -> list[Path]:
    """Replace `sources`' entries and files in the snapshot dirs these records go to.

    Only directories that receive records are touched. In them, other sources' entries (and an
    existing manifest's description) are kept as they are, in their order; ours follow.
    """
    written = []
    for snapshot_date in sorted({r.snapshot_date for r in records}):
        directory = root / snapshot_date
        manifest_path = directory / "manifest.json"
        manifest = (
            json.loads(manifest_path.read_text())
            if manifest_path.exists()
            else {"snapshot_date": snapshot_date, "description": DESCRIPTION, "entries": []}
        )
        kept = [e for e in manifest.get("entries", []) if e.get("source") not in sources]
        for source in sources:
            shutil.rmtree(directory / "responses" / source, ignore_errors=True)
        new = []
        for rec in (r for r in records if r.snapshot_date == snapshot_date):
            relative = f"responses/{rec.source}/{rec.file_name}"
            target = directory / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(rec.body)
            new.append({
                "source": rec.source,
                "method": rec.method,
                "url": rec.url,
                "status": rec.status,
                "file": relative,
                "fetched_at": rec.fetched_at,
                "headers": {"content-type": rec.content_type},
                "request_body_sha256": None,
                **rec.provenance,
            })
        manifest["entries"] = kept + sorted(new, key=lambda e: (e["source"], e["file"]))
        manifest_path.write_text(json.dumps(manifest, indent=1, ensure_ascii=False) + "\n")
        written.append(directory)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", nargs="?", default=str(REPO.parent / "shared" / "data"),
                        help="the shared data directory (default: ../shared/data)")
    parser.add_argument("--out", default=str(BUNDLED), help="snapshots root (default: snapshots/bundled)")
    args = parser.parse_args(argv)
    data = Path(args.data).resolve()
    if not (data / "MANIFEST.md").exists():
        parser.error(f"{data} does not look like the shared data directory (no MANIFEST.md)")
    records: list[Recorded] = []
    for build in BUILDERS.values():
        records.extend(build(data))
    for directory in write(records, set(BUILDERS), Path(args.out)):
        print(f"wrote {directory.relative_to(REPO) if directory.is_relative_to(REPO) else directory}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
