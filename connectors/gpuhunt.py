"""dstack's gpuhunt catalogs: offers of many clouds, published per provider, no key.

Endpoints (gpuhunt ``_internal/catalog.py``, v3 layout; ``publish_catalog.sh``)::

    GET https://dstack-gpu-pricing.s3.eu-west-1.amazonaws.com/v3/{provider}/version
        -> the latest version name, e.g. "20260915-1234" (date + CI run number)
    GET https://dstack-gpu-pricing.s3.eu-west-1.amazonaws.com/v3/{provider}/{version}/catalog.zip
        -> a zip holding one file, "{provider}.csv"

The CSV has the v2 columns (``CATALOG_V2_FIELDS``): instance_name, location, price, cpu,
memory, gpu_count, gpu_name, gpu_memory, spot, disk_size, gpu_vendor, flags, cpu_arch,
provider_data. Price is USD per instance-hour; spot offers are separate rows (``spot`` True).

Provider list. gpuhunt publishes catalogs only for its "offline" providers (`CATALOGS`: the
v3 ``OFFLINE_PROVIDERS``); its "online" providers (vastai, vultr, digitalocean, ...) are
queried live by the gpuhunt library and have no published file. Each provider is published
independently, so a provider whose ``version`` or ``catalog.zip`` is missing or fails is
skipped with a progress line and the others still count; the fetch fails only if no
provider's catalog could be fetched. (A failed provider's response is not yielded: yielding
it would make `check_responses` reject the whole day.)

Parsing rules.
* Provider = the real cloud, from the URL, normalised to our ids (`market.providers`:
  lambdalabs -> lambda, datacrunch -> verda; vastai and the rest unchanged).
* ``spot`` True -> pricing "spot", else "on_demand".
* Rows with ``flags`` are excluded ("not-a-list-price"). Flags mark special offer types (e.g.
  GCP DWS calendar mode) that are not the plain price of the instance; gpuhunt's own v1 export
  drops them too (``convert_catalog_v2_to_v1``).
* A cell that is not a number quarantines its row; a catalog that cannot be read at all fails
  only that provider (`parse_isolated`), named in the run's message.
* ``gpu_memory`` is per GPU in GB; ``memory`` is GB; empty optional cells are null.
"""

from __future__ import annotations

import io
import re
import zipfile
from typing import Iterator
from urllib.parse import urlsplit

import httpx
import polars as pl

from connectors import http
from connectors.base import (
    FetchContext,
    ParseError,
    RawResponse,
    Source,
    SourceError,
    offers_frame,
    parse_each,
    provenance,
)
from connectors.bodies import complete_body, csv_records
from market.providers import canonical_provider

BASE_URL = "https://dstack-gpu-pricing.s3.eu-west-1.amazonaws.com/v3"

# gpuhunt v3 OFFLINE_PROVIDERS (the providers it publishes catalogs for).
CATALOGS = ("aws", "azure", "cloudrift", "gcp", "lambdalabs", "nebius", "oci", "runpod", "verda")

REQUIRED_COLUMNS = (
    "instance_name", "location", "price", "cpu", "memory", "gpu_count", "gpu_name", "gpu_memory", "spot",
)

_CATALOG_PATH = re.compile(r"/v3/(?P<provider>[^/]+)/(?P<version>[^/]+)/catalog\.zip$")
_VERSION = re.compile(r"^[A-Za-z0-9._-]+$")


def version_url(provider: str) -> str:
    return f"{BASE_URL}/{provider}/version"


def catalog_url(provider: str, version: str) -> str:
    return f"{BASE_URL}/{provider}/{version}/catalog.zip"


