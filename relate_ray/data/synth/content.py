"""The synthetic-request content, loaded and checked: turns the shared tables in `common_<lang>.py` and
the data files `verticals/<lang>/<vertical>.yaml` into validated `Pack`s the generator composes
requests from.

Content layout. A vertical file: `slots` (name -> spec), `facts`, `intro`, `closing`, `cta`, optional
`kind` and `queries` (intent -> templates), and `topics`. A topic: `id`, `product_forms` (the product
as users type it; the {product} of query and bidword templates), `name` (display name), `descriptor`
(what the brand is, with its article: {descriptor}), `brands`, `bidwords` (templates), and optional
`local` (default true: has a city, "near me" queries), `words` (fixed strings for templates:
`price_unit` after a price in an ad, `price_unit_page` on the landing page, `noun` for how the page
refers back to the brand...), `slots`, `facts`, `intro`, `closing` (override the vertical's), `kind`
and per-intent query templates (`info`, `comm`, `trans`, `nav`). A fact: `selling_point` (a template
or a list of variants), `page_clause` (the landing-page clause variants) and optional `only_topics`
(topic ids). `kind` (vertical or topic): "goods", "service" (default) or "plain" picks which
kind-specific generic queries apply. A slot spec is {kind: int|plain, low, high, step},
{kind: float, low, high, decimals} or {kind: pick, values}; slots named `b_*` are brand-wide. A fact
applies to a topic when every field it uses can be filled for that topic.

Checks run once per language at first use, so a typo in the data fails loudly, naming the file, instead
of silently dropping a fact: unknown keys, unknown template fields, a selling point whose numbers its
page clause lacks, topics with too few facts or no query templates for an intent.
"""

from __future__ import annotations

import functools
import re
import string
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Mapping

import yaml

from relate_ray.data.synth import common_en, common_zh

VERTICALS = (
    "travel", "health", "education", "finance", "ecommerce", "auto",
    "real_estate", "legal", "beauty", "software", "food", "jobs",
)
INTENTS = ("info", "comm", "trans", "nav")
_STYLES: dict[str, ModuleType] = {"en": common_en, "zh": common_zh}
DATA_DIR = Path(__file__).with_name("verticals")
_VERTICAL_KEYS = frozenset({"kind", "slots", "facts", "intro", "closing", "cta", "queries", "topics"})
_TOPIC_KEYS = frozenset({"id", "product_forms", "name", "descriptor", "brands", "bidwords", "local", "words", "slots",
                         "facts", "intro", "closing", "kind", *INTENTS})
_FACT_KEYS = frozenset({"selling_point", "page_clause", "only_topics"})
_SLOT_FIELDS = {"int": ("low", "high", "step"), "plain": ("low", "high", "step"), "float": ("low", "high", "decimals"),
                "pick": ("values",)}
_QUERY_FIELDS = frozenset({"product", "city", "brand", "rival", "site", "month", "year"})
_BID_FIELDS = frozenset({"product", "city", "brand"})
_REF_FIELDS = frozenset({"brand", "city", "name", "cta", "sp0", "sp1", "sp2", "sp0l", "sp1l", "sp2l", "sps"})
NUMBER = re.compile(r"\d+(?:[.,]\d+)*")  # how numbers are read back out of text
MIN_POINTS, MAX_POINTS = 3, 6

Spec = tuple


