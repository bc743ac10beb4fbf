"""One GPU identity per price-list row: which card, how many, how much memory, and how we know.

Every parser hands its row's *evidence* (``Evidence``): the raw GPU name, the instance or
size name, the GPU count, the memory as given (per GPU, or the instance total, or unknown),
vendor ids such as SkyPilot's ``UpstreamCloudId``, and the provider (the provider's instance
table is looked up here). ``resolve`` turns that into an ``Identity``: the canonical GPU
(``market.gpu_names`` ids), its form factor and per-GPU memory, the count, and

* ``basis``: ``instance table`` (the provider's documented instance type decides),
  ``row evidence`` (the row's own name, memory and vendor ids decide) or ``name default``
  (something was not said and the documented default of a bare name filled it: bare H100 =
  SXM, bare A100 = 40 GB; the last resort, and it says so);
* ``note``: how we know, and what was corrected;
* ``rejection``: why the row is implausible (it goes to ``quarantined_offers``), or
* ``unmapped``: the name maps to no canonical GPU (kept, raw name and all, as ``unmapped``).

Rules (one function each, below):

* **Instance table first.** A known instance type gives GPU, count and memory. A row count
  that disagrees is CORRECTED from the table with a note (a catalog typo such as 12 GPUs on an
  8-GPU size must not size clusters), never silently; a name or memory that disagrees is noted.
* **Memory per GPU or total.** Memory "per GPU" that only makes sense as the instance total
  (2x H100 "160 GB per GPU") is divided by the count, with a note; memory whose basis is
  unknown is read whichever way fits a known variant of the family. A per-GPU figure above
  every variant of the family (with 12 % slack) is rejected.
* **Form factor from evidence.** PCIe / SXM / NVL written in the name, the vendor id or the
  instance name beats the family default.
* **Counts.** Fractional GPUs (a share of one card) stay fractions and are flagged in the
  note; they are never used to build clusters. A count above ``MAX_ACCELERATORS_PER_NODE``
  without an instance table row to confirm it is rejected. TPU slices count chips, read from
  the slice name (``tpu_slice_chips``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from market.gpu_names import (
    NameReading,
    family_of,
    form_of,
    memory_fits,
    memory_of,
    pick_variant,
    read_name,
    variants_of,
)
from market.instances import InstanceFacts, instance_facts
from market.offer import IDENTITY_BASES

BASIS_TABLE, BASIS_ROW, BASIS_DEFAULT = IDENTITY_BASES

# The most accelerators one node carries (GCP a2-megagpu-16g, AWS p2.16xlarge and
# trn1.32xlarge have 16). More than that without an instance table row is a typo or a slice.
MAX_ACCELERATORS_PER_NODE = 16

# Memory above a family's largest variant by more than this share is not that family's.
MEMORY_SLACK = 0.12

# TensorCores per chip by TPU generation: slice names count cores for these (tpu-v5p-8 is
# 4 chips) and chips for v5e / v6e (tpu-v5litepod-8 is 8 chips). Google Cloud TPU docs:
# https://cloud.google.com/tpu/docs/v4, /v5p, /v5e, /v6e ("TensorCores per chip").
TPU_CORES_PER_CHIP: dict[str, int] = {"v2": 2, "v3": 2, "v4": 2, "v5p": 2, "v5litepod": 1, "v5e": 1, "v6e": 1}
_TPU_SLICE = re.compile(r"^tpu-(v\d+[a-z]*|v5litepod)-(\d+)$", re.IGNORECASE)
_FORM_IN_TEXT = (
    ("PCIE", re.compile(r"(?<![a-z])pci(e|le)?(?![a-z])", re.IGNORECASE)),
    ("NVL", re.compile(r"(?<![a-z])nvl(?![a-z])", re.IGNORECASE)),
    ("SXM", re.compile(r"(?<![a-z])sxm\d?(?![a-z])", re.IGNORECASE)),
)


@dataclass(frozen=True)
class Evidence:
    """What one row says about its accelerator. Every field is optional but the provider."""

    provider: str
    gpu_name_raw: str | None = None
    instance_type: str | None = None
    gpu_count: float | None = None
    memory_gb: float | None = None  # as the row gives it, in GB
    memory_is_total: bool | None = None  # True: the instance total; False: per GPU; None: unknown
    vendor_gpu_id: str | None = None  # e.g. SkyPilot UpstreamCloudId (an upstream instance id)
    underlying_provider: str | None = None  # resellers: whose instance type vendor_gpu_id is


@dataclass(frozen=True)
class Identity:
    gpu: str | None
    form_factor: str | None
    gpu_memory_gb: float | None
    gpu_count: float | None
    basis: str | None
    note: str
    rejection: str | None = None
    unmapped: bool = False

    @property
    def fractional(self) -> bool:
        return self.gpu_count is not None and self.gpu_count != int(self.gpu_count)


def _gb(value: float | None) -> float | None:
    """A memory figure in GB (parsers convert MiB themselves: a 2,100 GB "per GPU" figure must
    stay 2,100 GB so it can be read as a node total, not shrink to 2 GB)."""
    if value is None or value != value or value <= 0:
        return None
    return float(value)


def _fmt(value: float | None) -> str:
    if value is None:
        return "?"
    return f"{value:g}" if value == int(value) or value >= 1 else f"{value:.4g}"


def tpu_slice_chips(name: str | None) -> tuple[int, str] | None:
    """(chips, how) for a TPU slice name such as ``tpu-v5p-1280``, or None if it is not one."""
    match = _TPU_SLICE.match((name or "").strip())
    if not match:
        return None
    generation, size = match.group(1).lower(), int(match.group(2))
    per_chip = TPU_CORES_PER_CHIP.get(generation)
    if per_chip is None or size % per_chip:
        return None
    chips = size // per_chip
    how = (
        f"{name} = {size} TensorCores = {chips} chips ({per_chip} TensorCores per {generation} chip)"
        if per_chip > 1 else f"{name} = {chips} chips"
    )
    return chips, how


def family_max_memory(family: str) -> float | None:
    sizes = [v.memory_gb for v in variants_of(family) if v.memory_gb is not None]
    return max(sizes) if sizes else None


def form_in_text(*texts: str | None) -> str | None:
    """A form factor written in an instance name or vendor id (``H100_PCIE_80GB``, ``...-sxm5``)."""
    for text in texts:
        if not text:
            continue
        for form, pattern in _FORM_IN_TEXT:
            if pattern.search(text.replace("_", " ").replace("-", " ")):
                return form
    return None


def _memory_readings(e: Evidence) -> list[tuple[float, str]]:
    """Per-GPU memory candidates from the row's figure, each with how it was read."""
    memory = _gb(e.memory_gb)
    if memory is None:
        return []
    count = e.gpu_count if e.gpu_count and e.gpu_count >= 1 else None
    per_gpu = (memory, f"{_fmt(memory)} GB per GPU as given")
    as_total = (
        (memory / count, f"{_fmt(memory)} GB read as the total of {_fmt(count)} GPUs: {_fmt(memory / count)} GB each")
        if count and count > 1 else None
    )
    if e.memory_is_total is True:
        return [as_total or (memory, f"{_fmt(memory)} GB total of one GPU")]
    if e.memory_is_total is False or as_total is None:
        return [per_gpu]
    return [per_gpu, as_total]


