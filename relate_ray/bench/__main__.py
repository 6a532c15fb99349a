"""`python -m relate_ray.bench WHAT`: speed figures for the README and issue notes.

    python -m relate_ray.bench ngram [--responses 512 --tokens 64 --repeat 5]
    python -m relate_ray.bench rollout [--dtype float32|bfloat16|auto --prompts 4 --n 5 --tokens 48 --eager]
    python -m relate_ray.bench learner [--prompt-tokens 150 --n 5 --tokens 48]
    python -m relate_ray.bench learner-step [--set KEY=VALUE ... --threads 2 --repeat 3]
    python -m relate_ray.bench kernels [--dtype float32|bfloat16 --prompt-tokens 150 --n 5 --tokens 48]
    python -m relate_ray.bench engine [--subprocesses]
    python -m relate_ray.bench prompt [--conf-dir DIR --requests 16 --n 5 --marker WORD]
    python -m relate_ray.bench all [--out DIR --dtype float32|bfloat16]   (relate_ray/bench/side_by_side.py)

Benchmarks run here, never in timed tests (shared machines are noisy). Each prints the median of
`--repeat` runs.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time


def bench_ngram(args: argparse.Namespace) -> dict:
    from relate_ray.rewards.ngram import count_and_flag, high_frequency_ngrams

    rng = random.Random(0)
    sequences = [[rng.randrange(100, 49_000) for _ in range(args.tokens)] for _ in range(args.responses)]
    for seq in sequences[::4]:  # a planted template in a quarter of the responses
        start = rng.randrange(0, args.tokens - 6)
        seq[start : start + 6] = [11, 12, 13, 14, 15, 16]
    detect, flag = [], []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        found = high_frequency_ngrams(sequences, 2, 10, min_doc_freq=0.2)
        t1 = time.perf_counter()
        count_and_flag(sequences, found)
        t2 = time.perf_counter()
        detect.append(t1 - t0)
        flag.append(t2 - t1)
    return {"responses": args.responses, "tokens": args.tokens, "ngrams_found": len(found),
            "detect_s": round(statistics.median(detect), 4), "flag_s": round(statistics.median(flag), 4)}


def bench_rollout(args: argparse.Namespace) -> dict:
    """vLLM sampling throughput of the bundled policy (engine start-up excluded; first batch warms up)."""
    from relate_ray.assets import DEFAULT_POLICY, resolve_model
    from relate_ray.dtypes import resolve_dtype
    from relate_ray.rollout.vllm_engine import build_llm, sample

    llm = build_llm(resolve_model(DEFAULT_POLICY), dtype=args.dtype, max_model_len=1024, compile=not args.eager)
    prompt = "<|im_start|>user\nWrite a short ad for cheap flights to Lisbon.<|im_end|>\n<|im_start|>assistant\n"
    rates = []
    for _ in range(args.repeat + 1):
        # As after a run's weight load: the prompt is prefilled again, not served from the cache.
        llm.reset_prefix_cache()
        t0 = time.perf_counter()
        groups = sample(llm, [prompt] * args.prompts, n=args.n, temperature=0.7, max_tokens=args.tokens)
        tokens = sum(len(c.token_ids) for group in groups for c in group)
        rates.append(tokens / (time.perf_counter() - t0))
    return {"dtype": resolve_dtype(args.dtype), "compiled": not args.eager, "sequences": args.prompts * args.n,
            "tokens_per_s": round(statistics.median(rates[1:]), 1)}


def bench_learner(args: argparse.Namespace) -> dict:
    """Forward + backward of one GRPO group (one prompt, n responses) on the bundled policy in
    float32: the full padded forward against the shared-prompt forward the learner uses."""
    import torch
    from transformers import AutoModelForCausalLM

    from relate_ray.assets import DEFAULT_POLICY, resolve_model
    from relate_ray.algo.logprobs import pad_tokens
    from relate_ray.workers.learner_forward import full_logprobs, shared_prefix_logprobs

    model = AutoModelForCausalLM.from_pretrained(resolve_model(DEFAULT_POLICY), dtype=torch.float32)
    rng = random.Random(0)
    prompt = [rng.randrange(100, 49_000) for _ in range(args.prompt_tokens)]
    responses = [[rng.randrange(100, 49_000) for _ in range(args.tokens)] for _ in range(args.n)]
    result = {"prompt_tokens": args.prompt_tokens, "responses": args.n, "response_tokens": args.tokens}
    for name, forward in (("full", full_logprobs), ("shared_prefix", shared_prefix_logprobs)):
        times = []
        for _ in range(args.repeat + 1):
            model.zero_grad()
            t0 = time.perf_counter()
            forward(model, [prompt] * args.n, *pad_tokens(responses, 0), pad_id=0).sum().backward()
            times.append(time.perf_counter() - t0)
        result[f"{name}_s"] = round(statistics.median(times[1:]), 2)
    result["speedup"] = round(result["full_s"] / result["shared_prefix_s"], 2)
    return result


def positive_int(text: str) -> int:
    """argparse type: an integer of at least 1 (a count of tokens, responses or threads)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {value}")
    return value


