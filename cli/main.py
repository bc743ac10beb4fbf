"""`gpu-prices`: ingest, query, inspect sources, estimate runs, serve the dashboard.

Heavy imports (Dagster, Streamlit) happen inside the commands that need them, so `gpu-prices
sql` and `gpu-prices estimate` start fast.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from datetime import date, datetime, timezone
from pathlib import Path

import click

from cli import output
from cli.output import console, err_console
from snapshots import bundled_root
from warehouse.store import DEFAULT_WAREHOUSE, WAREHOUSE_ENV, Warehouse

BUNDLED = "__bundled__"

warehouse_option = click.option(
    "--warehouse",
    "warehouse_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help=f"DuckDB warehouse file. Default: ${WAREHOUSE_ENV}, else {DEFAULT_WAREHOUSE} in the current folder.",
)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
def main() -> None:
    """Track the cloud GPU market: prices, specs, and what your run would cost.

    \b
    Quick start (offline, bundled real snapshot):
      gpu-prices ingest --replay
      gpu-prices sql "select provider, count(*) from latest_offers group by 1"
      gpu-prices estimate train --params 70e9 --tokens 2e12 --gpu A100-80GB
      gpu-prices dashboard
    """


# -- ingest ---------------------------------------------------------------------------------


def _snapshot_dirs(replay: str) -> list[Path]:
    root = bundled_root() if replay == BUNDLED else Path(replay)
    if (root / "manifest.json").is_file():
        return [root]
    dated = sorted(p for p in root.glob("*/") if (p / "manifest.json").is_file())
    if not dated:
        raise click.BadParameter(
            f"{root} holds no snapshot (no manifest.json in it or in its sub-folders)",
            param_hint="--replay",
        )
    return dated


class _ProgressHandler(logging.Handler):
    """Shows the pipeline's ingest events (`pipelines.ingest.IngestEvent`) live on the console."""

    STYLES = {"ok": "green", "failed": "red", "skipped": "yellow", "fetched": "cyan"}

    def __init__(self, progress, task) -> None:
        super().__init__(logging.INFO)
        self.progress = progress
        self.task = task

    def emit(self, record: logging.LogRecord) -> None:
        event = getattr(record, "ingest_event", None)
        if event is None:
            return
        if event.status != "archived":
            style = self.STYLES.get(event.status, "dim")
            label = "" if event.status == "progress" else f"{event.status}: "
            self.progress.console.print(f"  [bold]{event.source:<16}[/bold] [{style}]{label}{event.message}[/{style}]")
        self.progress.update(self.task, description=f"{event.source}: {event.message[:60]}")
        if event.terminal or event.status == "fetched":
            self.progress.advance(self.task)


def _run_partition(
    snapshot_date: date,
    mode: str,
    snapshot_dir: Path | None,
    source_ids: list[str],
    warehouse: Warehouse,
    instance,
) -> bool:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from connectors.registry import get_source
    from pipelines.assets import raw_asset_key
    from pipelines.definitions import DAILY_JOB, DERIVED_ASSET_KEYS, build_defs, credential_envs
    from pipelines.resources import HttpResource, WarehouseResource, secret_resources

    selected = [get_source(s) for s in source_ids]
    price_ids = [s.id for s in selected if s.kind != "specs"]
    keys = [raw_asset_key(s) for s in selected] + DERIVED_ASSET_KEYS
    resources = {
        "http": HttpResource(mode=mode, snapshot_dir=str(snapshot_dir) if snapshot_dir else None),
        "warehouse": WarehouseResource(path=str(warehouse.path)),
        **secret_resources(credential_envs(), bind=mode != "replay"),
    }
    run_config = {
        "ops": {"offers": {"config": {"sources": price_ids, "reparse": False}}},
        "loggers": {"console": {"config": {"log_level": "ERROR"}}},
    }
    handler_target = logging.getLogger("gpu_prices.progress")
    with Progress(
        SpinnerColumn(), TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
        TimeElapsedColumn(), console=console, transient=True,
    ) as progress:
        task = progress.add_task(f"{snapshot_date} ({mode})", total=len(selected) * 2)
        handler = _ProgressHandler(progress, task)
        handler_target.addHandler(handler)
        handler_target.setLevel(logging.INFO)
        handler_target.propagate = False
        try:
            job = build_defs(resources).resolve_job_def(DAILY_JOB)
            result = job.execute_in_process(
                partition_key=snapshot_date.isoformat(),
                run_config=run_config,
                asset_selection=keys,
                raise_on_error=False,
                instance=instance,
            )
        finally:
            handler_target.removeHandler(handler)
    if not result.success:
        for event in result.all_events:
            if event.is_step_failure:
                err_console.print(f"[red]step {event.step_key} failed:[/red] {event.event_specific_data.error.message.strip()}")
    return result.success