def _unmapped(e: Evidence, note: str) -> Identity:
    return Identity(None, None, None, e.gpu_count, None, note, unmapped=True)


def _reject(e: Evidence, gpu: str | None, note: str, why: str) -> Identity:
    return Identity(gpu, form_of(gpu), memory_of(gpu), e.gpu_count, None, note, rejection=why)


def _table_lookup(e: Evidence) -> tuple[InstanceFacts | None, str]:
    facts = instance_facts(e.provider, e.instance_type)
    if facts is not None:
        return facts, f"{e.provider} {facts.instance_type}"
    upstream = e.underlying_provider or e.provider
    facts = instance_facts(upstream, e.vendor_gpu_id)
    if facts is not None:
        return facts, f"{upstream} {facts.instance_type} (the row's upstream id)"
    return None, ""


def _from_table(e: Evidence, facts: InstanceFacts, where: str) -> Identity:
    if facts.gpu is None:
        return _unmapped(e, f"instance table ({where}): an accelerator we do not track; {facts.note}".strip())
    notes = [f"instance table: {where}"]
    count = facts.gpu_count
    memory = facts.gpu_memory_gb or memory_of(facts.gpu)
    if count is None:
        count = e.gpu_count
        total = _gb(e.memory_gb)
        if (count is None or count <= 0) and e.memory_is_total and total and memory:
            # A plan that states only its total GPU memory (Vultr vGPU "4 GB of an A100"): the
            # count is that share of the card.
            count = total / memory
            notes.append(f"count {_fmt(count)} = the row's {_fmt(total)} GB of GPU memory / {_fmt(memory)} GB per card")
        elif count is None or count <= 0:
            return _reject(e, facts.gpu, notes[0], "GPU count unknown: neither the row nor the instance table gives it")
        else:
            notes.append(f"count {_fmt(count)} from the row")
    elif e.gpu_count is not None and abs(e.gpu_count - count) > 1e-9:
        notes.append(f"the row says {_fmt(e.gpu_count)} GPUs; corrected to the table's {_fmt(count)}")
    if e.gpu_name_raw:
        reading = read_name(e.gpu_name_raw)
        if reading.family is not None and reading.family != family_of(facts.gpu):
            notes.append(f"the row names the GPU {e.gpu_name_raw!r}; the table's {facts.gpu} wins")
    readings = _memory_readings(Evidence(e.provider, gpu_count=count, memory_gb=e.memory_gb,
                                         memory_is_total=e.memory_is_total))
    if readings and memory and not any(memory_fits(memory, m) for m, _ in readings):
        notes.append(f"the row's memory ({readings[0][1]}) differs from the table's {_fmt(memory)} GB")
    if count != int(count):
        notes.append("fractional GPU (a share of one card): never used to build clusters")
    return Identity(facts.gpu, form_of(facts.gpu), memory, count, BASIS_TABLE, "; ".join(notes))


