"""Benchmark: a reference run priced at every week's market (run by hand).

    python benchmarks/reference_runs.py --warehouse /tmp/refrun/w.duckdb   # a replayed warehouse
    python benchmarks/reference_runs.py                                    # builds one (ingest --replay)
    python benchmarks/reference_runs.py --weeks 60                         # a shorter span

THE INPUT: the warehouse `gpu-prices ingest --replay` builds from the bundled real snapshot
(or the one given). The run is GPT-3 175B on 300B tokens, weekly over 2022-01 to 2026-08.

WHAT IS TIMED, in this one process, best of --repeat:

* ``ours`` - `cli.estimate.price_runs_over` (what `estimate train --over` runs, progress on
  stderr included): `load_offers` per week with one warehouse connection held open for the
  call, weeks made of the same snapshots planned once, each market narrowed to the cheapest
  offer per node shape before planning.
* ``naive`` - the baseline: per week `load_offers`, then for every GPU type with a spec sheet
  `training.rank_plans` over all its bookable offers (what looping `estimate train --as-of D
  --gpu G` would do, minus process start-up), keeping the cheapest per generation.
* ``load only`` - the per-week `load_offers` calls alone, each opening the warehouse (as naive).

Both paths must give the same cheapest cost per week and generation (checked; exit 1 if not).
Target (issue 10): ``ours`` well under a minute for ~230 weeks on the bundled data.

MEASURED (2026-12-02, 2 cores shared with other jobs, load average ~8; bundled snapshot, 245
weeks 2022-01-01 to 2026-08-31, 282 points, both paths equal):

    load only    10.56 s
    ours          2.29 s   (7.3x faster than naive)
    naive        16.74 s
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cli.estimate import load_assumptions, load_offers, load_specs, price_runs_over  # noqa: E402
from costmodel import reference_runs as rr  # noqa: E402
from costmodel import training  # noqa: E402
from costmodel.errors import EstimateError  # noqa: E402
from costmodel.offers import bookable_offers  # noqa: E402


def naive(run, spans, warehouse, specs, assumed) -> dict:
    best: dict = {}
    for period, as_of in spans:
        market = load_offers(warehouse, as_of)
        for gpu in sorted(set(market["gpu"].drop_nulls().to_list())):
            if gpu not in specs:
                continue
            try:
                offers = bookable_offers(market, gpu, "on_demand")
                plan = training.rank_plans(run.spec, specs[gpu], offers, assumed).best
            except EstimateError:  # this GPU cannot hold or run the job at all
                continue
            if plan is None:
                continue
            key = (period, rr.generation_of(specs[gpu]))
            best[key] = min(best.get(key, float("inf")), plan.total_cost_usd)
    return best


def ours(run, spans, warehouse) -> dict:
    frame = price_runs_over([run], (spans[0][0], spans[-1][1]), "week", warehouse)
    return {(r["period"], r["generation"]): r["total_cost_usd"] for r in frame.iter_rows(named=True)}


def load_only(spans, warehouse) -> None:
    for _, as_of in spans:
        load_offers(warehouse, as_of)


def timed(fn, repeat: int):
    best, result = float("inf"), None
    for _ in range(repeat):
        started = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - started)
    return best, result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--warehouse", type=Path, default=None)
    parser.add_argument("--weeks", type=int, default=None, help="Only the first N weeks of the span.")
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    warehouse = args.warehouse
    if warehouse is None:
        warehouse = Path(tempfile.mkdtemp()) / "w.duckdb"
        subprocess.run([sys.executable, "-m", "cli.main", "ingest", "--replay", "--warehouse", str(warehouse)],
                       cwd=ROOT, check=True, capture_output=True)
    spans = rr.periods(date(2022, 1, 1), date(2026, 8, 31), "week")[: args.weeks]
    specs = load_specs(str(warehouse))
    assumed, _ = load_assumptions(str(warehouse))
    run = rr.REFERENCE_RUNS["gpt3-175b"]
    t_load, _ = timed(lambda: load_only(spans, str(warehouse)), args.repeat)
    t_ours, got = timed(lambda: ours(run, spans, str(warehouse)), args.repeat)
    t_naive, expected = timed(lambda: naive(run, spans, str(warehouse), specs, assumed), args.repeat)
    print(f"{len(spans)} weeks, GPT-3 175B / 300B tokens, on {warehouse}")
    print(f"  load only  {t_load:7.2f} s")
    print(f"  ours       {t_ours:7.2f} s   ({t_naive / t_ours:.1f}x faster than naive)")
    print(f"  naive      {t_naive:7.2f} s")
    same = got.keys() == expected.keys() and all(abs(got[k] - expected[k]) <= 1e-6 * expected[k] for k in got)
    print(f"  same cheapest cost per week and generation: {same} ({len(got)} points)")
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
