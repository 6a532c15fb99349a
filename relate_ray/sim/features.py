"""What a searcher notices in an ad: the hand-made features the synthetic market reacts to.

The simulator (`relate_ray.sim.market`) turns these into hidden click and conversion rates. Every
function here is pure and cheap, reads an ad (title + description) against its `AdRequest`, and
works for English (word tokens) and Chinese (character bigrams, since Chinese has no spaces).

Fact consistency is deliberately simple but real: a number in the ad, together with its unit
(the currency sign before it or the word/measure word after it), is looked up among the numbers of
the selling points and landing page. Same value = supported; same unit but another value =
contradicted (a wrong price, a wrong discount); a value found nowhere = unsupported.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from dataclasses import dataclass

from relate_ray.data.schema import AdRequest

# Length sweet spots in characters, (low, high), per language and field. Chinese characters carry
# roughly two to three times the information of a Latin letter, hence the shorter ranges.
SWEET_SPOT = {
    "en": {"title": (25, 60), "description": (60, 150)},
    "zh": {"title": (10, 25), "description": (25, 70)},
}

_EN_STOPWORDS = frozenset(
    "a an and are as at be by for from get has have how i in is it its me my near of on or our "
    "the their this to was what when where which who why will with you your yours we us can do "
    "does best top cheap buy online".split()
)
# Query words such as "best", "cheap", "buy" or "online" say how people search, not what they
# want, so they are dropped from relevance (otherwise any ad that says "buy" would look relevant).

_EN_WORD = re.compile(r"[a-z0-9]+")
_CJK_RUN = re.compile(r"[\u4e00-\u9fff]+")
_ASCII_WORD = re.compile(r"[a-z0-9]+")

# A number with an optional currency sign before it and an optional unit after it.
_CURRENCY = "$€£¥"
_NUMBER_EN = re.compile(
    r"(?P<cur>[$€£¥])?\s?(?P<num>\d+(?:[.,/]\d+)*)(?:\s?(?P<pct>%)|[\s-]?(?P<word>[A-Za-z]+))?"
)
_ZH_UNITS = "个月|小时|分钟|公里|平米|[%元块天年月日周折倍次人件个家台分秒岁米克斤期节课套间]"
_NUMBER_ZH = re.compile(
    rf"(?P<cur>[$€£¥])?\s?(?P<num>\d+(?:[.,/]\d+)*)\s?(?P<unit>{_ZH_UNITS}|[A-Za-z]+)?"
)
_EN_UNIT_SYNONYMS = {
    "percent": "%", "pct": "%", "yr": "year", "hr": "hour", "min": "minute", "mins": "minute",
    "mo": "month", "wk": "week", "dollar": "$", "usd": "$", "stars": "star",
}

_EN_CTA = re.compile(
    r"\b(book (?:now|today|online)|shop|buy now|order (?:now|today|online)|get (?:a|your) "
    r"(?:free )?quote|free quote|apply|sign up|try (?:it )?free|start (?:free|your|now)|"
    r"get started|learn more|call (?:now|today|us)|contact us|visit|download|subscribe|reserve|"
    r"schedule|claim|enroll|register|join)\b",
    re.IGNORECASE,
)
_ZH_CTA = re.compile(
    r"立即|马上|咨询|预约|抢购|点击|了解更多|免费试|下单|报名|领取|拨打|申请|购买|注册|订购|速抢"
)

# Exaggerated or banned claims: what ad law and platform review reject (e.g. China's Advertising
# Law bans superlatives like 最/第一/国家级) and what searchers click out of curiosity.
_EN_EXAGGERATIONS = tuple(
    re.compile(p, re.IGNORECASE)
    for p in (
        r"\bguarantee[ds]?\b", r"#\s?1\b", r"\bno\.\s?1\b", r"\bnumber one\b", r"\bbest ever\b",
        r"\bbest in the world\b", r"\bworld'?s best\b", r"\bcure[sd]?\b", r"\brisk[- ]free\b",
        r"\bmiracle\w*\b", r"100\s?%", r"\binstant results?\b", r"\bnever fails?\b",
        r"\blowest price ever\b", r"\bunbeatable\b", r"\bzero risk\b", r"\byou'?ll ever need\b",
    )
)
_ZH_EXAGGERATIONS = tuple(
    re.compile(re.escape(p))
    for p in (
        "最", "第一", "国家级", "唯一", "100%", "根治", "保证", "绝对", "顶级", "永久", "万能",
        "零风险", "特效", "全网最低", "独一无二",
    )
)

_REPEATED_PUNCT = re.compile(r"[!?！？]{2,}|[.。]{4,}")
_SENTENCE_SPLIT_EN = re.compile(r"[.!?;]+")
_CLAUSE_SPLIT_ZH = re.compile(r"[。！？!?；;，,、]+")


@dataclass(frozen=True)
class AdFeatures:
    """What the market reacts to in one ad. Rates and scores lie in [0, 1]."""

    lang: str
    query_relevance: float  # share of the query's content tokens found in the ad
    bidword_relevance: float  # same for the bidword
    coverage: float  # share of selling points whose key content appears in the ad
    n_facts: int  # numbers (with units) stated in the ad
    n_supported: int
    n_unsupported: int
    n_contradicted: int
    title_len: int  # characters
    desc_len: int
    title_len_dev: float  # relative distance outside the sweet spot, 0 inside it
    desc_len_dev: float
    has_cta: bool
    readability: float  # 1 = easy to read, 0 = shouting, stuffed or run-on
    caps_ratio: float  # share of long words in ALL CAPS
    repeated_punct: int  # runs like "!!!" or "？？"
    max_repeat: int  # occurrences of the most repeated content token (keyword stuffing)
    n_exaggerations: int  # exaggerated or banned claims not backed by the advertiser's own text


def normalize(text: str) -> str:
    """NFKC folds full-width digits, letters and punctuation (１２％ -> 12%) so both languages match."""
    return unicodedata.normalize("NFKC", text or "")


def _stem_en(word: str) -> str:
    """Plural folding, enough for token overlap: 'flights' -> 'flight', 'policies' -> 'policy'."""
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def tokens(text: str, lang: str) -> list[str]:
    """Content tokens: stemmed English words without stopwords, or Chinese character bigrams.

    Latin words inside Chinese text (brands, models such as "iPhone 15") are kept as words.
    """
    low = normalize(text).lower()
    if lang == "zh":
        out: list[str] = []
        for run in _CJK_RUN.findall(low):
            out.extend([run] if len(run) == 1 else [run[i : i + 2] for i in range(len(run) - 1)])
        out.extend(_ASCII_WORD.findall(low))
        return out
    return [_stem_en(w) for w in _EN_WORD.findall(low) if w not in _EN_STOPWORDS]


def overlap(source: str, ad_tokens: set[str], lang: str) -> float:
    """Share of the source's distinct content tokens that the ad contains (0 for an empty source)."""
    wanted = set(tokens(source, lang))
    if not wanted:
        return 0.0
    return len(wanted & ad_tokens) / len(wanted)