def bench_kernels(args: argparse.Namespace) -> dict:
    """What bounds the learner and the decode (relate_ray/bench/kernels.py): one group's forward +
    backward split into GEMM kernels, attention and the rest, and one decode step's matrix products
    at one row per sequence (--n x 2 prompts, as `bench all`)."""
    from transformers import AutoConfig

    from relate_ray.assets import DEFAULT_POLICY, resolve_model
    from relate_ray.bench.kernels import decode_gemm_seconds, learner_kernels
    from relate_ray.bench.roofline import ModelShape

    path = str(resolve_model(DEFAULT_POLICY))
    threads = args.threads or os.cpu_count() or 1
    prompt = [random.Random(0).randrange(100, 49_000) for _ in range(args.prompt_tokens)]
    result = learner_kernels(path, args.dtype, prompt, args.n, args.tokens, threads)
    shape = ModelShape.from_config(AutoConfig.from_pretrained(path))
    seconds, result["decode_gemm_kernel"] = decode_gemm_seconds(shape, 2 * args.n, args.dtype, threads)
    result["decode_gemm_step_ms"] = round(1e3 * seconds, 1)
    return result


def bench_learner_step(args: argparse.Namespace) -> dict:
    """One real learner step as the main job runs it: a LearnerWorker Ray actor (DeepSpeed ZeRO-2,
    reference model, GRPO loss) on the bundled policy, fed a step of random token ids shaped like
    the run's (trainer.prompts_per_step prompts x G responses of rollout.max_new_tokens). Prints the
    median of each learner phase over --repeat steps after a warm-up step, and the actor's resident
    memory after set-up, between steps and at its peak. Overrides: --set key=value (a preset too:
    --set +experiment=zh)."""
    import ray
    from hydra import compose, initialize_config_dir
    from transformers import AutoTokenizer

    from relate_ray.assets import resolve_model
    from relate_ray.data.prompts import DEFAULT_CONF_DIR
    from relate_ray.config import register_configs
    from relate_ray.sync.broadcast import free_port
    from relate_ray.algo.learner_batch import LearnerBatch, learner_shards
    from relate_ray.trainer.setup import learner_config
    from relate_ray.workers.learner import LearnerWorker

    register_configs()
    with initialize_config_dir(config_dir=str(DEFAULT_CONF_DIR), version_base="1.3"):
        cfg = compose(config_name="config", overrides=args.set)
    path = resolve_model(cfg.model.policy, cfg.cache_dir or None)
    lcfg = learner_config(cfg, AutoTokenizer.from_pretrained(path))
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        learner = LearnerWorker.options(num_cpus=1).remote(0, 1, "127.0.0.1", free_port(), str(path), lcfg,
                                                           args.threads)
        ray.get(learner.ready.remote())
        rng = random.Random(0)
        g = cfg.rollout.group_size
        prompts = [[rng.randrange(100, 49_000) for _ in range(args.prompt_tokens)]
                   for _ in range(cfg.trainer.prompts_per_step)]
        responses = [[rng.randrange(100, 49_000) for _ in range(cfg.rollout.max_new_tokens)]
                     for _ in range(len(prompts) * g)]
        batch = LearnerBatch.from_ragged([p for p in prompts for _ in range(g)], responses,
                                         [[rng.gauss(0, 1)] * len(r) for r in responses],
                                         [[-2.0] * len(r) for r in responses], lcfg["pad_id"], cfg.rollout.temperature)
        shard, = learner_shards(batch, 1, cfg.learner.mini_batches)
        with ResidentMemory(ray.get(learner.ready.remote())["pid"]) as memory:
            steps = []
            for _ in range(args.repeat + 1):
                memory.mark()
                steps.append(ray.get(learner.train_step.remote(shard)))
            memory.mark()
    finally:
        ray.shutdown()
    keys = ["reference", "old", "forward", "backward", "optimizer"]
    result = {k: round(statistics.median(s[f"time/learner_{k}"] for s in steps[1:]), 2) for k in keys}
    result["total_s"] = round(sum(result.values()), 2)
    return {"samples": len(responses), **result, **memory.summary()}