def _choose_memory(family: str, form: str | None, reading: NameReading, e: Evidence) -> tuple[float | None, list[str], str | None]:
    """(memory per GPU, notes, rejection) from the name's figure and the row's figure."""
    candidates = [v for v in variants_of(family) if not form or not v.form or v.form == form
                  or (form == "PCIE" and v.form == "NVL")] or list(variants_of(family))
    fits = lambda m: any(memory_fits(v.memory_gb, m) for v in candidates)  # noqa: E731
    readings = _memory_readings(e)
    fitting = [(m, how) for m, how in readings if fits(m)]
    if reading.memory_gb is not None and fits(reading.memory_gb):
        notes = []
        if readings and not any(memory_fits(reading.memory_gb, m) for m, _ in readings):
            notes.append(f"the name's {_fmt(reading.memory_gb)} GB wins over the row's {readings[0][1]}")
        return reading.memory_gb, notes, None
    if fitting:
        memory, how = fitting[0]
        notes = [f"memory: {how}"] if len(readings) > 1 or e.memory_is_total else []
        if len(fitting) > 1 and not any(memory_fits(memory, m) for m, _ in fitting[1:]) and len(
            {pick_variant(family, form, m) for m, _ in fitting}
        ) > 1:
            notes.append("memory could be per GPU or the total; per GPU (the field's meaning) taken")
        return memory, notes, None
    ceiling = family_max_memory(family)
    smallest = min((m for m, _ in readings), default=None)
    if ceiling is not None and smallest is not None and smallest > ceiling * (1 + MEMORY_SLACK):
        return None, [], (
            f"per-GPU memory {_fmt(round(smallest, 1))} GB is above any known {family} "
            f"(largest {_fmt(ceiling)} GB)"
        )
    notes = [f"the row's memory ({readings[0][1]}) fits no {family} variant; ignored"] if readings else []
    return None, notes, None


