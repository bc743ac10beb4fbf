"""Benchmark: parsing the AWS EC2 bulk price list CSV (run by hand).

    python benchmarks/aws_price_list.py --help
    python benchmarks/aws_price_list.py                 # full run: 1x, 4x, all-region size
    python benchmarks/aws_price_list.py --rows 200000   # quicker, smaller "1x"

What it does, in one run:

1. Generates CSV files in the price list's real layout: the 5 disclaimer lines, then the
   91-column header of the EC2 offer file as published (version 20250912225308), then rows.
   The rows are GENERATED, NOT MARKET DATA: the attribute vocabulary (term types, lease
   lengths, purchase options, operating systems, tenancies, capacity statuses, product
   families) is the real one, the prices are made up. Mostly non-GPU rows, a few percent GPU
   rows, ~20 reserved rows per on-demand row, as in the real file.
2. Measures, each in a fresh subprocess so peak memory of one run cannot leak into another:
   * ``ours``: ``connectors.aws.AwsPriceList().parse`` (polars streaming scan, see the module);
   * ``pandas``: ``pd.read_csv(path, skiprows=5, low_memory=False)`` of the whole file, then
     the same filters (how SkyPilot's ``fetch_aws.py`` reads the file);
   * ``linefilter``: keep raw lines containing the needed substrings, then ``csv`` parse them
     (how gpuhunt's ``aws.py`` reads the all-region file).
   on a region-sized file (default 800k rows) and one 4x larger; then ``ours`` alone on the
   all-region size (default 7.7M rows, gpuhunt PR #254).
   Each measurement is repeated (``--repeat``, default 3) in fresh subprocesses; the best
   time and the largest peak are kept. Files are flushed and read once before measuring, so
   all readers start from the same warm page cache (disk speed is not what is compared).
3. Prints rows/s, MB/s, peak RSS (VmHWM of the child), the ratios, and checks the targets:
   ours >= 5x faster than pandas at both sizes, ours' peak memory within 20% between 1x and
   4x, ours under 1 GB on the all-region size.

Files go to a temporary directory (or ``--workdir``) and are deleted unless ``--keep``.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# The first six lines of the EC2 offer CSV as published by AWS (version 20250912225308). The
# header is the real one, quoted from a public write-up of the file; the disclaimer is AWS's.
DISCLAIMER_LINES = [
    '"FormatVersion","v1.0"',
    '"Disclaimer","This pricing list is for informational purposes only. All prices are subject '
    "to the additional terms included in the pricing pages on http://aws.amazon.com. All Free "
    'Tier prices are also subject to the terms included at https://aws.amazon.com/free/"',
    '"Publication Date","{publication}"',
    '"Version","{version}"',
    '"OfferCode","AmazonEC2"',
]
HEADER = [
    "SKU", "OfferTermCode", "RateCode", "TermType", "PriceDescription", "EffectiveDate",
    "StartingRange", "EndingRange", "Unit", "PricePerUnit", "Currency", "RelatedTo",
    "LeaseContractLength", "PurchaseOption", "OfferingClass", "Product Family", "serviceCode",
    "Location", "Location Type", "Instance Type", "Current Generation", "Instance Family", "vCPU",
    "Physical Processor", "Clock Speed", "Memory", "Storage", "Network Performance",
    "Processor Architecture", "Storage Media", "Volume Type", "Max Volume Size",
    "Max IOPS/volume", "Max IOPS Burst Performance", "Max throughput/volume", "Provisioned",
    "Tenancy", "EBS Optimized", "Operating System", "License Model", "Group",
    "Group Description", "Transfer Type", "From Location", "From Location Type", "To Location",
    "To Location Type", "usageType", "operation", "AvailabilityZone", "CapacityStatus",
    "ClassicNetworkingSupport", "Dedicated EBS Throughput", "ECU", "Elastic Graphics Type",
    "Enhanced Networking Supported", "From Region Code", "GPU", "GPU Memory", "Instance",
    "Instance Capacity - 10xlarge", "Instance Capacity - 12xlarge",
    "Instance Capacity - 16xlarge", "Instance Capacity - 18xlarge",
    "Instance Capacity - 24xlarge", "Instance Capacity - 2xlarge",
    "Instance Capacity - 32xlarge", "Instance Capacity - 4xlarge",
    "Instance Capacity - 8xlarge", "Instance Capacity - 9xlarge", "Instance Capacity - large",
    "Instance Capacity - medium", "Instance Capacity - metal", "Instance Capacity - xlarge",
    "instanceSKU", "Intel AVX2 Available", "Intel AVX Available", "Intel Turbo Available",
    "MarketOption", "Normalization Size Factor", "Physical Cores", "Pre Installed S/W",
    "Processor Features", "Product Type", "Region Code", "Resource Type", "serviceName",
    "SnapshotArchiveFeeType", "To Region Code", "Volume API Name", "VPCNetworkingSupport",
]
assert len(HEADER) == 91
COLUMN_INDEX = {name: i for i, name in enumerate(HEADER)}
TERM_COLUMNS = HEADER[: HEADER.index("Product Family")]  # the per-price part of a row

REGIONS = [
    ("us-east-1", "US East (N. Virginia)", "USE1"),
    ("us-east-2", "US East (Ohio)", "USE2"),
    ("us-west-2", "US West (Oregon)", "USW2"),
    ("eu-west-1", "Europe (Ireland)", "EU"),
    ("eu-central-1", "Europe (Frankfurt)", "EUC1"),
    ("ap-northeast-1", "Asia Pacific (Tokyo)", "APN1"),
    ("ap-southeast-2", "Asia Pacific (Sydney)", "APS2"),
    ("sa-east-1", "South America (Sao Paulo)", "SAE1"),
]

# (family, instance-family label, sizes as (size, vcpu, memory GiB, gpus)). Shapes only; the
# generator invents prices. GPU counts follow the AWS instance pages.
NON_GPU_FAMILIES = [
    (fam, label, [("large", 2, mem * 2, 0), ("xlarge", 4, mem * 4, 0), ("2xlarge", 8, mem * 8, 0),
                  ("4xlarge", 16, mem * 16, 0), ("8xlarge", 32, mem * 32, 0),
                  ("12xlarge", 48, mem * 48, 0), ("16xlarge", 64, mem * 64, 0),
                  ("24xlarge", 96, mem * 96, 0), ("metal", 96, mem * 96, 0)])
    for fam, label, mem in [
        ("m5", "General purpose", 4), ("m6i", "General purpose", 4), ("m7i", "General purpose", 4),
        ("m7g", "General purpose", 4), ("m6a", "General purpose", 4), ("t3", "General purpose", 4),
        ("c5", "Compute optimized", 2), ("c6i", "Compute optimized", 2),
        ("c7g", "Compute optimized", 2), ("c7i", "Compute optimized", 2),
        ("r5", "Memory optimized", 8), ("r6i", "Memory optimized", 8),
        ("r7g", "Memory optimized", 8), ("x2idn", "Memory optimized", 16),
        ("i3", "Storage optimized", 8), ("i4i", "Storage optimized", 8),
        ("d3", "Storage optimized", 8),
    ]
]
GPU_FAMILIES = [
    ("p5", "GPU instance", [("48xlarge", 192, 2048, 8)]),
    ("p5e", "GPU instance", [("48xlarge", 192, 2048, 8)]),
    ("p4d", "GPU instance", [("24xlarge", 96, 1152, 8)]),
    ("p4de", "GPU instance", [("24xlarge", 96, 1152, 8)]),
    ("p3", "GPU instance", [("2xlarge", 8, 61, 1), ("8xlarge", 32, 244, 4), ("16xlarge", 64, 488, 8)]),
    ("g6", "GPU instance", [("xlarge", 4, 16, 1), ("2xlarge", 8, 32, 1), ("12xlarge", 48, 192, 4),
                            ("48xlarge", 192, 768, 8)]),
    ("g6e", "GPU instance", [("xlarge", 4, 32, 1), ("12xlarge", 48, 384, 4), ("48xlarge", 192, 1536, 8)]),
    ("g5", "GPU instance", [("xlarge", 4, 16, 1), ("12xlarge", 48, 192, 4), ("48xlarge", 192, 768, 8)]),
    ("g4dn", "GPU instance", [("xlarge", 4, 16, 1), ("12xlarge", 48, 192, 4), ("metal", 96, 384, 8)]),
    ("trn1", "Machine Learning ASIC Instances", [("2xlarge", 8, 32, 1), ("32xlarge", 128, 512, 16)]),
    ("inf2", "Machine Learning ASIC Instances", [("xlarge", 4, 16, 1), ("48xlarge", 192, 768, 12)]),
]
GPU_SHARE = 0.06  # share of products that are GPU/accelerator instances

# Real vocabulary of the file. Weights are rough, to give the filters realistic work.
OPERATING_SYSTEMS = [("Linux", 5), ("RHEL", 2), ("SUSE", 2), ("Windows", 4), ("Ubuntu Pro", 1),
                     ("Red Hat Enterprise Linux with HA", 1)]
PRE_INSTALLED = {"Windows": ["NA", "SQL Web", "SQL Std", "SQL Ent"], "Linux": ["NA", "NA", "SQL Web", "SQL Std"]}
TENANCIES = [("Shared", 6), ("Dedicated", 3), ("Host", 1)]
CAPACITY = [("Used", 6), ("UnusedCapacityReservation", 2), ("AllocatedCapacityReservation", 2)]
NON_COMPUTE = [  # (Product Family, rows) - storage, transfer, IPs: present, never GPU
    ("Storage", "EBS:VolumeUsage.gp3", "GB-Mo"),
    ("Data Transfer", "DataTransfer-Out-Bytes", "GB"),
    ("IP Address", "ElasticIP:IdleAddress", "Hrs"),
    ("CPU Credits", "CPUCredits:t3", "vCPU-Hours"),
]
RESERVED_TERMS = [
    (lease, option, klass)
    for lease in ("1yr", "3yr")
    for klass in ("standard", "convertible")
    for option in ("No Upfront", "Partial Upfront", "All Upfront")
]
CHARS = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"


def _q(value: object) -> str:
    return "" if value == "" or value is None else f'"{value}"'


def _code(rng: random.Random, n: int = 16) -> str:
    return "".join(rng.choices(CHARS, k=n))


def _product_tail(rng: random.Random, region: tuple[str, str, str]) -> tuple[str, dict]:
    """One product's attribute columns (everything from 'Product Family' on), and its facts."""
    code, location, prefix = region
    values = dict.fromkeys(HEADER[len(TERM_COLUMNS):], "")
    if rng.random() < 0.08:
        family, usage, unit = rng.choice(NON_COMPUTE)
        values.update({"Product Family": family, "serviceCode": "AmazonEC2", "Location": location,
                       "Location Type": "AWS Region", "usageType": f"{prefix}-{usage}",
                       "operation": "", "Region Code": code,
                       "serviceName": "Amazon Elastic Compute Cloud"})
        facts = {"unit": unit, "compute": False, "price": rng.uniform(0.005, 0.2), "desc": family}
    else:
        gpu = rng.random() < GPU_SHARE
        family, label, sizes = rng.choice(GPU_FAMILIES if gpu else NON_GPU_FAMILIES)
        size, vcpu, memory, gpus = rng.choice(sizes)
        itype = f"{family}.{size}"
        os_name = rng.choices([o for o, _ in OPERATING_SYSTEMS], [w for _, w in OPERATING_SYSTEMS])[0]
        tenancy = rng.choices([t for t, _ in TENANCIES], [w for _, w in TENANCIES])[0]
        capacity = rng.choices([c for c, _ in CAPACITY], [w for _, w in CAPACITY])[0]
        sw = rng.choice(PRE_INSTALLED.get(os_name, ["NA"]))
        market = "CapacityBlock" if gpu and rng.random() < 0.1 else "OnDemand"
        usage_kind = {"Shared": "BoxUsage", "Dedicated": "DedicatedUsage", "Host": "HostUsage"}[tenancy]
        values.update({
            "Product Family": "Compute Instance (bare metal)" if size == "metal" else "Compute Instance",
            "serviceCode": "AmazonEC2", "Location": location, "Location Type": "AWS Region",
            "Instance Type": itype, "Current Generation": "Yes", "Instance Family": label,
            "vCPU": vcpu, "Physical Processor": "Intel Xeon Platinum 8488C", "Clock Speed": "3.2 GHz",
            "Memory": f"{memory} GiB", "Storage": "EBS only", "Network Performance": "Up to 25 Gigabit",
            "Processor Architecture": "64-bit", "Tenancy": tenancy, "Operating System": os_name,
            "License Model": "No License required", "usageType": f"{prefix}-{usage_kind}:{itype}",
            "operation": "RunInstances", "AvailabilityZone": "NA", "CapacityStatus": capacity,
            "ClassicNetworkingSupport": "false", "Dedicated EBS Throughput": "Up to 10000 Mbps",
            "ECU": "NA", "Enhanced Networking Supported": "Yes", "GPU": gpus or "",
            "GPU Memory": "NA", "Intel AVX2 Available": "Yes", "Intel AVX Available": "Yes",
            "Intel Turbo Available": "Yes", "MarketOption": market,
            "Normalization Size Factor": "4", "Pre Installed S/W": sw,
            "Processor Features": "Intel AVX; Intel AVX2; Intel AVX512; Intel Turbo",
            "Region Code": code, "serviceName": "Amazon Elastic Compute Cloud",
            "VPCNetworkingSupport": "true",
        })
        base = (gpus * rng.uniform(0.5, 5.0)) if gpus else vcpu * rng.uniform(0.02, 0.06)
        facts = {"unit": "Hrs", "compute": True, "price": base, "reserved": capacity == "Used",
                 "desc": f"{os_name} {itype}"}
    return ",".join(_q(values[c]) for c in HEADER[len(TERM_COLUMNS):]), facts


