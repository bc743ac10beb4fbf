"""Connectors: one module per source, plus the shared HTTP, snapshot and naming pieces.

No Dagster here: `pipelines/` wraps these, and tests call them directly.
"""