class ResidentMemory:
    """Samples one process's resident memory every `period_s` in a thread: what a learner holds after
    set-up, between steps (at each `mark()`) and at its peak within a step. Ray's memory monitor
    kills on the node's total, so these are the figures that decide whether a run fits."""

    def __init__(self, pid: int, period_s: float = 0.02) -> None:
        import psutil

        self.process, self.period_s = psutil.Process(pid), period_s
        self.peak, self.marks = 0, []

    def _sample(self) -> int:
        rss = self.process.memory_info().rss
        self.peak = max(self.peak, rss)
        return rss

    def _poll(self) -> None:
        while not self._stop.wait(self.period_s):
            self._sample()

    def __enter__(self) -> "ResidentMemory":
        import threading

        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def mark(self) -> None:
        self.marks.append(self._sample())

    def summary(self) -> dict:
        """GB: after set-up (the first mark), between steps (the median of the later marks), peak."""
        between = self.marks[1:] or self.marks
        return {"rss_setup_gb": round(self.marks[0] / 1e9, 2), "rss_between_gb": round(statistics.median(between) / 1e9, 2),
                "rss_peak_gb": round(self.peak / 1e9, 2)}


def bench_engine(args: argparse.Namespace) -> dict:
    """Start-up time of one engine of the bundled policy, then its process count and resident memory
    once it has served a request (the KV cache is touched)."""
    import psutil

    from relate_ray.assets import DEFAULT_POLICY, resolve_model
    from relate_ray.rollout.vllm_engine import build_llm

    path = resolve_model(DEFAULT_POLICY)
    t0 = time.perf_counter()
    llm = build_llm(path, max_model_len=1024, in_process=not args.subprocesses)
    seconds = time.perf_counter() - t0
    llm.generate(["Title:"], use_tqdm=False)
    procs = [psutil.Process(), *psutil.Process().children(recursive=True)]
    return {"in_process": not args.subprocesses, "startup_s": round(seconds, 1), "processes": len(procs),
            "rss_gb": round(sum(p.memory_info().rss for p in procs) / 1e9, 2)}


def bench_prompt(args: argparse.Namespace) -> dict:
    """How the untrained bundled policy answers a prompt template (the conf dir's prompt/en.yaml) on
    held-out embedded requests: Title lines, well-formed ads, answers naming the request's keyword,
    and answers containing --marker (e.g. a word from a worked example, to see it copied)."""
    from transformers import AutoTokenizer

    from relate_ray.assets import DEFAULT_POLICY, resolve_model
    from relate_ray.data.adformat import parse_ad
    from relate_ray.data.embedded import ensure_embedded_data
    from relate_ray.data.loading import load_requests
    from relate_ray.data.prompts import render_prompt
    from relate_ray.rollout.vllm_engine import build_llm, sample

    path = resolve_model(DEFAULT_POLICY)
    tokenizer = AutoTokenizer.from_pretrained(path)
    requests = load_requests(ensure_embedded_data().valid)[0][: args.requests]
    prompts = [render_prompt(r, tokenizer, args.conf_dir) for r in requests]
    groups = sample(build_llm(path, max_model_len=1024), prompts, n=args.n, temperature=0.9, max_tokens=48)
    answers = [(r, c.text) for r, group in zip(requests, groups) for c in group]

    def share(hits) -> float:
        return round(sum(hits) / len(answers), 3)

    result = {"answers": len(answers), "prompt_tokens": len(tokenizer(prompts[0])["input_ids"]),
              "title_line": share("Title:" in t for _, t in answers),
              "format_ok": share(parse_ad(t).ok for _, t in answers),
              "names_keyword": share(r.bidword.split()[0].lower() in t.lower() for r, t in answers)}
    if args.marker:
        result[f"contains_{args.marker}"] = share(args.marker in t for _, t in answers)
    return result


