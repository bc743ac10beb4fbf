"""The one error the cost model raises for inputs it cannot estimate.

An `EstimateError` carries a machine-readable `reason` and the `values` behind it (how many
GPUs the model needs, the fastest deadline that can be met, ...). Its message states the
problem in the cost model's own terms, with the numbers, and never names a CLI flag or a
dashboard widget: each interface words its own advice from `reason` and `values`
(`cli.estimate.advice_for`, the dashboard pages' `_advice`).
"""

from __future__ import annotations

from typing import Any, Mapping


class EstimateError(ValueError):
    """Impossible or unsupported estimate inputs; the message is meant for the end user."""

    def __init__(self, message: str, reason: str = "invalid_input", values: Mapping[str, Any] | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.values: dict[str, Any] = dict(values or {})
