"""The synthetic-request content, loaded and checked: turns the plain tables in `common_<lang>.py` and
`verticals_<lang>_*.py` into validated `Pack`s the generator composes requests from.

Content layout. A vertical: `slots` (name -> spec), `facts`, `intro`, `closing`, `cta`, optional
`queries` (intent -> templates) and `topics`. A topic: `id`, `t` (the product as users type it), `name`
(display name), `desc` (what the brand is, with article), `brands`, `bid` (bidword templates), and
optional `local` (default True: has a city, "near me" queries), `words` (fixed strings for templates;
"noun" names how the page refers back to the brand), `slots`, `facts`, `intro`, `closing` (override the
vertical's) and per-intent query templates (`info`, `comm`, `trans`, `nav`). A fact: `sp`
(selling-point template or tuple of variants), `lp` (landing-page clause variants) and optional `only`
(topic ids). `kind` (vertical or topic): "goods", "service" (default) or "plain" picks which
kind-specific generic queries apply. A slot spec is ("int"|"plain", lo, hi, step), ("float", lo, hi,
decimals) or ("pick", values); slots named `b_*` are brand-wide. A fact applies to a topic when every field it uses
can be filled for that topic.

Checks run once per language at first use, so a typo in the tables fails loudly instead of silently
dropping a fact: unknown template fields, a selling point whose numbers its page clause lacks, topics
with too few facts or no query templates for an intent.
"""

from __future__ import annotations

import functools
import re
import string
from dataclasses import dataclass
from types import ModuleType
from typing import Mapping

from relate_ray.data.synth import common_en, common_zh
from relate_ray.data.synth import verticals_en_a, verticals_en_b, verticals_en_c
from relate_ray.data.synth import verticals_zh_a, verticals_zh_b, verticals_zh_c

VERTICALS = (
    "travel", "health", "education", "finance", "ecommerce", "auto",
    "real_estate", "legal", "beauty", "software", "food", "jobs",
)
INTENTS = ("info", "comm", "trans", "nav")
_SOURCES: dict[str, tuple[ModuleType, tuple[ModuleType, ...]]] = {
    "en": (common_en, (verticals_en_a, verticals_en_b, verticals_en_c)),
    "zh": (common_zh, (verticals_zh_a, verticals_zh_b, verticals_zh_c)),
}
_QUERY_FIELDS = frozenset({"t", "city", "brand", "rival", "site", "month", "year"})
_BID_FIELDS = frozenset({"t", "city", "brand"})
_REF_FIELDS = frozenset({"brand", "city", "name", "cta", "sp0", "sp1", "sp2", "sp0l", "sp1l", "sp2l", "sps"})
NUMBER = re.compile(r"\d+(?:[.,]\d+)*")  # how numbers are read back out of text
MIN_POINTS, MAX_POINTS = 3, 6

Spec = tuple


@dataclass(frozen=True)
class Fact:
    sp: tuple[str, ...]
    lp: tuple[str, ...]
    fields: tuple[str, ...]  # sorted, so sampling order never depends on hashing


@dataclass(frozen=True)
class Topic:
    id: str
    forms: tuple[str, ...]
    bids: tuple[str, ...]
    brands: tuple[str, ...]
    local: bool
    statics: Mapping[str, str]  # name, desc and words: fixed strings for fact and page templates
    slots: Mapping[str, Spec]
    facts: tuple[Fact, ...]
    specific: Mapping[str, tuple[str, ...]]  # intent -> topic and vertical query templates
    generic: Mapping[str, tuple[str, ...]]  # intent -> language-wide query templates
    intros: tuple[str, ...]
    closings: tuple[str, ...]
    brand_ref: str  # how page clauses may refer back to the brand ("the clinic", "我们")
    titles: tuple[str, ...]
    descriptions: tuple[str, ...]


@dataclass(frozen=True)
class Vertical:
    key: str
    topics: tuple[Topic, ...]
    slots: Mapping[str, Spec]
    ctas: tuple[str, ...]


@dataclass(frozen=True)
class Pack:
    """Everything one language needs, validated once."""

    lang: str
    style: ModuleType  # the common_<lang> module: writing conventions and shared lists
    slots: Mapping[str, Spec]
    verticals: Mapping[str, Vertical]


# --- small helpers -------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=None)
def template_fields(template: str) -> frozenset[str]:
    """The {names} a format template uses."""
    return frozenset(name for _, name, _, _ in string.Formatter().parse(template) if name)


def _literal_numbers(template: str) -> set[str]:
    return set(NUMBER.findall("".join(text for text, _, _, _ in string.Formatter().parse(template))))


def _tuple(value: str | tuple[str, ...]) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else tuple(value)


def _uses_city(template: str) -> bool:
    return "city" in template_fields(template)


# --- building and checking the content -----------------------------------------------------------------


def _fact(raw: Mapping, sampled: set[str], where: str) -> Fact:
    """A fact whose selling points can never carry a number its page clauses lack."""
    sps, lps = _tuple(raw["sp"]), _tuple(raw["lp"])
    for sp in sps:
        for lp in lps:
            lost = (template_fields(sp) - template_fields(lp)) & sampled
            lost |= _literal_numbers(sp) - _literal_numbers(lp)
            if lost:
                raise ValueError(f"{where}: selling point {sp!r} has {sorted(lost)} missing from {lp!r}")
    fields = sorted(set().union(*(template_fields(t) for t in sps + lps)))
    return Fact(sp=sps, lp=lps, fields=tuple(fields))


