"""Instance tables: what accelerator an instance type carries, how many, and how they connect.

One CSV per provider in ``market/data/instances/<provider>.csv`` (shipped as package data),
one row per instance type, every row with the provider's documentation page for that family
in ``source_url`` and, where a fact is inferred rather than read off that page, the reason in
``note``. Columns:

* ``gpu``: the canonical id (``market.gpu_names``); empty = a known instance whose accelerator
  we deliberately do not track (AWS dl2q: Qualcomm AI 100);
* ``gpu_count``: accelerators per instance; a fraction (``1/8``) for a share of one GPU; empty
  = not transcribed, the row's own count is used;
* ``gpu_memory_gb``: per accelerator, as the vendor sells it;
* ``intra_node_link``: nvswitch | nvlink | infinity-fabric | pcie | ici | neuronlink | none
  (none = a single accelerator); empty = unknown;
* ``inter_node_fabric``: infiniband | efa | roce | ici | cluster-network | none; empty =
  unknown. Multi-node clusters are only built on a known fabric.

``instance_type`` may be a family pattern with ``*`` (``g7e.*``, ``gpu-l40s-d_*``) for
families whose sizes carry the count in the name or are not transcribed; an exact row always
wins over a pattern, and a longer pattern over a shorter one. Names are matched
case-insensitively with separators ignored, so the spellings a price list uses for one size
(``Standard_ND96amsr_A100_v4``, ``ND96amsr A100 v4``) find the same row.

``instance_facts(provider, instance_type)`` answers one question; ``instance_table()`` is the
whole set as a polars frame (for the warehouse, tests and the cost model's fabric rule).
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from importlib import resources
from fnmatch import fnmatchcase

import polars as pl

INTRA_NODE_LINKS = ("nvswitch", "nvlink", "infinity-fabric", "pcie", "ici", "neuronlink", "none")
INTER_NODE_FABRICS = ("infiniband", "efa", "roce", "ici", "cluster-network", "none")
COLUMNS = (
    "provider", "instance_type", "gpu", "gpu_count", "gpu_memory_gb", "intra_node_link",
    "inter_node_fabric", "source_url", "note",
)

INSTANCE_TABLE_SCHEMA: dict[str, pl.DataType] = {
    "provider": pl.String,
    "instance_type": pl.String,
    "gpu": pl.String,
    "gpu_count": pl.Float64,
    "gpu_memory_gb": pl.Float64,
    "intra_node_link": pl.String,
    "inter_node_fabric": pl.String,
    "source_url": pl.String,
    "note": pl.String,
}


class InstanceTableError(ValueError):
    """A row of an instance table breaks the table's rules (a data bug, named with its file)."""


@dataclass(frozen=True)
class InstanceFacts:
    provider: str
    instance_type: str  # as written in the table (a pattern for family rows)
    gpu: str | None
    gpu_count: float | None
    gpu_memory_gb: float | None
    intra_node_link: str | None
    inter_node_fabric: str | None  # None = unknown
    source_url: str
    note: str

    @property
    def is_pattern(self) -> bool:
        return "*" in self.instance_type

    @property
    def fractional(self) -> bool:
        return self.gpu_count is not None and self.gpu_count != int(self.gpu_count)


def lookup_key(name: str) -> str:
    """Case and separators ignored; Azure's optional "Standard_" prefix dropped."""
    key = name.strip().lower()
    if key.startswith("standard_") or key.startswith("standard "):
        key = key[len("standard_"):]
    return re.sub(r"[^a-z0-9*]", "", key)


def _number(text: str, column: str, where: str) -> float | None:
    text = text.strip()
    if not text:
        return None
    try:
        value = float(Fraction(text))
    except (ValueError, ZeroDivisionError) as exc:
        raise InstanceTableError(f"{where}: {column} {text!r} is not a number or fraction") from exc
    if value <= 0:
        raise InstanceTableError(f"{where}: {column} must be positive, got {text!r}")
    return value