def _term_rows(rng: random.Random, sku: str, facts: dict, date: str) -> list[str]:
    """The per-price parts for one product: on-demand, then (for compute) reserved terms."""
    rows = []

    def row(term_code: str, term_type: str, desc: str, unit: str, price: float,
            lease: str = "", option: str = "", klass: str = "", ranged: bool = True) -> str:
        rate = f"{sku}.{term_code}.{_code(rng, 10)}"
        return ",".join([
            _q(sku), _q(term_code), _q(rate), _q(term_type), _q(desc), _q(date),
            _q("0" if ranged else ""), _q("Inf" if ranged else ""), _q(unit), _q(f"{price:.10f}"),
            _q("USD"), "", _q(lease), _q(option), _q(klass),
        ])

    rows.append(row("JRTCKXETXF", "OnDemand", f"${facts['price']:.4f} per On Demand {facts['desc']}",
                    facts["unit"], facts["price"]))
    if facts.get("compute") and facts.get("reserved"):
        for lease, option, klass in RESERVED_TERMS:
            term = _code(rng, 10)
            years = 1 if lease == "1yr" else 3
            discount = (0.6 if years == 1 else 0.4) * (1.05 if klass == "convertible" else 1.0)
            hourly = facts["price"] * discount
            desc = f"{facts['desc']} reserved instance applied"
            if option == "No Upfront":
                rows.append(row(term, "Reserved", desc, "Hrs", hourly, lease, option, klass))
            else:
                share = 0.5 if option == "Partial Upfront" else 1.0
                rows.append(row(term, "Reserved", desc, "Hrs", 0.0 if share == 1.0 else hourly * 0.5,
                                lease, option, klass))
                rows.append(row(term, "Reserved", "Upfront Fee", "Quantity",
                                round(hourly * share * 8760 * years), lease, option, klass, ranged=False))
    return rows


