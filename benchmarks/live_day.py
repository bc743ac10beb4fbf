"""A live day against a local server: is it as long as its slowest source, or the sum of them?

    python benchmarks/live_day.py [--baseline REF] [--delay-scale X] [--repeat N]
                                  [--variants before,before-multiprocess,after,after-multiprocess]

What runs. The real daily Dagster job in live mode (`GPU_PRICES_HTTP_MODE=live`, real httpx
clients with the project's retry and per-host layer), for every source that has a recorded
day, on a fresh warehouse. `benchmarks/harness/sitecustomize.py` sends each request that
reaches the network transport to a local HTTP server on 127.0.0.1 instead, which answers with
the recorded response for that method, URL and body. Each version runs in a fresh interpreter:

* before: the code at REF (default: main before this work), in-process executor, so sources
  are fetched one after another;
* before-multiprocess: the same code with Dagster's multiprocess executor (one process per
  source step, up to 16 at once);
* after: this tree, in-process (one raw step fetching every source in its own thread);
* after-multiprocess: this tree with the multiprocess executor.

What it replays. For each source, its newest day in the bundled snapshot
(snapshots/bundled/: azure and skypilot 2026-08-22, oci, cyclenerd, epoch_ai), else its
recorded test fixture (tests/fixtures/<id>/manifest.json; a mix of real and documented-sample
bodies; fine for timing, never market data). AWS and GCP have no recorded fetch chain and are
left out (in a real live day AWS, with its hundreds of megabytes of region files, would be the
slowest source). Keyed sources get a placeholder key; Verda's OAuth token exchange, which is
never recorded, is answered by the server with a placeholder token.

Per-response delays. A recorded body comes back after `first byte + size / bandwidth`:
* prices.azure.com: 1.0 s + 10 ms per price item. The only measured figures we have: the
  itTkm/azure-retail-prices README times whole queries at 700 items in 8 s, 4K items in 40 s
  and 130K items in 20 min (9-11 ms an item), and 2 items in 1 s;
* raw.githubusercontent.com and the S3 bucket of gpuhunt (CDN / object store): 0.15 s and
  0.10 s, then 5 MB/s (assumed);
* every other provider API: 0.4 s, then 2 MB/s (assumed; JSON APIs behind a gateway).
`--delay-scale` multiplies every delay (0.2 for a quick run).

What it prints, per version, all measured in the same run: the job's wall time, the fetch
phase (first request to last response), the slowest source and the sum of every source's own
span (first request to last response of that source, from the server's log), then
total / slowest and sum / total.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.replay import DEFAULT_BASELINE, checkout  # noqa: E402
from connectors.registry import all_sources  # noqa: E402
from connectors.snapshot import Snapshot, SnapshotEntry  # noqa: E402

HARNESS = ROOT / "benchmarks" / "harness"
BUNDLED = ROOT / "snapshots" / "bundled"
FIXTURES = ROOT / "tests" / "fixtures"
PLACEHOLDER_KEY = "bench-placeholder-not-a-key"
VARIANTS = ("before", "before-multiprocess", "after", "after-multiprocess")

# host -> (seconds to the first byte, bytes per second); see the module docstring for why.
HOST_PROFILES = {
    "raw.githubusercontent.com": (0.15, 5e6),
    "dstack-gpu-pricing.s3.eu-west-1.amazonaws.com": (0.10, 5e6),
}
API_PROFILE = (0.4, 2e6)
AZURE_HOST = "prices.azure.com"
AZURE_FIRST_BYTE_S, AZURE_PER_ITEM_S = 1.0, 0.010


@dataclass(frozen=True)
class Recorded:
    entry: SnapshotEntry
    body: bytes
    delay_s: float


def response_delay(entry: SnapshotEntry, body: bytes) -> float:
    host = httpx.URL(entry.url).host
    if host == AZURE_HOST:
        items = len(json.loads(body).get("Items", []))
        return AZURE_FIRST_BYTE_S + AZURE_PER_ITEM_S * items
    first_byte, bandwidth = HOST_PROFILES.get(host, API_PROFILE)
    return first_byte + len(body) / bandwidth


def day_snapshot(scale: float) -> tuple[Snapshot, dict[tuple, Recorded]]:
    """Every source's newest recorded day: bundled snapshot first, else its test fixture."""
    chosen: dict[str, Snapshot] = {}
    for folder in sorted(BUNDLED.iterdir(), reverse=True):
        if (folder / "manifest.json").is_file():
            snapshot = Snapshot(folder)
            for source in snapshot.sources():
                chosen.setdefault(source, snapshot)
    for folder in sorted(FIXTURES.iterdir()):
        if (folder / "manifest.json").is_file():
            snapshot = Snapshot(folder)
            for source in snapshot.sources():
                chosen.setdefault(source, snapshot)
    recorded: dict[tuple, Recorded] = {}
    for source, snapshot in chosen.items():
        for entry in snapshot.entries:
            if entry.source == source:
                body = snapshot.body(entry)
                recorded[entry.key()] = Recorded(entry, body, scale * response_delay(entry, body))
    return chosen, recorded