def _print_summary(warehouse: Warehouse) -> None:
    from warehouse import read

    status = read.query(
        "SELECT source, last_snapshot_date, last_status, last_offers_written, last_message "
        "FROM ingest_status ORDER BY source",
        path=warehouse.path,
    )
    rows = [
        [source, str(day), output.status_text(state), str(offers or 0), output.escape((message or "")[:70])]
        for source, day, state, offers, message in status.iter_rows()
    ]
    output.print_wide(output.status_table("Sources (latest run)", ["source", "snapshot", "status", "offers", "message"], rows), 160)
    totals = read.query(
        "SELECT count(*) AS offers, count(DISTINCT provider) AS providers, "
        "count(DISTINCT coalesce(underlying_provider, provider)) AS clouds, count(DISTINCT gpu) AS gpus, "
        "round(100.0 * count(gpu) / count(*), 1) AS mapped_pct FROM latest_offers",
        path=warehouse.path,
    ).row(0, named=True)
    console.print(
        f"[bold]latest_offers:[/bold] {totals['offers']:,} offers from {totals['providers']} providers "
        f"({totals['clouds']} clouds counting those behind resellers), "
        f"{totals['gpus']} GPU models ({totals['mapped_pct']}% of offers mapped to a canonical GPU). "
        f"Warehouse: {warehouse.published}"
    )


@main.command()
@click.option("--date", "date_", type=click.DateTime(["%Y-%m-%d"]), default=None,
              help="Snapshot date (partition). Default: today (UTC) live; with --replay, every date in the snapshot.")
@click.option("--sources", default=None, metavar="A,B",
              help="Comma-separated source ids (see `gpu-prices sources`). Default: all.")
@click.option("--replay", is_flag=False, flag_value=BUNDLED, default=None, metavar="[DIR]",
              help="Offline: serve recorded responses from DIR instead of the network. Without DIR, the bundled real snapshot (all its dates).")
@click.option("--record", type=click.Path(file_okay=False, path_type=Path), default=None, metavar="DIR",
              help="Live, and also write every response into DIR as a new snapshot.")
@warehouse_option
def ingest(date_, sources, replay, record, warehouse_path) -> None:
    """Fetch, archive, parse and publish prices for one day (runs the Dagster job in process).

    \b
    Examples:
      gpu-prices ingest --replay                 # bundled real snapshot, offline
      gpu-prices ingest --sources azure,skypilot # live, two sources
      gpu-prices ingest --record snapshots/mine  # live, and keep the responses
    Re-running a day replaces that day's rows for each source and nothing else.
    """
    from connectors.registry import all_sources, get_source
    from connectors.snapshot import Snapshot

    if replay and record:
        raise click.UsageError("--replay and --record exclude each other")
    warehouse = Warehouse(warehouse_path)
    try:
        requested = [get_source(s.strip()).id for s in sources.split(",")] if sources else [s.id for s in all_sources()]
    except KeyError as exc:
        raise click.BadParameter(str(exc.args[0]), param_hint="--sources") from exc

    plan: list[tuple[date, str, Path | None, list[str]]] = []
    if replay:
        for folder in _snapshot_dirs(replay):
            snapshot = Snapshot(folder)
            if date_ and snapshot.snapshot_date != date_.date():
                continue
            in_snapshot = [s for s in requested if s in snapshot.sources()]
            if in_snapshot:
                plan.append((snapshot.snapshot_date, "replay", folder, in_snapshot))
        if not plan:
            raise click.UsageError("nothing to replay: no snapshot matches the given --date / --sources")
    else:
        day = date_.date() if date_ else datetime.now(timezone.utc).date()
        plan.append((day, "record" if record else "live", record, requested))

    import dagster as dg

    console.print(f"[bold]Ingesting[/bold] {len(plan)} day(s) into {warehouse.path}")
    ok = True
    # One writer and one Dagster instance for every day: the warehouse is opened and migrated
    # once, not once per write, and each day's run skips building a fresh instance.
    with warehouse.session(), dg.DagsterInstance.ephemeral() as instance:
        for snapshot_date, mode, folder, ids in plan:
            console.print(f"[bold cyan]{snapshot_date}[/bold cyan] {mode}{' ' + str(folder) if folder else ''}: {', '.join(ids)}")
            ok = _run_partition(snapshot_date, mode, folder, ids, warehouse, instance) and ok
    _print_summary(warehouse)
    if not ok:
        raise SystemExit(1)


