"""Seeded generator of realistic synthetic search-ad requests in English and Chinese.

`generate_requests(n, lang, seed)` returns `n` `AdRequest`s spread evenly over `VERTICALS`, each with a
search query, a related bidword, 3-6 concrete selling points, a landing page that repeats those facts
with the same numbers, and (on about half the rows) a reference ad. Same inputs, same output.
"""

from relate_ray.data.synth.generator import VERTICALS, generate_requests

__all__ = ["VERTICALS", "generate_requests"]
