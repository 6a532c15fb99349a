"""Methods added to vLLM's worker (`worker_extension_cls`), called through `collective_rpc`.

They run inside the engine's worker process, next to the model. Names are prefixed `relate_`
because vLLM's own `update_weights` / `init_weight_transfer_engine` already exist on the worker.
Only small metadata (file paths) crosses the RPC: tensors passed as RPC arguments would be
serialized element by element.
"""

from __future__ import annotations

from collections.abc import Iterator


def _iter_bucket_tensors(paths: list[str]) -> Iterator:
    """Every tensor of the shm buckets, viewed in place in the mapped files (the reload copies them,
    or repacks a layer's kernel straight from them)."""
    from relate_ray.sync.shm import read_bucket

    for path in paths:
        yield from read_bucket(path)


def _refresh_tied_lm_head(model) -> None:
    """Re-derive a tied output head from the freshly loaded input embedding.

    With tie_word_embeddings the checkpoint has no lm_head tensor, so the in-place reload sees the
    head as "not loaded" and puts its old kernel tensors back (vLLM 0.32, CPU): sampling would then
    use stale output logits. Copy the embedding in and re-run the head's post-load processing.
    """
    config = getattr(model, "config", None)
    lm_head = getattr(model, "lm_head", None)
    embed = getattr(getattr(model, "model", None), "embed_tokens", None)
    if not getattr(config, "tie_word_embeddings", False) or lm_head is None or embed is None:
        return
    if lm_head.weight is not embed.weight and lm_head.weight.shape == embed.weight.shape:
        lm_head.weight.data.copy_(embed.weight.data)
    method = getattr(lm_head, "quant_method", None)
    if method is not None and hasattr(method, "process_weights_after_loading"):
        method.process_weights_after_loading(lm_head)


class WeightLoaderExtension:
    # The DirectReload that loads weight versions, once relate_use_direct_reload chose it (the rollout
    # worker does at start); None: vLLM's reload_weights.
    relate_direct = None

    def _relate_reload(self, tensors: Iterator) -> int:
        """Load (name, tensor) pairs into the running model in place; returns how many.

        Not model.load_weights alone: the CPU backend repacks linear weights after the first load and
        leaves their parameters empty. DirectReload (relate_ray.sync.direct_reload) hands them back
        checkpoint-layout buffers and repacks; other models go through the model runner's reload_weights.
        """
        from relate_ray.sync.fingerprint import combine, tensor_fingerprint

        count, fingerprints = 0, []

        def counted() -> Iterator:
            nonlocal count
            for name, tensor in tensors:
                count += 1
                fingerprints.append(tensor_fingerprint(tensor))
                yield name, tensor

        direct = self.relate_direct
        if direct is not None:
            direct.load(counted())
        else:
            self.model_runner.reload_weights(weights_iterator=counted())
        # A streamed source must be read to its end, or the sender would wait on us forever.
        for _ in tensors:
            count += 1
        if direct is None:
            _refresh_tied_lm_head(self.model_runner.model)
        self.relate_loaded_fingerprint = combine(fingerprints)
        return count

    def relate_use_direct_reload(self, wanted: bool) -> bool:
        """Load weight versions through DirectReload (relate_ray.sync.direct_reload) where the model
        allows it, or through vLLM's reload_weights; returns whether DirectReload will be used."""
        from relate_ray.sync.direct_reload import DirectReload

        model = self.model_runner.model
        self.relate_direct = DirectReload(model) if wanted and DirectReload.supports(model) else None
        return self.relate_direct is not None

    def relate_weight_bytes(self) -> int:
        """Bytes of the model's weights in checkpoint layout and the engine's dtype (what one load
        brings in), from the metadata vLLM recorded when it created the model: the packed layers'
        own parameters are empty."""
        from vllm.model_executor.model_loader.reload.layerwise import get_layerwise_info

        return sum(meta.numel() * meta.element_size() for module in self.model_runner.model.modules()
                   for meta in get_layerwise_info(module).restore_metadata[0].values())

    def relate_load_weights(self, paths: list[str]) -> int:
        """Load every tensor of the given safetensors buckets (shm backend)."""
        return self._relate_reload(_iter_bucket_tensors(paths))

    def relate_join_weight_group(self, backend: str, host: str, port: int, rank_offset: int, world_size: int,
                                 timeout_s: float) -> int:
        """Join the learner's broadcast group (relate_ray.sync.broadcast) as rank offset + this worker's
        rank in its engine; blocks until every member has joined. Returns the group rank."""
        from relate_ray.sync.broadcast import open_group

        rank = rank_offset + int(getattr(self, "rank", 0))
        self.relate_weight_group = open_group(backend, host, port, rank, world_size, timeout_s)
        return rank

    def relate_receive_weights(self, layout: dict) -> int:
        """Receive one broadcast version bucket by bucket and load it in place (gloo / nccl backends).
        layout: BucketLayout.to_wire()."""
        from relate_ray.sync.broadcast import BucketLayout, receive_buckets

        device = next(self.model_runner.model.parameters()).device
        return self._relate_reload(receive_buckets(self.relate_weight_group, BucketLayout.from_wire(layout), device))

    def relate_checksum(self) -> int:
        """The fingerprint (relate_ray.sync.fingerprint) of every tensor the engine loaded in its last
        reload, as it loaded them. Not of model.parameters(): on CPU, vLLM repacks linear weights into
        oneDNN / sgl handles and leaves their parameters empty, so those cover only embeddings and
        norms. Before any reload: the parameters' fingerprint."""
        from relate_ray.sync.fingerprint import weights_fingerprint

        loaded = getattr(self, "relate_loaded_fingerprint", None)
        return loaded if loaded is not None else weights_fingerprint(self.model_runner.model.parameters())

    def relate_reseed(self, seed: int) -> int:
        """Seed the sampler's random stream (torch's default generators in this worker process).

        The controller reseeds before every rollout from (run seed, step, worker), so a step's
        samples depend only on those and the weights, never on how many steps this engine served:
        a resumed run samples exactly what an uninterrupted one would. (Per-request seeds would do
        it too, but crash vLLM's CPU sampler.)
        """
        import torch

        torch.manual_seed(seed)
        return seed