# -- backfill -------------------------------------------------------------------------------

@main.command()
@click.argument("sources", nargs=-1, required=True, metavar="SOURCE...")
@click.option("--since", type=click.DateTime(["%Y-%m-%d"]), default=None, help="First commit day (UTC) to land.")
@click.option("--until", type=click.DateTime(["%Y-%m-%d"]), default=None, help="Last commit day (UTC) to land.")
@click.option("--offline/--live", default=True, show_default=True,
              help="Offline: the archive copy shipped in snapshots/archives (or --archive-dir). "
                   "Live: list the commits through GitHub's API and fetch each raw file.")
@click.option("--archive-dir", type=click.Path(file_okay=False, exists=True, path_type=Path), default=None,
              help="Offline: a folder holding the archive's index.csv + versions.tar.xz (or its per-file folders).")
@click.option("--derive/--no-derive", default=True, show_default=True,
              help="Rebuild the price index of the landed days (and cost metrics of each archive's latest day).")
@warehouse_option
def backfill(sources, since, until, offline, archive_dir, derive, warehouse_path) -> None:
    """Land years of history from public trackers' git archives, one partition per commit day.

    \b
    SOURCE: cyclenerd, becloudready, azure-pricing-radar (or "all").
    Examples:
      gpu-prices backfill all                             # every archive, offline
      gpu-prices backfill cyclenerd --since 2024-01-01    # one archive, from a date
      gpu-prices backfill becloudready --live             # GitHub's API and raw files
    Each version is an observation at its commit time; a day's last version wins, every
    version is archived. Days the project fetched itself are kept; gaps are shown, not filled.
    Re-running is idempotent.
    """
    from connectors import http
    from connectors.registry import ARCHIVES
    from pipelines.backfill import refresh_derived, run_backfill
    from snapshots import archives_root

    ids = list(ARCHIVES) if "all" in sources else list(dict.fromkeys(sources))
    unknown = [s for s in ids if s not in ARCHIVES]
    if unknown:
        raise click.BadParameter(f"no archive for {', '.join(unknown)}; archives: {', '.join(ARCHIVES)}",
                                 param_hint="SOURCE")
    if archive_dir and len(ids) > 1:
        raise click.UsageError("--archive-dir names one archive's folder: give one SOURCE with it")
    warehouse = Warehouse(warehouse_path)
    landed: list[date] = []
    latest: list[date] = []  # each archive's most recent day with offers
    failed = False
    client = None if offline else http.build_client()
    console.print(f"[bold]Backfilling[/bold] {', '.join(ids)} ({'offline' if offline else 'live'}) into {warehouse.path}")
    try:
        with warehouse.session():
            for source_id in ids:
                root = None if client else (archive_dir or archives_root() / source_id)
                summary = run_backfill(
                    warehouse, source_id, root=root, client=client,
                    since=since.date() if since else None, until=until.date() if until else None,
                    run_id=f"backfill-{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}",
                    progress=lambda line: console.print(line, markup=False, highlight=False, soft_wrap=True),
                )
                for line in summary.lines():
                    console.print(line, markup=False, highlight=False, soft_wrap=True)
                with_offers = [d.day for d in summary.days if d.status == "ok" and d.offers]
                landed += with_offers
                latest += with_offers[-1:]
                failed = failed or any(d.status == "failed" for d in summary.days)
            if derive and landed:
                n = refresh_derived(warehouse, landed, latest, progress=lambda m: console.print(m, markup=False))
                console.print(f"price index rebuilt for {n} day(s); cost metrics for {', '.join(map(str, sorted(set(latest))))}")
            warehouse.publish()
    finally:
        if client is not None:
            client.close()
    console.print("Gaps by day: gpu-prices sql \"select * from backfill_gaps order by missing_days desc\"",
                  markup=False, highlight=False)
    if failed:
        raise SystemExit(1)


# -- sql ------------------------------------------------------------------------------------


