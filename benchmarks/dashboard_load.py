"""How many people can use the dashboard at once on this machine?

    python benchmarks/dashboard_load.py [--users 1,2,4,8,16,32] [--pages-per-user 3] [--warehouse PATH]

Starts the real dashboard (`gpu-prices dashboard`, Streamlit, on 127.0.0.1 and a free port) on a
warehouse replayed from the bundled snapshot (or --warehouse), then, for each level of N
concurrent users, opens N sessions over Streamlit's own websocket protocol (`/_stcore/stream`,
the messages a browser sends: a `rerun_script` BackMsg naming the page) and has each user load
`--pages-per-user` pages in turn (Market, History, Train, Specs, Freshness, SQL: every user
starts on a different one). A page load is timed from the request to the server's
`script_finished`; a load whose page raised an exception counts as an error.
Only 127.0.0.1 is contacted; every loop is bounded.

It prints per level: page loads, errors, median and 95th-percentile latency, and throughput.
The limit reported is the largest level whose p95 stays under --p95-limit seconds (default 5):
beyond it a page feels broken to the person waiting for it.

MEASURED (2026-12-02, 2 cores, load average ~3) on the generated year of
benchmarks/history_storage.py (53,920 offers/day x 365 days; reference runs priced into the
warehouse, as the pipeline does), every page loaded cold once per user:
`--users 1,2 --pages-per-user 6 --warehouse .../intervals/gpu_prices.duckdb`: 1 user p95 2.61 s
(median 0.76 s), 2 users p95 2.07 s, 0 errors. Before this day's changes the same run had a
p95 of 60.7 s: the History page priced every reference run at every week's market on load
(now stored by the pipeline), and the Train page planned every offer of every GPU for its
cost curve (now the cheapest offers per node shape).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from websockets.asyncio.client import connect as websocket_connect

ROOT = Path(__file__).resolve().parent.parent
PAGES = ["", "history", "train", "specs", "freshness", "sql"]
PAGE_TIMEOUT_S = 120


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_dashboard(warehouse: Path, port: int) -> subprocess.Popen:
    process = subprocess.Popen(
        [sys.executable, "-m", "cli.main", "dashboard", "--port", str(port), "--warehouse", str(warehouse)],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as answer:
                if answer.status == 200:
                    return process
        except OSError:
            time.sleep(0.5)
    process.kill()
    raise SystemExit("the dashboard did not come up within 120 s")


async def load_page(ws, page: str) -> tuple[float, bool]:
    """Ask for one page as a browser does; wait for the script to finish. (seconds, raised?)"""
    message = BackMsg()
    message.rerun_script.query_string = ""
    message.rerun_script.page_name = page
    started = time.perf_counter()
    await ws.send(message.SerializeToString())
    raised = False
    while True:
        raw = await asyncio.wait_for(ws.recv(), PAGE_TIMEOUT_S)
        forward = ForwardMsg()
        forward.ParseFromString(raw)
        kind = forward.WhichOneof("type")
        if kind == "delta" and forward.delta.WhichOneof("type") == "new_element":
            raised = raised or forward.delta.new_element.WhichOneof("type") == "exception"
        if kind == "script_finished" and forward.script_finished in (
            ForwardMsg.FINISHED_SUCCESSFULLY, ForwardMsg.FINISHED_WITH_COMPILE_ERROR
        ):
            return time.perf_counter() - started, raised or forward.script_finished != ForwardMsg.FINISHED_SUCCESSFULLY


async def one_user(port: int, first_page: int, pages: int, latencies: list[float], errors: list[str]) -> None:
    try:
        ws = await websocket_connect(
            f"ws://127.0.0.1:{port}/_stcore/stream", subprotocols=["streamlit"], max_size=None, open_timeout=60
        )
    except Exception as exc:  # noqa: BLE001 - a refused session is a result, not a crash
        errors.append(f"connect: {type(exc).__name__}: {exc}")
        return
    try:
        for i in range(pages):
            page = PAGES[(first_page + i) % len(PAGES)]
            try:
                seconds, raised = await load_page(ws, page)
            except Exception as exc:  # noqa: BLE001
                errors.append(f"{page}: {type(exc).__name__}: {exc}")
                return
            latencies.append(seconds)
            if raised:
                errors.append(f"{page}: the page raised an exception")
    finally:
        await ws.close()


async def level(port: int, users: int, pages: int) -> dict:
    latencies: list[float] = []
    errors: list[str] = []
    started = time.perf_counter()
    await asyncio.gather(*(one_user(port, i, pages, latencies, errors) for i in range(users)))
    wall = time.perf_counter() - started
    ordered = sorted(latencies)
    p95 = ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))] if ordered else float("inf")
    return {
        "users": users, "loads": len(latencies), "errors": errors, "wall": wall,
        "median": statistics.median(ordered) if ordered else float("inf"), "p95": p95,
        "throughput": len(latencies) / wall if wall else 0.0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", default="1,2,4,8,16,32", help="concurrent users per level (comma-separated)")
    parser.add_argument("--pages-per-user", type=int, default=3)
    parser.add_argument("--p95-limit", type=float, default=5.0, help="seconds a page may take at the 95th percentile")
    parser.add_argument("--warehouse", type=Path, default=None, help="an ingested warehouse (default: replay the bundled snapshot)")
    args = parser.parse_args()
    levels = [int(u) for u in args.users.split(",")]

    with tempfile.TemporaryDirectory(prefix="bench-dashboard-") as tmp:
        warehouse = args.warehouse
        if warehouse is None:
            warehouse = Path(tmp) / "gp.duckdb"
            subprocess.run([sys.executable, "-m", "cli.main", "ingest", "--replay", "--warehouse", str(warehouse)],
                           cwd=ROOT, check=True, capture_output=True)
        port = free_port()
        dashboard = start_dashboard(warehouse, port)
        try:
            print(f"dashboard on 127.0.0.1:{port}, {os.cpu_count()} cores, warehouse {warehouse}")
            asyncio.run(level(port, 1, 1))  # warm-up: imports, first queries, caches
            results = []
            for users in levels:
                row = asyncio.run(level(port, users, args.pages_per_user))
                results.append(row)
                print(f"  {users:3d} users: {row['loads']:4d} page loads, {len(row['errors'])} errors, "
                      f"median {row['median']:5.2f} s, p95 {row['p95']:5.2f} s, {row['throughput']:.2f} loads/s", flush=True)
                for error in row["errors"][:3]:
                    print(f"        {error}")
                if row["p95"] > 4 * args.p95_limit:
                    print("  stopping: far past the limit")
                    break
        finally:
            dashboard.terminate()
            try:
                dashboard.wait(timeout=30)
            except subprocess.TimeoutExpired:
                dashboard.kill()
    within = [r["users"] for r in results if r["p95"] <= args.p95_limit and not r["errors"]]
    print(f"\nlimit: {max(within) if within else 0} concurrent users with every page load under "
          f"{args.p95_limit:.0f} s at p95 and no errors")


if __name__ == "__main__":
    main()
