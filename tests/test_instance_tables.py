"""Why: instance -> GPU facts used to live in five modules and drifted (g7e existed only in the
AWS connector; Azure PCIe sizes read as SXM). They now live in one table per provider. These
tests pin that every table loads under its rules (canonical ids, link vocabularies, a source
page per row, no size listed twice), that the facts the cost model relies on (which sizes have
a multi-node fabric) are the documented ones, and that name resolution goes through the tables.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from market import instances
from market.gpu_names import canonical_gpu, known_gpu_ids
from market.instances import InstanceTableError, instance_facts, instance_table

TABLES = Path(instances.__file__).parent / "data" / "instances"


def test_every_table_loads_and_every_row_has_a_source():
    frame = instance_table()
    assert frame.height > 300
    assert set(frame["provider"]) >= {"aws", "azure", "gcp", "oci", "lambda", "verda", "nebius"}
    assert frame["source_url"].str.starts_with("https://").all()
    gpus = set(frame["gpu"].drop_nulls())
    assert gpus <= known_gpu_ids()


@pytest.mark.parametrize(
    "provider, instance_type, gpu, count, fabric",
    [
        ("aws", "p4d.24xlarge", "A100-SXM-40GB", 8, "efa"),
        ("aws", "p5.48xlarge", "H100-SXM-80GB", 8, "efa"),
        ("aws", "p5e.48xlarge", "H200-SXM-141GB", 8, "efa"),
        ("aws", "p6-b200.48xlarge", "B200-180GB", 8, "efa"),
        ("aws", "g6f.large", "L4-24GB", 0.125, "none"),
        ("gcp", "a3-megagpu-8g", "H100-SXM-80GB", 8, "cluster-network"),
        ("gcp", "a2-highgpu-8g", "A100-SXM-40GB", 8, "none"),
        ("azure", "Standard_ND96isr_H100_v5", "H100-SXM-80GB", 8, "infiniband"),
        ("azure", "Standard_ND96is_H100_v5", "H100-SXM-80GB", 8, "none"),
        ("azure", "Standard_NC96ads_A100_v4", "A100-PCIE-80GB", 4, "none"),
        ("azure", "NC80adis H100 v5", "H100-NVL-94GB", 2, "none"),
        ("oci", "BM.GPU.H100.8", "H100-SXM-80GB", 8, "roce"),
        ("lambda", "gpu_8x_h100_sxm5", "H100-SXM-80GB", 8, "none"),
        ("lambda", "gpu_4x_a100", "A100-PCIE-40GB", 4, "none"),
        ("verda", "2V100.10V", "V100-SXM-16GB", 2, None),
    ],
)
def test_documented_facts(provider, instance_type, gpu, count, fabric):
    facts = instance_facts(provider, instance_type)
    assert facts is not None, (provider, instance_type)
    assert (facts.gpu, facts.gpu_count, facts.inter_node_fabric) == (gpu, count, fabric)


def test_patterns_and_spellings():
    # Meter spellings and a family pattern resolve; an exact row wins over a pattern.
    assert instance_facts("azure", "ND96amsA100v4").gpu == "A100-SXM-80GB"
    assert instance_facts("aws", "g7e.12xlarge").gpu == "RTXPRO6000-96GB"
    assert instance_facts("aws", "g7e.12xlarge").gpu_count is None  # from the price list's row
    assert instance_facts("runpod", "8x_A100-80GB_SECURE").gpu == "A100-PCIE-80GB"
    assert instance_facts("runpod", "8x_A100-80GB-SXM_SECURE").gpu == "A100-SXM-80GB"
    assert instance_facts("aws", "m5.large") is None
    assert instance_facts("gcp", "p4d.24xlarge") is None  # a name is looked up in its provider's table


def test_names_resolve_through_the_tables():
    assert canonical_gpu("gpu_2x_a100") == "A100-PCIE-40GB"  # Lambda: "2x A100 (40 GB PCIe)"
    assert canonical_gpu("Standard_NC24ads_A100_v4") == "A100-PCIE-80GB"
    # Paperspace names its instances after GPUs; a bare "H100" is not read as its PCIe card.
    assert canonical_gpu("H100") == "H100-SXM-80GB"


def _write(tmp_path, rows):
    path = tmp_path / "t.csv"
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(instances.COLUMNS)
        writer.writerows(rows)
    return path.read_text()


@pytest.mark.parametrize(
    "row, message",
    [
        (["aws", "x.large", "H100-SXM-81GB", "8", "80", "nvswitch", "efa", "https://a", ""], "canonical id"),
        (["aws", "x.large", "H100-SXM-80GB", "0", "80", "nvswitch", "efa", "https://a", ""], "positive"),
        (["aws", "x.large", "H100-SXM-80GB", "8", "80", "nvlink4", "efa", "https://a", ""], "intra_node_link"),
        (["aws", "x.large", "H100-SXM-80GB", "8", "80", "nvswitch", "ethernet", "https://a", ""], "inter_node_fabric"),
        (["aws", "x.large", "H100-SXM-80GB", "8", "80", "nvswitch", "efa", "", ""], "source_url"),
    ],
)
def test_a_bad_row_is_a_clear_error(tmp_path, row, message):
    with pytest.raises(InstanceTableError, match=message):
        instances._read_file("t.csv", _write(tmp_path, [row]))


def test_every_table_file_is_read():
    files = sorted(p.stem for p in TABLES.glob("*.csv"))
    assert files == sorted(instances.providers_with_tables())


def test_no_connector_keeps_its_own_instance_to_gpu_table():
    """One table per fact: the connectors hand over names; the tables live in market/data."""
    root = Path(__file__).resolve().parent.parent / "connectors"
    for path in root.glob("*.py"):
        text = path.read_text()
        for marker in ("_FAMILIES", "GPU_MEMORY_GB", "_GPU_BY_TOKEN", "PCIE_WHEN_BARE", "LAMBDA_PCIE_INSTANCES", "GPU_KEYS"):
            assert marker not in text, f"{path.name} defines {marker}"