def _size_option(name: str, env: str, default: str, what: str):
    return click.option(name, default=None, metavar="SIZE",
                        help=f"{what} (e.g. 512MB, 4GB). Default: ${env}, else {default}.")


@main.command()
@click.argument("query")
@click.option("--format", "fmt", type=click.Choice(output.FORMATS), default="table", show_default=True,
              help="table for reading; csv/json/parquet for other tools. Nested values are JSON text "
                   "in table and csv, intervals ISO 8601 text (e.g. P1DT2H), blobs \\x hex.")
@click.option("--output", "-o", "output_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write csv/json/parquet to this file instead of stdout.")
@click.option("--timeout", "timeout_s", type=click.FloatRange(0, 86400, min_open=True), default=None, metavar="SECONDS",
              help="Stop the query after this long. Default: $GPU_PRICES_SQL_TIMEOUT_S, else 30.")
@click.option("--max-rows", type=click.IntRange(1), default=None,
              help="Return at most this many rows (and say so when cut). Default: $GPU_PRICES_SQL_MAX_ROWS, else 100000.")
@_size_option("--memory-limit", "GPU_PRICES_SQL_MEMORY_LIMIT", "1GB", "Memory the query may use")
@_size_option("--temp-limit", "GPU_PRICES_SQL_TEMP_LIMIT", "2GB", "Disk the query may spill to")
@_size_option("--result-limit", "GPU_PRICES_SQL_RESULT_LIMIT", "256MB", "Size of the rows returned; more are cut, with a note")
@click.option("--threads", type=click.IntRange(1, 256), default=None,
              help="Threads the query may use. Default: $GPU_PRICES_SQL_THREADS, else 2.")
@warehouse_option
def sql(query, fmt, output_path, timeout_s, max_rows, memory_limit, temp_limit, result_limit, threads,
        warehouse_path) -> None:
    """Run a read-only SQL QUERY against the published warehouse.

    \b
    Views: latest_offers, offers_history, price_changes, ingest_status, gpu_specs,
    gpu_cost_metrics, price_index_daily, cheapest_offers, spec_disagreements,
    unmapped_gpus, source_disagreements (see README, "SQL").
    Writes, COPY, ATTACH, INSTALL, file and network reads, and metadata that shows server
    paths (duckdb_databases(), duckdb_settings(), ...) are refused. Each query is bounded in
    time, memory, spill space and rows returned (see the options); Ctrl+C cancels it.

    \b
    Examples:
      gpu-prices sql "select gpu, min(price_usd_per_gpu_hour) from latest_offers group by 1"
      gpu-prices sql "select * from offers_history" --format parquet -o history.parquet
    """
    import duckdb

    from warehouse import read

    try:
        limits = read.SqlLimits.from_env(
            timeout_s=timeout_s, max_rows=max_rows, memory_limit=memory_limit,
            max_temp_directory_size=temp_limit, result_limit=result_limit, threads=threads,
        )
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    try:
        result = read.run_user_sql(query, warehouse_path, limits)
    except read.SqlRefused as exc:
        raise click.ClickException(f"refused: {exc}") from exc
    except read.WarehouseMissing as exc:
        raise click.ClickException(str(exc)) from exc
    except read.SqlStopped as exc:
        raise click.ClickException(str(exc)) from exc
    except KeyboardInterrupt:
        raise click.ClickException("cancelled (Ctrl+C)") from None
    except duckdb.Error as exc:
        raise click.ClickException(f"query failed: {exc}") from exc
    output.write_frame(result.frame, fmt, output_path)
    for line in result.notes():
        output.note(line)


# -- sources --------------------------------------------------------------------------------


ACCOUNTING_FIELDS = ("rows_read", "offers", "quarantined", "unmapped", "excluded")


