"""One name per GPU: every spelling seen in the wild -> one canonical id.

Canonical id scheme
-------------------
``<MODEL>[-<FORM>]-<MEMORY>GB``, upper case, e.g. ``H100-SXM-80GB``, ``L40S-48GB``.

* ``MODEL`` is the marketing model without vendor words: ``H100``, ``A10G``, ``RTX4090``,
  ``RTXA6000`` (Ampere workstation), ``RTX6000ADA``, ``RTXPRO6000`` (Blackwell),
  ``QUADRO-RTX6000`` (Turing, what Lambda calls "RTX6000"), ``MI300X``, ``GAUDI3``,
  ``TRAINIUM2``.
* ``FORM`` (``SXM`` | ``PCIE`` | ``NVL``) only for models sold in more than one form factor
  (V100, P100, A100, A800, H100, H200, H800), because the form changes power, memory
  bandwidth, NVLink and so price and speed. Single-form models omit it (``B200-180GB``).
* ``MEMORY`` is the per-GPU memory as the vendor sells it (B200: 180, not the 192 of the die).
  K80 and M60 are dual-GPU boards; clouds count each GPU, so their ids are per GPU (12 / 8 GB).
* Google TPUs are sold per chip of one fixed size per generation: ``TPU-V5E``, ``TPU-V6E``.

Defaults where a source is ambiguous (decided by what clouds actually sell)
-------------------------------------------------------------------------
* Bare ``H100`` / ``H200`` / ``H800`` -> SXM. The volume of cloud H100s is HGX (SXM5) nodes:
  AWS p5, GCP a3, Azure ND H100 v5, OCI BM.GPU.H100.8, Lambda/Nebius/DigitalOcean 8x nodes.
  A PCIe card is named so by every source that sells one (Lambda ``gpu_1x_h100_pcie``,
  Fluidstack ``H100_PCIE_80GB``, RunPod "H100 PCIe", Hyperstack ``H100-80G-PCIe``).
  Memory 94-96 GB -> NVL (the only 94 GB H100). Caveat: RunPod's SkyPilot name ``H100``
  (beside ``H100-SXM``) is the PCIe card; a RunPod connector should pass "H100 PCIe".
* Bare ``A100`` -> SXM4, 40 GB unless memory says 80 (SkyPilot's convention: ``A100`` = 40 GB,
  ``A100-80GB``). GCP a2 (nvidia-tesla-a100 / nvidia-a100-80gb), AWS p4d/p4de, Azure ND(m)
  A100 v4, Lambda 8x nodes and OCI BM.GPU4.8 / A100-v2 are all SXM4. PCIe is named as such
  (Hyperstack, Fluidstack ``A100_PCIE_80GB``, Azure NC A100 v4 below). Same caveat for
  RunPod's ``A100-80GB`` (PCIe) beside ``A100-80GB-SXM``.
* Bare ``V100`` -> SXM2 16 GB (AWS p3, GCP, Lambda, Azure NDv2); Azure NCv3 SKUs map to PCIe.
* Bare ``RTX6000`` -> by memory: 24 GB Quadro RTX 6000 (Lambda), 48 GB RTX 6000 Ada,
  96 GB RTX PRO 6000 (GCP g4 calls it ``rtx6000`` in its price list); no memory -> Quadro
  (SkyPilot's meaning of the name).
* ``GH200`` -> 96 GB HBM3 unless memory says 144; ``NVLINK`` alone (Fluidstack
  ``H100_NVLINK_80GB``) means an HGX/SXM node; ``PCIe ... NVLink`` is a bridged PCIe card.
* Memory hints are matched within 12 %; values above 1,000 are read as MiB (SkyPilot's
  ``SizeInMiB``). A hint that fits no variant (a node total, a vGPU slice) is ignored.

Besides GPU names this module understands instance names that imply one GPU, by looking them
up in the instance tables (``market/data/instances/<provider>.csv``, loaded by
``market.instances``: AWS ``p4d.24xlarge``, GCP ``a3-highgpu-8g``, Azure
``Standard_ND96amsr_A100_v4`` / ``NC40ads H100 v5``, OCI ``BM.GPU4.8``, Lambda
``gpu_1x_a100``, ...), and, for sizes the tables do not hold yet, by the grammar of Azure size
and OCI shape names. Names that resolve to nothing return ``None``.

This is the name layer. Deciding what one *row* of a price list is (its count, per-GPU
memory, form factor, and how we know) is ``market.identity.resolve``, which calls this module.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache


@dataclass(frozen=True)
class Variant:
    form: str | None  # SXM | PCIE | NVL | None (single-form model)
    memory_gb: float | None
    gpu: str


def _v(gpu: str, form: str | None = None, memory_gb: float | None = None) -> Variant:
    if memory_gb is None:
        found = re.search(r"-(\d+)GB$", gpu)
        memory_gb = float(found.group(1)) if found else None
    return Variant(form, memory_gb, gpu)


# Family -> variants in order of preference: the first variant that fits the form and memory
# hints wins, so the first entry is the default for a bare name.
FAMILIES: dict[str, list[Variant]] = {
    # NVIDIA data centre
    "B300": [_v("B300-288GB")],
    "GB300": [_v("GB300-288GB")],
    "B200": [_v("B200-180GB")],
    "GB200": [_v("GB200-186GB")],
    "B100": [_v("B100-192GB")],
    "GH200": [_v("GH200-96GB"), _v("GH200-144GB")],
    "H200": [_v("H200-SXM-141GB", "SXM"), _v("H200-NVL-141GB", "NVL")],
    "H100": [_v("H100-SXM-80GB", "SXM"), _v("H100-PCIE-80GB", "PCIE"), _v("H100-NVL-94GB", "NVL")],
    "H800": [_v("H800-SXM-80GB", "SXM"), _v("H800-PCIE-80GB", "PCIE")],
    "H20": [_v("H20-96GB")],
    "A100": [
        _v("A100-SXM-40GB", "SXM"),
        _v("A100-SXM-80GB", "SXM"),
        _v("A100-PCIE-40GB", "PCIE"),
        _v("A100-PCIE-80GB", "PCIE"),
    ],
    "A800": [_v("A800-PCIE-80GB", "PCIE"), _v("A800-PCIE-40GB", "PCIE"), _v("A800-SXM-80GB", "SXM")],
    "A10G": [_v("A10G-24GB")],
    "A10": [_v("A10-24GB")],
    "A16": [_v("A16-16GB")],
    "A30": [_v("A30-24GB")],
    "A40": [_v("A40-48GB")],
    "L40S": [_v("L40S-48GB")],
    "L40": [_v("L40-48GB")],
    "L20": [_v("L20-48GB")],
    "L4": [_v("L4-24GB")],
    "L2": [_v("L2-24GB")],
    "T4": [_v("T4-16GB")],
    "V100S": [_v("V100S-PCIE-32GB", "PCIE")],
    "V100": [
        _v("V100-SXM-16GB", "SXM"),
        _v("V100-SXM-32GB", "SXM"),
        _v("V100-PCIE-16GB", "PCIE"),
        _v("V100-PCIE-32GB", "PCIE"),
    ],
    "P100": [_v("P100-PCIE-16GB", "PCIE"), _v("P100-PCIE-12GB", "PCIE"), _v("P100-SXM-16GB", "SXM")],
    "P40": [_v("P40-24GB")],
    "P4": [_v("P4-8GB")],
    "K80": [_v("K80-12GB")],
    "M60": [_v("M60-8GB")],
    "K520": [_v("K520-4GB")],
    "M2050": [_v("M2050-3GB")],
    # NVIDIA workstation
    "RTXPRO6000": [_v("RTXPRO6000-96GB")],
    "RTX6000ADA": [_v("RTX6000ADA-48GB")],
    "RTX4000ADA": [_v("RTX4000ADA-20GB")],
    "RTX6000": [_v("QUADRO-RTX6000-24GB"), _v("RTX6000ADA-48GB"), _v("RTXPRO6000-96GB")],
    "QUADRORTX6000": [_v("QUADRO-RTX6000-24GB")],
    "QUADRORTX8000": [_v("QUADRO-RTX8000-48GB")],
    "QUADRORTX4000": [_v("QUADRO-RTX4000-8GB")],
    "RTXA6000": [_v("RTXA6000-48GB")],
    "RTXA5000": [_v("RTXA5000-24GB")],
    "RTXA4500": [_v("RTXA4500-20GB")],
    "RTXA4000": [_v("RTXA4000-16GB")],
    "RTXA2000": [_v("RTXA2000-12GB")],
    "QUADROP4000": [_v("QUADRO-P4000-8GB")],
    "QUADROM4000": [_v("QUADRO-M4000-8GB")],
    # NVIDIA consumer
    "RTX5090": [_v("RTX5090-32GB")],
    "RTX5080": [_v("RTX5080-16GB")],
    "RTX5070": [_v("RTX5070-12GB")],
    "RTX5060": [_v("RTX5060-8GB")],
    "RTX4090": [_v("RTX4090-24GB")],
    "RTX4080": [_v("RTX4080-16GB")],
    "RTX4070": [_v("RTX4070-12GB")],
    "RTX4060": [_v("RTX4060-8GB"), _v("RTX4060-16GB")],
    "RTX3090TI": [_v("RTX3090TI-24GB")],
    "RTX3090": [_v("RTX3090-24GB")],
    "RTX3080": [_v("RTX3080-10GB"), _v("RTX3080-12GB")],
    "RTX3070": [_v("RTX3070-8GB")],
    "RTX3060": [_v("RTX3060-12GB"), _v("RTX3060-8GB")],
    "RTX2080TI": [_v("RTX2080TI-11GB")],
    "GTX1660S": [_v("GTX1660S-6GB")],
    # AMD
    "MI355X": [_v("MI355X-288GB")],
    "MI350X": [_v("MI350X-288GB")],
    "MI325X": [_v("MI325X-256GB")],
    "MI300X": [_v("MI300X-192GB")],
    "MI250X": [_v("MI250X-128GB")],
    "MI250": [_v("MI250-128GB")],
    "MI210": [_v("MI210-64GB")],
    "MI100": [_v("MI100-32GB")],
    "MI25": [_v("MI25-16GB")],
    "V520": [_v("RADEON-PRO-V520-8GB")],
    "V620": [_v("RADEON-PRO-V620-32GB")],
    "V710": [_v("RADEON-PRO-V710-28GB")],
    # Google
    "TPUV2": [_v("TPU-V2")],
    "TPUV3": [_v("TPU-V3")],
    "TPUV4": [_v("TPU-V4")],
    "TPUV5E": [_v("TPU-V5E")],
    "TPUV5P": [_v("TPU-V5P")],
    "TPUV6E": [_v("TPU-V6E")],
    "TPUV7X": [_v("TPU-V7X")],
    # AWS
    "TRAINIUM": [_v("TRAINIUM-32GB")],
    "TRAINIUM2": [_v("TRAINIUM2-96GB")],
    "TRAINIUM3": [_v("TRAINIUM3-144GB")],
    "INFERENTIA": [_v("INFERENTIA-8GB")],
    "INFERENTIA2": [_v("INFERENTIA2-32GB")],
    # Intel
    "GAUDI": [_v("GAUDI-32GB")],
    "GAUDI2": [_v("GAUDI2-96GB")],
    "GAUDI3": [_v("GAUDI3-128GB")],
}

# Ordered patterns on the compact name (upper case, alphanumerics only, vendor words gone).
# Longer / more specific models come first so "GH200" is not read as "H200", "L40S" not as
# "L40", "A100" not as "A10". "(?!\d)" stops "A40" matching "A4000" and "P4" matching "P4000".
_PATTERNS: list[tuple[str, str | None]] = [
    (r"GB300", "GB300"),
    (r"GB200", "GB200"),
    (r"GH200", "GH200"),
    (r"GH100", None),  # the die, not a product
    (r"B300", "B300"),
    (r"B200", "B200"),
    (r"B100", "B100"),
    (r"H200", "H200"),
    (r"H100", "H100"),
    (r"H800", "H800"),
    (r"H20(?!\d)", "H20"),
    (r"MI355X", "MI355X"),
    (r"MI350X", "MI350X"),
    (r"MI325X", "MI325X"),
    (r"MI300X", "MI300X"),
    (r"MI250X", "MI250X"),
    (r"MI250", "MI250"),
    (r"MI210", "MI210"),
    (r"MI100", "MI100"),
    (r"MI25(?!\d)", "MI25"),
    (r"(?:PRO)?V520", "V520"),
    (r"(?:PRO)?V620", "V620"),
    (r"(?:PRO)?V710", "V710"),
    (r"TPUV5LITE|V5LITEPOD|TPUV5E|^CT5LP?$", "TPUV5E"),
    (r"TPUV5P|^CT5P$", "TPUV5P"),
    (r"TPUV6E|TRILLIUM|^CT6E$", "TPUV6E"),
    (r"TPU7X|TPUV7|IRONWOOD", "TPUV7X"),
    (r"TPUV4(?![0-9I])|^CT4P$", "TPUV4"),
    (r"TPUV3(?!\d)|^CT3P?$", "TPUV3"),
    (r"TPUV2(?!\d)", "TPUV2"),
    (r"TRAINIUM3|^TRN3", "TRAINIUM3"),
    (r"TRAINIUM2|^TRN2", "TRAINIUM2"),
    (r"TRAINIUM1?(?!\d)|^TRN1", "TRAINIUM"),
    (r"INFERENTIA2|^INF2$", "INFERENTIA2"),
    (r"INFERENTIA1?(?!\d)|^INF1$", "INFERENTIA"),
    (r"GAUDI3|HL325", "GAUDI3"),
    (r"GAUDI2|HL225", "GAUDI2"),
    (r"GAUDI1?(?!\d)|HL205", "GAUDI"),
    (r"RTXPRO6000", "RTXPRO6000"),
    (r"RTX6000ADA|RTX6000A(?!\d)", "RTX6000ADA"),
    (r"RTX4000ADA", "RTX4000ADA"),
    (r"QUADRORTX6000", "QUADRORTX6000"),
    (r"(?:QUADRO)?RTX8000", "QUADRORTX8000"),
    (r"QUADRORTX4000", "QUADRORTX4000"),
    (r"QUADROP4000|^P4000$", "QUADROP4000"),
    (r"QUADROM4000|^M4000$", "QUADROM4000"),
    (r"RTX5090", "RTX5090"),
    (r"RTX5080", "RTX5080"),
    (r"RTX5070", "RTX5070"),
    (r"RTX5060", "RTX5060"),
    (r"RTX4090", "RTX4090"),
    (r"RTX4080", "RTX4080"),
    (r"RTX4070", "RTX4070"),
    (r"RTX4060", "RTX4060"),
    (r"RTX3090TI", "RTX3090TI"),
    (r"RTX3090", "RTX3090"),
    (r"RTX3080", "RTX3080"),
    (r"RTX3070", "RTX3070"),
    (r"RTX3060", "RTX3060"),
    (r"RTX2080TI", "RTX2080TI"),
    (r"GTX1660S", "GTX1660S"),
    (r"(?:RTX)?A6000", "RTXA6000"),
    (r"(?:RTX)?A5000", "RTXA5000"),
    (r"(?:RTX)?A4500", "RTXA4500"),
    (r"(?:RTX)?A4000", "RTXA4000"),
    (r"(?:RTX)?A2000", "RTXA2000"),
    (r"RTX6000", "RTX6000"),
    (r"A100(?!\d)", "A100"),
    (r"A800(?!\d)", "A800"),
    (r"A10G", "A10G"),
    (r"A10(?![0-9G])", "A10"),
    (r"A16(?!\d)", "A16"),
    (r"A30(?!\d)", "A30"),
    (r"A40(?!\d)", "A40"),
    (r"L40S", "L40S"),
    (r"L40(?!\d)", "L40"),
    (r"L20(?!\d)", "L20"),
    (r"L4(?!\d)", "L4"),
    (r"L2(?!\d)", "L2"),
    (r"T4(?!\d)", "T4"),
    (r"V100S", "V100S"),
    (r"V100", "V100"),
    (r"P100", "P100"),
    (r"P40(?!\d)", "P40"),
    (r"P4(?!\d)", "P4"),
    (r"K80(?!\d)", "K80"),
    (r"M60(?!\d)", "M60"),
    (r"K520", "K520"),
    (r"M2050", "M2050"),
]


def _spaced(pattern: str) -> str:
    """Let a pattern span word breaks: "A100" also matches "A~100" (words joined by "~")."""
    out, in_class, i = [], False, 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\":
            out.append(pattern[i : i + 2])
            i += 2
            continue
        in_class = True if ch == "[" else False if ch == "]" else in_class
        out.append(ch)
        if not in_class and ch.isalnum() and i + 1 < len(pattern) and pattern[i + 1].isalnum():
            out.append("~?")
        i += 1
    return "".join(out)


_COMPILED = [(re.compile(_spaced(p)), fam) for p, fam in _PATTERNS]

# Words that carry no model information. Removed before matching the compact name.
_NOISE = {
    "NVIDIA", "TESLA", "GEFORCE", "AMD", "INSTINCT", "RADEON", "INTEL", "HABANA", "GOOGLE",
    "CLOUD", "AMAZON", "AWS", "GPU", "GPUS", "HBM", "HBM2", "HBM2E", "HBM3", "HBM3E", "GDDR6",
    "GDDR6X", "GDDR7", "GENERATION", "GEN", "EDITION", "SERVER", "WORKSTATION", "WS", "BLACKWELL",
    "ULTRA", "HOPPER", "AMPERE", "VWS", "OAM", "TENSOR", "CORE", "SECURE", "COMMUNITY", "SPOT",
    "PCIE", "PCLE", "PCI", "E", "SXM", "SXM2", "SXM3", "SXM4", "SXM5", "SXM6", "NVL", "NVLINK",
    "HGX", "MEGA", "ACCELERATOR", "SUPERCHIP", "GB", "G", "GIB", "MEMORY", "THE", "SUPER",
}
# "SUPER" is noise except in GTX 1660 SUPER, which the pattern catches via "1660S".

_SEPARATORS = re.compile(r"[\s_/(),:;+\-\.\[\]\"'|]+")
_MEMORY = re.compile(r"^(\d+(?:\.\d+)?)(GB|G|GIB)$")
_COUNT = re.compile(r"^\d+X$|^X\d+$")


def normalise_alias(name: str | None) -> str:
    """The key a raw name is stored under in gpu_aliases: upper case, one space between words.

    "nvidia-h100-80gb", "NVIDIA_H100 80GB" and " nvidia h100 80gb " share the key
    "NVIDIA H100 80GB". It is a spelling key, not a resolution: see canonical_gpu.
    """
    if not name:
        return ""
    return " ".join(t for t in _SEPARATORS.split(str(name).upper()) if t)


# Explicit aliases: spellings the rules below cannot or should not resolve. A value of None
# means "known and deliberately unmapped" (a different product that must not borrow specs).
ALIASES: dict[str, str | None] = {
    # GCP price-list keys and machine families (pricing.yml, machine types)
    "H100 80GB MEGA": "H100-SXM-80GB",
    # SkyPilot / RunPod / Lambda
    "H100 MEGA": "H100-SXM-80GB",
    "GPU 1X A100": "A100-PCIE-40GB",  # Lambda "1x A100 (40 GB PCIe)"; gpu_1x_a100_sxm4 is SXM
    "H200 SXM": "H200-SXM-141GB",
    # Epoch AI rows that are different products from what their names suggest
    "NVIDIA TESLA V100 DGXS 16 GB": None,
    "NVIDIA TESLA V100 DGXS 32 GB": None,
    "NVIDIA TESLA V100 SXM3 32 GB": None,
    "NVIDIA TESLA P100 DGXS": None,
    "NVIDIA GH100": None,
    "GOOGLE TPU V4I": None,
    "AMD RADEON INSTINCT MI300": None,
    "AMD INSTINCT MI300A": None,
    "AMD RADEON INSTINCT MI308X": None,
    # AWS GpuInfo manufacturer-less names
    "RADEON PRO V520": "RADEON-PRO-V520-8GB",
    "T4G": "T4-16GB",  # AWS g5g: NVIDIA T4G is the T4 chip for Arm hosts
}

# Instance names that imply a GPU are looked up in the instance tables
# (market/data/instances/<provider>.csv via market.instances), the one place those facts live.
# Names the tables do not hold are read by their grammar only: an Azure size's model part
# ("ND96isr_H100_v5" -> "H100") and an OCI shape's model token ("BM.GPU.B200.8" -> "B200").
_AZURE_SIZE = re.compile(
    r"^(?:Standard[_ ])?(N[CDGV])(C?)([a-z]*)(\d+)([a-z]*)[ _]?([A-Za-z0-9_ ]*?)(?:[ _]?NU)?$"
)
_OCI_SHAPE = re.compile(r"^(?:BM|VM)\.(GPU\d?)(?:\.([A-Za-z0-9-]+))?\.\d+$")
_PRICE_SUFFIX = re.compile(r"\s+(Spot|Low Priority)$", re.IGNORECASE)


def _memory_matches(variant_gb: float | None, hint_gb: float) -> bool:
    return variant_gb is not None and abs(hint_gb - variant_gb) <= 0.12 * variant_gb


def _memory_hint(value: float | None) -> float | None:
    if value is None:
        return None
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    if value != value or value <= 0:  # NaN or nonsense
        return None
    return value / 1024 if value > 1000 else value


def _pick(family: str, form: str | None, memory_gb: float | None) -> str | None:
    variants = FAMILIES.get(family)
    if not variants:
        return None
    candidates = variants
    if form and any(v.form for v in variants):
        # An NVL card is a PCIe card, so "PCIe" with 94 GB still finds the NVL.
        allowed = {form, "NVL"} if form == "PCIE" else {form}
        fitting = [v for v in candidates if v.form in allowed]
        if fitting:
            candidates = fitting
    if memory_gb is not None:
        fitting = [v for v in candidates if _memory_matches(v.memory_gb, memory_gb)]
        if fitting:
            candidates = fitting
    return candidates[0].gpu


def _form_of(tokens: list[str]) -> str | None:
    joined = " ".join(tokens)
    if re.search(r"\bPCI(E|LE)?\b|PCIE|PCLE", joined):
        return "PCIE"
    if re.search(r"\bNVL\b|NVL\d*$", joined) or "NVL" in tokens:
        return "NVL"
    if re.search(r"SXM|\bHGX\b|\bMEGA\b|\bNVLINK\b", joined):
        return "SXM"
    return None


# Chip makers whose product names contain GPU-like numbers ("Maia 100", "MTIA 100",
# "BI-V100"). A name with one of these words is never read as an NVIDIA/AMD model.
_OTHER_VENDORS = {
    "MAIA", "MTIA", "TIANSHU", "ZHIXIN", "ILUVATAR", "HUAWEI", "ASCEND", "CAMBRICON", "SIYUAN",
    "BIREN", "KUNLUN", "BAIDU", "METAX", "MOORE", "SUNWAY", "PEZY", "GROQ", "GROQCHIP",
    "CEREBRAS", "TENSTORRENT", "SAMBANOVA", "GRAPHCORE", "HYGON", "SHENSUAN", "HANGUANG",
    "DOJO", "QUALCOMM", "MT", "ALIBABA",
}
_FORM_SUFFIX = re.compile(r"(SXM\d?|PCIE|PCLE|NVLINK|HBM\dE?)$")


def _parse_tokens(name: str) -> tuple[str | None, str | None, float | None]:
    """(family, form, memory from the name) from a free-text GPU name."""
    tokens = [t for t in _SEPARATORS.split(name.upper()) if t]
    if _OTHER_VENDORS.intersection(tokens):
        return None, None, None
    memory: float | None = None
    kept: list[str] = []
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        mem = _MEMORY.match(tok)
        # The first memory in a name is the per-GPU one: "A100-80GB-160GB" (a 2-GPU total after it).
        if mem:
            memory = memory if memory is not None else float(mem.group(1))
        elif tok.replace(".", "").isdigit() and i + 1 < len(tokens) and tokens[i + 1] in ("GB", "G", "GIB"):
            memory = memory if memory is not None else float(tok)
            i += 1
        elif _COUNT.match(tok):
            pass
        else:
            kept.append(tok)
        i += 1
    form = _form_of(tokens)
    pieces: list[str] = []
    for position, tok in enumerate(kept):
        if tok in _NOISE:
            continue
        if position == 0:
            tok = re.sub(r"^\d+(?=[A-Z]+\d)", "", tok)  # a count glued on: "8V100", "1B300"
        tok = _FORM_SUFFIX.sub("", tok)  # "A100SXM4" -> "A100"
        if tok:
            pieces.append(tok)
    if "SUPER" in kept and any(t.startswith("1660") or t == "GTX1660" for t in kept):
        pieces.append("S")
    # Words joined by "~": a model may span words ("RTX 6000 Ada") but must start where a word
    # starts, so "MAIA100" never reads as "A100", and a following word ("1A100.22V") does not
    # count as more digits of the model.
    compact = "~".join(pieces)
    for pattern, family in _COMPILED:
        for match in pattern.finditer(compact):
            if match.start() == 0 or compact[match.start() - 1] == "~":
                return family, form, memory
    return None, form, memory


def _azure_model(name: str) -> tuple[bool, str | None]:
    """An Azure size the table does not hold: its model part names the GPU, if any."""
    m = _AZURE_SIZE.match(name)
    if not m:
        return False, None
    # "xl RTXPRO6000BSE v6" -> "RTXPRO6000BSE"; "H100_v5" -> "H100"; "A100v4_NU" -> "A100"
    words = [w for w in re.split(r"[ _]+", m.group(6).upper()) if w and w not in ("XL", "NU")]
    model = re.sub(r"(NU)?(V\d+)?$", "", " ".join(words)).strip()
    if not model:
        return False, None
    family, form, memory = _parse_tokens(model)
    if family is None:
        return False, None
    return True, _pick(family, form, memory)


def _oci_model(name: str) -> tuple[bool, str | None]:
    """An OCI shape the table does not hold: ``BM.GPU.<MODEL>.<n>``; data-centre parts are SXM."""
    m = _OCI_SHAPE.match(name)
    if not m or not m.group(2):
        return False, None
    family, form, memory = _parse_tokens(m.group(2))
    if family is None:
        return False, None
    return True, _pick(family, form or "SXM", memory)


def _instance_name(name: str) -> tuple[bool, str | None]:
    """(matched, gpu) for an instance name: the instance tables first, then the name grammar."""
    from market.instances import find_instance  # data tables beside this module

    stripped = _PRICE_SUFFIX.sub("", name.strip())
    facts = find_instance(stripped)
    if facts is not None and not facts.is_pattern:
        return True, facts.gpu
    for reader in (_oci_model, _azure_model):
        matched, gpu = reader(stripped)
        if matched:
            return True, gpu
    return False, None


@lru_cache(maxsize=4096)
def _canonical(name: str, memory_hint: float | None) -> str | None:
    key = normalise_alias(name)
    if not key:
        return None
    if key in ALIASES:
        return ALIASES[key]
    matched, gpu = _instance_name(name)
    if matched:
        return gpu
    family, form, name_memory = _parse_tokens(name)
    if family is None:
        return None
    variants = FAMILIES[family]
    # The memory written in the name wins when it fits a variant; otherwise the caller's hint.
    memory = None
    for candidate in (name_memory, memory_hint):
        if candidate is not None and any(_memory_matches(v.memory_gb, candidate) for v in variants):
            memory = candidate
            break
    return _pick(family, form, memory)


@dataclass(frozen=True)
class NameReading:
    """What a raw GPU name says by itself, before any other evidence of its row."""

    family: str | None  # a key of FAMILIES; None = not a GPU name we can read
    form: str | None  # SXM | PCIE | NVL written in the name, else None
    memory_gb: float | None  # per-GPU memory written in the name, else None
    gpu: str | None = None  # set when the name alone names one canonical id (alias, instance)
    known_unmapped: bool = False  # an alias kept deliberately unmapped (a different product)


@lru_cache(maxsize=4096)
def read_name(name: str | None) -> NameReading:
    """Read a raw name into family, form and memory (see canonical_gpu for the full resolution)."""
    text = str(name or "").strip()
    key = normalise_alias(text)
    if not key:
        return NameReading(None, None, None)
    _, written_form, written_memory = _parse_tokens(text)
    gpu: str | None = None
    if key in ALIASES:
        gpu = ALIASES[key]
        if gpu is None:
            return NameReading(None, None, None, known_unmapped=True)
    else:
        matched, gpu = _instance_name(text)
        if matched and gpu is None:
            return NameReading(None, None, None, known_unmapped=True)
    if gpu is not None:
        # The alias or instance names the variant; form and memory stay what the text writes,
        # so other evidence of the row can still tell a PCIe card from the alias's default.
        return NameReading(family_of(gpu), written_form, written_memory, gpu=gpu)
    family, form, memory = _parse_tokens(text)
    return NameReading(family, form, memory)


@lru_cache(maxsize=1)
def _variant_index() -> dict[str, tuple[str, Variant]]:
    index: dict[str, tuple[str, Variant]] = {}
    for family, variants in FAMILIES.items():
        for variant in variants:
            # A shared id (RTX6000ADA-48GB is also a variant of bare "RTX6000") belongs to the
            # family of its own name, listed first in FAMILIES.
            index.setdefault(variant.gpu, (family, variant))
    return index


def known_gpu_ids() -> frozenset[str]:
    """Every canonical id this module can return."""
    return frozenset(_variant_index())


def family_of(gpu: str | None) -> str | None:
    hit = _variant_index().get(gpu or "")
    return hit[0] if hit else None


def form_of(gpu: str | None) -> str | None:
    hit = _variant_index().get(gpu or "")
    return hit[1].form if hit else None


def memory_of(gpu: str | None) -> float | None:
    hit = _variant_index().get(gpu or "")
    return hit[1].memory_gb if hit else None


def variants_of(family: str) -> tuple[Variant, ...]:
    """The variants of a family in order of preference (the first is the bare name's default)."""
    return tuple(FAMILIES.get(family, ()))


def memory_fits(variant_gb: float | None, memory_gb: float) -> bool:
    """Whether a memory figure is this variant's (within 12 %: vendors round, drivers reserve)."""
    return _memory_matches(variant_gb, memory_gb)


def pick_variant(family: str, form: str | None, memory_gb: float | None) -> str | None:
    """The first variant of `family` that fits the form and memory hints (see FAMILIES)."""
    return _pick(family, form, memory_gb)


def canonical_gpu(name: str | None, memory_gb: float | None = None) -> str | None:
    """The canonical id of a GPU name as a source spells it, or None when it maps to nothing.

    ``memory_gb`` (per GPU, GB or MiB) picks between variants of one model (A100 40/80 GB,
    GH200 96/144 GB, RTX6000 24/48/96 GB); it never overrides a form factor in the name.
    """
    if name is None:
        return None
    text = str(name).strip()
    if not text:
        return None
    return _canonical(text, _memory_hint(memory_gb))


# Spellings we have seen in real payloads (tests/test_gpu_names.py checks them against the
# shared data). curated_aliases() resolves them so gpu_aliases starts populated.
KNOWN_SPELLINGS: tuple[str, ...] = (
    # SkyPilot AcceleratorName
    "A10", "A100", "A100-80GB", "A100-80GB-SXM", "A10G", "A30", "A40", "A4000", "A6000", "A800",
    "B200", "B300", "GH200", "H100", "H100-MEGA", "H100-NVL", "H100-NVLINK", "H100-SXM", "H200",
    "H200-SXM", "K80", "L4", "L40", "L40S", "M60", "MI300X", "P100", "P4", "RTX3090", "RTX4090",
    "RTX5090", "RTX6000", "RTX6000-Ada", "RTX6000Ada", "RTXA4000", "RTXA4500", "RTXA5000",
    "RTXA6000", "RTXPRO6000S", "RTXPRO6000WS", "RTX4000-Ada", "RTX-6000-Ada", "RTX-PRO-6000",
    "RTX-A4000", "RTX-A6000", "T4", "T4g", "V100", "V100-32GB", "A100-80G-PCIe",
    "A100-80G-PCIe-NVLink", "H100-80G-PCIe", "H100-80G-PCIe-NVLink", "H100-80G-SXM5",
    "tpu-v3", "tpu-v4", "tpu-v5litepod", "tpu-v5p", "tpu-v6e", "Gaudi HL-205",
    # GCP accelerator ids
    "nvidia-tesla-t4", "nvidia-tesla-p4", "nvidia-tesla-p100", "nvidia-tesla-v100",
    "nvidia-tesla-a100", "nvidia-a100-80gb", "nvidia-h100-80gb", "nvidia-h100-mega-80gb",
    "nvidia-h200-141gb", "nvidia-b200", "nvidia-gb200", "nvidia-l4", "nvidia-rtx-pro-6000",
    "ct3", "ct3p", "ct5l", "ct5lp", "ct5p", "ct6e", "tpu7x",
    # RunPod / Vast / datasheet spellings
    "NVIDIA H100 80GB HBM3", "NVIDIA H100 PCIe", "NVIDIA H100 NVL", "NVIDIA H200",
    "NVIDIA A100 80GB PCIe", "NVIDIA A100-SXM4-80GB", "NVIDIA GeForce RTX 4090",
    "NVIDIA GeForce RTX 5090", "NVIDIA RTX 6000 Ada Generation", "NVIDIA RTX A6000",
    "NVIDIA L40S", "NVIDIA A10G", "Tesla V100", "Tesla T4", "AMD Instinct MI300X OAM",
    "A100 SXM4", "A100 PCIE", "H100 SXM", "H100 PCIE", "H100 NVL", "RTX 4090", "RTX A6000",
    # AWS GpuInfo names
    "K520", "Radeon Pro V520", "Inferentia", "Inferentia2", "Trainium", "Trainium2",
    # Azure connector raw names
    "V100-16GB", "A100-40GB", "H100-NVL-94GB", "H200-141GB", "MI25", "V620", "V710",
)


def curated_aliases() -> list[tuple[str, str]]:
    """(normalised alias, canonical id) for every curated spelling that maps to a GPU."""
    pairs: dict[str, str] = {}
    for alias, gpu in ALIASES.items():
        if gpu is not None:
            pairs[alias] = gpu
    for spelling in KNOWN_SPELLINGS:
        gpu = canonical_gpu(spelling)
        if gpu is not None:
            pairs.setdefault(normalise_alias(spelling), gpu)
    return sorted(pairs.items())
