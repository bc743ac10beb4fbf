"""Every source, registered once. A new provider is one module, one fixture and one line here."""

from __future__ import annotations

from connectors.base import Source

# One line per source. Keep the list sorted by id within each kind.
SOURCES: list[Source] = []


def all_sources() -> list[Source]:
    return list(SOURCES)


def get_source(source_id: str) -> Source:
    for source in SOURCES:
        if source.id == source_id:
            return source
    known = ", ".join(s.id for s in SOURCES)
    raise KeyError(f"unknown source {source_id!r}; known sources: {known}")


def price_sources() -> list[Source]:
    return [s for s in SOURCES if s.kind in ("direct", "aggregator")]
