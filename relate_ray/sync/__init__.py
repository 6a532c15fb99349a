"""Weight sync from the learner to the rollout engines after every step."""
