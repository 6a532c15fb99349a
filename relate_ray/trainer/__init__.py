"""The training controller: the RL loop and what it needs (reward pool, checkpoints, metrics)."""