def write_price_list(path: Path, rows: int, seed: int = 7, regions: int = 1) -> int:
    """Write a generated price list CSV with about `rows` data rows; returns the bytes written."""
    rng = random.Random(seed)
    chosen = REGIONS[: max(1, regions)]
    date = "2025-09-12"
    with open(path, "w", encoding="utf-8", newline="\n", buffering=1 << 22) as out:
        for line in DISCLAIMER_LINES:
            out.write(line.format(publication="2025-09-12T22:53:08Z", version="20250912225308") + "\n")
        out.write(",".join(_q(c) for c in HEADER) + "\n")
        written = 0
        batch: list[str] = []
        while written < rows:
            tail, facts = _product_tail(rng, rng.choice(chosen))
            for head in _term_rows(rng, _code(rng), facts, date):
                batch.append(head + "," + tail + "\n")
            written += len(batch)
            out.write("".join(batch))
            batch.clear()
    return path.stat().st_size


def csv_body(records: list[dict], version: str = "20250912225308") -> bytes:
    """A small price list CSV body from row dicts keyed by HEADER names (for tests)."""
    buffer = io.StringIO()
    for line in DISCLAIMER_LINES:
        buffer.write(line.format(publication="2025-09-12T22:53:08Z", version=version) + "\n")
    buffer.write(",".join(_q(c) for c in HEADER) + "\n")
    for record in records:
        unknown = set(record) - set(HEADER)
        assert not unknown, f"not price-list columns: {unknown}"
        buffer.write(",".join(_q(record.get(c, "")) for c in HEADER) + "\n")
    return buffer.getvalue().encode()


