"""The learner's attention on CPU: torch SDPA with the grouped key/value heads passed as they are.

SmolLM2-135M has 9 query heads and 3 key/value heads. With an attention mask, transformers' `sdpa`
attention copies each key and value head 3 times (`repeat_kv`) before SDPA, on CPU as on CUDA (its
CUDA kernels would leave flash attention for the math one given both a mask and `enable_gqa`).
The learner's responses' pass always has a mask (each row sees its own prompt and its own tokens),
so every layer paid that copy, its backward (a sum over the copies) and an attention backward over
3 times the key/value gradients. On CPU, SDPA takes the grouped heads itself (`enable_gqa=True`), in
its flash kernel and in its math one, with or without a mask: the same log-probs to the bit and the
same gradients, for less work. One bench micro-batch (2 prompts x 5 x 48, SmolLM2-135M, 2 threads,
Intel Xeon with AMX; `/work/probe42/gqaprobe.py`, alternated): float32 forward 0.87 -> 0.83 s and
backward 1.75 -> 1.67 s; bfloat16 with the math backend 1.47 -> 1.45 s; the bf16 reference's no-grad
pass 0.32 -> 0.31 s.

`use_grouped_kv_attention(model)` switches a transformers model to this implementation (registered
under `GROUPED_KV_SDPA`, with sdpa's own mask builder); any other device, and a model whose heads are
not grouped, goes through transformers' `sdpa` unchanged.
"""

from __future__ import annotations

import torch
from transformers import AttentionInterface
from transformers.integrations.sdpa_attention import sdpa_attention_forward
from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

GROUPED_KV_SDPA = "relate_grouped_kv_sdpa"


def grouped_kv_sdpa_forward(module: torch.nn.Module, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                            attention_mask: torch.Tensor | None, dropout: float = 0.0, scaling: float | None = None,
                            is_causal: bool | None = None, **kwargs) -> tuple[torch.Tensor, None]:
    """transformers' attention-function signature. query: [B, H, Q, D]; key, value: [B, H_kv, K, D]
    with H a multiple of H_kv; attention_mask: [B, 1, Q, K] (bool or additive) or None. Returns
    ([B, Q, H, D], None). On CPU with grouped heads: one SDPA call with `enable_gqa`; otherwise
    transformers' sdpa attention."""
    if query.device.type != "cpu" or key.shape[1] == query.shape[1] or kwargs.get("position_bias") is not None \
            or kwargs.get("cache") is not None:
        return sdpa_attention_forward(module, query, key, value, attention_mask, dropout=dropout, scaling=scaling,
                                      is_causal=is_causal, **kwargs)
    # transformers' rule: causal by the flag only for a maskless multi-token pass.
    is_causal = is_causal if is_causal is not None else getattr(module, "is_causal", True)
    is_causal = bool(query.shape[2] > 1 and attention_mask is None and is_causal)
    out = torch.nn.functional.scaled_dot_product_attention(query, key, value, attn_mask=attention_mask,
                                                           dropout_p=dropout, scale=scaling, is_causal=is_causal,
                                                           enable_gqa=True)
    return out.transpose(1, 2).contiguous(), None


AttentionInterface.register(GROUPED_KV_SDPA, grouped_kv_sdpa_forward)
AttentionMaskInterface.register(GROUPED_KV_SDPA, sdpa_mask)


def use_grouped_kv_attention(model) -> bool:
    """Run `model`'s attention through `grouped_kv_sdpa_forward` when it runs transformers' `sdpa`;
    returns whether it switched (a model on eager or another kernel keeps it)."""
    if model.config._attn_implementation != "sdpa":
        return False
    model.set_attn_implementation(GROUPED_KV_SDPA)
    return model.config._attn_implementation == GROUPED_KV_SDPA
