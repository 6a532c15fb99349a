"""Rollout: sampling G candidate ads per prompt from the policy with vLLM."""