def coverage(selling_points: list[str], ad_tokens: set[str], lang: str) -> float:
    """Share of selling points at least half of whose content tokens appear in the ad."""
    points = [p for p in selling_points if tokens(p, lang)]
    if not points:
        return 0.0
    covered = sum(overlap(p, ad_tokens, lang) >= 0.5 for p in points)
    return covered / len(points)


def _number_value(raw: str) -> str:
    """Canonical number text: thousands commas dropped, trailing zeros of decimals dropped."""
    value = raw.replace(",", "")
    if re.fullmatch(r"\d+\.\d+", value):
        value = value.rstrip("0").rstrip(".")
    return value


def _unit_en(match: re.Match[str]) -> str:
    if match.group("cur"):
        return "$" if match.group("cur") == "$" else match.group("cur")
    if match.group("pct"):
        return "%"
    word = (match.group("word") or "").lower()
    if not word or word in _EN_STOPWORDS:
        return ""
    word = _EN_UNIT_SYNONYMS.get(word, word)
    return _EN_UNIT_SYNONYMS.get(_stem_en(word), _stem_en(word))


def facts(text: str, lang: str) -> list[tuple[str, str]]:
    """The (value, unit) pairs of every number in the text; unit is "" when none can be told."""
    text = normalize(text)
    out: list[tuple[str, str]] = []
    if lang == "zh":
        for m in _NUMBER_ZH.finditer(text):
            unit = m.group("cur") or (m.group("unit") or "").lower()
            out.append((_number_value(m.group("num")), unit))
    else:
        for m in _NUMBER_EN.finditer(text):
            out.append((_number_value(m.group("num")), _unit_en(m)))
    return out


def fact_check(
    ad_facts: list[tuple[str, str]],
    source_facts: list[tuple[str, str]],
    mentioned_values: set[str],
) -> tuple[int, int, int]:
    """Count (supported, unsupported, contradicted) facts of the ad against the source facts.

    `mentioned_values` are numbers the searcher typed (query, bidword): repeating them is fine but
    they are not advertiser facts, so they can support a number yet never contradict one.
    """
    source_pairs = set(source_facts)
    source_values = {v for v, _ in source_facts} | mentioned_values
    source_units = {u for _, u in source_facts if u}
    supported = unsupported = contradicted = 0
    for value, unit in ad_facts:
        if (value, unit) in source_pairs or (not unit and value in source_values):
            supported += 1
        elif unit and unit in source_units:
            contradicted += 1  # same kind of fact, different value: a wrong price or discount
        elif value in source_values:
            supported += 1  # same number, unit worded differently ("30-day" vs "30 days")
        else:
            unsupported += 1
    return supported, unsupported, contradicted


