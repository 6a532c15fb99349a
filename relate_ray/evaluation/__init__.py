"""Offline evaluation against baselines: `python -m relate_ray.evaluate` (Table 1, GSB), the SFT
baseline (`python -m relate_ray.sft`), post-processing and the report (`python -m relate_ray.report`)."""
