"""Pure run-cost arithmetic (training, inference) and the per-offer metric formulas.

Shared by the pipeline, the dashboard and the `gpu-prices estimate` CLI. Imports nothing
heavier than polars: no DuckDB, Dagster or Streamlit.
"""

from costmodel.errors import EstimateError

__all__ = ["EstimateError"]