# --- the three readers, each run in its own subprocess --------------------------------------

def _gpu_prefix_regex() -> str:
    from connectors.aws import GPU_INSTANCE_REGEX

    return GPU_INSTANCE_REGEX


def run_ours(path: Path) -> int:
    from datetime import datetime, timezone

    from connectors.aws import AwsPriceList
    from connectors.base import RawResponse

    raw = RawResponse(source="aws", method="GET", url=f"file://{path}", status=200,
                      headers={"content-type": "text/csv"}, fetched_at=datetime.now(timezone.utc),
                      body_path=path)
    object.__setattr__(raw, "_sha256", "0" * 64)  # hashing the file is the archive's job, not the parser's
    return AwsPriceList().parse([raw]).height


def run_pandas(path: Path) -> int:
    import pandas as pd

    df = pd.read_csv(path, skiprows=5, low_memory=False)
    reserved = (
        (df["TermType"] == "Reserved") & df["LeaseContractLength"].isin(["1yr", "3yr"])
        & (df["PurchaseOption"] == "No Upfront") & (df["OfferingClass"] == "standard")
    )
    keep = (
        ((df["TermType"] == "OnDemand") | reserved) & (df["Unit"] == "Hrs")
        & (df["Tenancy"] == "Shared") & (df["Operating System"] == "Linux")
        & (df["CapacityStatus"] == "Used") & (df["Pre Installed S/W"].isna() | (df["Pre Installed S/W"] == "NA"))
        & (df["MarketOption"] == "OnDemand")
        & df["Instance Type"].fillna("").str.contains(_gpu_prefix_regex(), regex=True)
    )
    return int(keep.sum())


