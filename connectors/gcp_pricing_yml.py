"""Cyclenerd's GCP pricing file: Google Cloud GPU machine-type prices without any key.

Endpoint: ``GET https://raw.githubusercontent.com/Cyclenerd/google-cloud-pricing-cost-calculator
/master/pricing.yml`` (Apache-2.0). Cyclenerd's build reads the Cloud Billing Catalog API
(the same SKUs `connectors.gcp` reads with a key) and writes, per machine type and region,
hourly and monthly prices. Provider "gcp", source "cyclenerd". One file, no pagination.

Shape (the parts we read)::

    compute:
      instance:
        a2-highgpu-1g:
          a100: 1            # the GPU: its key names the model, its value is the count
          cpu: 12
          ram: 85
          cost:
            us-central1: {hour: 3.673385, hour_spot: ..., month: ..., month_1y: ..., month_3y: ...}

Parsing rules.
* Every machine type entry is read. Its GPU is the key that is not one of `SPEC_KEYS` (cpu,
  ram, cost, ...): the key names the model (``a100-80gb``) and its value is the count; G4 sizes
  carry fractions of one GPU (``rtx6000: 0.125``). The key and count are handed over as
  evidence; ``market.identity`` decides the GPU from the GCP instance table. A machine type with
  no GPU key is a CPU machine: one row excluded as "cpu-only" (not one per region).
* ``hour`` -> on_demand, ``hour_spot`` -> spot (absent before 2023: no spot row),
  ``month_1y`` / ``month_3y`` -> reserved_1y / reserved_3y, divided by `HOURS_PER_MONTH`.
  Cyclenerd's monthly figures are hour x 730 (checked: ``month / hour`` is exactly 730 for all
  2,537 region rows of the four recorded files), so 730 turns a committed monthly price back
  into the committed hourly price. A price that is not a number quarantines its row.
* Prices are USD: Cyclenerd reads the catalog in USD and the file has no currency field.
"""

from __future__ import annotations

from typing import Iterator

import httpx
import polars as pl
import yaml

from connectors import http
from connectors.base import (
    FetchContext,
    ParseError,
    RawResponse,
    Source,
    offers_frame,
    optional_number,
    provenance,
    require_fields,
)
from connectors.bodies import complete_body, complete_text

PRICING_URL = (
    "https://raw.githubusercontent.com/Cyclenerd/google-cloud-pricing-cost-calculator/master/pricing.yml"
)
HOURS_PER_MONTH = 730.0  # Cyclenerd's month = hour x 730

# The keys of a machine type entry that are not its GPU (seen in every recorded file, 2022-2026).
SPEC_KEYS = frozenset({"cost", "cpu", "ram", "local-ssd", "bandwidth", "type"})

PRICE_KEYS = (
    ("hour", "on_demand", 1.0),
    ("hour_spot", "spot", 1.0),
    ("month_1y", "reserved_1y", HOURS_PER_MONTH),
    ("month_3y", "reserved_3y", HOURS_PER_MONTH),
)

# PyYAML's C loader is ~10x faster on the full multi-megabyte file; the pure one is the fallback.
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class CyclenerdGcpPricing(Source):
    id = "cyclenerd"
    name = "Cyclenerd Google Cloud pricing.yml"
    kind = "aggregator"
    providers = ("gcp",)
    url = PRICING_URL
    docs_url = "https://github.com/Cyclenerd/google-cloud-pricing-cost-calculator"
    key_env = None
    description = (
        "Cyclenerd's public pricing.yml (built from the Cloud Billing Catalog API): GPU machine "
        "types per region, on-demand, spot and 1y/3y commitments, no key needed."
    )

    def fetch(self, client: httpx.Client, ctx: FetchContext) -> Iterator[RawResponse]:
        yield http.get(client, self.id, PRICING_URL)

    def _load(self, raw: RawResponse) -> dict:
        data = complete_body(raw)
        # Empty, HTML or cut mid-line: a cut YAML document often still parses (as fewer
        # machines, or a half-written price), so completeness is checked before loading.
        complete_text(raw, "YAML", data=data)
        try:
            document = yaml.load(data, Loader=_Loader)  # noqa: S506 - a safe loader
        except yaml.YAMLError as exc:
            raise ParseError(
                f"{self.id}: {raw.url} is not valid YAML ({exc.__class__.__name__}); "
                f"it may be truncated ({len(data)} bytes)"
            ) from exc
        if not isinstance(document, dict):
            raise ParseError(
                f"{self.id}: {raw.url} is not a pricing.yml mapping (top level is "
                f"{type(document).__name__}); it may be truncated or an error page"
            )
        return document

    def parse(self, responses: list[RawResponse]) -> pl.DataFrame:
        rows: list[dict] = []
        for raw in responses:
            document = self._load(raw)
            require_fields(self.id, document, ("compute",), raw.url)
            require_fields(self.id, document["compute"] or {}, ("instance",), f"'compute' of {raw.url}")
            instances = document["compute"]["instance"]
            if not isinstance(instances, dict):
                raise ParseError(f"{self.id}: 'compute.instance' is not a mapping in {raw.url}")
            for instance_type, spec in instances.items():
                rows.extend(self._machine_rows(raw, str(instance_type), spec))
        return offers_frame(rows, self.id)

    def _machine_rows(self, raw: RawResponse, instance_type: str, spec) -> list[dict]:
        where = f"compute.instance.{instance_type} of {raw.url}"
        ref = f"compute.instance.{instance_type}"
        base = {
            "provider": "gcp",
            "instance_type": instance_type,
            "currency": "USD",
            "spot_is_estimate": False,
            **provenance(raw),
        }
        if not isinstance(spec, dict):
            return [{**base, "region": "", "pricing": "on_demand", "price": None, "row_ref": ref,
                     "parse_error": f"the entry is not a mapping ({type(spec).__name__})"}]
        gpu_keys = [k for k in spec if k not in SPEC_KEYS]
        if not gpu_keys:
            return [{**base, "region": "", "pricing": "on_demand", "price": None, "row_ref": ref,
                     "excluded_by": "cpu-only"}]
        require_fields(self.id, spec, ("cost",), where)
        gpu_key = gpu_keys[0]
        base.update(
            gpu_name_raw=gpu_key,
            gpu_count=optional_number(spec[gpu_key]),
            vcpus=optional_number(spec.get("cpu")),
            ram_gb=optional_number(spec.get("ram")),
        )
        rows: list[dict] = []
        for region, cost in (spec["cost"] or {}).items():
            require_fields(self.id, cost or {}, ("hour",), f"{where}.cost.{region}")
            for key, pricing, divisor in PRICE_KEYS:
                if cost.get(key) is None:
                    continue
                row = {**base, "region": str(region), "pricing": pricing, "row_ref": f"{ref}.cost.{region}.{key}"}
                value = optional_number(cost[key])
                if value is None:
                    row.update(price=None, parse_error=f"{key} is not a number ({cost[key]!r})")
                else:
                    row["price"] = value / divisor
                rows.append(row)
        return rows
