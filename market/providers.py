"""One id per provider, whoever quotes it: aggregators spell providers their own way."""

from __future__ import annotations

PROVIDER_ALIASES: dict[str, str] = {
    "vast": "vastai",
    "lambdalabs": "lambda",
    "lambda_cloud": "lambda",
    "datacrunch": "verda",
    "do": "digitalocean",
    "oracle": "oci",
    "google": "gcp",
    "amazon": "aws",
    # resellers' spellings of the clouds behind their offers (SkyPilot shadeform, primeintellect,
    # spheron catalogs)
    "crusoecloud": "crusoe",
    "data-crunch": "verda",
    "massed-compute": "massedcompute",
    "spheron-ai": "spheron",
}


def canonical_provider(name: str) -> str:
    """The project's id for a provider name as any source spells it."""
    key = name.strip().lower()
    return PROVIDER_ALIASES.get(key, key)