def _source_accounting(warehouse_path) -> dict[str, dict]:
    """Per source, its latest run's accounting and the exclusions by rule (empty if no warehouse)."""
    from warehouse import read

    try:
        status = read.query("SELECT * FROM ingest_status", path=warehouse_path).to_dicts()
        exclusions = read.query(
            "SELECT e.source, e.rule, e.rows FROM source_exclusions e JOIN ingest_status s "
            "ON e.source = s.source AND e.snapshot_date = s.last_snapshot_date ORDER BY e.rows DESC, e.rule",
            path=warehouse_path,
        ).to_dicts()
    except read.WarehouseMissing:
        return {}
    by_source: dict[str, dict] = {}
    for row in status:
        counts = {
            "rows_read": row.get("last_rows_read"),
            "offers": row.get("last_offers_written"),
            "quarantined": row.get("last_quarantined"),
            "unmapped": row.get("last_unmapped"),
            "excluded": row.get("last_excluded"),
        }
        known = all(counts[k] is not None for k in ACCOUNTING_FIELDS)
        by_source[row["source"]] = {
            **row,
            **counts,
            "unaccounted": (counts["rows_read"] - sum(counts[k] for k in ACCOUNTING_FIELDS[1:])) if known else None,
            "exclusions": {},
        }
    for row in exclusions:
        by_source.setdefault(row["source"], {"exclusions": {}})["exclusions"][row["rule"]] = row["rows"]
    return by_source


@main.command()
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True,
              help="table for people; json for scripts (one object per source, with its row accounting).")
@warehouse_option
def sources(fmt, warehouse_path) -> None:
    """List every source: kind, providers, key, its last run, and where every row went.

    \b
    The accounting of the last run: rows read = offers + quarantined (a reason each, in
    quarantined_offers) + unmapped (a GPU name we cannot map yet; see the unmapped_gpus view)
    + excluded (by a named rule: CPU-only, Windows licence, another zone's duplicate, ...).
    """
    from connectors.registry import all_sources

    accounting = _source_accounting(warehouse_path)
    ordered = sorted(all_sources(), key=lambda s: (s.kind, s.id))
    if fmt == "json":
        out = []
        for s in ordered:
            st = accounting.get(s.id, {})
            out.append({
                "id": s.id, "kind": s.kind, "providers": list(s.providers), "key_env": s.key_env,
                "last_snapshot_date": st.get("last_snapshot_date"), "last_status": st.get("last_status"),
                "last_message": st.get("last_message"), "offers_in_latest": st.get("offers_in_latest"),
                **{k: st.get(k) for k in ACCOUNTING_FIELDS},
                "unaccounted": st.get("unaccounted"),
                "exclusions": st.get("exclusions", {}),
            })
        click.echo(json.dumps(out, default=str, indent=1))
        return
    rows = []
    for s in ordered:
        key = "-" if not s.key_env else (f"{s.key_env} (set)" if os.environ.get(s.key_env) else f"{s.key_env} (missing)")
        st = accounting.get(s.id, {})
        excluded = st.get("excluded")
        rules = ", ".join(f"{rule} {n}" for rule, n in (st.get("exclusions") or {}).items())
        rows.append([
            s.id, s.kind, ", ".join(s.providers) or "-", key,
            str(st.get("last_snapshot_date") or "never"),
            output.status_text(st.get("last_status")),
            *(_count(st.get(k)) for k in ("rows_read", "offers", "quarantined", "unmapped")),
            _count(excluded) + (f" ({output.escape(rules)})" if rules else ""),
            output.escape((st.get("last_message") or "")[:80]),
        ])
    columns = ["id", "kind", "providers", "key", "last run", "status", "rows read", "offers",
               "quarantined", "unmapped", "excluded", "message"]
    output.print_wide(output.status_table("Sources", columns, rows), 260)
    kinds = [s.kind for s in all_sources()]
    console.print(f"{kinds.count('direct')} direct, {kinds.count('aggregator')} aggregator, {kinds.count('specs')} specs source(s)")


def _count(value) -> str:
    return "-" if value is None else f"{value:,}"


# -- export-iceberg -------------------------------------------------------------------------


@main.command("export-iceberg")
@click.option("--catalog", "catalog_name", default=None, metavar="NAME",
              help="A catalog from pyiceberg's configuration (~/.pyiceberg.yaml or PYICEBERG_CATALOG__NAME__URI ...): "
                   "REST, Glue, Hive, or SQL on PostgreSQL. Default: a local SQL catalog (SQLite) in --catalog-dir.")
@click.option("--catalog-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder of the local catalog (catalog.db + data/). Default: iceberg/ beside the warehouse.")
@click.option("--table", "identifier", default="gpu_prices.offers_history", show_default=True,
              help="namespace.table to write.")
@click.option("--date", "dates", multiple=True, type=click.DateTime(["%Y-%m-%d"]),
              help="Export only this day (repeatable); its rows in the table are replaced. Default: every day.")
