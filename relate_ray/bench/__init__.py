"""Measurement tooling, apart from the library: `python -m relate_ray.bench WHAT` (speed figures,
`__main__.py`), the side-by-side comparison with transformers and TRL (`side_by_side.py`, `bench
all`; its tables: `report_table.py`), its step-time grid (`grid.py`), the roofline and the kernel split behind its "what bounds
it" tables (`roofline.py`, `kernels.py`) and the accelerator check (`python -m relate_ray.bench.device_check`)."""