def _check_fields(templates: tuple[str, ...], allowed: frozenset[str], where: str) -> None:
    for template in templates:
        unknown = template_fields(template) - allowed
        if unknown:
            raise ValueError(f"{where}: template {template!r} uses unknown fields {sorted(unknown)}")


def _query_pools(style: ModuleType, vertical: Mapping, raw: Mapping, local: bool, many_brands: bool):
    """Per intent: (topic + vertical templates, language-wide templates), minus ones that cannot apply.

    Language-wide templates are the ones for any topic, the local ones if the topic is local, and those
    of its kind ("goods", "service"; default from the vertical, else "service"; "plain" adds none).
    """

    def usable(template: str) -> bool:
        fields = template_fields(template)
        placeless = "city" not in fields and not any(word in template for word in style.NEAR_WORDS)
        return (local or placeless) and (many_brands or "rival" not in fields)

    kind = raw.get("kind", vertical.get("kind", "service"))
    if kind not in ("goods", "service", "plain"):
        raise ValueError(f"unknown topic kind {kind!r}")
    specific, generic = {}, {}
    for intent in INTENTS:
        own = _tuple(raw.get(intent, ())) + _tuple(vertical.get("queries", {}).get(intent, ()))
        shared, shared_local = style.QUERIES[intent]
        shared += style.KIND_QUERIES.get(kind, {}).get(intent, ())
        specific[intent] = tuple(t for t in own if usable(t))
        generic[intent] = tuple(t for t in shared + (shared_local if local else ()) if usable(t))
    return specific, generic


def _topic(style: ModuleType, pack_slots: Mapping, vertical: Mapping, raw: Mapping, where: str) -> Topic:
    local = raw.get("local", True)
    statics = {"name": raw["name"], "desc": raw["desc"], **raw.get("words", {})}
    slots = dict(raw.get("slots", {}))
    sampled = set(pack_slots) | set(vertical["slots"]) | set(slots)
    fillable = sampled | set(statics) | {"brand"} | ({"city"} if local else set())
    facts = []
    for i, rawfact in enumerate(style.FACTS + vertical["facts"] + tuple(raw.get("facts", ()))):
        fact = _fact(rawfact, sampled, f"{where} fact {i}")
        only = rawfact.get("only")
        if (only is None or raw["id"] in only) and set(fact.fields) <= fillable:
            facts.append(fact)
    if len(facts) < MIN_POINTS + 1:
        raise ValueError(f"{where}: only {len(facts)} usable facts; need at least {MIN_POINTS + 1}")
    specific, generic = _query_pools(style, vertical, raw, local, len(raw["brands"]) > 1)
    keep = (lambda t: True) if local else (lambda t: not _uses_city(t))
    topic = Topic(
        id=raw["id"], forms=_tuple(raw["t"]), bids=tuple(filter(keep, raw["bid"])),
        brands=_tuple(raw["brands"]), local=local, statics=statics, slots=slots, facts=tuple(facts),
        specific=specific, generic=generic,
        intros=tuple(filter(keep, _tuple(raw.get("intro", vertical["intro"])))),
        closings=_tuple(raw.get("closing", vertical["closing"])),
        brand_ref=style.BRAND_REF.format(noun=statics.get("noun") or raw["desc"].split()[-1]),
        titles=tuple(filter(keep, style.TITLES)),
        descriptions=tuple(filter(keep, style.DESCRIPTIONS)),
    )
    for intent in INTENTS:
        templates = topic.specific[intent] + topic.generic[intent]
        _check_fields(templates, _QUERY_FIELDS, f"{where} {intent} queries")
        if not templates:
            raise ValueError(f"{where}: no {intent} query templates")
    _check_fields(topic.bids, _BID_FIELDS, f"{where} bid")
    _check_fields(topic.intros, frozenset(set(statics) | {"brand", "city"}), f"{where} intro")
    _check_fields(topic.closings, frozenset(statics) | {"brand"}, f"{where} closing")
    _check_fields(topic.titles + topic.descriptions, _REF_FIELDS, f"{where} reference ad")
    if not (topic.bids and topic.intros and topic.forms and topic.brands):
        raise ValueError(f"{where}: needs a bid, a form, a brand and an intro (without city if not local)")
    return topic


def _vertical(style: ModuleType, key: str, raw: Mapping, lang: str) -> Vertical:
    topics = tuple(_topic(style, style.SLOTS, raw, t, f"{lang}/{key}/{t['id']}") for t in raw["topics"])
    return Vertical(key=key, topics=topics, slots=dict(raw["slots"]), ctas=_tuple(raw["cta"]))


@functools.lru_cache(maxsize=None)
def _built(lang: str) -> Pack:
    style, parts = _SOURCES[lang]
    raw: dict[str, Mapping] = {}
    for part in parts:
        raw.update(part.VERTICALS)
    if set(raw) != set(VERTICALS):
        raise ValueError(f"{lang}: verticals {sorted(raw)} differ from {sorted(VERTICALS)}")
    verticals = {key: _vertical(style, key, raw[key], lang) for key in VERTICALS}
    return Pack(lang=lang, style=style, slots=dict(style.SLOTS), verticals=verticals)


def pack_for(lang: str) -> Pack:
    """The validated content for one language; ValueError for an unsupported language."""
    if lang not in _SOURCES:
        raise ValueError(f"unsupported lang {lang!r}: expected one of {', '.join(_SOURCES)}")
    return _built(lang)