@warehouse_option
def export_iceberg(catalog_name, catalog_dir, identifier, dates, warehouse_path) -> None:
    """Publish the offers history as an Apache Iceberg table that Spark, Trino and polars read.

    \b
    Reads the published warehouse (never waits for an ingest) and writes every offer, partitioned
    by month of snapshot_date. Re-running replaces what it exported: every day, or the --date days.
    \b
    Examples:
      gpu-prices export-iceberg                       # local catalog in data/iceberg/
      gpu-prices export-iceberg --date 2026-08-22     # replace one day
      gpu-prices export-iceberg --catalog lakehouse   # a REST/SQL catalog from ~/.pyiceberg.yaml
    Read it back:  polars.scan_iceberg(catalog.load_table("gpu_prices.offers_history"))
    """
    from warehouse import read

    try:
        from warehouse import iceberg
    except ImportError as exc:
        raise click.ClickException(
            f"the Iceberg export needs pyiceberg ({exc.name} is missing): pip install 'gpu-prices[iceberg]'"
        ) from exc
    warehouse = Warehouse(warehouse_path)
    if catalog_name and catalog_dir:
        raise click.UsageError("--catalog and --catalog-dir exclude each other")
    folder = catalog_dir or warehouse.path.parent / "iceberg"
    catalog = iceberg.named_catalog(catalog_name) if catalog_name else iceberg.local_catalog(folder)
    try:
        result = iceberg.export_offers_history(
            catalog, identifier, days=[d.date() for d in dates] or None, warehouse_path=warehouse.path
        )
    except read.WarehouseMissing as exc:
        raise click.ClickException(str(exc)) from exc
    where = f"catalog {catalog_name}" if catalog_name else f"local catalog {folder / 'catalog.db'}"
    console.print(
        f"[bold]{result.table}[/bold]: {result.rows:,} offers over {result.days} day(s) written "
        f"(snapshot {result.snapshot_id}) in {where}; data at {result.location}"
    )


# -- assumptions ----------------------------------------------------------------------------


@main.group()
def assumptions() -> None:
    """The utilisation (MFU) and serving efficiencies behind every estimate and effective TFLOP.

    \b
    Training MFU is keyed by GPU generation (the spec sheet's architecture), precision and
    model size, each row citing the published run it comes from; serving efficiencies are
    calibrated on MLPerf Inference (docs/run-pricing-calibration.md). Override one with
    `assumptions set`; overrides survive ingests until `assumptions reset`.
    """


@assumptions.command("list")
@warehouse_option
def assumptions_list(warehouse_path) -> None:
    """Show the assumptions table, overrides marked."""
    from warehouse import read

    try:
        frame = read.query(
            "SELECT kind, generation, precision, model_params, measured_gpus, value, same_as_generation, "
            "same_as_precision, source_run, overridden, source_url FROM assumptions "
            "ORDER BY kind, generation, precision, model_params",
            path=warehouse_path,
        )
    except read.WarehouseMissing as exc:
        raise click.ClickException(str(exc)) from exc
    output.write_frame(frame, "table")


@assumptions.command("set")
@click.option("--kind", type=click.Choice(["training_mfu", "mfu_scale_per_doubling", "serve_compute_efficiency",
                                           "serve_memory_efficiency", "serve_tp_efficiency"]), required=True)
@click.option("--generation", default="*", show_default=True,
              help="GPU generation as the spec sheet's architecture, lower-cased (hopper, ampere, tpu v4, cdna 3) or *.")
@click.option("--precision", default="*", show_default=True, help="bf16, fp16, fp8, fp4, tf32, fp32 or *.")
@click.option("--model-params", type=float, default=None,
              help="training_mfu: active parameters of the run your value comes from (e.g. 70e9).")
@click.option("--measured-gpus", type=click.FloatRange(8, None), default=None,
              help="training_mfu: GPUs that run used; plans beyond it are extrapolated.")
@click.option("--value", type=click.FloatRange(0, 1, min_open=True), required=True, help="A fraction in (0, 1].")
@click.option("--source-run", default=None, help="The run your value comes from.")
@click.option("--source-url", default="https://example.invalid/user-override", show_default=True,
              help="Where your figure comes from.")
