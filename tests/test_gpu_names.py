"""One name per GPU, checked against every GPU name in the real shared data.

Why this exists: a price is only comparable once its GPU has a canonical id with a spec row.
Sources spell the same GPU many ways (``H100``, ``H100-SXM``, ``nvidia-h100-80gb``,
``NVIDIA H100 80GB HBM3``, ``ND96isr_H100_v5``, ``p5.48xlarge``) and some spellings are
ambiguous (a bare ``A100``; Lambda's ``RTX6000`` is a Turing Quadro, GCP's is an RTX PRO 6000).
These tests read the files in ../shared/data directly (SkyPilot catalogs, Azure retail
records, GCP accelerator ids and price keys, AWS instance records, gpuhunt / becloudready
payloads, Epoch AI, United Compute file names) and require every GPU name to map to a
canonical id that has a row in market/data/gpu_specs.csv, or to be in an explicit,
justified "known unmapped" list. They also pin the documented defaults and the bar of the
issue: at least 95 % of the SkyPilot + Azure GPU rows map to a GPU with specs.
"""

from __future__ import annotations

import ast
import csv
import json
import re
from pathlib import Path

import pytest

from market.gpu_names import (
    FAMILIES,
    canonical_gpu,
    curated_aliases,
    normalise_alias,
)
from market.specs import load_curated_specs

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
# Only the tests that read ../shared/data skip without it; the pure cases below always run.
needs_shared = pytest.mark.skipif(not SHARED.is_dir(), reason=f"shared data not found at {SHARED}")

SPEC_IDS = set(load_curated_specs()["gpu"].to_list())

# Canonical ids we resolve to on purpose but keep no spec row for, with the reason. Offers of
# these land with a gpu but no cost metrics (view gpus_without_specs).
KNOWN_WITHOUT_SPECS: dict[str, str] = {
    "K520-4GB": "GRID K520 (AWS g2, retired 2021): graphics part, no ML use",
    "M2050-3GB": "Tesla M2050 (AWS cg1, retired): pre-Kepler",
    "INFERENTIA-8GB": "AWS Inferentia 1 (inf1): inference ASIC, AWS publishes no per-chip FLOPS table",
    "GAUDI-32GB": "Gaudi 1 HL-205 (AWS dl1, retired): no dense BF16 figure we could source",
    "RADEON-PRO-V520-8GB": "AWS g4ad graphics part; no sourced compute figures",
    "P40-24GB": "Azure ND v1 (retired); Pascal inference card",
    "GB300-288GB": "Azure ND GB300 v6 / Epoch: no curated row yet (B300 figures are close)",
    "QUADRO-M4000-8GB": "Paperspace Quadro M4000: graphics part",
    "QUADRO-P4000-8GB": "Paperspace Quadro P4000: graphics part",
    "RTXA2000-12GB": "Vast RTX A2000: small workstation card",
    "RTX3060-12GB": "Vast consumer card",
    "RTX3060-8GB": "Vast consumer card",
    "RTX3070-8GB": "Vast consumer card",
    "RTX3080-10GB": "Vast consumer card",
    "RTX3080-12GB": "Vast consumer card",
    "RTX4060-8GB": "Vast consumer card",
    "RTX4060-16GB": "Vast consumer card (4060 Ti 16 GB)",
    "RTX4070-12GB": "Vast consumer card",
    "RTX5060-8GB": "Vast consumer card",
    "GTX1660S-6GB": "Vast consumer card, no tensor cores",
    "TPU-V2": "SkyPilot lists tpu-v2; Google no longer sells it",
    "P100-PCIE-12GB": "Epoch row only; clouds sold the 16 GB card",
    "P100-SXM-16GB": "Epoch row only; clouds sold PCIe P100s",
    "V100S-PCIE-32GB": "Epoch row only",
    "A800-PCIE-40GB": "Epoch row only",
    "A800-SXM-80GB": "Epoch row only",
    "H20-96GB": "Epoch row only (China export part)",
    "L2-24GB": "Epoch row only (China export part)",
    "L20-48GB": "Epoch row only (China export part)",
    "B100-192GB": "Epoch row only; not sold by clouds",
    "MI350X-288GB": "Epoch row only; clouds sell the MI355X",
    "TRAINIUM3-144GB": "Epoch row only; no curated row yet",
    "RTX4080-16GB": "Epoch row only (consumer)",
    "RTX3090TI-24GB": "Epoch row only (consumer)",
    "RTX2080TI-11GB": "Epoch row only (consumer)",
    "QUADRO-RTX4000-8GB": "Epoch row only",
    "QUADRO-RTX8000-48GB": "Epoch row only",
}