def run_linefilter(path: Path) -> int:
    # gpuhunt's trick: cheap substring tests on raw lines, csv-parse only the survivors.
    needles = ('"Shared"', '"Linux"', '"Used"', '"Hrs"')
    import re

    gpu = re.compile(_gpu_prefix_regex())
    kept = 0
    with open(path, encoding="utf-8") as stream:
        for _ in range(5):
            next(stream)
        header = next(csv.reader([next(stream)]))
        col = {name: i for i, name in enumerate(header)}
        lines = (line for line in stream if all(n in line for n in needles))
        for row in csv.reader(lines):
            term = row[col["TermType"]]
            if term == "Reserved" and not (
                row[col["PurchaseOption"]] == "No Upfront" and row[col["OfferingClass"]] == "standard"
            ):
                continue
            if term not in ("OnDemand", "Reserved"):
                continue
            if (row[col["Tenancy"]] == "Shared" and row[col["Operating System"]] == "Linux"
                    and row[col["CapacityStatus"]] == "Used" and row[col["Unit"]] == "Hrs"
                    and row[col["Pre Installed S/W"]] in ("", "NA")
                    and row[col["MarketOption"]] == "OnDemand" and gpu.search(row[col["Instance Type"]])):
                kept += 1
    return kept


RUNNERS = {"ours": run_ours, "pandas": run_pandas, "linefilter": run_linefilter}


def _peak_rss_bytes() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def _child(method: str, path: str) -> None:
    sys.path.insert(0, str(ROOT))
    baseline = _peak_rss_bytes()
    started = time.perf_counter()
    kept = RUNNERS[method](Path(path))
    seconds = time.perf_counter() - started
    print(json.dumps({"seconds": seconds, "kept": kept, "peak_rss": _peak_rss_bytes(),
                      "start_rss": baseline}))


def measure(method: str, path: Path, repeat: int = 1) -> dict:
    """Run one reader in a fresh interpreter `repeat` times; its VmHWM is its own peak.

    The time reported is the best of the runs (the machine is shared: a neighbour can only
    slow a run down, never speed it up, so the fastest run is the least disturbed), the peak
    memory the largest of them.
    """
    runs = []
    for _ in range(repeat):
        proc = subprocess.run(
            [sys.executable, __file__, "_measure", method, str(path)],
            capture_output=True, text=True, check=False,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"{method} on {path} failed:\n{proc.stderr[-3000:]}")
        runs.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    times = sorted(r["seconds"] for r in runs)
    return {
        "seconds": times[0],
        "all_seconds": [round(r["seconds"], 2) for r in runs],
        "kept": runs[0]["kept"],
        "peak_rss": max(r["peak_rss"] for r in runs),
    }


def _settle(path: Path) -> None:
    """Flush the freshly written file and read it once, so every reader meets a warm cache."""
    os.sync()
    with open(path, "rb") as stream:
        while stream.read(1 << 24):
            pass


