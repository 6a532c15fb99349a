"""Compose synthetic search-ad requests from the per-language content tables (the logic; the words live
in `common_<lang>.py` and `verticals_<lang>_*.py`).

A request is one vertical, one topic (a product or service line), one brand selling it and one city.
The facts an ad may use are sampled once per request and rendered twice, as short selling points and as
landing-page clauses, so both always carry the same numbers: the simulator reads facts back out of that
text with regexes. Brand-wide slots (named `b_*`: rating, years in business...) come from the brand's
own seeded stream, so a brand reports the same rating in every request and every seed.

Content layout. A vertical: `slots` (name -> spec), `facts`, `intro`, `closing`, `cta`, optional
`queries` (intent -> templates) and `topics`. A topic: `id`, `t` (the product as users type it), `name`
(display name), `desc` (what the brand is, with article), `brands`, `bid` (bidword templates), and
optional `local` (default True: has a city, "near me" queries), `words` (fixed strings for templates),
`slots`, `facts` and per-intent query templates (`info`, `comm`, `trans`, `nav`). A fact: `sp`
(selling-point template or tuple of variants), `lp` (landing-page clause variants) and optional `only`
(topic ids). A slot spec is ("int"|"plain", lo, hi, step), ("float", lo, hi, decimals) or
("pick", values). A fact applies to a topic when every field it uses can be filled for that topic.

Determinism: every random choice comes from `random.Random` instances seeded with strings (hashed
with SHA-512 by `random`, so independent of PYTHONHASHSEED), and sets are never iterated unsorted.
"""

from __future__ import annotations

import functools
import random
import re
import string
from dataclasses import dataclass
from types import ModuleType
from typing import Mapping

from relate_ray.data.schema import MAX_LEN, AdRequest
from relate_ray.data.synth import common_en, common_zh
from relate_ray.data.synth import verticals_en_a, verticals_en_b, verticals_en_c
from relate_ray.data.synth import verticals_zh_a, verticals_zh_b, verticals_zh_c

VERTICALS = (
    "travel", "health", "education", "finance", "ecommerce", "auto",
    "real_estate", "legal", "beauty", "software", "food", "jobs",
)
INTENTS = ("info", "comm", "trans", "nav")
_INTENT_WEIGHTS = (25, 30, 30, 15)
_SOURCES: dict[str, tuple[ModuleType, tuple[ModuleType, ...]]] = {
    "en": (common_en, (verticals_en_a, verticals_en_b, verticals_en_c)),
    "zh": (common_zh, (verticals_zh_a, verticals_zh_b, verticals_zh_c)),
}
_QUERY_FIELDS = frozenset({"t", "city", "brand", "rival", "site", "month", "year"})
_BID_FIELDS = frozenset({"t", "city", "brand"})
_REF_FIELDS = frozenset({"brand", "city", "name", "cta", "sp0", "sp1", "sp2", "sp0l", "sp1l", "sp2l", "sps"})
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_MIN_POINTS, _MAX_POINTS = 3, 6
_MAX_PAGE_SENTENCES = 5
_SPECIFIC_QUERY_SHARE = 0.5  # topic/vertical templates read most natural; generic ones add variety
_EXTRA_FACT_SHARE = 0.7  # pages usually say a little more than the ad's selling points
_CLOSING_SHARE = 0.6
_REF_SHARE = 0.5
_LOWERCASE_QUERY_SHARE = 0.85

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
    titles: tuple[str, ...]
    descriptions: tuple[str, ...]


@dataclass(frozen=True)
class Vertical:
    key: str
    topics: tuple[Topic, ...]
    slots: Mapping[str, Spec]
    closings: tuple[str, ...]
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
    return set(_NUMBER.findall("".join(text for text, _, _, _ in string.Formatter().parse(template))))


def _tuple(value: str | tuple[str, ...]) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else tuple(value)


def _cap(text: str, cased: bool) -> str:
    return text[:1].upper() + text[1:] if cased else text


def _lower_first(text: str, cased: bool) -> str:
    # Leave acronyms alone: "LASIK from $999" must not become "lASIK from $999".
    if cased and len(text) > 1 and text[1].islower():
        return text[:1].lower() + text[1:]
    return text


def _uses_city(template: str) -> bool:
    return "city" in template_fields(template)


def _format_int(value: int, thousands: bool) -> str:
    return f"{value:,}" if thousands else str(value)


