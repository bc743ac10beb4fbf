"""Why: `market.identity.resolve` is the one place that decides which GPU a price-list row is.
Each rule of issue 8 is pinned here on the evidence that broke it: a count that disagrees with
the instance table, memory given as a node total, a per-GPU figure no card of the family has,
PCIe named only by a vendor id, fractional GPUs, TPU slices counted as one, a bare name that
must fall back on (and say) its default, and names that map to nothing.
"""

from __future__ import annotations

import pytest

from market.identity import Evidence, resolve, tpu_slice_chips


def test_the_instance_table_corrects_a_count_and_says_so():
    ident = resolve(Evidence("lambda", "H100", "gpu_8x_h100_sxm5", gpu_count=12))
    assert (ident.gpu, ident.gpu_count, ident.basis) == ("H100-SXM-80GB", 8, "instance table")
    assert "the row says 12 GPUs; corrected to the table's 8" in ident.note


def test_the_instance_table_knows_pcie_where_the_name_does_not():
    assert resolve(Evidence("azure", "A100-80GB", "Standard_NC24ads_A100_v4", 1)).gpu == "A100-PCIE-80GB"
    assert resolve(Evidence("azure", "NCadsH100v5", "NC40ads H100 v5")).gpu == "H100-NVL-94GB"
    assert resolve(Evidence("runpod", "H100", "1x_H100_SECURE", 1)).gpu == "H100-PCIE-80GB"


def test_a_total_is_divided_by_the_count_when_only_that_reading_fits():
    ident = resolve(Evidence("somecloud", "H100", "2x", gpu_count=2, memory_gb=160.0))
    assert ident.gpu == "H100-SXM-80GB" and ident.gpu_memory_gb == 80.0
    assert "160 GB read as the total of 2 GPUs" in ident.note
    b300 = resolve(Evidence("somecloud", "B300", "8x", gpu_count=8, memory_gb=2100.0))
    assert b300.gpu == "B300-288GB" and b300.rejection is None
    # Declared totals are divided even when the per-GPU reading would also fit a variant.
    a100 = resolve(Evidence("somecloud", "A100", "2x", gpu_count=2, memory_gb=80.0, memory_is_total=True))
    assert a100.gpu == "A100-SXM-40GB"


def test_memory_above_every_card_of_the_family_is_rejected():
    ident = resolve(Evidence("vastai", "RTX4090", "1x-RTX_4090", gpu_count=1, memory_gb=48.0, memory_is_total=True))
    assert ident.gpu is None
    assert ident.rejection == "per-GPU memory 48 GB is above any known RTX4090 (largest 24 GB)"


def test_a_vendor_id_saying_pcie_decides_the_form():
    ident = resolve(Evidence("primeintellect", "A100-80GB", "oblivus__1xA100_80GB__28__120", 1, 80.0,
                             vendor_gpu_id="A100_PCIE_80GB", underlying_provider="oblivus"))
    assert (ident.gpu, ident.basis) == ("A100-PCIE-80GB", "row evidence")
    assert "form PCIE from the vendor id" in ident.note


def test_an_upstream_instance_id_finds_the_underlying_clouds_table():
    ident = resolve(Evidence("primeintellect", "A100", "lambdalabs__2xA100", 2, 80.0,
                             vendor_gpu_id="gpu_2x_a100", underlying_provider="lambda"))
    assert (ident.gpu, ident.basis) == ("A100-PCIE-40GB", "instance table")


def test_fractional_gpus_stay_fractions_and_are_flagged():
    ident = resolve(Evidence("aws", "L4", "g6f.large", 0.125))
    assert ident.gpu_count == 0.125 and ident.fractional and "never used to build clusters" in ident.note
    vultr = resolve(Evidence("vultr", "A100", "vcg-a100-1c-6g-4vram", None, 4.0, memory_is_total=True))
    assert vultr.gpu_count == pytest.approx(0.05) and vultr.fractional


def test_tpu_slices_count_chips():
    assert tpu_slice_chips("tpu-v5p-1280") == (640, "tpu-v5p-1280 = 1280 TensorCores = 640 chips (2 TensorCores per v5p chip)")
    assert tpu_slice_chips("tpu-v5litepod-8")[0] == 8
    ident = resolve(Evidence("gcp", "tpu-v5p-1280", "tpu-v5p-1280:1", 1))
    assert (ident.gpu, ident.gpu_count) == ("TPU-V5P", 640)


def test_the_name_default_is_the_last_resort_and_says_so():
    ident = resolve(Evidence("somecloud", "H100", None, 8))
    assert (ident.gpu, ident.basis) == ("H100-SXM-80GB", "name default")
    assert "does not say its form SXM" in ident.note
    pcie = resolve(Evidence("somecloud", "H100 PCIe", None, 1))
    assert (pcie.gpu, pcie.basis) == ("H100-PCIE-80GB", "row evidence")


def test_implausible_counts_and_unknown_counts_are_rejected():
    assert "implausible GPU count 24" in resolve(Evidence("somecloud", "L40S", "x", 24)).rejection
    assert "GPU count unknown" in resolve(Evidence("azure", "NDsrH100v6", "Standard_ND96isr_H100_v6")).rejection


def test_names_that_map_to_nothing_are_unmapped_not_guessed():
    assert resolve(Evidence("vastai", "Mystery X1", None, 1)).unmapped
    assert resolve(Evidence("aws", "Qualcomm AI100", "dl2q.24xlarge", 8)).unmapped  # known, not tracked
    assert resolve(Evidence("somecloud", "Huawei Ascend 910B", None, 8)).unmapped
