"""Credentials reach sources through Dagster resources bound with EnvVar, never read at import.

Why: a key read from the environment at import time is fixed when the code location loads and
shows in Dagster's config; an EnvVar is read when a run launches and is hidden. A key that is
not set must skip only its own source, and a replay must never use a key at all.
"""

from __future__ import annotations

import dagster as dg

from pipelines.definitions import credential_envs, default_resources
from pipelines.resources import SecretResource, secret_resource_key


def test_every_keyed_source_has_a_secret_resource():
    assert {"GCP_API_KEY", "LAMBDA_API_KEY", "VERDA_CLIENT_ID", "VERDA_CLIENT_SECRET", "DIGITALOCEAN_TOKEN"} <= set(
        credential_envs()
    )


def test_a_set_key_is_bound_as_an_envvar_and_an_unset_one_is_none(monkeypatch):
    monkeypatch.setenv("GPU_PRICES_HTTP_MODE", "live")
    monkeypatch.setenv("GCP_API_KEY", "not-a-real-key")
    monkeypatch.delenv("LAMBDA_API_KEY", raising=False)
    resources = default_resources()
    gcp = resources[secret_resource_key("GCP_API_KEY")]
    assert isinstance(gcp, SecretResource)
    assert isinstance(gcp.value, dg.EnvVar) and gcp.value.env_var_name == "GCP_API_KEY"
    assert resources[secret_resource_key("LAMBDA_API_KEY")].value is None


def test_replay_binds_no_key_even_when_one_is_set(monkeypatch):
    monkeypatch.setenv("GPU_PRICES_HTTP_MODE", "replay")
    monkeypatch.setenv("GCP_API_KEY", "not-a-real-key")
    resources = default_resources()
    assert all(resources[secret_resource_key(name)].value is None for name in credential_envs())
