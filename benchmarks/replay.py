"""A full `gpu-prices ingest --replay` of the bundled snapshot: this tree against a baseline.

    python benchmarks/replay.py [--baseline REF] [--repeat N]

Runs the real command, in a fresh interpreter each time, on a fresh warehouse, first with the
code at REF (default: the commit before one-writer-per-run and concurrent fetching landed),
then with this working tree, and prints for each: wall time, how many times a writer opened
the working DuckDB file (each open used to re-run the migrations and re-create every view),
and the ratios. Writer opens are counted by `benchmarks/harness/sitecustomize.py`, the same
way for both versions. Both runs use the same bundled snapshot (this tree's).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HARNESS = ROOT / "benchmarks" / "harness"
# main before this work: sources fetched one after another, a writer opened per write.
DEFAULT_BASELINE = "b687899"


def checkout(ref: str, into: Path) -> Path:
    """The project's files at `ref` (git archive, no working copy changes)."""
    into.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", ref], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def run_replay(tree: Path, workdir: Path, snapshot: Path) -> dict:
    warehouse = workdir / "gp.duckdb"
    opens_log = workdir / "writer_opens.log"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(tree), str(HARNESS)]),
        "GPU_PRICES_BENCH_OPENS_LOG": str(opens_log),
    }
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "cli.main", "ingest", "--replay", str(snapshot), "--warehouse", str(warehouse)],
        cwd=tree, env=env, capture_output=True, text=True,
    )
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"replay failed in {tree}:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    opens = len(opens_log.read_text().splitlines()) if opens_log.exists() else 0
    return {"seconds": seconds, "writer_opens": opens}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--baseline", default=DEFAULT_BASELINE, help="git ref of the baseline (default: %(default)s)")
    parser.add_argument("--repeat", type=int, default=1, help="runs per version; the median is shown")
    args = parser.parse_args()

    snapshot = ROOT / "snapshots" / "bundled"
    days = sorted(p.name for p in snapshot.iterdir() if (p / "manifest.json").is_file())
    print(f"gpu-prices ingest --replay {snapshot.relative_to(ROOT)} ({len(days)} days), {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory(prefix="bench-replay-") as tmp:
        tmp = Path(tmp)
        trees = {f"baseline {args.baseline}": checkout(args.baseline, tmp / "baseline"), "this tree": ROOT}
        results: dict[str, list[dict]] = {name: [] for name in trees}
        for attempt in range(args.repeat):
            for name, tree in trees.items():
                workdir = tmp / f"run-{attempt}-{name.split()[0]}"
                workdir.mkdir()
                results[name].append(run_replay(tree, workdir, snapshot))
                shutil.rmtree(workdir)
                print(f"  {name:<22} run {attempt + 1}: {results[name][-1]['seconds']:6.1f} s, "
                      f"{results[name][-1]['writer_opens']} writer opens", flush=True)

    print()
    print(f"{'version':<22} {'wall s':>8} {'writer opens':>13}")
    summary = {}
    for name, runs in results.items():
        summary[name] = (statistics.median(r["seconds"] for r in runs), statistics.median(r["writer_opens"] for r in runs))
        print(f"{name:<22} {summary[name][0]:8.1f} {summary[name][1]:13.0f}")
    (base_s, base_opens), (new_s, new_opens) = summary.values()
    print(f"\nthis tree takes {new_s / base_s:.2f}x the baseline's wall time ({base_s / new_s:.1f}x faster), "
          f"with {new_opens:.0f} writer open(s) instead of {base_opens:.0f}")


if __name__ == "__main__":
    main()
