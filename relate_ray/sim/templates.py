"""Ad templates of known quality, the raw material of the historical ad pool.

Each language has four tiers, so the impression logs carry a signal a CTCVR model can learn:

* good: relevant, cover selling points, state true facts, call to action, sweet-spot length;
* mediocre: generic wording, no facts;
* bad: far too long or short, contradicted numbers, keyword stuffing in capitals;
* risky: exaggerated or banned claims (more clicks, fewer conversions).

A template is a function from `Slots` (the request's pieces, prepared once) to (title, description).
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from dataclasses import dataclass

from relate_ray.data.schema import AdRequest

TIERS = ("good", "mediocre", "bad", "risky")

# Calls to action by category keyword (first match wins); the last entry fits anything.
_EN_CTAS: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...] = (
    (("travel", "hotel", "flight"), ("Book now", "Book today", "Reserve your stay")),
    (("insurance", "legal", "home", "repair", "cleaning", "auto"),
     ("Get a free quote", "Call today", "Get your quote")),
    (("finance", "loan", "bank", "credit", "job", "career"),
     ("Apply online", "Apply now", "Check your rate")),
    (("education", "course", "training", "software", "saas"),
     ("Sign up today", "Try it free", "Get started", "Enroll now")),
    (("retail", "shop", "commerce", "beauty", "electronic", "fashion", "food"),
     ("Shop now", "Order today", "Buy now")),
    ((), ("Learn more", "Get started", "Contact us")),
)
_ZH_CTAS: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...] = (
    (("travel", "hotel", "flight", "旅游", "酒店"), ("立即预订", "马上预订", "查看今日低价")),
    (("health", "legal", "education", "finance", "insurance", "auto", "estate", "job",
      "医疗", "法律", "教育", "金融", "保险", "汽车", "房产", "招聘"),
     ("立即咨询", "免费咨询", "马上预约")),
    (("commerce", "retail", "beauty", "food", "shop", "电商", "美妆", "餐饮"),
     ("立即抢购", "马上下单", "领取优惠")),
    (("software", "saas", "软件"), ("免费试用", "立即注册")),
    ((), ("点击了解更多", "立即咨询")),
)
# How generic templates name a category key ("Great Car Deals", "优质汽车服务").
_EN_CATEGORY_NAMES = {
    "ecommerce": "online shopping", "auto": "car", "automotive": "car", "jobs": "job",
    "real_estate": "real estate", "home_services": "home services",
}
_ZH_CATEGORY_NAMES = {
    "travel": "旅游", "education": "教育", "finance": "金融", "insurance": "保险",
    "health": "医疗健康", "retail": "购物", "ecommerce": "网购", "electronics": "数码",
    "auto": "汽车", "automotive": "汽车", "real_estate": "房产", "legal": "法律",
    "software": "软件", "beauty": "美妆", "home_services": "家政", "food": "餐饮", "jobs": "招聘",
}
_SMALL_WORDS = frozenset("a an and as at by for in of on or the to with vs via".split())
_NUMBER = re.compile(r"\d[\d,]*(?:\.\d+)?")
_CLAUSE_BREAK = re.compile(r"[,;:]\s+|\s*[(–—]\s*|\s+-\s+|[，；：（]")  # not "3,200"


@dataclass(frozen=True)
class Slots:
    """A request cut into the pieces templates fill in."""

    query: str
    bidword: str
    category: str  # display name (Chinese for zh requests where known)
    points: tuple[str, ...]  # selling points in a random order, at least three (cycled)
    fact_point: str  # first selling point holding a number ("" when none does)
    wrong_fact_point: str  # the same point with its numbers changed: a contradicted fact
    ctas: tuple[str, ...]  # calls to action that fit the category; each template picks one


@dataclass(frozen=True)
class Template:
    template_id: str
    tier: str
    render_fn: Callable[[Slots, random.Random], tuple[str, str]]

    def render(self, slots: Slots, rng: random.Random) -> tuple[str, str]:
        return self.render_fn(slots, rng)


def _clean(text: str) -> str:
    return text.strip().rstrip(".。!！;；,，")


def title_case(text: str) -> str:
    """English headline case; words already holding capitals (brands, 'iPhone') are kept."""
    words = text.split()
    out = []
    for k, word in enumerate(words):
        # Small words and short tokens ("kg", "up") stay lower case after the first word.
        if word != word.lower() or (k > 0 and (word in _SMALL_WORDS or len(word) < 3)):
            out.append(word)
        else:
            out.append(word[:1].upper() + word[1:])
    return " ".join(out)


def lower_first(text: str) -> str:
    """Lower the first letter for mid-sentence use, unless the first word looks like a name."""
    first = text.split(" ", 1)[0]
    if len(first) > 1 and first[1:] != first[1:].lower():
        return text
    return text[:1].lower() + text[1:]


def shorten(text: str, max_chars: int, lang: str) -> str:
    """Fit a selling point into a title: keep its first clause, then trim to max_chars."""
    text = _clean(text)
    head = _CLAUSE_BREAK.split(text, maxsplit=1)[0]
    if len(head) >= (4 if lang == "zh" else 8):
        text = head
    if len(text) <= max_chars:
        return text
    if lang == "zh":
        return text[:max_chars]
    words, out = text.split(), ""
    for word in words:
        if len(out) + len(word) + 1 > max_chars:
            break
        out = f"{out} {word}".strip()
    return out or text[:max_chars]


def perturb_numbers(text: str, rng: random.Random) -> str:
    """Change every number of a fact so the ad contradicts the landing page (units kept)."""

    def replace(match: re.Match[str]) -> str:
        value = float(match.group(0).replace(",", ""))
        if text[match.end() : match.end() + 1] in ("%", "％"):
            new = value + rng.choice((10, 15, 20)) if value < 80 else value - 30
        elif value < 10:
            new = value * 2 if value else 3.0
        else:
            new = round(value * rng.choice((0.5, 1.5, 2.0)))
        if new == value:
            new = value + 1
        if new != int(new):
            return f"{new:g}"
        return f"{int(new):,}" if "," in match.group(0) else str(int(new))

    return _NUMBER.sub(replace, text)


def _pick_ctas(
    table: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...], category: str
) -> tuple[str, ...]:
    """The calls to action of the first row whose keyword the category contains (last: any)."""
    return next(ctas for keys, ctas in table if not keys or any(k in category for k in keys))


def make_slots(request: AdRequest, rng: random.Random) -> Slots:
    """Prepare a request's pieces; `rng` orders the selling points and picks the wrong numbers."""
    points = [_clean(p) for p in request.selling_points if _clean(p)] or [request.bidword]
    rng.shuffle(points)
    cycled = tuple((points * 3)[: max(3, len(points))])
    fact = next((p for p in points if _NUMBER.search(p)), "")
    if fact:
        wrong = perturb_numbers(fact, rng)
    else:  # nothing to contradict: invent a number the landing page never states
        wrong = f"{cycled[0]}，立减{rng.choice((50, 100, 200))}元" if request.lang == "zh" else (
            f"{cycled[0]} - save {rng.choice((40, 60, 70))}% today")
    if request.lang == "zh":
        category = _ZH_CATEGORY_NAMES.get(request.category.lower(), request.category)
        if re.fullmatch(r"[A-Za-z_ ]+", category):
            category = "相关"
        ctas = _pick_ctas(_ZH_CTAS, request.category.lower())
    else:
        key = request.category.lower()
        category = _EN_CATEGORY_NAMES.get(key, key.replace("_", " "))
        ctas = _pick_ctas(_EN_CTAS, key)
    return Slots(request.query.strip(), request.bidword.strip(), category, cycled, fact,
                 wrong, ctas)


