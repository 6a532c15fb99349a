"""The GRPO math of the RELATE paper as pure tensor functions (no Ray, no models).

Each function names its equation: group_advantages (eq. 8), combine_advantages (eq. 7 and 9),
kl_penalty and grpo_loss (eq. 6).
"""

from relate_ray.algo.advantages import combine_advantages, group_advantages
from relate_ray.algo.loss import AGGREGATIONS, grpo_loss, kl_penalty

__all__ = ["AGGREGATIONS", "combine_advantages", "group_advantages", "grpo_loss", "kl_penalty"]