def _sample(spec: Spec, rng: random.Random, thousands: bool) -> str:
    """One slot value, already formatted the way both selling point and page will print it."""
    kind = spec[0]
    if kind in ("int", "plain"):
        _, lo, hi, step = spec
        value = rng.randrange(lo, hi + 1, step)
        return _format_int(value, thousands and kind == "int")
    if kind == "float":
        _, lo, hi, places = spec
        scale = 10**places
        return f"{rng.randint(round(lo * scale), round(hi * scale)) / scale:.{places}f}"
    if kind == "pick":
        value = rng.choice(spec[1])
        return _format_int(value, thousands) if isinstance(value, int) else str(value)
    raise ValueError(f"unknown slot kind {kind!r} in spec {spec!r}")


@functools.lru_cache(maxsize=8192)
def _brand_value(lang: str, vertical: str, brand: str, slot: str, spec: Spec, thousands: bool) -> str:
    # A private stream per (brand, slot): the same brand shows the same rating in every request.
    return _sample(spec, random.Random(f"{lang}|{vertical}|{brand}|{slot}"), thousands)


# --- building and checking the content -----------------------------------------------------------------


def _fact(raw: Mapping, sampled: set[str], where: str) -> Fact:
    """A fact whose selling points can never carry a number its page clauses lack."""
    sps, lps = _tuple(raw["sp"]), _tuple(raw["lp"])
    for sp in sps:
        for lp in lps:
            lost = (template_fields(sp) - template_fields(lp)) & sampled
            lost |= _literal_numbers(sp) - _literal_numbers(lp)
            if lost:
                raise ValueError(f"{where}: selling point {sp!r} has {sorted(lost)} that page clause {lp!r} lacks")
    fields = sorted(set().union(*(template_fields(t) for t in sps + lps)))
    return Fact(sp=sps, lp=lps, fields=tuple(fields))


def _check_fields(templates: tuple[str, ...], allowed: frozenset[str], where: str) -> None:
    for template in templates:
        unknown = template_fields(template) - allowed
        if unknown:
            raise ValueError(f"{where}: template {template!r} uses unknown fields {sorted(unknown)}")


def _query_pools(style: ModuleType, vertical: Mapping, raw: Mapping, local: bool, many_brands: bool):
    """Per intent: (topic + vertical templates, language-wide templates), minus ones that cannot apply."""

    def usable(template: str) -> bool:
        fields = template_fields(template)
        return (local or "city" not in fields and "near me" not in template and "附近" not in template) and (
            many_brands or "rival" not in fields
        )

    specific, generic = {}, {}
    for intent in INTENTS:
        own = _tuple(raw.get(intent, ())) + _tuple(vertical.get("queries", {}).get(intent, ()))
        shared, shared_local = style.QUERIES[intent]
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
    if len(facts) < _MIN_POINTS + 1:
        raise ValueError(f"{where}: only {len(facts)} usable facts; need at least {_MIN_POINTS + 1}")
    specific, generic = _query_pools(style, vertical, raw, local, len(raw["brands"]) > 1)
    keep = (lambda t: True) if local else (lambda t: not _uses_city(t))
    topic = Topic(
        id=raw["id"], forms=_tuple(raw["t"]), bids=tuple(filter(keep, raw["bid"])), brands=_tuple(raw["brands"]),
        local=local, statics=statics, slots=slots, facts=tuple(facts), specific=specific, generic=generic,
        intros=tuple(filter(keep, vertical["intro"])), titles=tuple(filter(keep, style.TITLES)),
        descriptions=tuple(filter(keep, style.DESCRIPTIONS)),
    )
    for intent in INTENTS:
        _check_fields(topic.specific[intent] + topic.generic[intent], _QUERY_FIELDS, f"{where} {intent} queries")
        if not topic.specific[intent] + topic.generic[intent]:
            raise ValueError(f"{where}: no {intent} query templates")
    _check_fields(topic.bids, _BID_FIELDS, f"{where} bid")
    _check_fields(topic.intros, frozenset(fillable), f"{where} intro")
    _check_fields(topic.titles + topic.descriptions, _REF_FIELDS, f"{where} reference ad")
    if not (topic.bids and topic.intros and topic.forms and topic.brands):
        raise ValueError(f"{where}: needs at least one bid, intro (without a city if not local), form and brand")
    return topic


def _vertical(style: ModuleType, key: str, raw: Mapping, lang: str) -> Vertical:
    topics = tuple(_topic(style, style.SLOTS, raw, t, f"{lang}/{key}/{t['id']}") for t in raw["topics"])
    _check_fields(_tuple(raw["closing"]), frozenset({"brand", "name"}), f"{lang}/{key} closing")
    return Vertical(
        key=key, topics=topics, slots=dict(raw["slots"]), closings=_tuple(raw["closing"]), ctas=_tuple(raw["cta"])
    )


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


# --- composing one request -------------------------------------------------------------------------------