# Raw names that resolve to nothing on purpose (normalised alias -> reason).
KNOWN_UNMAPPED: dict[str, str] = {
    "STANDARD NP10S": "Azure NP series: Xilinx FPGA, counted as 'GPUs' by the TES size table",
    "STANDARD NP20S": "Azure NP series: Xilinx FPGA",
    "STANDARD NP40S": "Azure NP series: Xilinx FPGA",
    # Retail Prices meter of the "NDSv2" product; no Microsoft Learn size page names it, so the
    # Azure instance table does not list it and it stays unmapped (visible in unmapped_gpus).
    "NDMR40S V2": "Azure NDmr40s v2: undocumented size, not in market/data/instances/azure.csv",
}


def _check(name: str, memory: float | None = None) -> str | None:
    """The id, asserting it has specs or is a known exception; returns the id."""
    gpu = canonical_gpu(name, memory)
    if gpu is None:
        assert normalise_alias(name) in KNOWN_UNMAPPED, f"{name!r} (memory {memory}) maps to nothing"
    elif gpu not in SPEC_IDS:
        assert gpu in KNOWN_WITHOUT_SPECS, f"{name!r} -> {gpu} has no spec row and is not a known exception"
    return gpu


# --- the shared data, read directly -------------------------------------------------------------

def _gpuinfo(text: str) -> tuple[str | None, float | None]:
    """(name, memory per GPU in MiB or GB as stored) from any of SkyPilot's GpuInfo spellings."""
    text = (text or "").strip()
    if not text:
        return None, None
    if not text.startswith("{"):
        return text, None  # paperspace / runpod: the bare name
    try:
        info = json.loads(text)
    except json.JSONDecodeError:
        info = ast.literal_eval(text.replace("null", "None"))
    info = {k.lower(): v for k, v in info.items()}
    first = {k.lower(): v for k, v in (info.get("gpus") or [{}])[0].items()}
    memory = {k.lower(): v for k, v in (first.get("memoryinfo") or {}).items()}.get("sizeinmib")
    return first.get("name"), float(memory) if memory else None


def skypilot_rows() -> list[tuple[str, str, float | None]]:
    rows = []
    for path in sorted((SHARED / "skypilot-catalog").rglob("vms@*.csv")):
        with path.open(newline="", encoding="utf-8") as handle:
            for record in csv.DictReader(handle):
                accel = (record.get("AcceleratorName") or "").strip()
                if not accel:
                    continue
                info_name, memory = _gpuinfo(record.get("GpuInfo") or "")
                rows.append((path.parent.name, accel, memory))
                if info_name and info_name != accel:
                    rows.append((path.parent.name + ":gpuinfo", info_name, memory))
    return rows


def azure_radar_records() -> list[dict]:
    records = []
    for path in sorted((SHARED / "azure" / "azure-pricing-radar").glob("vm-*_gpu_*.json")):
        records.extend(json.loads(path.read_text()).values())
    return records


def azure_size(record: dict) -> str:
    return re.sub(r"\s+(Spot|Low Priority)$", "", record["skuName"])


# --- tests ----------------------------------------------------------------------------------

def test_canonical_ids_resolve_to_themselves():
    for gpu in SPEC_IDS:
        assert canonical_gpu(gpu) == gpu, gpu
    for variants in FAMILIES.values():
        for variant in variants:
            assert canonical_gpu(variant.gpu) == variant.gpu, variant.gpu