class ReplayServer:
    """Answers rewritten requests (/<scheme>/<host>/<path>?<query>) with recorded responses,
    after their delay, and logs when each source's requests started and ended."""

    def __init__(self, snapshots: list[Snapshot], recorded: dict[tuple, Recorded], scale: float) -> None:
        self.snapshots = snapshots
        self.recorded = recorded
        self.scale = scale
        self.not_recorded: set[str] = set()
        self.log: list[tuple[str, float, float, int]] = []  # source, started, ended, status
        self._log_guard = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _answer(self) -> None:
                started = time.monotonic()
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                scheme, host, rest = self.path.lstrip("/").split("/", 2)
                url = f"{scheme}://{host}/{rest}"
                source, status, payload, ctype = server.respond(self.command, url, body)
                try:
                    self.send_response(status)
                    self.send_header("content-type", ctype)
                    self.send_header("content-length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass
                with server._log_guard:
                    server.log.append((source, started, time.monotonic(), status))

            do_GET = do_POST = _answer

            def log_message(self, *args) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def respond(self, method: str, url: str, body: bytes) -> tuple[str, int, bytes, str]:
        request = httpx.Request(method, url, content=body if method != "GET" else None)
        if request.url.path.endswith("/oauth2/token"):
            # Never recorded (it carries credentials); a placeholder token lets the GETs go on.
            time.sleep(self.recorded_delay_for_token())
            token = {"access_token": "bench-placeholder-token", "token_type": "Bearer", "expires_in": 3600}
            return "verda", 200, json.dumps(token).encode(), "application/json"
        found = None
        for snapshot in self.snapshots:
            entry = snapshot.lookup(request)
            if entry is not None and entry.key() in self.recorded:
                found = self.recorded[entry.key()]
                break
        if found is None:
            # A catalog the snapshot lacks (a source asks for more clouds than were recorded):
            # answered at once, and counted for the source whose recorded URLs it resembles.
            self.not_recorded.add(f"{method} {url}")
            nearest = max(self.recorded.values(), key=lambda r: len(os.path.commonprefix([r.entry.url, url])))
            return nearest.entry.source, 404, f"not recorded: {method} {url}".encode(), "text/plain"
        time.sleep(found.delay_s)
        return found.entry.source, found.entry.status, found.body, found.entry.headers.get("content-type", "application/octet-stream")

    def recorded_delay_for_token(self) -> float:
        return API_PROFILE[0] * self.scale

    def take_log(self) -> list[tuple[str, float, float, int]]:
        with self._log_guard:
            log, self.log = self.log, []
        return log

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def run_variant(name: str, tree: Path, executor: str, server: ReplayServer, day: str, sources: list[str],
                workdir: Path) -> dict:
    keyed = sorted({env for s in all_sources() if s.id in sources for env in ((s.key_env,) if s.key_env else ()) + tuple(s.extra_key_envs)})
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("GPU_PRICES_")},
        **{k: PLACEHOLDER_KEY for k in keyed},
        "PYTHONPATH": os.pathsep.join([str(tree), str(HARNESS)]),
        "GPU_PRICES_BENCH_SERVER": server.url,
        "GPU_PRICES_HTTP_MODE": "live",
        "GPU_PRICES_WAREHOUSE": str(workdir / "gp.duckdb"),
    }
    server.take_log()
    process_started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "bench_day", day, ",".join(sources), executor],
        cwd=workdir, env=env, capture_output=True, text=True,
    )
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    if result.returncode != 0 or not lines:
        raise SystemExit(f"{name} failed:\n{result.stdout[-3000:]}\n{result.stderr[-5000:]}")
    process_seconds = time.monotonic() - process_started
    run = json.loads(lines[-1])
    log = [row for row in server.take_log() if run["started"] <= row[1] <= run["ended"]]
    spans: dict[str, tuple[float, float]] = {}
    for source, started, ended, _status in log:
        first, last = spans.get(source, (started, ended))
        spans[source] = (min(first, started), max(last, ended))
    durations = {s: last - first for s, (first, last) in spans.items()}
    slowest = max(durations, key=durations.get)
    return {
        "total": run["ended"] - run["started"],
        "process": process_seconds,
        "fetch_phase": max(e for _, e in spans.values()) - min(s for s, _ in spans.values()),
        "slowest": durations[slowest],
        "slowest_source": slowest,
        "sum": sum(durations.values()),
        "requests": len(log),
        "errors": sum(1 for row in log if row[3] >= 400),
        "sources_seen": len(durations),
        "success": run["success"],
        "step_failures": run["step_failures"],
        "steps": run.get("steps", {}),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--baseline", default=DEFAULT_BASELINE, help="git ref of 'before' (default: %(default)s)")
    parser.add_argument("--delay-scale", type=float, default=1.0, help="multiply every response delay")
    parser.add_argument("--repeat", type=int, default=1, help="runs per version, interleaved; medians shown")
    parser.add_argument("--steps", action="store_true", help="also print each run's slowest Dagster steps")
    parser.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated, from: " + ", ".join(VARIANTS))
    args = parser.parse_args()
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = sorted(set(variants) - set(VARIANTS))
    if unknown:
        parser.error(f"unknown variants {unknown}")

    chosen, recorded = day_snapshot(args.delay_scale)
    registered = {s.id for s in all_sources()}
    sources = sorted(s for s in chosen if s in registered)
    day = max(s.snapshot_date for s in chosen.values()).isoformat()
    server = ReplayServer(list({id(s): s for s in chosen.values()}.values()), recorded, args.delay_scale)
    by_source: dict[str, float] = {}
    for item in recorded.values():
        by_source[item.entry.source] = by_source.get(item.entry.source, 0.0) + item.delay_s
    print(f"live day {day}: {len(sources)} sources, {len(recorded)} recorded responses, {os.cpu_count()} cores, "
          f"delay scale {args.delay_scale}")
    print("recorded delay per source, s (the server's sleeps, one after another): "
          + ", ".join(f"{s} {by_source[s]:.1f}" for s in sorted(by_source, key=by_source.get, reverse=True)))
    print(f"left out (no recorded fetch): {', '.join(sorted(registered - set(sources)))}\n")

    results: dict[str, list[dict]] = {v: [] for v in variants}
    with tempfile.TemporaryDirectory(prefix="bench-live-day-") as tmp:
        tmp = Path(tmp)
        baseline = checkout(args.baseline, tmp / "baseline") if any(v.startswith("before") for v in variants) else None
        for attempt in range(args.repeat):
            for variant in variants:
                tree = baseline if variant.startswith("before") else ROOT
                executor = "multiprocess" if variant.endswith("multiprocess") else "in_process"
                workdir = tmp / f"{variant}-{attempt}"
                workdir.mkdir()
                row = run_variant(variant, tree, executor, server, day, sources, workdir)
                results[variant].append(row)
                print(f"  {variant:<20} run {attempt + 1}: total {row['total']:6.1f} s, slowest {row['slowest_source']} "
                      f"{row['slowest']:5.1f} s, sum {row['sum']:6.1f} s, {row['requests']} requests "
                      f"({row['errors']} errors), job {'ok' if row['success'] else 'FAILED'}", flush=True)
                if args.steps:
                    print("      steps, s: " + ", ".join(f"{k} {v:.1f}" for k, v in sorted(row["steps"].items(), key=lambda kv: -kv[1])[:8]))
                for failure in row["step_failures"]:
                    print(f"      step failed: {failure}")
    server.close()
    if server.not_recorded:
        print(f"\nanswered 404, not recorded ({len(server.not_recorded)}): " + "; ".join(sorted(server.not_recorded)))

    print()
    print("total = the Dagster run (execute call); process = the same plus interpreter start and imports")
    header = (f"{'version':<20} {'total s':>8} {'process s':>10} {'fetch s':>8} {'slowest s':>10} {'sum s':>7} "
              f"{'total/slowest':>14} {'sum/total':>10}")
    print(header)
    print("-" * len(header))
    for variant, rows in results.items():
        med = {k: statistics.median(r[k] for r in rows) for k in ("total", "process", "fetch_phase", "slowest", "sum")}
        print(f"{variant:<20} {med['total']:8.1f} {med['process']:10.1f} {med['fetch_phase']:8.1f} {med['slowest']:10.1f} "
              f"{med['sum']:7.1f} {med['total'] / med['slowest']:14.2f} {med['sum'] / med['total']:10.2f}")
    if "before" in results and "after" in results:
        before = statistics.median(r["total"] for r in results["before"])
        after = statistics.median(r["total"] for r in results["after"])
        print(f"\nafter / before total: {after / before:.2f} ({before / after:.1f}x faster)")


if __name__ == "__main__":
    main()