def _typo(text: str, rng: random.Random) -> str:
    """Mistype one longer word: swap two letters, drop one or double one."""
    words = text.split(" ")
    candidates = [i for i, w in enumerate(words) if len(w) >= 5 and w.isascii() and w.isalpha()]
    if not candidates:
        return text
    i = rng.choice(candidates)
    word, j = words[i], rng.randrange(1, len(words[i]) - 1)
    op = rng.randrange(3)
    if op == 0:
        word = word[:j] + word[j + 1] + word[j] + word[j + 2 :]
    elif op == 1:
        word = word[:j] + word[j + 1 :]
    else:
        word = word[: j + 1] + word[j:]
    words[i] = word
    return " ".join(words)


def _query(pack: Pack, topic: Topic, intent: str, form: str, brand: str, city: str, rng: random.Random) -> str:
    style = pack.style
    specific, generic = topic.specific[intent], topic.generic[intent]
    use_specific = specific and (not generic or rng.random() < _SPECIFIC_QUERY_SHARE)
    template = rng.choice(specific if use_specific else generic)
    rival = rng.choice([b for b in topic.brands if b != brand] or [brand])
    lower = style.CASED and rng.random() < _LOWERCASE_QUERY_SHARE
    case = str.lower if lower else str
    site = re.sub(r"[^0-9a-z]", "", brand.lower()) if style.CASED else brand
    query = template.format(
        t=form, city=case(city), brand=case(brand), rival=case(rival), site=site,
        month=rng.choice(style.MONTHS), year=rng.choice(style.YEARS),
    )
    if style.CASED and not lower and rng.random() < 0.5:
        query = _cap(query, True)
    if rng.random() < style.TYPO_RATE:
        query = _typo(query, rng)
    if query.startswith(city) and len(query) > len(city) and rng.random() < style.CITY_SPACE_RATE:
        query = f"{city} {query[len(city):]}"  # people often type a space between place and product
    return query


def _bidword(pack: Pack, topic: Topic, intent: str, form: str, brand: str, city: str, rng: random.Random) -> str:
    style = pack.style
    if intent == "nav" and rng.random() < 0.7:
        template = rng.choice(style.BID_NAV)
    elif rng.random() < 0.6:
        template = rng.choice(topic.bids)
    else:
        template = rng.choice(style.BID_CORE + (style.BID_CORE_LOCAL if topic.local else ()))
    bid = template.format(t=form, city=city, brand=brand)
    return bid.lower() if style.CASED else bid


def _values(pack: Pack, vertical: Vertical, topic: Topic, statics: dict[str, str], facts, rng) -> dict[str, str]:
    """Fill every field the chosen facts use; each slot is drawn once, so all mentions agree."""
    thousands = pack.style.THOUSANDS
    values = dict(statics)
    for fact in facts:
        for name in fact.fields:
            if name in values:
                continue
            if name.startswith("b_"):
                spec = vertical.slots.get(name) or pack.slots[name]
                values[name] = _brand_value(pack.lang, vertical.key, statics["brand"], name, spec, thousands)
            else:
                spec = topic.slots.get(name) or vertical.slots.get(name) or pack.slots[name]
                values[name] = _sample(spec, rng, thousands)
    return values


