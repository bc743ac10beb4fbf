"""Well-known open models, for `estimate serve --preset` and the dashboards' model pickers.

Plain data: edit a row, add one, or derive a variant with `dataclasses.replace(preset, ...)`.
Every row names where its numbers come from. Parameter counts are the nominal figures the
model card states (rounded: "70B" is 70e9); the attention shape (layers, KV heads, head dim)
is from the model's paper or published config.json.

KV cache per token = 2 x layers x kv_heads x head_dim x bytes [kipply; Baseten], except
DeepSeek-V3's multi-head latent attention, which caches one compressed vector per layer of
kv_lora_rank + rope dim = 512 + 64 = 576 elements (no separate K and V) [DSV3 §2.1.1]; that
is what `kv_elements_per_layer` overrides.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from costmodel.errors import EstimateError


@dataclass(frozen=True)
class ModelPreset:
    key: str
    name: str
    params: float  # total
    active_params: float  # per token (== params for dense models)
    n_layers: int
    n_kv_heads: int
    head_dim: int
    hidden_size: int
    max_context: int
    source_url: str
    kv_elements_per_layer: int | None = None  # per token; None = 2 x n_kv_heads x head_dim
    note: str = ""

    @property
    def kv_elements_per_token(self) -> int:
        per_layer = self.kv_elements_per_layer or 2 * self.n_kv_heads * self.head_dim
        return self.n_layers * per_layer


_L31_CARD = "https://github.com/meta-llama/llama-models/blob/main/models/llama3_1/MODEL_CARD.md"
_L2_CARD = "https://github.com/meta-llama/llama/blob/main/MODEL_CARD.md"
_L2_CONFIG = "https://huggingface.co/meta-llama/Llama-2-70b-hf/blob/main/config.json"
_L3_PAPER = "https://arxiv.org/abs/2407.21783"  # Table 3: layers, model dim, heads, KV heads

PRESETS: dict[str, ModelPreset] = {
    p.key: p
    for p in [
        ModelPreset(
            "llama-3.1-8b", "Llama 3.1 8B", 8e9, 8e9, 32, 8, 128, 4096, 131_072,
            f"{_L31_CARD} ; shape: {_L3_PAPER} Table 3",
        ),
        ModelPreset(
            "llama-3.1-70b", "Llama 3.1 70B", 70e9, 70e9, 80, 8, 128, 8192, 131_072,
            f"{_L31_CARD} ; shape: {_L3_PAPER} Table 3",
        ),
        ModelPreset(
            "llama-3.1-405b", "Llama 3.1 405B", 405e9, 405e9, 126, 8, 128, 16384, 131_072,
            f"{_L31_CARD} ; shape: {_L3_PAPER} Table 3",
        ),
        ModelPreset(
            "llama-2-70b", "Llama 2 70B", 70e9, 70e9, 80, 8, 128, 8192, 4_096,
            f"{_L2_CARD} ; shape: {_L2_CONFIG}",
            note="the MLPerf Inference v4.0-v5.x LLM benchmark model",
        ),
        ModelPreset(
            "mixtral-8x7b", "Mixtral 8x7B", 46.7e9, 12.9e9, 32, 8, 128, 4096, 32_768,
            "https://mistral.ai/news/mixtral-of-experts ; https://huggingface.co/mistralai/Mixtral-8x7B-v0.1",
            note="MoE: 46.7B total, 12.9B used per token (2 of 8 experts)",
        ),
        ModelPreset(
            "deepseek-v3", "DeepSeek-V3", 671e9, 37e9, 61, 128, 128, 7168, 131_072,
            "https://arxiv.org/abs/2412.19437 ; https://huggingface.co/deepseek-ai/DeepSeek-V3",
            kv_elements_per_layer=576,
            note="MoE: 671B total, 37B active; MLA caches 576 elements per layer per token",
        ),
        ModelPreset(
            "qwen2.5-72b", "Qwen2.5 72B", 72.7e9, 72.7e9, 80, 8, 128, 8192, 131_072,
            "https://huggingface.co/Qwen/Qwen2.5-72B",
        ),
        ModelPreset(
            "mistral-7b", "Mistral 7B", 7.3e9, 7.3e9, 32, 8, 128, 4096, 8_192,
            "https://mistral.ai/news/announcing-mistral-7b ; shape: https://arxiv.org/abs/2310.06825 Table 1",
        ),
    ]
}


def _norm(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def get_preset(name: str) -> ModelPreset:
    """A preset by key, forgiving of case and separators ("Llama-3.1-70B", "llama3.1_70b")."""
    wanted = _norm(name)
    for preset in PRESETS.values():
        if wanted in (_norm(preset.key), _norm(preset.name)):
            return preset
    raise EstimateError(f"unknown model preset {name!r}; known presets: {', '.join(PRESETS)}",
                        reason="unknown_preset", values={"preset": name, "known": list(PRESETS)})