@needs_shared
def test_every_skypilot_accelerator_name_maps():
    rows = skypilot_rows()
    assert len(rows) > 1500
    for cloud, name, memory in rows:
        _check(name, memory)
    with (SHARED / "skypilot-catalog" / "v8" / "common" / "accelerators@001ca549.csv").open() as f:
        common = [r["AcceleratorName"] for r in csv.DictReader(f)]
    assert len(common) == 60
    for name in common:
        _check(name)
    assert canonical_gpu("T4g") == "T4-16GB"  # AWS g5g: the T4 chip for Arm hosts


@needs_shared
def test_every_azure_size_maps():
    """Each radar skuName through the name layer, and every size the Azure instance table
    (market/data/instances/azure.csv) knows through it too: the table and the names agree."""
    from market.instances import instance_facts

    records = azure_radar_records()
    assert len(records) > 800
    for record in records:
        gpu = _check(azure_size(record))
        facts = instance_facts("azure", azure_size(record))
        if facts is not None:
            assert gpu == facts.gpu, (azure_size(record), gpu, facts.gpu)


@needs_shared
def test_azure_batch_sizes():
    # Every GPU size in Microsoft's own TES size tables maps (the Azure connector hands over the
    # size; its productName family is only a label, the instance table decides).
    for path in sorted((SHARED / "azure" / "microsoft-ga4gh-tes").glob("*.json")):
        for size in json.loads(path.read_text()):
            _check(size["VmSize"])


@needs_shared
def test_gcp_accelerator_ids_price_keys_and_machine_types():
    lines = (SHARED / "gcp" / "cyclenerd-pricing" / "acceleratortyperegion.csv").read_text().splitlines()
    names = {line.split(";")[0] for line in lines[1:] if line.strip()}
    assert "nvidia-h100-mega-80gb" in names and "ct5lp" in names
    for name in names:
        _check(name)
    try:
        from connectors.gcp_pricing_yml import GPU_KEYS
    except ImportError:
        GPU_KEYS = {"a100": 40.0, "a100-80gb": 80.0, "h100-80gb": 80.0, "h100-80gb-mega": 80.0,
                    "l4": 24.0, "rtx6000": 96.0}
    machine_types = set()
    for path in (SHARED / "gcp" / "cyclenerd-pricing").glob("pricing_gpu-machine-types_*.yml"):
        text = path.read_text()
        for key in re.findall(r"^      ([a-z0-9-]+): \d+$", text, re.M):
            if key in ("cpu", "ram", "local-ssd", "bandwidth"):
                continue
            _check(key, GPU_KEYS.get(key))
        machine_types.update(re.findall(r"^    ([a-z]\d+x?-[a-z]+-\d+g?):$", text, re.M))
    assert machine_types
    for machine in machine_types:
        _check(machine)
    assert canonical_gpu("rtx6000", GPU_KEYS.get("rtx6000")) == "RTXPRO6000-96GB"  # GCP g4


@needs_shared
def test_aws_names():
    selector = SHARED / "aws" / "amazon-ec2-instance-selector"
    for path in selector.glob("DescribeInstanceTypes__*.json"):
        for item in json.loads(path.read_text())["InstanceTypes"]:
            for gpu in (item.get("GpuInfo") or {}).get("Gpus", []):
                memory = gpu.get("MemoryInfo", {}).get("SizeInMiB")
                _check(gpu["Name"], memory)
                _check(item["InstanceType"])
            for accel in (item.get("InferenceAcceleratorInfo") or {}).get("Accelerators", []):
                _check(accel["Name"])
    for path in (SHARED / "aws" / "ec2instances-info-history").glob("*.json"):
        data = json.loads(path.read_text())
        for item in data if isinstance(data, list) else data.values():
            _check(item["instance_type"])
    assert canonical_gpu("p5.48xlarge") == "H100-SXM-80GB"  # amorton45 price series
    assert canonical_gpu("p4d.24xlarge") == "A100-SXM-40GB"  # opencost price-list excerpt
    assert canonical_gpu("m5.large") is None  # a CPU instance is no GPU