class GpuhuntCatalogs(Source):
    id = "gpuhunt"
    name = "dstack gpuhunt catalogs"
    kind = "aggregator"
    providers = tuple(sorted(canonical_provider(p) for p in CATALOGS))
    url = BASE_URL
    docs_url = "https://github.com/dstackai/gpuhunt"
    key_env = None
    description = (
        "dstack's hourly-published gpuhunt offer catalogs (one zip per provider): on-demand and "
        "spot offers of AWS, Azure, GCP, Lambda, Nebius, OCI, RunPod, Verda, CloudRift."
    )

    def __init__(self, catalogs: tuple[str, ...] = CATALOGS) -> None:
        self.catalogs = catalogs

    def fetch(self, client: httpx.Client, ctx: FetchContext) -> Iterator[RawResponse]:
        fetched: list[str] = []
        skipped: list[str] = []

        def skip(provider: str, why: str) -> None:
            skipped.append(f"{provider} ({why})")
            ctx.warn(f"skipped {provider}: {why}")

        for provider in self.catalogs:
            try:
                version_raw = http.get(client, self.id, version_url(provider))
            except (httpx.TransportError, SourceError) as exc:
                skip(provider, f"version: {type(exc).__name__}: {exc}")
                continue
            if not 200 <= version_raw.status < 300:
                skip(provider, f"HTTP {version_raw.status} from {version_raw.url}")
                continue
            version = version_raw.read().decode("utf-8", "replace").strip()
            if not _VERSION.match(version):
                skip(provider, f"{version_raw.url} does not hold a version name ({version[:40]!r})")
                continue
            yield version_raw
            try:
                catalog_raw = http.get(client, self.id, catalog_url(provider, version))
            except (httpx.TransportError, SourceError) as exc:
                skip(provider, f"catalog {version}: {type(exc).__name__}: {exc}")
                continue
            if not 200 <= catalog_raw.status < 300:
                skip(provider, f"HTTP {catalog_raw.status} from {catalog_raw.url}")
                continue
            fetched.append(provider)
            ctx.say(f"{provider}: catalog {version}, {catalog_raw.size:,} bytes")
            yield catalog_raw
        if not fetched:
            raise SourceError(
                f"{self.id}: no provider catalog could be fetched: {'; '.join(skipped) or 'no providers configured'}"
            )

    def parse(self, responses: list[RawResponse]) -> pl.DataFrame:
        return self.parse_isolated(responses)[0]

    def parse_isolated(self, responses: list[RawResponse]) -> tuple[pl.DataFrame, list[str]]:
        catalogs = [raw for raw in responses if _CATALOG_PATH.search(urlsplit(raw.url).path)]
        if not catalogs:  # the other responses are version files: they only name the catalog
            raise ParseError(f"{self.id}: no catalog.zip among the {len(responses)} response(s)")
        rows, failures = parse_each(
            self.id, catalogs,
            lambda raw: self._parse_catalog(raw, _CATALOG_PATH.search(urlsplit(raw.url).path).group("provider")),
            name=lambda url: _CATALOG_PATH.search(urlsplit(url).path).group("provider"),
        )
        return offers_frame(rows, self.id), failures

    def _parse_catalog(self, raw: RawResponse, gpuhunt_name: str) -> list[dict]:
        member = f"{gpuhunt_name}.csv"
        try:
            with zipfile.ZipFile(io.BytesIO(complete_body(raw))) as archive:
                if member not in archive.namelist():
                    raise ParseError(
                        f"{self.id}: {raw.url} holds {archive.namelist()} but not {member!r}; "
                        "the catalog layout may have changed"
                    )
                data = archive.read(member)
        except (zipfile.BadZipFile, EOFError) as exc:
            head = raw.read()[:80].decode("utf-8", "replace").strip().lower()
            what = "an HTML page" if head.startswith(("<!doctype html", "<html")) else "not a valid zip"
            raise ParseError(
                f"{self.id}: {raw.url} is {what} ({raw.size} bytes); it may be truncated"
            ) from exc
        _, records = csv_records(raw, REQUIRED_COLUMNS, data=data, where=f"{member} of {raw.url}")
        provider = canonical_provider(gpuhunt_name)
        rows: list[dict] = []
        for parsed_line in records:
            line, record = parsed_line.line, parsed_line.cells
            problems: list[str] = [parsed_line.problem] if parsed_line.problem else []

            def number(field: str) -> float | None:
                value = record.get(field)
                if value is None or not str(value).strip():
                    return None
                try:
                    return float(value)
                except ValueError:
                    problems.append(f"{field} is not a number ({value!r})")
                    return None

            row = {
                "provider": provider,
                "region": record.get("location", ""),
                "instance_type": record.get("instance_name", ""),
                "gpu_name_raw": record.get("gpu_name") or None,
                "gpu_count": number("gpu_count"),
                "gpu_memory_gb": number("gpu_memory"),
                "memory_is_total": False,  # gpuhunt's gpu_memory is per GPU (its catalog schema)
                "vcpus": number("cpu"),
                "ram_gb": number("memory"),
                "pricing": "spot" if (record.get("spot") or "").strip().lower() in ("true", "1") else "on_demand",
                "price": number("price"),
                "currency": "USD",
                "spot_is_estimate": False,
                "row_ref": f"{member} line {line}",
                **provenance(raw),
            }
            if problems:
                row["parse_error"] = "; ".join(problems)
            elif (record.get("flags") or "").strip():
                row["excluded_by"] = "not-a-list-price"  # e.g. GCP DWS calendar mode
            rows.append(row)
        return rows

