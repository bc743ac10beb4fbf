"""One name per GPU. (Placeholder: the full alias table comes with the specs work.)"""

from __future__ import annotations


def canonical_gpu(name: str | None, memory_gb: float | None = None) -> str | None:
    if not name:
        return None
    return name.strip().upper()
