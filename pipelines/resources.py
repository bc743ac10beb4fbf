"""The two resources every asset uses, each with a live and a recorded implementation.

* `HttpResource`: mode "live" (the network), "replay" (a snapshot directory of recorded real
  responses; tests, the offline demo, benchmarks) or "record" (live, and also writes what it
  fetched as a new snapshot). Chosen by configuration, never by silent fallback.
* `WarehouseResource`: where the DuckDB warehouse lives (a configuration matter, so the same
  code can later point at another store).
* `SecretResource`: one credential (an API key), bound to its environment variable with
  `dg.EnvVar`, so Dagster reads it when a run starts and never shows it in the UI.
"""


import os
from pathlib import Path
from typing import Optional

import dagster as dg
import httpx

from connectors.http import build_client
from connectors.snapshot import RecordingTransport, ReplayTransport, Snapshot
from warehouse.store import Warehouse

MODES = ("live", "replay", "record")


class HttpResource(dg.ConfigurableResource):
    """How connectors reach providers: live, replay (a recorded snapshot) or record."""

    mode: str = "live"
    snapshot_dir: str | None = None  # replay: the snapshot to serve; record: where to write

    def _check(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"http mode must be one of {MODES}, not {self.mode!r}")
        if self.mode in ("replay", "record") and not self.snapshot_dir:
            raise ValueError(f"http mode {self.mode!r} needs snapshot_dir")

    def snapshot(self) -> Snapshot | None:
        self._check()
        return Snapshot(self.snapshot_dir) if self.mode == "replay" else None

    def snapshot_sources(self) -> set[str] | None:
        snapshot = self.snapshot()
        return snapshot.sources() if snapshot else None

    def client_for(self, source_id: str) -> httpx.Client:
        self._check()
        if self.mode == "replay":
            return build_client(ReplayTransport(Path(self.snapshot_dir)), sleep=lambda _s: None)
        if self.mode == "record":
            return build_client(RecordingTransport(httpx.HTTPTransport(), Path(self.snapshot_dir), source_id))
        return build_client()


class WarehouseResource(dg.ConfigurableResource):
    """The DuckDB warehouse: --warehouse, else $GPU_PRICES_WAREHOUSE, else data/ in the project."""

    path: str | None = None

    def get(self) -> Warehouse:
        return Warehouse(self.path)


class SecretResource(dg.ConfigurableResource):
    """One credential. `value` is None when the key is not configured (the source is skipped)."""

    value: Optional[str] = None


def secret_resource_key(env_name: str) -> str:
    """The resource key a credential is bound under, e.g. GCP_API_KEY -> secret_gcp_api_key."""
    return "secret_" + env_name.lower()


def key_envs(source) -> tuple[str, ...]:
    """Every environment variable a source's credentials come from (main key first)."""
    return ((source.key_env,) if source.key_env else ()) + tuple(source.extra_key_envs)


def secret_resources(env_names, *, bind: bool = True) -> dict[str, SecretResource]:
    """A SecretResource per credential. A variable that is set is bound with `dg.EnvVar` (read at
    run launch, hidden in the UI); one that is not set is bound to None, because Dagster fails a
    whole run on an unset EnvVar and a missing key must only skip its own source. `bind=False`
    (replay) binds nothing: a replay never uses keys."""
    return {
        secret_resource_key(name): SecretResource(value=dg.EnvVar(name) if bind and name in os.environ else None)
        for name in env_names
    }
