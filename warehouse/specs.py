"""Load the reference tables: the curated spec sheet, GPU aliases, assumptions, external specs.

All writes go through a ``warehouse.store.WarehouseWriter`` (its ``.con``), one transaction
per call, so a failed load leaves the previous tables in place.
"""

from __future__ import annotations

from datetime import date
from functools import partial

import polars as pl

from market.gpu_names import canonical_gpu, curated_aliases
from market.specs import (
    ASSUMPTION_SCHEMA,
    EXTERNAL_SPEC_SCHEMA,
    GPU_SPEC_SCHEMA,
    load_assumptions,
    load_curated_specs,
)

EXTERNAL_SPEC_COLUMNS = [
    "snapshot_date", "source", "gpu", "name_raw", "metric", "value", "source_url",
    "observed_at", "raw_response_id",
]


def _transaction(con, work) -> None:
    con.execute("BEGIN TRANSACTION")
    try:
        work()
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise


def load_reference_tables(
    writer,
    specs: pl.DataFrame | None = None,
    assumptions: pl.DataFrame | None = None,
    aliases: list[tuple[str, str]] | None = None,
) -> dict[str, int]:
    """Replace gpu_specs, add curated aliases, refresh default assumptions. Returns row counts.

    * gpu_specs is replaced whole (the CSV is the source of truth), stamped with loaded_at.
    * gpu_aliases: curated aliases are added; rows already there (seen in a source) are kept,
      except that a NULL gpu is filled in when the curated table now knows the name.
    * assumptions: default rows are replaced; rows with overridden = true are kept and win
      over the default with the same key (kind, generation, precision, model size).
    """
    con = writer.con
    specs = load_curated_specs() if specs is None else specs
    assumptions = load_assumptions() if assumptions is None else assumptions
    aliases = curated_aliases() if aliases is None else aliases
    specs = specs.select(list(GPU_SPEC_SCHEMA))
    assumptions = assumptions.with_columns(
        pl.col("overridden").fill_null(False) if "overridden" in assumptions.columns
        else pl.lit(False).alias("overridden")
    ).select(list(ASSUMPTION_SCHEMA))
    alias_frame = pl.DataFrame(
        {"alias": [a for a, _ in aliases], "gpu": [g for _, g in aliases]},
        schema={"alias": pl.String, "gpu": pl.String},
    ).unique(subset=["alias"], keep="first")

    def work() -> None:
        con.register("incoming_specs", specs)
        con.register("incoming_assumptions", assumptions)
        con.register("incoming_aliases", alias_frame)
        try:
            con.execute("DELETE FROM gpu_specs")
            con.execute(
                "INSERT INTO gpu_specs BY NAME SELECT *, now() AS loaded_at FROM incoming_specs"
            )
            con.execute(
                """
                INSERT INTO gpu_aliases (alias, gpu, seen_in, first_seen, last_seen)
                SELECT alias, gpu, 'curated', current_date, current_date FROM incoming_aliases
                ON CONFLICT (alias) DO UPDATE SET gpu = coalesce(gpu_aliases.gpu, excluded.gpu)
                """
            )
            # Curated rows are replaced whole; an operator's overriding rows stay beside them and
            # win at lookup time (costmodel.assumptions), so nothing here needs to compare keys.
            con.execute("DELETE FROM assumptions WHERE NOT coalesce(overridden, false)")
            con.execute("INSERT INTO assumptions BY NAME SELECT * FROM incoming_assumptions")
        finally:
            con.unregister("incoming_specs")
            con.unregister("incoming_assumptions")
            con.unregister("incoming_aliases")

    _transaction(con, work)
    return {
        table: con.sql(f"SELECT count(*) FROM {table}").fetchall()[0][0]
        for table in ("gpu_specs", "gpu_aliases", "assumptions")
    }


def replace_external_specs(writer, snapshot_date: date, source: str, frame: pl.DataFrame) -> int:
    """Replace one specs source's rows for one day; names are mapped to canonical ids here."""
    con = writer.con
    missing = [c for c in EXTERNAL_SPEC_SCHEMA if c not in frame.columns]
    if missing:
        raise ValueError(f"{source}: external specs frame lacks column(s) {missing}")
    rows = (
        frame.select(list(EXTERNAL_SPEC_SCHEMA))
        .cast(EXTERNAL_SPEC_SCHEMA)
        .unique(subset=["name_raw", "metric"], keep="first", maintain_order=True)
        .with_columns(
            snapshot_date=pl.lit(snapshot_date, dtype=pl.Date),
            source=pl.lit(source),
            gpu=pl.col("name_raw").map_elements(canonical_gpu, return_dtype=pl.String, skip_nulls=True),
        )
        .select(EXTERNAL_SPEC_COLUMNS)
    )

    def work() -> None:
        con.register("incoming_external", rows)
        try:
            con.execute(
                "DELETE FROM external_specs WHERE snapshot_date = ? AND source = ?",
                [snapshot_date, source],
            )
            con.execute("INSERT INTO external_specs BY NAME SELECT * FROM incoming_external")
        finally:
            con.unregister("incoming_external")

    _transaction(con, work)
    return rows.height


def _replace_override(con, row: dict, frame: pl.DataFrame) -> None:
    con.execute(
        "DELETE FROM assumptions WHERE overridden AND kind = ? AND generation = ? AND precision = ? "
        "AND model_params IS NOT DISTINCT FROM ?",
        [row["kind"], row["generation"], row["precision"], row["model_params"]],
    )
    con.register("incoming_override", frame)
    try:
        con.execute("INSERT INTO assumptions BY NAME SELECT * FROM incoming_override")
    finally:
        con.unregister("incoming_override")


def override_assumption(writer, row: dict) -> None:
    """Store a user's assumption (overridden = true), replacing an earlier override of the same key
    (kind, generation, precision, model size); it survives reloads until reset_assumptions."""
    full = {c: row.get(c) for c in ASSUMPTION_SCHEMA} | {"overridden": True}
    frame = pl.DataFrame([full], schema=ASSUMPTION_SCHEMA)
    _transaction(writer.con, partial(_replace_override, writer.con, full, frame))


def reset_assumptions(writer) -> int:
    """Drop every override and restore the curated defaults. Returns how many overrides were removed."""
    con = writer.con
    removed = con.sql("SELECT count(*) FROM assumptions WHERE overridden").fetchall()[0][0]
    con.execute("DELETE FROM assumptions WHERE overridden")
    load_reference_tables(writer)
    return int(removed)
