"""Compose synthetic search-ad requests from the validated content in `content` (the logic; the words
live in `common_<lang>.py` and the data files `verticals/<lang>/<vertical>.yaml`).

A request is one vertical, one topic (a product or service line), one brand selling it and one city.
The facts an ad may use are sampled once per request and rendered twice, as short selling points and as
landing-page clauses, so both always carry the same numbers: the simulator reads facts back out of that
text with regexes. Brand-wide slots (named `b_*`: rating, years in business...) come from the brand's
own seeded stream, so a brand reports the same rating in every request and every seed.

Determinism: every random choice comes from `random.Random` instances seeded with strings (hashed
with SHA-512 by `random`, so independent of PYTHONHASHSEED), and sets are never iterated unsorted.
"""

from __future__ import annotations

import functools
import random
import re
from dataclasses import dataclass
from types import ModuleType
from typing import Mapping

from relate_ray.data.schema import MAX_LEN, AdRequest
from relate_ray.data.synth.content import (
    INTENTS, MAX_POINTS, MIN_POINTS, NUMBER, VERTICALS, Fact, Pack, Spec, Topic, Vertical, pack_for,
)

_INTENT_CUM_WEIGHTS = (25, 55, 85, 100)  # info 25%, comm 30%, trans 30%, nav 15%
_SENTENCE_END = re.compile(r"[.?!](?=\s|$)|[。？！]")
_MAX_PAGE_SENTENCES = 5
_SPECIFIC_QUERY_SHARE = 0.5  # topic/vertical templates read most natural; generic ones add variety
_EXTRA_FACT_SHARE = 0.7  # pages usually say a little more than the ad's selling points
_CLOSING_SHARE = 0.6
_REF_SHARE = 0.5
_LOWERCASE_QUERY_SHARE = 0.85


def _cap(text: str, cased: bool) -> str:
    return text[:1].upper() + text[1:] if cased else text


def _lower_first(text: str, cased: bool) -> str:
    # Leave acronyms alone: "LASIK from $999" must not become "lASIK from $999".
    if cased and len(text) > 1 and text[1].islower():
        return text[:1].lower() + text[1:]
    return text


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


# --- composing one request -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Draw:
    """The choices that fix what one request is about."""

    pack: Pack
    vertical: Vertical
    topic: Topic
    brand: str
    city: str
    form: str  # the product as this user typed it
    intent: str  # info, comm (compare), trans (buy) or nav (find the brand)

    @property
    def statics(self) -> dict[str, str]:
        """Fixed strings every page and ad template may use."""
        return {**self.topic.statics, "brand": self.brand, "city": self.city}


def _draw(pack: Pack, vertical: Vertical, rng: random.Random) -> Draw:
    topic = rng.choice(vertical.topics)
    return Draw(
        pack=pack, vertical=vertical, topic=topic, brand=rng.choice(topic.brands),
        city=rng.choice(pack.style.CITIES), form=rng.choice(topic.forms),
        intent=rng.choices(INTENTS, cum_weights=_INTENT_CUM_WEIGHTS)[0],
    )


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


def _query(d: Draw, rng: random.Random) -> str:
    """What the user typed: an intent template filled in, then the noise real users add."""
    style, topic = d.pack.style, d.topic
    specific, generic = topic.specific[d.intent], topic.generic[d.intent]
    use_specific = specific and (not generic or rng.random() < _SPECIFIC_QUERY_SHARE)
    template = rng.choice(specific if use_specific else generic)
    rival = rng.choice([b for b in topic.brands if b != d.brand] or [d.brand])
    lower = style.CASED and rng.random() < _LOWERCASE_QUERY_SHARE
    case = str.lower if lower else str
    site = re.sub(r"[^0-9a-z]", "", d.brand.lower()) if style.CASED else d.brand
    query = template.format(
        product=d.form, city=case(d.city), brand=case(d.brand), rival=case(rival), site=site,
        month=rng.choice(style.MONTHS), year=rng.choice(style.YEARS),
    )
    if style.CASED and not lower and rng.random() < 0.5:
        query = _cap(query, True)
    if rng.random() < style.TYPO_RATE:
        query = _typo(query, rng)
    if query.startswith(d.city) and len(query) > len(d.city) and rng.random() < style.CITY_SPACE_RATE:
        query = f"{d.city} {query[len(d.city):]}"  # some users type a space between place and product
    return query


def _bidword(d: Draw, rng: random.Random) -> str:
    """The keyword the advertiser bought: the brand, one of the topic's keywords, or the bare product."""
    style = d.pack.style
    if d.intent == "nav" and rng.random() < 0.7:
        template = rng.choice(style.BID_NAV)
    elif rng.random() < 0.6:
        template = rng.choice(d.topic.bids)
    else:
        template = rng.choice(style.BID_CORE + (style.BID_CORE_LOCAL if d.topic.local else ()))
    bid = template.format(product=d.form, city=d.city, brand=d.brand)
    return bid.lower() if style.CASED else bid