@needs_shared
def test_marketplace_and_aggregator_names():
    excerpts = SHARED / "gpuhunt" / "test-payload-excerpts"
    found: list[tuple[str, float | None]] = []
    jarvis = json.loads((excerpts / "jarvislabs_server_meta_excerpt.json").read_text())["server_meta"]
    found += [(r["gpu_type"], float(r["vram"])) for r in jarvis]
    vultr = json.loads((excerpts / "vultr_v2_plans_excerpt.json").read_text())["plans"]
    found += [(r["gpu_type"], None) for r in vultr]
    found += [(p["id"], None) for p in json.loads((excerpts / "vultr_v2_plans-metal_excerpt.json").read_text())["plans_metal"]]
    seeweb = json.loads((excerpts / "seeweb_plans_excerpt.json").read_text())["plans"]
    found += [(p["gpu_label"], None) for p in seeweb if p["gpu_label"]]
    for size in json.loads((excerpts / "digitalocean_v2_sizes_excerpt.json").read_text())["sizes"]:
        if size.get("gpu_info"):
            found.append((size["gpu_info"]["model"], None))
    for item in json.loads((excerpts / "verda_instance_types_excerpt.json").read_text()):
        if not (item.get("gpu") or {}).get("number_of_gpus"):
            continue  # CPU instance types ("AMD EPYC")
        found += [(item["name"], None), (item["model"], None), (item["gpu"]["description"], None)]
    availability = json.loads((excerpts / "verda_instance_availability_excerpt.json").read_text())
    found += [(n, None) for loc in availability for n in loc["availabilities"] if not n.startswith("CPU")]
    found += [(k, None) for k in json.loads((SHARED / "gpuhunt" / "tpu_pricing.json").read_text())]
    for path in (SHARED / "becloudready-gpu-price").glob("*.json"):
        found += [(r["gpuModel"], None) for r in json.loads(path.read_text())]
    found += [(p.stem, None) for p in (SHARED / "united-compute-hw-prices").glob("*.json")]
    shapes = json.loads((SHARED / "opencost" / "oci_shape_part_numbers.json").read_text())
    found += [(shape, None) for shape, parts in shapes.items() if parts.get("GPU")]
    assert len(found) > 600
    for name, memory in found:
        _check(name, memory)