def length_deviation(n_chars: int, low: int, high: int) -> float:
    """How far a length lies outside [low, high], relative to the nearer bound (0 inside)."""
    if n_chars < low:
        return (low - n_chars) / low
    if n_chars > high:
        return (n_chars - high) / high
    return 0.0


def has_call_to_action(text: str, lang: str) -> bool:
    pattern = _ZH_CTA if lang == "zh" else _EN_CTA
    return bool(pattern.search(normalize(text)))


def count_exaggerations(text: str, lang: str, source_text: str = "") -> int:
    """Exaggerated or banned claims in the ad.

    A term the advertiser's own selling points or landing page already use ("100% cotton") is not
    counted: the landing page backs it, so it neither lures nor disappoints the searcher.
    """
    patterns = _ZH_EXAGGERATIONS if lang == "zh" else _EN_EXAGGERATIONS
    text, source_text = normalize(text), normalize(source_text)
    return sum(len(p.findall(text)) for p in patterns if not p.search(source_text))


def caps_ratio(text: str) -> float:
    """Share of words of four or more letters written in capitals (short acronyms are normal)."""
    words = [w for w in re.findall(r"[A-Za-z]+", text) if len(w) >= 4]
    if not words:
        return 0.0
    return sum(w.isupper() for w in words) / len(words)


def readability(text: str, lang: str) -> tuple[float, float, int, int]:
    """Score in [0, 1] plus its parts (caps ratio, repeated punctuation runs, max token repeat).

    Penalised: long words or run-on sentences (clauses for Chinese), ALL-CAPS shouting, "!!!" and
    keyword stuffing (one content token more than twice: title and description may each use it).
    """
    text = normalize(text)
    caps = caps_ratio(text)
    punct = len(_REPEATED_PUNCT.findall(text))
    counts = Counter(tokens(text, lang))
    max_repeat = max(counts.values(), default=0)
    penalty = max(0.0, caps - 0.2) * 1.2 + 0.2 * punct + 0.15 * max(0, max_repeat - 2)
    if lang == "zh":
        clauses = [c for c in _CLAUSE_SPLIT_ZH.split(text) if c.strip()]
        mean_clause = sum(len(c) for c in clauses) / max(1, len(clauses))
        penalty += max(0.0, mean_clause - 30) / 30
    else:
        words = re.findall(r"[A-Za-z]+", text)
        mean_word = sum(len(w) for w in words) / max(1, len(words))
        sentences = [s for s in _SENTENCE_SPLIT_EN.split(text) if s.split()]
        mean_sentence = sum(len(s.split()) for s in sentences) / max(1, len(sentences))
        penalty += max(0.0, mean_word - 7) / 3 + max(0.0, mean_sentence - 22) / 15
    return max(0.0, 1.0 - penalty), caps, punct, max_repeat


def source_text(request: AdRequest) -> str:
    """The advertiser's own facts: selling points and landing page."""
    return " ".join([*request.selling_points, request.landing_page or ""])


def extract_features(request: AdRequest, title: str, description: str) -> AdFeatures:
    """Read one ad (title + description) against its request."""
    lang = request.lang if request.lang in SWEET_SPOT else "en"
    title, description = normalize(title).strip(), normalize(description).strip()
    ad_text = f"{title} {description}".strip()
    ad_tokens = set(tokens(ad_text, lang))
    source = source_text(request)
    mentioned = {v for v, _ in facts(f"{request.query} {request.bidword}", lang)}
    supported, unsupported, contradicted = fact_check(
        facts(ad_text, lang), facts(source, lang), mentioned
    )
    read, caps, punct, max_repeat = readability(ad_text, lang)
    spot = SWEET_SPOT[lang]
    return AdFeatures(
        lang=lang,
        query_relevance=overlap(request.query, ad_tokens, lang),
        bidword_relevance=overlap(request.bidword, ad_tokens, lang),
        coverage=coverage(request.selling_points, ad_tokens, lang),
        n_facts=supported + unsupported + contradicted,
        n_supported=supported,
        n_unsupported=unsupported,
        n_contradicted=contradicted,
        title_len=len(title),
        desc_len=len(description),
        title_len_dev=length_deviation(len(title), *spot["title"]),
        desc_len_dev=length_deviation(len(description), *spot["description"]),
        has_cta=has_call_to_action(ad_text, lang),
        readability=read,
        caps_ratio=caps,
        repeated_punct=punct,
        max_repeat=max_repeat,
        n_exaggerations=count_exaggerations(ad_text, lang, source),
    )