def bench_all(args: argparse.Namespace) -> dict:
    from pathlib import Path

    from relate_ray.bench.report_table import table
    from relate_ray.bench.side_by_side import run

    report = run(Path(args.out), args.dtype)
    sys.stdout.write(table(report) + "\n")
    return {"report": str(Path(args.out) / "bench.json")}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m relate_ray.bench", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="what", required=True)
    ngram = sub.add_parser("ngram", help="high-frequency n-gram detection and token flagging")
    ngram.add_argument("--responses", type=int, default=512)
    ngram.add_argument("--tokens", type=int, default=64)
    ngram.add_argument("--repeat", type=int, default=5)
    ngram.set_defaults(func=bench_ngram)
    rollout = sub.add_parser("rollout", help="vLLM sampling throughput of the bundled policy")
    rollout.add_argument("--dtype", default="auto")
    rollout.add_argument("--prompts", type=int, default=4)
    rollout.add_argument("--n", type=int, default=5)
    rollout.add_argument("--tokens", type=int, default=48)
    rollout.add_argument("--repeat", type=int, default=2)
    rollout.add_argument("--eager", action="store_true", help="enforce_eager (rollout.compile=false)")
    rollout.set_defaults(func=bench_rollout)
    learner = sub.add_parser("learner", help="learner forward+backward: full vs shared-prompt")
    learner.add_argument("--prompt-tokens", type=int, default=150)
    learner.add_argument("--n", type=int, default=5)
    learner.add_argument("--tokens", type=int, default=48)
    learner.add_argument("--repeat", type=int, default=3)
    learner.set_defaults(func=bench_learner)
    step = sub.add_parser("learner-step", help="one DeepSpeed learner step in a Ray actor, split by phase")
    step.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="a config override")
    step.add_argument("--prompt-tokens", type=int, default=150)
    step.add_argument("--repeat", type=int, default=3)
    step.add_argument("--threads", type=int, default=2, help="torch threads in the actor (the run: cores / ranks)")
    step.set_defaults(func=bench_learner_step)
    kernels = sub.add_parser("kernels", help="what bounds the learner and the decode: time by kernel class")
    kernels.add_argument("--dtype", default="float32", choices=("float32", "bfloat16"))
    kernels.add_argument("--prompt-tokens", type=positive_int, default=150)
    kernels.add_argument("--n", type=positive_int, default=5)
    kernels.add_argument("--tokens", type=positive_int, default=48)
    kernels.add_argument("--threads", type=int, default=0, help="torch threads (0: every core)")
    kernels.set_defaults(func=bench_kernels)
    engine = sub.add_parser("engine", help="vLLM engine start-up time and memory")
    engine.add_argument("--subprocesses", action="store_true", help="vLLM's engine-core and worker processes")
    engine.set_defaults(func=bench_engine)
    prompt = sub.add_parser("prompt", help="the untrained policy's answers to a prompt template")
    prompt.add_argument("--conf-dir", default=None, help="folder holding prompt/en.yaml (default: conf/)")
    prompt.add_argument("--requests", type=int, default=16)
    prompt.add_argument("--n", type=int, default=5)
    prompt.add_argument("--marker", default="")
    prompt.set_defaults(func=bench_prompt)
    every = sub.add_parser("all", help="rollout vs transformers, training vs TRL, the step split (bench.json)")
    every.add_argument("--out", default="bench_out")
    every.add_argument("--dtype", default="float32", choices=("float32", "bfloat16"))
    every.set_defaults(func=bench_all)
    args = parser.parse_args(argv)
    result = args.func(args)
    sys.stdout.write(" ".join(f"{k}={v}" for k, v in result.items()) + "\n")
    return 0


if __name__ == "__main__":  # vLLM spawns its engine process: the guard is required
    sys.exit(main())