# Epoch AI names of GPUs we track -> the canonical id their figures are compared with.
EPOCH_EXPECTED = {
    "NVIDIA H100 SXM5 80GB": "H100-SXM-80GB",
    "NVIDIA H100 PCIe": "H100-PCIE-80GB",
    "NVIDIA H100 NVL": "H100-NVL-94GB",
    "NVIDIA H200 SXM": "H200-SXM-141GB",
    "NVIDIA H800 SXM5": "H800-SXM-80GB",
    "NVIDIA GH200": "GH200-96GB",
    "NVIDIA B200": "B200-180GB",
    "NVIDIA GB200": "GB200-186GB",
    "NVIDIA B300 (Blackwell Ultra)": "B300-288GB",
    "NVIDIA A100": "A100-SXM-40GB",
    "NVIDIA A100 SXM4 40 GB": "A100-SXM-40GB",
    "NVIDIA A100 SXM4 80 GB": "A100-SXM-80GB",
    "NVIDIA A100 PCIe": "A100-PCIE-40GB",
    "NVIDIA A800 PCIe 80 GB": "A800-PCIE-80GB",
    "NVIDIA A10 PCIe": "A10-24GB",
    "NVIDIA A10G": "A10G-24GB",
    "NVIDIA A40 PCIe": "A40-48GB",
    "NVIDIA L4": "L4-24GB",
    "NVIDIA L40": "L40-48GB",
    "NVIDIA Tesla T4": "T4-16GB",
    "NVIDIA Tesla V100 SXM2 16 GB": "V100-SXM-16GB",
    "NVIDIA Tesla V100 SXM2 32 GB": "V100-SXM-32GB",
    "NVIDIA Tesla V100 PCIe 16 GB": "V100-PCIE-16GB",
    "NVIDIA Tesla V100 PCIe 32 GB": "V100-PCIE-32GB",
    "NVIDIA Tesla P100 PCIe 16GB": "P100-PCIE-16GB",
    "NVIDIA Tesla P4": "P4-8GB",
    "NVIDIA Tesla K80": "K80-12GB",
    "NVIDIA TESLA M60": "M60-8GB",
    "NVIDIA GeForce RTX 4090": "RTX4090-24GB",
    "NVIDIA GeForce RTX 3090": "RTX3090-24GB",
    "NVIDIA RTX 6000 Ada Generation": "RTX6000ADA-48GB",
    "NVIDIA RTX A6000": "RTXA6000-48GB",
    "NVIDIA RTX A5000": "RTXA5000-24GB",
    "NVIDIA RTX A4000": "RTXA4000-16GB",
    "NVIDIA Quadro RTX 6000": "QUADRO-RTX6000-24GB",
    "AMD Radeon Instinct MI250X": "MI250X-128GB",
    "AMD Instinct MI300X": "MI300X-192GB",
    "AMD Instinct MI325X": "MI325X-256GB",
    "AMD Instinct MI355X": "MI355X-288GB",
    "Google TPU v3": "TPU-V3",
    "Google TPU v4": "TPU-V4",
    "Google TPU v5e": "TPU-V5E",
    "Google TPU v5p": "TPU-V5P",
    "Google TPU v6e Trillium": "TPU-V6E",
    "Google TPU v7 Ironwood": "TPU-V7X",
    "Amazon Trainium1": "TRAINIUM-32GB",
    "Amazon Trainium2": "TRAINIUM2-96GB",
    "AWS Inferentia2": "INFERENTIA2-32GB",
    "Intel Habana Gaudi2": "GAUDI2-96GB",
    "Intel Habana Gaudi3": "GAUDI3-128GB",
    # Same family, different product: must not borrow a tracked GPU's id.
    "NVIDIA Tesla V100 DGXS 16 GB": None,
    "NVIDIA GH100": None,
    "Google TPU v4i": None,
    "AMD Instinct MI300A": None,
    "NVIDIA GeForce RTX 3090 Ti": "RTX3090TI-24GB",
}


@needs_shared
def test_epoch_names():
    path = SHARED / "epoch-ai" / "ml_hardware_2026-04-22.csv"
    with path.open(newline="", encoding="utf-8") as handle:
        records = list(csv.DictReader(handle))
    names = {r["Hardware name"].strip(): (r["Manufacturer"] or "") for r in records}
    for name, expected in EPOCH_EXPECTED.items():
        assert name in names, f"{name!r} is no longer in the Epoch file"
        assert canonical_gpu(name) == expected, name
    tracked_vendors = ("NVIDIA", "AMD", "Google", "Amazon AWS", "Intel")
    for name, vendor in names.items():
        gpu = canonical_gpu(name)
        if vendor not in tracked_vendors:
            # "Maia 100", "MTIA 100", "BI-V100" must not read as A100 / V100.
            assert gpu is None, f"{name!r} ({vendor}) wrongly maps to {gpu}"
        elif gpu is not None and gpu not in SPEC_IDS:
            assert gpu in KNOWN_WITHOUT_SPECS, (name, gpu)