def _distinct(s: Slots, n: int) -> list[str]:
    """Up to n different selling points (the slots cycle short lists, a list must not repeat)."""
    return list(dict.fromkeys(s.points))[:n]


# --- English ---------------------------------------------------------------------------------

def _en_head(s: Slots) -> str:
    return title_case(s.bidword)


def _en_fact(s: Slots) -> str:
    return s.fact_point or s.points[0]


def _en_other(s: Slots) -> str:
    """A second selling point; requests with a single one get a neutral line instead."""
    return next((p for p in s.points if p != _en_fact(s)), "See all the details on our site")


def _en_fit(head: str, tail: str, sep: str = " – ") -> str:
    # A long head (a long query) still leaves the tail a readable clause; the title may run long.
    return f"{head}{sep}{title_case(shorten(tail, max(12, 60 - len(head) - len(sep)), 'en'))}"


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


EN_TEMPLATES = (
    Template("en_good_bidword_points", "good", lambda s, r: (
        _en_fit(_en_head(s), s.points[0]),
        ". ".join(_sentence(p) for p in _distinct(s, 2)) + f". {r.choice(s.ctas)}.")),
    Template("en_good_query_fact", "good", lambda s, r: (
        _en_fit(title_case(s.query), _en_fact(s), " | "),
        f"{_sentence(_en_fact(s))}, and {lower_first(_en_other(s))}. {r.choice(s.ctas)}.")),
    Template("en_good_question_lead", "good", lambda s, r: (
        _en_fit(_en_head(s), _en_fact(s), ": "),
        f"Looking for {s.query}? {_sentence(_en_fact(s))}. {_sentence(_en_other(s))}. {r.choice(s.ctas)}.")),
    Template("en_good_benefit_list", "good", lambda s, r: (
        _en_fit(_en_head(s), s.points[1], " | "),
        " · ".join(_sentence(p) for p in _distinct(s, 3)) + f". {r.choice(s.ctas)}.")),
    Template("en_mid_generic_category", "mediocre", lambda s, r: (
        f"Great {title_case(s.category)} Deals",
        f"Find great options for {s.category}. Quality products and services you can trust, "
        "all in one place.")),
    Template("en_mid_official_site", "mediocre", lambda s, r: (
        f"{_en_head(s)} - Official Site",
        f"Learn more about {s.bidword} on our website. Friendly service and helpful support.")),
    Template("en_mid_question", "mediocre", lambda s, r: (
        f"Looking for {_en_head(s)}?",
        "We have what you need. Visit our site today to see our full range of options.")),
    Template("en_bad_too_long", "bad", lambda s, r: (
        f"{_en_head(s)} for {s.query} with {lower_first(s.points[0])} and "
        f"{lower_first(s.points[1])} and more",
        f"{_sentence(s.query)} and {s.bidword} with " + ", ".join(lower_first(p) for p in s.points)
        + " and so much more that you can read all about on our website if you have the time to "
        f"look around and compare everything we offer for {s.bidword} with everybody else")),
    Template("en_bad_too_short", "bad", lambda s, r: (
        title_case(s.bidword.split()[0]) if s.bidword.split() else "Ad", "Click here.")),
    Template("en_bad_wrong_facts", "bad", lambda s, r: (
        _en_fit(_en_head(s), s.wrong_fact_point),
        f"{_sentence(s.wrong_fact_point)}. {_sentence(_en_other(s))}. {r.choice(s.ctas)}.")),
    Template("en_bad_keyword_stuffing", "bad", lambda s, r: (
        f"{s.bidword.upper()} {s.bidword.upper()} CHEAP {s.bidword.upper()}",
        f"{s.bidword} {s.bidword}!!! BEST {s.bidword.upper()} DEALS {s.bidword} {s.query} "
        f"{s.bidword}!!!")),
    Template("en_risky_guaranteed", "risky", lambda s, r: (
        f"#1 {_en_head(s)} - Guaranteed Results",
        f"{_sentence(s.points[0])}. 100% risk-free and the best ever deal. {r.choice(s.ctas)}.")),
    Template("en_risky_only_one", "risky", lambda s, r: (
        f"Miracle {_en_head(s)} Deals",
        f"The only {s.bidword} you'll ever need, guaranteed lowest price ever. "
        f"{_sentence(s.points[0])}.")),
    Template("en_risky_cure", "risky", lambda s, r: (
        f"{_en_head(s)}: Unbeatable, Guaranteed",
        f"Cure every {s.category} worry. {_sentence(s.points[0])}. {_sentence(s.points[1])}. "
        f"Zero risk. {r.choice(s.ctas)}.")),
    Template("en_risky_worlds_best", "risky", lambda s, r: (
        f"World's Best {_en_head(s)}",
        f"Number one for {s.query}. {_sentence(s.points[0])}. Instant results, guaranteed.")),
)