def _read_file(name: str, text: str) -> list[InstanceFacts]:
    from market.gpu_names import known_gpu_ids  # the canonical ids; imported late (no cycle)

    known = known_gpu_ids()
    reader = csv.DictReader(text.splitlines())
    if tuple(reader.fieldnames or ()) != COLUMNS:
        raise InstanceTableError(f"{name}: header must be {','.join(COLUMNS)}, got {reader.fieldnames}")
    rows = []
    for line, rec in enumerate(reader, start=2):
        where = f"{name} line {line}"
        gpu = rec["gpu"].strip() or None
        if gpu is not None and gpu not in known:
            raise InstanceTableError(f"{where}: gpu {gpu!r} is not a canonical id of market.gpu_names")
        intra = rec["intra_node_link"].strip() or None
        inter = rec["inter_node_fabric"].strip() or None
        if intra is not None and intra not in INTRA_NODE_LINKS:
            raise InstanceTableError(f"{where}: intra_node_link {intra!r} not in {INTRA_NODE_LINKS}")
        if inter is not None and inter not in INTER_NODE_FABRICS:
            raise InstanceTableError(f"{where}: inter_node_fabric {inter!r} not in {INTER_NODE_FABRICS}")
        if not rec["source_url"].startswith("https://"):
            raise InstanceTableError(f"{where}: source_url must be the provider's https documentation page")
        rows.append(InstanceFacts(
            provider=rec["provider"].strip(),
            instance_type=rec["instance_type"].strip(),
            gpu=gpu,
            gpu_count=_number(rec["gpu_count"], "gpu_count", where),
            gpu_memory_gb=_number(rec["gpu_memory_gb"], "gpu_memory_gb", where),
            intra_node_link=intra,
            inter_node_fabric=inter,
            source_url=rec["source_url"].strip(),
            note=rec["note"].strip(),
        ))
    return rows


@lru_cache(maxsize=1)
def _all_facts() -> tuple[InstanceFacts, ...]:
    folder = resources.files("market").joinpath("data", "instances")
    facts: list[InstanceFacts] = []
    for entry in sorted(folder.iterdir(), key=lambda f: f.name):
        if not entry.name.endswith(".csv"):
            continue
        provider = entry.name[: -len(".csv")]
        rows = _read_file(f"market/data/instances/{entry.name}", entry.read_text(encoding="utf-8"))
        for row in rows:
            if row.provider != provider:
                raise InstanceTableError(f"{entry.name}: row {row.instance_type!r} names provider {row.provider!r}")
        facts.extend(rows)
    return tuple(facts)


@lru_cache(maxsize=1)
def _index() -> tuple[dict[tuple[str, str], InstanceFacts], dict[str, list[tuple[str, InstanceFacts]]]]:
    exact: dict[tuple[str, str], InstanceFacts] = {}
    patterns: dict[str, list[tuple[str, InstanceFacts]]] = {}
    for row in _all_facts():
        key = lookup_key(row.instance_type)
        if row.is_pattern:
            patterns.setdefault(row.provider, []).append((key, row))
            continue
        if (row.provider, key) in exact:
            raise InstanceTableError(
                f"market/data/instances/{row.provider}.csv: {row.instance_type!r} is listed twice "
                f"(as {exact[(row.provider, key)].instance_type!r} too)"
            )
        exact[(row.provider, key)] = row
    for rows in patterns.values():
        # The most specific pattern (most literal characters) is tried first.
        rows.sort(key=lambda item: -len(item[0].replace("*", "")))
    return exact, patterns


def instance_facts(provider: str | None, instance_type: str | None) -> InstanceFacts | None:
    """The table row for this provider's instance type, or None when the table does not know it."""
    if not provider or not instance_type:
        return None
    exact, patterns = _index()
    key = lookup_key(instance_type)
    hit = exact.get((provider, key))
    if hit is not None:
        return hit
    for pattern, row in patterns.get(provider, ()):
        if fnmatchcase(key, pattern):
            return row
    return None


def providers_with_tables() -> tuple[str, ...]:
    return tuple(sorted({row.provider for row in _all_facts()}))


# Providers whose instance types are spelled as GPU names (Paperspace "H100", "V100",
# "A4000"): a name standing alone is never read as one of theirs, or every bare "H100" would
# become Paperspace's PCIe card.
GPU_NAMED_INSTANCE_PROVIDERS = frozenset({"paperspace"})


def find_instance(instance_type: str) -> InstanceFacts | None:
    """The row of an instance name in whichever provider's table holds it exactly (no patterns).

    For names that stand alone (a user typing ``p4d.24xlarge``): only a name held by exactly
    one provider's table counts, so no guess is made between providers.
    """
    exact, _ = _index()
    key = lookup_key(instance_type)
    hits = [
        row for (provider, k), row in exact.items()
        if k == key and provider not in GPU_NAMED_INSTANCE_PROVIDERS
    ]
    return hits[0] if len(hits) == 1 else None


def instance_table() -> pl.DataFrame:
    """Every provider's table in one frame (INSTANCE_TABLE_SCHEMA)."""
    return pl.DataFrame(
        [
            {
                "provider": r.provider, "instance_type": r.instance_type, "gpu": r.gpu,
                "gpu_count": r.gpu_count, "gpu_memory_gb": r.gpu_memory_gb,
                "intra_node_link": r.intra_node_link, "inter_node_fabric": r.inter_node_fabric,
                "source_url": r.source_url, "note": r.note,
            }
            for r in _all_facts()
        ],
        schema=INSTANCE_TABLE_SCHEMA,
    )