@pytest.mark.parametrize(
    ("name", "memory", "expected"),
    [
        # bare names: the documented defaults
        ("H100", None, "H100-SXM-80GB"),
        ("H100", 81920, "H100-SXM-80GB"),
        ("H100", 95830, "H100-NVL-94GB"),  # Vast lists the NVL as "H100" with 93.6 GiB
        ("A100", None, "A100-SXM-40GB"),
        ("A100", 80, "A100-SXM-80GB"),
        ("A100-80GB", None, "A100-SXM-80GB"),
        ("V100", None, "V100-SXM-16GB"),
        ("GH200", 98304, "GH200-96GB"),
        ("GH200", 144, "GH200-144GB"),
        ("RTX6000", 24576, "QUADRO-RTX6000-24GB"),
        ("RTX6000", None, "QUADRO-RTX6000-24GB"),
        ("RTX6000", 48, "RTX6000ADA-48GB"),
        ("rtx6000", 96, "RTXPRO6000-96GB"),
        # form factor in the name wins over the default
        ("H100_PCIE_80GB::1", None, "H100-PCIE-80GB"),
        ("H100-NVLINK", None, "H100-SXM-80GB"),
        ("H100-80G-PCIe-NVLink", 81920, "H100-PCIE-80GB"),
        ("A100-80G-PCIe", None, "A100-PCIE-80GB"),
        ("NVIDIA_H100_PCIe_96_GB", None, "H100-NVL-94GB"),
        ("NVIDIA A100-SXM4-80GB", None, "A100-SXM-80GB"),
        ("gpu_1x_a100", 40960, "A100-PCIE-40GB"),
        ("gpu_8x_a100_80gb_sxm4", None, "A100-SXM-80GB"),
        # datasheet / marketplace spellings
        ("NVIDIA H100 80GB HBM3", None, "H100-SXM-80GB"),
        ("NVIDIA GeForce RTX 4090", None, "RTX4090-24GB"),
        ("RTX 6000 Ada", None, "RTX6000ADA-48GB"),
        ("A100 SXM4", None, "A100-SXM-40GB"),
        ("AMD Instinct MI300X OAM", None, "MI300X-192GB"),
        ("RTXPRO6000WS", None, "RTXPRO6000-96GB"),
        # cloud ids and instance names
        ("nvidia-h100-mega-80gb", None, "H100-SXM-80GB"),
        ("nvidia-tesla-a100", None, "A100-SXM-40GB"),
        ("ct5lp", None, "TPU-V5E"),
        ("tpu-v5litepod", None, "TPU-V5E"),
        ("a3-megagpu-8g", None, "H100-SXM-80GB"),
        ("p4de.24xlarge", None, "A100-SXM-80GB"),
        ("g5.xlarge", None, "A10G-24GB"),
        ("Standard_NC24ads_A100_v4", None, "A100-PCIE-80GB"),
        ("Standard_ND96amsr_A100_v4 Spot", None, "A100-SXM-80GB"),
        ("ND96asrA100v4_NU", None, "A100-SXM-40GB"),
        ("NC6s v3", None, "V100-PCIE-16GB"),
        ("NC40ads H100 v5", None, "H100-NVL-94GB"),
        ("BM.GPU.A100-v2.8", None, "A100-SXM-80GB"),
        ("BM.GPU4.8", None, "A100-SXM-40GB"),
        # nothing to map
        (None, None, None),
        ("", 80, None),
        ("Huawei Ascend 910B", None, None),
        ("Standard_NP10s", None, None),
    ],
)
def test_documented_resolutions(name, memory, expected):
    assert canonical_gpu(name, memory) == expected


def test_normalise_alias_is_a_spelling_key():
    assert normalise_alias("nvidia-h100-80gb") == "NVIDIA H100 80GB"
    assert normalise_alias(" NVIDIA_H100  80GB ") == "NVIDIA H100 80GB"
    assert normalise_alias(None) == ""


def test_curated_aliases_point_at_spec_rows():
    pairs = curated_aliases()
    assert len(pairs) > 80
    aliases = [a for a, _ in pairs]
    assert len(aliases) == len(set(aliases))
    for alias, gpu in pairs:
        assert alias == normalise_alias(alias)
        assert gpu in SPEC_IDS or gpu in KNOWN_WITHOUT_SPECS, (alias, gpu)


@needs_shared
def test_share_of_skypilot_and_azure_rows_with_specs():
    """The issue's bar: >= 95 % of GPU rows map to a canonical GPU that has a spec row."""
    rows = [(name, memory) for cloud, name, memory in skypilot_rows() if not cloud.endswith(":gpuinfo")]
    rows += [(azure_size(r), None) for r in azure_radar_records()]
    with_specs = sum(canonical_gpu(n, m) in SPEC_IDS for n, m in rows)
    share = with_specs / len(rows)
    assert share >= 0.95, f"only {share:.1%} of {len(rows)} rows map to a GPU with specs"