def _fmt_row(label: str, method: str, rows: int, size: int, result: dict) -> str:
    secs = result["seconds"]
    return (f"| {label:<10} | {method:<10} | {rows:>10,} | {size / 1e6:>9,.0f} | {secs:>8.2f} | "
            f"{rows / secs / 1e6:>9.2f} | {size / secs / 1e6:>8.0f} | {result['peak_rss'] / 2**20:>9,.0f} | "
            f"{result['kept']:>6,} |")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["_measure"]:
        _child(argv[1], argv[2])
        return 0
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=800_000, help="rows of the region-sized file (default 800k)")
    parser.add_argument("--factor", type=int, default=4, help="size of the larger file, in region files (default 4)")
    parser.add_argument("--all-region-rows", type=int, default=7_700_000,
                        help="rows of the all-region file, ours only (default 7.7M; 0 skips it)")
    parser.add_argument("--skip-baselines-on-large", action="store_true",
                        help="measure pandas/linefilter only on the 1x file")
    parser.add_argument("--workdir", type=Path, help="where to write the generated files (default: a temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the generated files")
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement; the best time is kept (default 3)")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="aws-price-list-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    print(f"# AWS price list parse benchmark  (python {sys.version.split()[0]}, {os.cpu_count()} cores)")
    print(f"# files in {workdir}; rows are GENERATED in the real column layout, not market data")
    print(f"# each measurement: {args.repeat} fresh subprocess(es), best time, largest peak RSS (VmHWM)\n")
    results: dict[tuple[str, str], dict] = {}
    sizes: dict[str, tuple[int, int]] = {}
    plan = [("1x", args.rows, ("ours", "pandas", "linefilter"), 1),
            (f"{args.factor}x", args.rows * args.factor,
             ("ours",) if args.skip_baselines_on_large else ("ours", "pandas", "linefilter"), 4)]
    if args.all_region_rows:
        plan.append(("all-region", args.all_region_rows, ("ours",), 8))
    header = ("| file       | reader     |       rows |        MB |        s |   Mrows/s |     MB/s | peak MiB |   kept |\n"
              "|------------|------------|-----------:|----------:|---------:|----------:|---------:|---------:|-------:|")
    lines = []
    try:
        for label, rows, methods, regions in plan:
            path = workdir / f"ec2_{label}.csv"
            started = time.perf_counter()
            size = write_price_list(path, rows, seed=args.seed, regions=regions)
            with open(path, "rb") as stream:
                real_rows = sum(chunk.count(b"\n") for chunk in iter(lambda: stream.read(1 << 24), b"")) - 6
            sizes[label] = (real_rows, size)
            _settle(path)
            print(f"generated {label}: {real_rows:,} rows, {size / 1e6:,.0f} MB in {time.perf_counter() - started:.0f} s",
                  flush=True)
            for method in methods:
                results[(label, method)] = measure(method, path, args.repeat)
                lines.append(_fmt_row(label, method, real_rows, size, results[(label, method)]))
                print(lines[-1], f" runs: {results[(label, method)]['all_seconds']}", flush=True)
            kept = {results[(label, m)]["kept"] for m in methods if m != "ours"}
            if len(kept) > 1:
                print(f"  ! baselines disagree on {label}: {kept}")
            if not args.keep:
                path.unlink()
    finally:
        if not args.keep and args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)

    print("\n" + header)
    print("\n".join(lines))
    print()
    verdicts = []
    big = f"{args.factor}x"
    for label in ("1x", big):
        ours = results[(label, "ours")]["seconds"]
        for base in ("pandas", "linefilter"):
            if (label, base) in results:
                ratio = results[(label, base)]["seconds"] / ours
                print(f"{label:>4}: ours is {ratio:5.1f}x faster than {base}")
                if base == "pandas":
                    verdicts.append((f"ours >= 5x faster than pandas at {label}", ratio >= 5))
    m1, m4 = results[("1x", "ours")]["peak_rss"], results[(big, "ours")]["peak_rss"]
    growth = m4 / m1 - 1
    print(f"ours peak memory 1x -> {big}: {m1 / 2**20:,.0f} -> {m4 / 2**20:,.0f} MiB ({growth:+.0%})")
    verdicts.append((f"ours peak memory within 20% between 1x and {big}", abs(growth) <= 0.20))
    if ("all-region", "ours") in results:
        peak = results[("all-region", "ours")]["peak_rss"]
        print(f"ours peak memory on the all-region size: {peak / 2**20:,.0f} MiB")
        verdicts.append(("ours under 1 GB on the all-region size", peak < 2**30))
    print()
    for what, ok in verdicts:
        print(f"[{'PASS' if ok else 'FAIL'}] {what}")
    return 0 if all(ok for _, ok in verdicts) else 1


if __name__ == "__main__":
    sys.exit(main())
