"""`bench all`'s report (relate_ray/bench/side_by_side.py) as the markdown tables the README's
Performance section quotes."""

from __future__ import annotations


def table(report: dict) -> str:
    """The report as the README's Performance table."""
    r, t, s = report["rollout"], report["train"], report["step"]
    lines = ["| measure | relate-ray | baseline | ratio |", "|---|---|---|---|",
             f"| rollout tokens/s ({r['sequences']} seqs, {r['dtype']}) | {r['vllm_tokens_per_s']} | "
             f"{r['hf_tokens_per_s']} (transformers generate) | {r['speedup']}x |",
             f"| training samples/s | {t['relate_samples_per_s']} | {t.get('trl_samples_per_s', 'n/a')} (TRL "
             f"GRPOTrainer) | {t.get('speedup', 'n/a')}x |",
             f"| step s: rollout / reward / learner / sync | {s.get('rollout')} / {s.get('reward')} / "
             f"{s.get('learner')} / {s.get('sync')} | | sync {100 * s['sync_fraction']:.1f} % |"]
    if "roofline" in report:
        f = report["roofline"]
        lines += ["", f"| roofline ({f['threads']} threads) | GFLOP | s | GFLOP/s | of the GEMM rate "
                  f"({max(f['gemm_gflop_per_s'].values())} GFLOP/s) |", "|---|---|---|---|---|"]
        trained = f["learner"]["forward"].get("dtype")
        lines += [f"| learner {phase} | {v['gflop']} | {v['s']} | {v['gflop_per_s']} | {100 * v['of_gemm']:.0f} %"
                  + (f" of {v['dtype']}'s {v['gemm_gflop_per_s']} |" if v.get("dtype", trained) != trained else " |")
                  for phase, v in f["learner"].items()]
        d = f["rollout_decode"]
        lines.append(f"| rollout decode: weights read | {d['weight_mb']} MB a step | | {d['gb_per_s']} GB/s | "
                     f"{100 * d['of_bandwidth']:.0f} % of {f['memory_gb_per_s']} GB/s copy bandwidth |")
        if "learner_kernels" in f:
            k, share = f["learner_kernels"], f["learner_kernels"]["share"]
            lines += ["", "| what bounds it | GEMM kernels | attention | the rest |", "|---|---|---|---|",
                      f"| learner forward + backward of a group ({k['seconds']['wall']} s, profiled) | "
                      f"{100 * share['gemm']:.0f} % at {k['gemm_gflop_per_s']} GFLOP/s "
                      f"({100 * k['gemm_of_rate']:.0f} % of the rate) | {100 * share['attention']:.0f} % | "
                      f"{100 * share['other']:.0f} % |",
                      f"| rollout decode step ({d['step_ms']} ms) | {d['gemm_step_ms']} ms at one row per sequence "
                      f"({d['gemm_gb_per_s']} GB/s of weights{', ' + d['gemm_kernel'] if 'gemm_kernel' in d else ''}"
                      + (f"; {100 * d['gemm_of_read']:.0f} % of the {f['read_gb_per_s']} GB/s a read reaches"
                         if "gemm_of_read" in d else "") + ") | | |"]
    lines += ["", "| grid point (relate preset) | samples | step s | rollout | reward | learner | sync | samples/s "
              "| reward share |", "|---|---|---|---|---|---|---|---|---|"]
    lines += [f"| {label} | {g['samples']} | {g['step_s']} | {g['rollout']} | {g['reward']} | {g['learner']} | "
              f"{g['sync']} | {g['samples_per_s']} | {100 * g['reward_share']:.1f} % |"
              for label, g in report.get("grid", {}).items()]
    return "\n".join(lines)
