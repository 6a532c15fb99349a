"""The names inside a checkpoints/step_<N>/ folder, shared by the learner that writes it and the
trainer that finds, prunes and resumes from it (so neither imports the other for them)."""

STATE_FILE = "trainer_state.json"          # step, data position, weight version
REWARD_STATE_FILE = "reward_state.json"    # the stateful rewards' state (diversity's n-gram window)
RESUME_DIR = "deepspeed"                   # DeepSpeed's engine and optimizer state, for resume=true
