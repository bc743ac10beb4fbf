"""Instrumentation for the benchmarks, loaded only when this folder is on PYTHONPATH.

Python imports `sitecustomize` at start-up, so these patches reach every process a benchmark
starts, Dagster's step processes included (the multiprocess executor spawns fresh
interpreters). Nothing here is imported by the project; each patch is off unless its variable
is set:

* GPU_PRICES_BENCH_SERVER=http://127.0.0.1:PORT: every request that reaches the network
  transport (`httpx.HTTPTransport`, under the project's retry and per-host limit layer, so the
  limits still see the provider's host) goes to the local replay server instead, as
  http://127.0.0.1:PORT/<scheme>/<host>/<path>?<query>.
* GPU_PRICES_BENCH_OPENS_LOG=FILE: every read-write `duckdb.connect` to a working warehouse
  file (not the published copy) appends one line to FILE, so a benchmark can count writer
  opens in any version of the code.
"""

import os
import time


def _redirect_to_bench_server(server: str) -> None:
    import httpx

    network = httpx.HTTPTransport.handle_request

    def handle_request(self, request):
        url = request.url
        target = httpx.URL(f"{server}/{url.scheme}/{url.netloc.decode()}{url.raw_path.decode()}")
        headers = [(k, v) for k, v in request.headers.raw if k.lower() != b"host"]
        local = httpx.Request(request.method, target, headers=headers, content=request.content)
        response = network(self, local)
        response.request = request
        return response

    httpx.HTTPTransport.handle_request = handle_request


def _log_writer_opens(log_path: str) -> None:
    import duckdb

    connect = duckdb.connect

    def counting_connect(database=":memory:", read_only=False, config=None, **kwargs):
        name = str(database)
        read_only_config = str((config or {}).get("access_mode", "")).upper() == "READ_ONLY"
        if name.endswith(".duckdb") and not name.endswith(".published.duckdb") and not (read_only or read_only_config):
            with open(log_path, "a") as log:
                log.write(f"{os.getpid()}\t{time.monotonic():.6f}\t{name}\n")
        return connect(database, read_only=read_only, config=config or {}, **kwargs)

    duckdb.connect = counting_connect


if os.environ.get("GPU_PRICES_BENCH_SERVER"):
    _redirect_to_bench_server(os.environ["GPU_PRICES_BENCH_SERVER"].rstrip("/"))
if os.environ.get("GPU_PRICES_BENCH_OPENS_LOG"):
    _log_writer_opens(os.environ["GPU_PRICES_BENCH_OPENS_LOG"])