# --- Chinese ---------------------------------------------------------------------------------

def _zh_fact(s: Slots) -> str:
    return s.fact_point or s.points[0]


def _zh_other(s: Slots) -> str:
    return next((p for p in s.points if p != _zh_fact(s)), "详情请见官网")


def _zh_fit(head: str, tail: str, sep: str = "-") -> str:
    return f"{head}{sep}{shorten(tail, max(4, 24 - len(head) - len(sep)), 'zh')}"


ZH_TEMPLATES = (
    Template("zh_good_bidword_points", "good", lambda s, r: (
        _zh_fit(s.bidword, s.points[0]), "，".join(_distinct(s, 2)) + f"。{r.choice(s.ctas)}！")),
    Template("zh_good_query_fact", "good", lambda s, r: (
        _zh_fit(s.query, _zh_fact(s), "？"), f"{_zh_fact(s)}，{_zh_other(s)}，{r.choice(s.ctas)}。")),
    Template("zh_good_question_lead", "good", lambda s, r: (
        _zh_fit(s.bidword, _zh_fact(s), "："),
        f"想了解{s.query}？{_zh_fact(s)}，{_zh_other(s)}。{r.choice(s.ctas)}。")),
    Template("zh_good_benefit_list", "good", lambda s, r: (
        _zh_fit(s.bidword, s.points[1], "｜"),
        "；".join(_distinct(s, 3)) + f"。{r.choice(s.ctas)}。")),
    Template("zh_mid_generic_category", "mediocre", lambda s, r: (
        f"优质{s.category}服务", f"为您提供专业的{s.category}服务，品质可靠，欢迎了解。")),
    Template("zh_mid_official_site", "mediocre", lambda s, r: (
        f"{s.bidword}官网", f"了解更多{s.bidword}相关信息，专业团队竭诚为您服务。")),
    Template("zh_mid_question", "mediocre", lambda s, r: (
        f"还在找{s.bidword}？", "我们有您需要的一切，欢迎进入官网查看更多内容。")),
    Template("zh_bad_too_long", "bad", lambda s, r: (
        f"{s.bidword}{s.query}{s.points[0]}{s.points[1]}还有更多优惠等你来看",
        f"{s.query}{s.bidword}" + "".join(s.points) + f"还有很多很多内容欢迎大家到我们的网站上面"
        f"仔细看一看比较一下我们的{s.bidword}和别家的到底有什么不一样的地方")),
    Template("zh_bad_too_short", "bad", lambda s, r: (s.bidword[:2], "点这里")),
    Template("zh_bad_wrong_facts", "bad", lambda s, r: (
        _zh_fit(s.bidword, s.wrong_fact_point),
        f"{s.wrong_fact_point}，{_zh_other(s)}。{r.choice(s.ctas)}。")),
    Template("zh_bad_keyword_stuffing", "bad", lambda s, r: (
        f"{s.bidword}{s.bidword}{s.bidword}",
        f"{s.bidword}！！！{s.bidword}便宜{s.bidword}{s.query}{s.bidword}！！！")),
    Template("zh_risky_first", "risky", lambda s, r: (
        f"第一{s.bidword}，保证效果", f"{s.points[0]}，100%零风险，全网最低价，{r.choice(s.ctas)}！")),
    Template("zh_risky_national", "risky", lambda s, r: (
        f"国家级{s.bidword}品牌", f"唯一正品，{s.points[0]}，绝对放心，{r.choice(s.ctas)}。")),
    Template("zh_risky_cure", "risky", lambda s, r: (
        f"{s.bidword}，根治所有烦恼", f"{s.points[0]}，{s.points[1]}，永久有效，最佳选择。")),
    Template("zh_risky_best", "risky", lambda s, r: (
        f"最好的{s.bidword}", f"顶级品质，{s.points[0]}，保证满意，{r.choice(s.ctas)}。")),
)

TEMPLATES: dict[str, tuple[Template, ...]] = {"en": EN_TEMPLATES, "zh": ZH_TEMPLATES}
TEMPLATE_TIERS: dict[str, str] = {t.template_id: t.tier for ts in TEMPLATES.values() for t in ts}