def _from_row(e: Evidence) -> Identity:
    name = e.gpu_name_raw or e.instance_type
    reading = read_name(e.gpu_name_raw) if e.gpu_name_raw else read_name(e.instance_type)
    if reading.family is None and e.gpu_name_raw and e.instance_type:
        reading = read_name(e.instance_type)  # a vendor word for a name; the instance may say more
    if reading.known_unmapped:
        return _unmapped(e, f"{name!r} is a known product we deliberately do not map")
    if reading.family is None:
        return _unmapped(e, f"no canonical GPU for {name!r}")
    family = reading.family
    notes: list[str] = []
    count = e.gpu_count
    slice_chips = tpu_slice_chips(e.gpu_name_raw) or tpu_slice_chips(e.instance_type)
    if slice_chips:
        chips, how = slice_chips
        count = chips * (count or 1)
        notes.append(f"TPU slice: {how}")
    if count is None or count <= 0:
        return _reject(e, reading.gpu, f"{name!r}", "GPU count unknown (no count in the row and no instance table row)")
    form = reading.form or form_in_text(e.vendor_gpu_id, e.instance_type)
    if form and not reading.form:
        notes.append(f"form {form} from {'the vendor id' if form_in_text(e.vendor_gpu_id) else 'the instance name'}")
    forms = {v.form for v in variants_of(family) if v.form}
    memory, memory_notes, rejection = _choose_memory(family, form, reading, e)
    notes += memory_notes
    if rejection:
        return _reject(e, None, "; ".join(notes), rejection)
    if reading.gpu and (form is None or form == form_of(reading.gpu)) and (
        memory is None or memory_fits(memory_of(reading.gpu), memory)
    ):
        gpu = reading.gpu  # a curated alias or an instance name names the variant outright
        form = form or form_of(gpu)
        memory = memory or memory_of(gpu)
    else:
        gpu = pick_variant(family, form, memory)
    defaulted = []
    if len(forms) > 1 and not form:
        defaulted.append(f"form {form_of(gpu)}")
    same_form = {v.memory_gb for v in variants_of(family) if v.memory_gb is not None and v.form == form_of(gpu)}
    if len(same_form) > 1 and memory is None:
        defaulted.append(f"memory {_fmt(memory_of(gpu))} GB")
    if count != int(count):
        notes.append("fractional GPU (a share of one card): never used to build clusters")
    elif count > MAX_ACCELERATORS_PER_NODE and not slice_chips:
        return _reject(e, gpu, "; ".join(notes), (
            f"implausible GPU count {_fmt(count)} for one instance (more than {MAX_ACCELERATORS_PER_NODE}, "
            "and no instance table row to confirm it)"
        ))
    if defaulted:
        notes.insert(0, f"name default: {name!r} does not say its " + " or ".join(defaulted)
                     + f"; the bare name's default ({gpu}) is assumed")
        basis = BASIS_DEFAULT
    else:
        basis = BASIS_ROW
    return Identity(gpu, form_of(gpu), memory_of(gpu), count, basis, "; ".join(notes) or f"named {name!r}")


@lru_cache(maxsize=65536)
def resolve(evidence: Evidence) -> Identity:
    """The identity of one row (see the module docstring for the rules)."""
    facts, where = _table_lookup(evidence)
    if facts is not None:
        return _from_table(evidence, facts, where)
    return _from_row(evidence)
