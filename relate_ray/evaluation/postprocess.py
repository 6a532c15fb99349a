"""Inference-time post-processing, as the paper's Qwen-SFT baseline applies it: format repair,
removal of blacklisted phrases, length trim. Works on any policy's raw output (`postprocess=true`).

Repair reads whatever fields the output has and falls back to its lines: the first line (or first
sentence of a one-line answer) becomes the title, the rest the description; a field still empty is
filled from the request (its bidword for a title, its selling points for a description), as a
production fallback template would. Blacklisted phrases are
the training checker's (`relate_ray.rewards.compliance`), as a production post-processor would use
its own blacklist; the independent platform review (`relate_ray.sim.review`) still judges the result.
"""

from __future__ import annotations

import re

from relate_ray.data.adformat import FIELD_KEYS, parse_ad, render_ad
from relate_ray.data.schema import AdRequest

_KEY_PREFIX = re.compile(rf"^\s*(?:{'|'.join(FIELD_KEYS)})\s*[:：]\s*", re.IGNORECASE)
_DECORATION = re.compile(r"\*\*|__|`|^#+\s*|^\s*[-*]\s+")
_SENTENCE_END = re.compile(r"(?<=[.!?。！？])\s*")
_SPACES = re.compile(r"\s{2,}")
_DANGLING = re.compile(r"\s+([,.;:!?，。；：！？])")
_QUOTES = "\"'“”‘’「」"


def _lines(text: str) -> list[str]:
    return [_DECORATION.sub("", line).strip() for line in text.strip().splitlines() if line.strip()]


def repair_format(text: str) -> tuple[str, str]:
    """(title, description) from any output: its own fields where present, else its lines."""
    ad = parse_ad(text)
    if ad.title and ad.description:
        return ad.title, ad.description
    rest = [line for line in _lines(text) if not _KEY_PREFIX.match(line)]
    rest = [line for line in rest if line not in (ad.title, ad.description)]
    title, description = ad.title, ad.description
    if not title and not description and len(rest) == 1:
        parts = [p for p in _SENTENCE_END.split(rest[0], maxsplit=1) if p.strip()]
        rest = parts if len(parts) > 1 else rest
    if not title and rest:
        title = rest.pop(0)
    if not description and rest:
        description = " ".join(rest)
    return _tidy(title), _tidy(description)


def _tidy(value: str) -> str:
    return value.strip().strip(_QUOTES).strip().rstrip(":：").strip()


def remove_blacklisted(text: str, lang: str) -> str:
    """The text with every span the training checker flags cut out, and the spaces tidied."""
    from relate_ray.rewards.compliance import check

    for violation in sorted(check(text, lang).violations, key=lambda v: v.span[0], reverse=True):
        start, end = violation.span
        text = text[:start] + text[end:]
    return _DANGLING.sub(r"\1", _SPACES.sub(" ", text)).strip()


def trim(text: str, limit: int, lang: str) -> str:
    """At most `limit` characters, cut at a word end for English (whole characters for Chinese)."""
    if len(text) <= limit:
        return text
    cut = text[:limit]
    if lang != "zh" and " " in cut and not text[limit].isspace():
        cut = cut[: cut.rfind(" ")]
    return cut.rstrip(" ,;:-，；：")


def postprocess(text: str, request: AdRequest, limits: dict[str, tuple[int, int]]) -> str:
    """Repaired, cleaned and trimmed output in the policy's format.

    limits: {"title": (low, high), "description": (low, high)} in characters; the high ends trim.
    """
    lang = request.lang
    title, description = repair_format(text)
    title = title or request.bidword.title()
    description = description or ("。" if lang == "zh" else ". ").join(p.rstrip(".。") for p in request.selling_points)
    title = trim(remove_blacklisted(title, lang), limits["title"][1], lang)
    description = trim(remove_blacklisted(description, lang), limits["description"][1], lang)
    return render_ad(title, description)
