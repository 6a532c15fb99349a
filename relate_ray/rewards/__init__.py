"""Reward components: each scores candidate ads, sentence-level and/or token-level."""