def _groups(clauses: list[str], max_groups: int, rng: random.Random) -> list[list[str]]:
    """Split clauses into sentences of one or two clauses, at most `max_groups` sentences."""
    n = len(clauses)
    count = rng.randint(-(-n // 2), min(n, max_groups))
    pairs = set(rng.sample(range(count), n - count))
    out, i = [], 0
    for g in range(count):
        size = 2 if g in pairs else 1
        out.append(clauses[i : i + size])
        i += size
    return out


def _sentence(clauses: list[str], style: ModuleType, rng: random.Random) -> str:
    text = rng.choice(style.CLAUSE_JOINS).join(clauses) if len(clauses) > 1 else clauses[0]
    return _cap(text, style.CASED).rstrip(".") + style.SENTENCE_END


def _landing_page(pack: Pack, vertical: Vertical, topic: Topic, statics, clauses, rng) -> str:
    style = pack.style
    budget = _MAX_PAGE_SENTENCES - 1  # the intro takes one
    closing = None
    if rng.random() < _CLOSING_SHARE and -(-len(clauses) // 2) <= budget - 1:
        closing = rng.choice(vertical.closings).format_map(statics)
        budget -= 1
    parts = [rng.choice(topic.intros).format_map(statics)]
    parts += [_sentence(group, style, rng) for group in _groups(clauses, budget, rng)]
    if closing:
        parts.append(closing)
    return style.SENTENCE_SEP.join(parts)


def _fit(templates: tuple[str, ...], fill: Mapping[str, str], bounds: tuple[int, int], rng) -> str | None:
    """The first template (in random order) whose rendering has a length within bounds."""
    order = list(templates)
    rng.shuffle(order)
    for template in order:
        text = template.format_map(fill)
        if bounds[0] <= len(text) <= bounds[1]:
            return text
    return None


def _reference(pack: Pack, vertical: Vertical, topic: Topic, statics, points, rng) -> tuple[str | None, str | None]:
    """A human-style ad built only from this request's true facts, or (None, None) if none fits."""
    cased = pack.style.CASED
    fill = {**statics, "cta": rng.choice(vertical.ctas), "sps": min(points, key=len)}
    for i in range(3):
        fill[f"sp{i}"] = points[i]
        fill[f"sp{i}l"] = _lower_first(points[i], cased)
    title = _fit(topic.titles, fill, pack.style.TITLE_LEN, rng)
    description = _fit(topic.descriptions, fill, pack.style.DESCRIPTION_LEN, rng)
    return (title, description) if title and description else (None, None)


def _check(request: AdRequest) -> None:
    """Guard the promises the simulator and validator rely on (a failure here is a content bug)."""
    page_numbers = set(_NUMBER.findall(request.landing_page or ""))
    for point in request.selling_points:
        missing = set(_NUMBER.findall(point)) - page_numbers
        if missing:
            raise RuntimeError(f"{request.id}: numbers {sorted(missing)} of {point!r} missing from the landing page")
    texts = {"query": request.query, "bidword": request.bidword, "landing_page": request.landing_page,
             "ref_title": request.ref_title, "ref_description": request.ref_description}
    texts.update({"selling_point": p for p in request.selling_points})
    for key, text in texts.items():
        if text is not None and (len(text) > MAX_LEN[key] or text != text.strip() or "\n" in text or not text):
            raise RuntimeError(f"{request.id}: bad {key} {text!r}")


def make_request(pack: Pack, vertical: Vertical, request_id: str, rng: random.Random) -> AdRequest:
    """One request of `vertical`, every choice drawn from `rng`."""
    topic = rng.choice(vertical.topics)
    brand, city, form = rng.choice(topic.brands), rng.choice(pack.style.CITIES), rng.choice(topic.forms)
    intent = rng.choices(INTENTS, weights=_INTENT_WEIGHTS)[0]
    query = _query(pack, topic, intent, form, brand, city, rng)
    bidword = _bidword(pack, topic, intent, form, brand, city, rng)

    statics = {**topic.statics, "brand": brand, "city": city}
    count = rng.randint(_MIN_POINTS, min(_MAX_POINTS, len(topic.facts) - 1))
    chosen = rng.sample(topic.facts, count + 1)  # the last one may appear on the page only
    values = _values(pack, vertical, topic, statics, chosen, rng)
    cased = pack.style.CASED
    points = [_cap(rng.choice(f.sp).format_map(values), cased) for f in chosen[:count]]
    clauses = [rng.choice(f.lp).format_map(values) for f in chosen[:count]]
    if rng.random() < _EXTRA_FACT_SHARE:
        clauses.append(rng.choice(chosen[count].lp).format_map(values))
    rng.shuffle(clauses)
    page = _landing_page(pack, vertical, topic, statics, clauses, rng)

    title = description = None
    if rng.random() < _REF_SHARE:
        title, description = _reference(pack, vertical, topic, statics, points, rng)
    request = AdRequest(
        id=request_id, query=query, bidword=bidword, selling_points=points, category=vertical.key,
        lang=pack.lang, landing_page=page, ref_title=title, ref_description=description,
    )
    _check(request)
    return request


def generate_requests(n: int, lang: str, seed: int) -> list[AdRequest]:
    """`n` synthetic requests in `lang` ("en" or "zh"), identical for identical (n, lang, seed).

    Verticals are dealt in shuffled rounds so every vertical appears once per 12 rows, and each row has
    its own seeded stream, so the first k rows of a longer run equal a run of k rows.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise ValueError(f"n must be a non-negative integer, got {n!r}")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f"seed must be an integer, got {seed!r}")
    pack = pack_for(lang)
    out: list[AdRequest] = []
    for start in range(0, n, len(VERTICALS)):
        order = list(VERTICALS)
        random.Random(f"{lang}|{seed}|round|{start}").shuffle(order)
        for offset, key in enumerate(order[: n - start]):
            index = start + offset
            rng = random.Random(f"{lang}|{seed}|row|{index}")
            out.append(make_request(pack, pack.verticals[key], f"{lang}-{seed}-{index:06d}", rng))
    return out
