"""Vultr GPU plans: the public plans API (cloud GPU VMs) and bare-metal plans API, no key.

* ``GET https://api.vultr.com/v2/plans?type=all&per_page=500`` -> ``plans[]``; GPU plans have
  ``type == "vcg"``, ``gpu_type`` (``NVIDIA_A100``, ``AMD_MI300X`` ...) and ``gpu_vram_gb`` (the
  plan's total GPU memory).
* ``GET https://api.vultr.com/v2/plans-metal?per_page=500`` -> ``plans_metal[]``; GPU machines
  are the ids ending in ``-gpu`` (``vbm-112c-2048gb-8-h100-gpu``); the API has no GPU fields for
  them, so model and count come from the id (``-<count>-<model>-gpu``, count 1 when absent as
  in ``vbm-72c-480gb-gh200-gpu``). An id ending in ``-gpu`` that does not read that way is
  quarantined with the reason, not a silently dropped machine.
* Both lists page with ``meta.links.next`` (a cursor, sent back as ``&cursor=``). Every page is
  yielded as it arrives. A page that errors is yielded too (and the fetch stops), so
  ``check_responses`` rejects the run; a recorded set whose last page still announces a next
  cursor is a ParseError ("pagination stopped early"), never silently short data.

Prices and counts, and why:

* ``hourly_cost`` is the on-demand price per instance-hour. Only when it is missing do we use
  ``monthly_cost / 672``: Vultr caps monthly billing at 672 hours, and the bare-metal payloads
  show ``monthly_cost == 672 x hourly_cost`` exactly.
* Bare metal ``hourly_cost_preemptible`` is stored as ``spot``.
* A VM plan hands over its model (``gpu_type`` without the vendor: ``A100``) and
  ``gpu_vram_gb``, the plan's TOTAL GPU memory, as evidence; ``market.identity`` takes the card
  from the Vultr instance table (``market/data/instances/vultr.csv``) and the count as that
  total / the card's memory, so fractional vGPU plans keep their fraction
  (``vcg-a100-1c-6g-4vram`` = 4/80 = 0.05 GPU) and the per-GPU price is that of a whole GPU.
* One row per plan and location (``locations[]``); Vultr prices are the same in each.
* The API quotes no currency; Vultr bills in USD, so the parser sets ``USD`` explicitly.
* Prices are not filtered here: the free tier's 0 and any other bad value are quarantined by
  `finalize_offers`. CPU-only plans are excluded ("cpu-only"), one row per plan.
"""

from __future__ import annotations

import re
from typing import Any, Iterator
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx
import polars as pl

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
from connectors.http import get

PLANS_URL = "https://api.vultr.com/v2/plans?type=all&per_page=500"
METAL_URL = "https://api.vultr.com/v2/plans-metal?per_page=500"

# Vultr's monthly billing cap, in hours (see module docstring).
HOURS_PER_MONTH = 672.0

_METAL_GPU_ID = re.compile(r"-(?:(?P<count>\d+)-)?(?P<model>[a-z0-9]+)-gpu$")


def _with_cursor(url: str, cursor: str) -> str:
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "cursor"]
    query.append(("cursor", cursor))
    return urlunsplit(parts._replace(query=urlencode(query)))


def _next_cursor(body: Any) -> str | None:
    if not isinstance(body, dict):
        return None
    links = (body.get("meta") or {}).get("links") or {}
    return links.get("next") or None


def _cursor_of(url: str) -> str | None:
    return dict(parse_qsl(urlsplit(url).query)).get("cursor")


def _hourly(plan: dict, where: str) -> float | None:
    hourly = plan.get("hourly_cost")
    if hourly is not None:
        return float(hourly)
    monthly = plan.get("monthly_cost")
    if monthly is None:
        require_fields("vultr", plan, ("hourly_cost",), where)
        return None
    return float(monthly) / HOURS_PER_MONTH