@dataclass(frozen=True)
class Fact:
    selling_points: tuple[str, ...]
    page_clauses: tuple[str, ...]
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
    sps, lps = _tuple(raw["selling_point"]), _tuple(raw["page_clause"])
    for sp in sps:
        for lp in lps:
            lost = (template_fields(sp) - template_fields(lp)) & sampled
            lost |= _literal_numbers(sp) - _literal_numbers(lp)
            if lost:
                raise ValueError(f"{where}: selling point {sp!r} has {sorted(lost)} missing from {lp!r}")
    fields = sorted(set().union(*(template_fields(t) for t in sps + lps)))
    return Fact(selling_points=sps, page_clauses=lps, fields=tuple(fields))


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
    statics = {"name": raw["name"], "descriptor": raw["descriptor"], **raw.get("words", {})}
    slots = dict(raw.get("slots", {}))
    sampled = set(pack_slots) | set(vertical["slots"]) | set(slots)
    fillable = sampled | set(statics) | {"brand"} | ({"city"} if local else set())
    facts = []
    for i, rawfact in enumerate(style.FACTS + vertical["facts"] + tuple(raw.get("facts", ()))):
        fact = _fact(rawfact, sampled, f"{where} fact {i}")
        only = rawfact.get("only_topics")
        if (only is None or raw["id"] in only) and set(fact.fields) <= fillable:
            facts.append(fact)
    if len(facts) < MIN_POINTS + 1:
        raise ValueError(f"{where}: only {len(facts)} usable facts; need at least {MIN_POINTS + 1}")
    specific, generic = _query_pools(style, vertical, raw, local, len(raw["brands"]) > 1)
    keep = (lambda t: True) if local else (lambda t: not _uses_city(t))
    topic = Topic(
        id=raw["id"], forms=_tuple(raw["product_forms"]), bids=tuple(filter(keep, raw["bidwords"])),
        brands=_tuple(raw["brands"]), local=local, statics=statics, slots=slots, facts=tuple(facts),
        specific=specific, generic=generic,
        intros=tuple(filter(keep, _tuple(raw.get("intro", vertical["intro"])))),
        closings=_tuple(raw.get("closing", vertical["closing"])),
        brand_ref=style.BRAND_REF.format(noun=statics.get("noun") or raw["descriptor"].split()[-1]),
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


def _frozen(value):
    """YAML lists as tuples, all the way down (the content is read-only and hashable)."""
    if isinstance(value, list):
        return tuple(_frozen(v) for v in value)
    if isinstance(value, dict):
        return {k: _frozen(v) for k, v in value.items()}
    return value


def _slot_specs(raw: Mapping, where: str) -> dict[str, Spec]:
    """{name: {kind: int, low, high, step}} -> {name: ("int", low, high, step)}, the generator's form."""
    specs = {}
    for name, spec in raw.items():
        kind = spec.get("kind") if isinstance(spec, Mapping) else None
        if kind not in _SLOT_FIELDS or set(spec) != {"kind", *_SLOT_FIELDS[kind]}:
            raise ValueError(f"{where}: slot {name!r} must be one of "
                             + "; ".join(f"{{kind: {k}, {', '.join(f)}}}" for k, f in _SLOT_FIELDS.items())
                             + f", got {spec!r}")
        specs[name] = (kind, *(spec[f] for f in _SLOT_FIELDS[kind]))
    return specs


def _unknown_keys(raw: Mapping, known: frozenset[str], where: str) -> None:
    unknown = set(raw) - known
    if unknown:
        raise ValueError(f"{where}: unknown keys {sorted(unknown)} (known: {', '.join(sorted(known))})")


def load_vertical(path: Path) -> dict:
    """One vertical's data file as the plain tables `_vertical` reads; ValueError naming the file
    (and the topic or fact) for a key or slot spec it does not know."""
    raw = _frozen(yaml.safe_load(path.read_text(encoding="utf-8")))
    where = str(path)
    _unknown_keys(raw, _VERTICAL_KEYS, where)
    raw["slots"] = _slot_specs(raw.get("slots", {}), where)
    for i, fact in enumerate(raw.get("facts", ())):
        _unknown_keys(fact, _FACT_KEYS, f"{where} fact {i}")
    for topic in raw["topics"]:
        at = f"{where} topic {topic.get('id')}"
        _unknown_keys(topic, _TOPIC_KEYS, at)
        if "slots" in topic:
            topic["slots"] = _slot_specs(topic["slots"], at)
        for i, fact in enumerate(topic.get("facts", ())):
            _unknown_keys(fact, _FACT_KEYS, f"{at} fact {i}")
    return raw


@functools.lru_cache(maxsize=None)
def _built(lang: str) -> Pack:
    style = _STYLES[lang]
    files = sorted((DATA_DIR / lang).glob("*.yaml"))
    raw = {path.stem: load_vertical(path) for path in files}
    if set(raw) != set(VERTICALS):
        raise ValueError(f"{DATA_DIR / lang}: verticals {sorted(raw)} differ from {sorted(VERTICALS)}")
    verticals = {key: _vertical(style, key, raw[key], lang) for key in VERTICALS}
    return Pack(lang=lang, style=style, slots=dict(style.SLOTS), verticals=verticals)


def pack_for(lang: str) -> Pack:
    """The validated content for one language; ValueError for an unsupported language."""
    if lang not in _STYLES:
        raise ValueError(f"unsupported lang {lang!r}: expected one of {', '.join(_STYLES)}")
    return _built(lang)