@warehouse_option
def assumptions_set(kind, generation, precision, model_params, measured_gpus, value, source_run, source_url,
                    warehouse_path) -> None:
    """Override one assumption, recompute every day's cost metrics, and publish.

    \b
    Example: your own 70B runs on H100 reach 40 % end-to-end MFU in bf16:
      gpu-prices assumptions set --kind training_mfu --generation hopper --precision bf16 \\
          --model-params 70e9 --measured-gpus 1024 --value 0.40 --source-run "our run"
    """
    from warehouse.derived import refresh_all_cost_metrics
    from warehouse.specs import override_assumption

    if kind == "training_mfu" and (model_params is None or measured_gpus is None):
        raise click.UsageError("a training_mfu override needs --model-params and --measured-gpus (the run it measures)")
    warehouse = Warehouse(warehouse_path)
    if not warehouse.path.exists():
        raise click.ClickException(f"no warehouse at {warehouse.path}; run `gpu-prices ingest --replay` first")
    with warehouse.writer() as w:
        override_assumption(w, {
            "kind": kind, "generation": generation.lower(), "precision": precision.lower(),
            "model_params": model_params, "measured_gpus": measured_gpus, "value": value,
            "source_run": source_run or "user override", "source_url": source_url,
            "note": f"override set {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC",
        })
        days = refresh_all_cost_metrics(w)
        _reprice_reference_runs(w)
    warehouse.publish()
    console.print(f"[green]override saved[/green]; cost metrics recomputed for {days} snapshot date(s), reference "
                  "runs re-priced, and published")


def _reprice_reference_runs(writer) -> None:
    """The stored reference-run history used the old assumptions: price every period again."""
    from connectors.registry import source_kinds
    from warehouse.reference_history import refresh_reference_history

    kinds = source_kinds()
    refresh_reference_history(writer, kinds, full=True, progress=lambda m: console.print(m, markup=False))


@assumptions.command("reset")
@warehouse_option
def assumptions_reset(warehouse_path) -> None:
    """Drop every override, restore the curated defaults, recompute and publish."""
    from warehouse.derived import refresh_all_cost_metrics
    from warehouse.specs import reset_assumptions

    warehouse = Warehouse(warehouse_path)
    with warehouse.writer() as w:
        removed = reset_assumptions(w)
        refresh_all_cost_metrics(w)
        _reprice_reference_runs(w)
    warehouse.publish()
    console.print(f"removed {removed} override(s); defaults restored and metrics recomputed")


# -- dashboard ------------------------------------------------------------------------------


@main.command()
@click.option("--address", default="127.0.0.1", show_default=True,
              help="Interface to listen on. The default serves this machine only; use 0.0.0.0 to "
                   "serve your network (the dashboard has no login).")
@click.option("--port", type=click.IntRange(1, 65535), default=8501, show_default=True, help="Port to serve on.")
@click.option("--headless/--open-browser", default=True, show_default=True)
@warehouse_option
def dashboard(address, port, headless, warehouse_path) -> None:
    """Serve the Streamlit dashboard on the published warehouse (read-only).

    \b
    The SQL page's limits come from the environment: GPU_PRICES_SQL_TIMEOUT_S (30),
    GPU_PRICES_SQL_MAX_ROWS (100000), GPU_PRICES_SQL_RESULT_LIMIT (256MB),
    GPU_PRICES_SQL_MEMORY_LIMIT (1GB), GPU_PRICES_SQL_TEMP_LIMIT (2GB), GPU_PRICES_SQL_THREADS (2).
    """
    from importlib import resources

    warehouse = Warehouse(warehouse_path)
    if not warehouse.published.exists():
        raise click.ClickException(
            f"no published warehouse at {warehouse.published}; run `gpu-prices ingest --replay` first"
        )
    app = Path(str(resources.files("dashboards").joinpath("streamlit_app.py")))
    env = {**os.environ, WAREHOUSE_ENV: str(warehouse.path)}
    console.print(f"Dashboard on http://{address}:{port} (Ctrl+C to stop)")
    # Settings as flags, not .streamlit/config.toml, so they hold from any working folder.
    cmd = [sys.executable, "-m", "streamlit", "run", str(app),
           "--server.address", address, "--server.port", str(port),
           "--server.headless", "true" if headless else "false", "--server.runOnSave", "false",
           "--browser.gatherUsageStats", "false", "--client.toolbarMode", "minimal",
           "--theme.base", "light"]
    raise SystemExit(subprocess.call(cmd, env=env))


def _attach_estimate() -> None:
    try:
        from cli.estimate import estimate
    except ImportError:  # pragma: no cover - only while the cost model is being built
        return
    main.add_command(estimate)


_attach_estimate()

if __name__ == "__main__":  # pragma: no cover
    main()
