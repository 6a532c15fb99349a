"""Methods added to vLLM's worker (`worker_extension_cls`), called through `collective_rpc`.

They run inside the engine's worker process, next to the model. Names are prefixed `relate_`
because vLLM's own `update_weights` / `init_weight_transfer_engine` already exist on the worker.
Only small metadata (file paths) crosses the RPC: tensors passed as RPC arguments would be
serialized element by element.
"""

from __future__ import annotations

from collections.abc import Iterator


def _iter_bucket_tensors(paths: list[str]) -> Iterator:
    from safetensors import safe_open

    for path in paths:
        with safe_open(path, framework="pt") as handle:
            for name in handle.keys():
                yield name, handle.get_tensor(name)


class WeightLoaderExtension:
    def relate_load_weights(self, paths: list[str]) -> int:
        """Load every tensor of the given safetensors buckets into the running model, in place.

        reload_weights (not model.load_weights): the CPU backend repacks linear weights after the
        first load, and only the model runner's reload path maps fresh HF-layout tensors onto them.
        """
        count = 0

        def counted() -> Iterator:
            nonlocal count
            for item in _iter_bucket_tensors(paths):
                count += 1
                yield item

        self.model_runner.reload_weights(weights_iterator=counted())
        return count

    def relate_checksum(self) -> float:
        """Sum of all parameters (float64): changes whenever loaded weights change."""
        import torch

        total = torch.zeros((), dtype=torch.float64)
        for param in self.model_runner.model.parameters():
            total += param.detach().to(torch.float64).sum()
        return float(total)
