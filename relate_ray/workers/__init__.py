"""Ray actors, one role per file: rollout (vLLM), rewards, learner (DeepSpeed)."""