def _values(d: Draw, facts: list[Fact], rng: random.Random) -> dict[str, str]:
    """Fill every field the chosen facts use; each slot is drawn once, so all mentions agree."""
    pack, vertical = d.pack, d.vertical
    thousands = pack.style.THOUSANDS
    values = d.statics
    for fact in facts:
        for name in fact.fields:
            if name in values:
                continue
            if name.startswith("b_"):
                spec = vertical.slots.get(name) or pack.slots[name]
                values[name] = _brand_value(pack.lang, vertical.key, d.brand, name, spec, thousands)
            else:
                spec = d.topic.slots.get(name) or vertical.slots.get(name) or pack.slots[name]
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


def _landing_page(d: Draw, clauses: list[str], extra: str | None, rng: random.Random) -> str:
    """Intro, the fact clauses in shuffled sentences, maybe a closing line: at most five sentences."""
    style, statics = d.pack.style, d.statics
    intro = rng.choice(d.topic.intros).format_map(statics)
    budget = _MAX_PAGE_SENTENCES - len(_SENTENCE_END.findall(intro))
    clauses = clauses[:]
    if extra is not None and -(-(len(clauses) + 1) // 2) <= budget:
        clauses.append(extra)  # the page-only fact goes in only when it still fits
    rng.shuffle(clauses)
    closing = rng.choice(d.topic.closings).format_map(statics)
    closing_size = len(_SENTENCE_END.findall(closing))
    if rng.random() < _CLOSING_SHARE and -(-len(clauses) // 2) <= budget - closing_size:
        budget -= closing_size
    else:
        closing = None
    parts = [intro] + [_sentence(group, style, rng) for group in _groups(clauses, budget, rng)]
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


def _reference(d: Draw, points: list[str], rng: random.Random) -> tuple[str | None, str | None]:
    """A human-style ad built only from this request's true facts, or (None, None) if none fits."""
    style = d.pack.style
    fill = {**d.statics, "cta": rng.choice(d.vertical.ctas), "sps": min(points, key=len)}
    for i in range(3):
        fill[f"sp{i}"] = points[i]
        fill[f"sp{i}l"] = _lower_first(points[i], style.CASED)
    title = _fit(d.topic.titles, fill, style.TITLE_LEN, rng)
    description = _fit(d.topic.descriptions, fill, style.DESCRIPTION_LEN, rng)
    return (title, description) if title and description else (None, None)


def _check(request: AdRequest) -> None:
    """Guard the promises the simulator and validator rely on (a failure here is a content bug)."""
    page_numbers = set(NUMBER.findall(request.landing_page or ""))
    for point in request.selling_points:
        missing = set(NUMBER.findall(point)) - page_numbers
        if missing:
            raise RuntimeError(f"{request.id}: numbers {sorted(missing)} of {point!r} not on the page")
    texts = [("query", request.query), ("bidword", request.bidword), ("landing_page", request.landing_page),
             ("ref_title", request.ref_title), ("ref_description", request.ref_description)]
    texts += [("selling_point", p) for p in request.selling_points]
    for key, text in texts:
        bad = text is not None and (not text or len(text) > MAX_LEN[key] or text != text.strip())
        if bad or (text and "\n" in text):
            raise RuntimeError(f"{request.id}: bad {key} {text!r}")


def make_request(pack: Pack, vertical: Vertical, request_id: str, rng: random.Random) -> AdRequest:
    """One request of `vertical`, every choice drawn from `rng`."""
    d = _draw(pack, vertical, rng)
    query, bidword = _query(d, rng), _bidword(d, rng)
    count = rng.randint(MIN_POINTS, min(MAX_POINTS, len(d.topic.facts) - 1))
    chosen = rng.sample(d.topic.facts, count + 1)  # the last one may appear on the page only
    values = _values(d, chosen, rng)
    points = [_cap(rng.choice(f.selling_points).format_map(values), pack.style.CASED) for f in chosen[:count]]
    # The intro already names the brand; later clauses often say "the clinic" instead, as pages do.
    referring = {**values, "brand": d.topic.brand_ref}
    share = pack.style.BRAND_REF_SHARE
    clauses = [rng.choice(f.page_clauses).format_map(referring if rng.random() < share else values) for f in chosen]
    extra = clauses.pop() if rng.random() < _EXTRA_FACT_SHARE else None
    page = _landing_page(d, clauses[:count], extra, rng)
    title, description = _reference(d, points, rng) if rng.random() < _REF_SHARE else (None, None)
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
