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
put 8-GPU node prices into per-GPU history. Many rows do form price ladders (k x the same
base), but a lone 8-GPU node price looks exactly like a dear 1-GPU one, so we do not infer
counts from them either.

Every row is therefore a **market-level quote**: excluded from offers by the named rule
``market-level-quote`` (counted in the accounting) and kept in ``market_quotes`` - one row per
distinct price a provider quoted for a model that day, with how many rows quoted it - which
``offers_history`` carries (``price_basis`` says so, per-GPU columns NULL) and the History
page charts as what it is: the cheapest and the median instance-hour quote per provider and day.
It never feeds the per-GPU index. region = "market", instance_type = the gpuModel as given;
providers go through `market.providers.canonical_provider`. A price that is not
"$<number>" is quarantined as unreadable instead; an implausible one by `market.rules`.
"""

from __future__ import annotations

from typing import Iterator

import httpx
import polars as pl

from connectors import http
from connectors.base import FetchContext, ParseError, RawResponse, Source, offers_frame, provenance, require_fields
from market.providers import canonical_provider
from market.rules import MARKET_LEVEL_QUOTE

REPO = "becloudready/gpu-price"
PATH = "gpu_prices.json"
LATEST_URL = f"https://raw.githubusercontent.com/{REPO}/HEAD/{PATH}"
PROVIDERS = ("aws", "azure", "cudo", "datacrunch", "gcp", "lambdalabs", "nebius", "oci", "runpod", "tensordock", "vastai")
MARKET_REGION = "market"


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
        "GPU model and provider, without region, instance or GPU count (kept as market-level quotes, never per-GPU offers)."
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
                    "pricing": None,  # not stated: spot and on-demand are mixed
                    "price": price,
                    "currency": "USD",
                    "spot_is_estimate": False,
                    "row_ref": f"[{n}]",
                    "excluded_by": MARKET_LEVEL_QUOTE if price is not None else None,
                    "parse_error": None if price is not None
                    else f"price is not a dollar amount ({record['price']!r})",
                    **prov,
                })
        return offers_frame(rows, self.id)