class VultrSource(Source):
    id = "vultr"
    name = "Vultr"
    kind = "direct"
    providers = ("vultr",)
    url = "https://api.vultr.com/v2/plans"
    docs_url = "https://www.vultr.com/api/#tag/plans"
    key_env = None
    description = (
        "Vultr cloud GPU (vcg) and bare-metal GPU plans from the public plans API: on-demand "
        "hourly price per plan and location, bare-metal preemptible as spot; fractional vGPU "
        "plans keep a fractional GPU count."
    )

    def fetch(self, client: httpx.Client, ctx: FetchContext) -> Iterator[RawResponse]:
        for first in (PLANS_URL, METAL_URL):
            url: str | None = first
            while url:
                raw = get(client, self.id, url)
                yield raw
                if not 200 <= raw.status < 300:
                    return  # archived and rejected by check_responses; later pages are moot
                try:
                    cursor = _next_cursor(raw.json())
                except ParseError:
                    return  # an HTML or truncated page: parse reports it
                ctx.say(f"{urlsplit(first).path}: next page" if cursor else f"{urlsplit(first).path}: done")
                url = _with_cursor(first, cursor) if cursor else None

    def parse(self, responses: list[RawResponse]) -> pl.DataFrame:
        bodies = [(raw, raw.json()) for raw in responses]
        self._check_pages_complete(bodies)
        rows: list[dict] = []
        for raw, body in bodies:
            path = urlsplit(raw.url).path.rstrip("/")
            if not isinstance(body, dict):
                raise ParseError(f"vultr: {raw.url} is not a JSON object")
            if path.endswith("/plans-metal"):
                require_fields(self.id, body, ("plans_metal",), raw.url)
                for plan in body["plans_metal"]:
                    rows.extend(self._metal_rows(raw, plan))
            elif path.endswith("/plans"):
                require_fields(self.id, body, ("plans",), raw.url)
                for plan in body["plans"]:
                    rows.extend(self._vm_rows(raw, plan))
            else:
                raise ParseError(f"vultr: unexpected response from {raw.url}")
        return offers_frame(rows, self.id)

    @staticmethod
    def _check_pages_complete(bodies: list[tuple[RawResponse, Any]]) -> None:
        fetched = {(urlsplit(raw.url).path, _cursor_of(raw.url)) for raw, _ in bodies}
        for raw, body in bodies:
            cursor = _next_cursor(body)
            if cursor and (urlsplit(raw.url).path, cursor) not in fetched:
                raise ParseError(
                    f"vultr: pagination stopped early: {raw.url} announces a next page "
                    f"(cursor {cursor!r}) that was not fetched"
                )

    def _vm_rows(self, raw: RawResponse, plan: dict) -> list[dict]:
        where = f"{raw.url} plan {plan.get('id', '?')!r}"
        require_fields(self.id, plan, ("id", "type", "locations"), where)
        if plan["type"] != "vcg":
            return [{"provider": "vultr", "region": "", "instance_type": str(plan["id"]), "pricing": "on_demand",
                     "price": None, "currency": "USD", "row_ref": f"plans[{plan['id']!r}]",
                     "excluded_by": "cpu-only", **provenance(raw)}]
        require_fields(self.id, plan, ("gpu_type", "gpu_vram_gb", "vcpu_count", "ram"), where)
        vendor_model = str(plan["gpu_type"])
        model = vendor_model.split("_", 1)[1] if "_" in vendor_model else vendor_model
        price = _hourly(plan, where)
        return [
            {
                "provider": "vultr",
                "region": location,
                "instance_type": plan["id"],
                "gpu_name_raw": model,
                "vendor_gpu_id": vendor_model,
                "gpu_memory_gb": optional_number(plan["gpu_vram_gb"]),
                "memory_is_total": True,  # gpu_vram_gb is the plan's, not a card's
                "vcpus": float(plan["vcpu_count"]),
                "ram_gb": float(plan["ram"]) / 1024,
                "pricing": "on_demand",
                "price": price,
                "currency": "USD",
                "spot_is_estimate": False,
                "row_ref": f"plans[{plan['id']!r}] {location}",
                **provenance(raw),
            }
            for location in plan["locations"]
        ]

    def _metal_rows(self, raw: RawResponse, plan: dict) -> list[dict]:
        where = f"{raw.url} plan {plan.get('id', '?')!r}"
        require_fields(self.id, plan, ("id", "locations"), where)
        plan_id = str(plan["id"])
        if not plan_id.endswith("-gpu"):
            return [{"provider": "vultr", "region": "", "instance_type": plan_id, "pricing": "on_demand",
                     "price": None, "currency": "USD", "row_ref": f"plans_metal[{plan_id!r}]",
                     "excluded_by": "cpu-only", **provenance(raw)}]
        match = _METAL_GPU_ID.search(plan_id)
        if not match:
            return [{"provider": "vultr", "region": "", "instance_type": plan_id, "pricing": "on_demand",
                     "price": None, "currency": "USD", "row_ref": f"plans_metal[{plan_id!r}]",
                     "parse_error": "cannot read GPU model and count from the plan id", **provenance(raw)}]
        model = match["model"].upper()
        count = float(match["count"] or 1)
        base = {
            "provider": "vultr",
            "instance_type": plan_id,
            "gpu_name_raw": model,
            "gpu_count": count,
            "vcpus": float(plan["cpu_threads"]) if plan.get("cpu_threads") is not None else None,
            "ram_gb": float(plan["ram"]) / 1024 if plan.get("ram") is not None else None,
            "currency": "USD",
            "spot_is_estimate": False,
            **provenance(raw),
        }
        prices = [("on_demand", _hourly(plan, where))]
        if plan.get("hourly_cost_preemptible") is not None:
            prices.append(("spot", float(plan["hourly_cost_preemptible"])))
        return [
            {**base, "region": location, "pricing": pricing, "price": price,
             "row_ref": f"plans_metal[{plan_id!r}] {location} {pricing}"}
            for location in plan["locations"]
            for pricing, price in prices
        ]
