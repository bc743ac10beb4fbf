"""becloudready's gpu_prices.json: a daily, market-level list of gpuhunt prices (2024-09 to 2025-04).

Endpoint: ``GET https://raw.githubusercontent.com/becloudready/gpu-price/HEAD/gpu_prices.json``
(Apache-2.0); its git history is the archive `gpu-prices backfill becloudready` reads (one
commit a day, 2024-09-24 to 2025-04-16, see ``snapshots/archives/becloudready``).

Shape: a JSON list of ``{"gpuModel": "H100", "price": "$2.49", "provider": "lambdalabs"}``
for A100 / H100 / H200 / MI300X across aws, azure, gcp, oci, runpod, vastai, lambdalabs,
datacrunch, tensordock, nebius, cudo. No region, instance type, GPU count or pricing kind.

What we decided, and why. The price is gpuhunt's price **per instance-hour**, and the
instances behind one gpuModel hold different numbers of GPUs and mix spot with on-demand. The
recorded bytes show it: in the first version OCI's H100 rows are all $80.00 (the 8-GPU
BM.GPU.H100.8 at $10 a GPU), Lambda's H100 rows run from $2.49 (one GPU) to $23.92 (8 x $2.99),
Nebius (2025-04-16) lists H100 at $2.95 and $23.60 (1 and 8 GPUs), and Verda/DataCrunch H100
at $0.53 is below any on-demand price of one H100 (a spot row). So neither the GPU count nor
the per-GPU price nor the pricing kind can be claimed for any row, and a guess (count 1) would
put 8-GPU node prices into per-GPU history. Every row is therefore read, kept with its price,
provider, GPU name and commit, and **quarantined** with that reason: it is counted in the
accounting (rows read = quarantined) and visible in `quarantined_offers`, but never becomes a
per-GPU offer. region = "market" (the file is a market-level list), instance_type = the
gpuModel as given; providers go through `market.providers.canonical_provider`.
A price that is not "$<number>" is quarantined as unreadable instead.
"""

from __future__ import annotations

from typing import Iterator

import httpx
import polars as pl

from connectors import http
from connectors.base import FetchContext, ParseError, RawResponse, Source, offers_frame, provenance, require_fields
from market.providers import canonical_provider

REPO = "becloudready/gpu-price"
PATH = "gpu_prices.json"
LATEST_URL = f"https://raw.githubusercontent.com/{REPO}/HEAD/{PATH}"
PROVIDERS = ("aws", "azure", "cudo", "datacrunch", "gcp", "lambdalabs", "nebius", "oci", "runpod", "tensordock", "vastai")
MARKET_REGION = "market"
COUNT_UNKNOWN = (
    "GPU count unknown: gpu_prices.json gives gpuhunt's price per instance-hour of an unstated "
    "number of GPUs (1- to 8-GPU instances, spot and on-demand mixed), so no per-GPU price can be claimed"
)


def dollars(text) -> float | None:
    """'$2.49' or '$1,234.50' -> 2.49 / 1234.5; None when it is not such a price."""
    if not isinstance(text, str) or not text.strip().startswith("$"):
        return None
    try:
        return float(text.strip()[1:].replace(",", ""))
    except ValueError:
        return None


class BecloudreadyGpuPrices(Source):
    id = "becloudready"
    name = "becloudready gpu_prices.json (gpuhunt, market level)"
    kind = "aggregator"
    providers = tuple(sorted({canonical_provider(p) for p in PROVIDERS}))
    url = LATEST_URL
    docs_url = f"https://github.com/{REPO}"
    key_env = None
    description = (
        "becloudready's daily gpu_prices.json (2024-09 to 2025-04): gpuhunt instance prices per "
        "GPU model and provider, without region, instance or GPU count (rows are quarantined)."
    )

    def fetch(self, client: httpx.Client, ctx: FetchContext) -> Iterator[RawResponse]:
        yield http.get(client, self.id, LATEST_URL)

    def parse(self, responses: list[RawResponse]) -> pl.DataFrame:
        rows: list[dict] = []
        for raw in responses:
            data = raw.json()
            if not isinstance(data, list):
                raise ParseError(f"{self.id}: {raw.url} is not a list of prices (a {type(data).__name__})")
            prov = provenance(raw)
            for n, record in enumerate(data):
                where = f"[{n}] of {raw.url}"
                if not isinstance(record, dict):
                    raise ParseError(f"{self.id}: {where} is not an object")
                require_fields(self.id, record, ("gpuModel", "price", "provider"), where)
                price = dollars(record["price"])
                rows.append({
                    "provider": canonical_provider(str(record["provider"])),
                    "region": MARKET_REGION,
                    "instance_type": str(record["gpuModel"]),
                    "gpu_name_raw": str(record["gpuModel"]),
                    "pricing": "on_demand",  # not known either; the row is quarantined below
                    "price": price,
                    "currency": "USD",
                    "spot_is_estimate": False,
                    "row_ref": f"[{n}]",
                    "parse_error": COUNT_UNKNOWN if price is not None
                    else f"price is not a dollar amount ({record['price']!r})",
                    **prov,
                })
        return offers_frame(rows, self.id)
