"""Risk-control (compliance) checker for generated ad text, English and Chinese.

RELATE's risk-control reward (paper sec. 3.3.1) discourages exaggerated, misleading or otherwise
non-compliant wording, and sec. 3.4.1 (eq. 5, lambda1) turns blacklisted words into token-level
penalties. This module is the deterministic part of that: lexicons written from the PRC Advertising
Law (2015), FTC guidance and Google Ads editorial policy (`lexicons/*.txt`, each naming its source),
plus editorial rules coded here. It reports tight character spans, so callers can map them onto
policy tokens with the tokenizer's offsets:

    result = check(text, "zh")          # result.ok, result.violations[i].rule / .span
    mask = violation_char_mask(text, "en")

Rules: absolute_term, medical_claim, finance_guarantee, education_guarantee, exaggeration,
click_here (lexicons, per language); gimmicky_caps, repeated_punctuation, excessive_exclamation,
symbol_gimmick (editorial, both languages).

Matching:
- English lexicons are case-insensitive (re.IGNORECASE, never str.lower(), which can change string
  lengths and so offsets) with letter/digit boundaries on both sides: "cure" does not fire inside
  "manicure", "secure" or "cured". Chinese lexicons match as substrings (no word boundaries).
- An allowlist entry drops a match of its rule when it covers the match's first character
  ("最后一天" drops the 最+X match, "红包过期" drops "包过").
- Every start position is tried, then overlapping spans of one rule are merged into their union
  ("史上最" + "最低价" -> "史上最低价"). Different rules may overlap and are all kept, except that the
  generic rules (absolute_term, exaggeration) are dropped when their span lies inside a domain
  violation: "疗效最佳" is one medical_claim and "guaranteed returns" one finance_guarantee, so the
  violation count the risk reward uses does not double-count.

Not handled (documented limits): full-width Latin letters, traditional characters, and claims that
need semantics rather than words (the paper pairs this with a semantic judge).
"""

from __future__ import annotations

import functools
import logging
import re
from dataclasses import dataclass
from importlib import resources

log = logging.getLogger(__name__)

LANGS = ("en", "zh")

ABSOLUTE_TERM = "absolute_term"
MEDICAL_CLAIM = "medical_claim"
FINANCE_GUARANTEE = "finance_guarantee"
EDUCATION_GUARANTEE = "education_guarantee"
EXAGGERATION = "exaggeration"
CLICK_HERE = "click_here"
GIMMICKY_CAPS = "gimmicky_caps"
REPEATED_PUNCTUATION = "repeated_punctuation"
EXCESSIVE_EXCLAMATION = "excessive_exclamation"
SYMBOL_GIMMICK = "symbol_gimmick"
RULES = (ABSOLUTE_TERM, MEDICAL_CLAIM, FINANCE_GUARANTEE, EDUCATION_GUARANTEE, EXAGGERATION,
         CLICK_HERE, GIMMICKY_CAPS, REPEATED_PUNCTUATION, EXCESSIVE_EXCLAMATION, SYMBOL_GIMMICK)

# Broad rules that yield to a specific (domain) rule covering the same words.
_GENERIC_RULES = frozenset({ABSOLUTE_TERM, EXAGGERATION})

_LEXICON_PACKAGE = "relate_ray.rewards"
_LEXICON_DIR = "lexicons"
_LEXICON_FILES: dict[str, tuple[tuple[str, str], ...]] = {
    lang: tuple((rule, f"{lang}_{stem}.txt") for rule, stem in (
        (ABSOLUTE_TERM, "absolute_terms"),
        (MEDICAL_CLAIM, "medical_claims"),
        (FINANCE_GUARANTEE, "finance_guarantees"),
        (EDUCATION_GUARANTEE, "education_guarantees"),
        (EXAGGERATION, "exaggeration"),
        (CLICK_HERE, "click_here"),
    ))
    for lang in LANGS
}
_ACRONYM_FILE = "acronyms.txt"

# English terms must not touch another letter or digit on either side (ASCII: Chinese characters
# next to an English term, as in "雅思IELTS", still count as a boundary).
_EN_BEFORE = r"(?<![A-Za-z0-9])"
_EN_AFTER = r"(?![A-Za-z0-9])"
# In literal terms a space or hyphen matches any run of them (or none); an apostrophe is optional.
_LITERAL_SEPARATORS = re.compile(r"[\s\-]+")

Span = tuple[int, int]


@dataclass(frozen=True)
class Violation:
    """One offending word or phrase: `text[span[0]:span[1]]` is exactly the offending text."""

    rule: str
    span: Span


@dataclass(frozen=True)
class ComplianceResult:
    """All violations in a text, sorted by start offset (then end, then rule)."""

    violations: tuple[Violation, ...]

    @property
    def ok(self) -> bool:
        return not self.violations


@dataclass(frozen=True)
class _LexiconRule:
    """A compiled lexicon file: term patterns and allowlist patterns (each finds overlapping hits)."""

    name: str
    patterns: tuple[re.Pattern[str], ...]
    allow: tuple[re.Pattern[str], ...]


def check(text: str, lang: str) -> ComplianceResult:
    """Every compliance violation in `text` (lang "en" or "zh"), with exact spans into `text`."""
    found: list[Violation] = []
    for rule in _lexicon_rules(_validate_lang(lang)):
        found.extend(Violation(rule.name, span) for span in _merge_spans(_lexicon_spans(rule, text)))
    for name, finder in _EDITORIAL_RULES:
        found.extend(Violation(name, span) for span in _merge_spans(finder(text)))
    kept = _drop_subsumed_generic(found)
    return ComplianceResult(tuple(sorted(kept, key=lambda v: (v.span[0], v.span[1], v.rule))))


def violation_char_mask(text: str, lang: str) -> list[bool]:
    """One bool per character of `text`: True inside any violation span (for token-level penalties)."""
    mask = [False] * len(text)
    for violation in check(text, lang).violations:
        start, end = violation.span
        mask[start:end] = [True] * (end - start)
    return mask


def _validate_lang(lang: str) -> str:
    if lang not in LANGS:
        raise ValueError(f"unsupported language {lang!r}; expected one of {LANGS}")
    return lang


# --- lexicon loading ------------------------------------------------------------------------------

def _read_lexicon(filename: str) -> list[tuple[int, str]]:
    """(line number, entry) for the non-blank, non-comment lines of a packaged lexicon file."""
    # importlib.resources works for installed wheels and zipped packages, not only a source checkout.
    path = resources.files(_LEXICON_PACKAGE).joinpath(_LEXICON_DIR).joinpath(filename)
    entries = []
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.strip()
        if line and not line.startswith("#"):
            entries.append((number, line))
    return entries


def _literal_source(term: str) -> str:
    """Regex source for a literal term: escaped, flexible separators, optional apostrophes."""
    words = [re.escape(word) for word in _LITERAL_SEPARATORS.split(term) if word]
    return re.sub(r"['’]", "['’]?", r"[\s\-]*".join(words))


def _compile_entry(source: str, lang: str, where: str) -> re.Pattern[str]:
    """Compile one entry so that finditer yields a hit at every start position (overlaps included)."""
    if lang == "en":
        source = f"{_EN_BEFORE}(?:{source}){_EN_AFTER}"
    try:
        # The lookahead makes each match zero-width, so finditer tries every position; the named
        # group carries the real span.
        return re.compile(f"(?=(?P<hit>{source}))", re.IGNORECASE)
    except re.error as error:
        raise ValueError(f"{where}: invalid lexicon pattern {source!r}: {error}") from error


def _compile_group(literals: list[str], regexes: list[tuple[str, str]], lang: str, where: str,
                   ) -> tuple[re.Pattern[str], ...]:
    """One alternation for all literals (longest first, so the longest term wins at a position)
    plus one pattern per (regex, file:line) entry."""
    compiled = [_compile_entry(source, lang, line_where) for source, line_where in regexes]
    if literals:
        ordered = sorted(set(literals), key=len, reverse=True)
        compiled.insert(0, _compile_entry("|".join(_literal_source(t) for t in ordered), lang, where))
    return tuple(compiled)


def _load_rule(name: str, filename: str, lang: str) -> _LexiconRule:
    literals: dict[bool, list[str]] = {False: [], True: []}  # keyed by "is an allowlist entry"
    regexes: dict[bool, list[tuple[str, str]]] = {False: [], True: []}
    for number, entry in _read_lexicon(filename):
        is_allow = entry.startswith("allow:")
        if is_allow:
            entry = entry[len("allow:"):].strip()
        if entry.startswith("re:"):
            regexes[is_allow].append((entry[len("re:"):].strip(), f"{filename}:{number}"))
        else:
            literals[is_allow].append(entry)
    rule = _LexiconRule(
        name,
        _compile_group(literals[False], regexes[False], lang, filename),
        _compile_group(literals[True], regexes[True], lang, f"{filename} (allowlist)"),
    )
    log.debug("compliance lexicon %s: %d terms, %d patterns, %d allowlist entries", filename,
              len(literals[False]), len(regexes[False]), len(literals[True]) + len(regexes[True]))
    return rule


@functools.cache
def _lexicon_rules(lang: str) -> tuple[_LexiconRule, ...]:
    """Compiled lexicons for a language, built once per process on first use."""
    return tuple(_load_rule(name, filename, lang) for name, filename in _LEXICON_FILES[lang])


@functools.cache
def _acronyms() -> frozenset[str]:
    return frozenset(entry.upper() for _, entry in _read_lexicon(_ACRONYM_FILE))


# --- span helpers ---------------------------------------------------------------------------------

def _hits(patterns: tuple[re.Pattern[str], ...], text: str) -> list[Span]:
    spans = (m.span("hit") for pattern in patterns for m in pattern.finditer(text))
    return [(start, end) for start, end in spans if end > start]


def _lexicon_spans(rule: _LexiconRule, text: str) -> list[Span]:
    """Term hits of one rule, minus those whose first character an allowlist occurrence covers."""
    spans = _hits(rule.patterns, text)
    if not spans or not rule.allow:
        return spans
    allowed = _hits(rule.allow, text)
    return [s for s in spans if not any(a_start <= s[0] < a_end for a_start, a_end in allowed)]


def _merge_spans(spans: list[Span]) -> list[Span]:
    """Union of overlapping spans (touching-but-disjoint spans stay separate occurrences)."""
    merged: list[list[int]] = []
    for start, end in sorted(spans):
        if merged and start < merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return [(start, end) for start, end in merged]


def _drop_subsumed_generic(violations: list[Violation]) -> list[Violation]:
    """Drop generic-rule violations that lie inside a domain-rule violation (count each claim once)."""
    specific = [v.span for v in violations if v.rule not in _GENERIC_RULES]
    return [v for v in violations
            if v.rule not in _GENERIC_RULES
            or not any(s <= v.span[0] and v.span[1] <= e for s, e in specific)]


# --- editorial rules (Google Ads editorial policy) ------------------------------------------------

# An ASCII word, with an optional apostrophe suffix so "DON'T" is one word.
_WORD = re.compile(r"[A-Za-z0-9]+(?:['’][A-Za-z]+)?")
_MIN_SHOUTING_LETTERS = 4


def _gimmicky_caps_spans(text: str) -> list[Span]:
    """ALL-CAPS words used for emphasis: one of 4+ letters, or 2+ in a row, unless an acronym.

    Allowlisted acronyms ("IELTS", "SUV") never count; a lone unknown caps word of 2-3 letters
    ("SOC", "LHR") passes since most of those are abbreviations, but "BUY NOW" fires.
    """
    acronyms = _acronyms()
    spans: list[Span] = []
    run: list[Span] = []  # consecutive shouting words separated only by whitespace

    def flush() -> None:
        if len(run) >= 2:
            spans.append((run[0][0], run[-1][1]))
        run.clear()

    for m in _WORD.finditer(text):
        word = m.group()
        letters = sum(c.isalpha() for c in word)
        shouting = letters >= 2 and not any(c.islower() for c in word) and word not in acronyms
        if not shouting:
            flush()
            continue
        if letters >= _MIN_SHOUTING_LETTERS:
            spans.append(m.span())
        if run and not (text[run[-1][1]:m.start()].isspace()):
            flush()
        run.append(m.span())
    flush()
    return spans


# "!!", "??", "!?", full-width "！！"; doubled Chinese/ASCII commas, stops and tildes; four or more
# dots ("..." is an ordinary ellipsis); three or more "…" (the standard Chinese ellipsis "……" is
# exactly two, so it is allowed).
_REPEATED_PUNCTUATION = re.compile(r"[!?！？]{2,}|(?P<p>[。，、；,;：~～])(?P=p)+|\.{4,}|…{3,}")
# A run of question/exclamation marks that contains at least one exclamation mark.
_EXCLAMATION_RUN = re.compile(r"[!?！？]*[!！][!?！？]*")


def _repeated_punctuation_spans(text: str) -> list[Span]:
    return [m.span() for m in _REPEATED_PUNCTUATION.finditer(text)]


def _excessive_exclamation_spans(text: str) -> list[Span]:
    """Single exclamation marks after the first exclamation run in the text.

    Google allows at most one exclamation mark (and none in some headline positions); the checker
    sees the whole ad without knowing which field is which, so it allows one per text. Runs like
    "!!" or "?!" are left to repeated_punctuation so one gimmick is not counted twice.
    """
    runs = [m.span() for m in _EXCLAMATION_RUN.finditer(text)]
    return [(start, end) for start, end in runs[1:] if end - start == 1]


# Emoji and pictographic symbols (incl. ★ ✓ ❤ ✈ ► ⭐) with their modifiers, as one run; or a
# repeated currency/attention symbol ("$$$", "**", "##"). Arrows (北京→上海) and ™ ® stay allowed.
_PICTOGRAPHS = "\U0001F000-\U0001FAFF\u2600-\u27BF\u2B00-\u2BFF\u25A0-\u25FF"
_SYMBOL_GIMMICK = re.compile(
    rf"(?:[{_PICTOGRAPHS}][\uFE0F\u200D\U0001F3FB-\U0001F3FF]*)+|(?P<s>[$€£¥￥*#@^])(?P=s)+")


def _symbol_gimmick_spans(text: str) -> list[Span]:
    return [m.span() for m in _SYMBOL_GIMMICK.finditer(text)]


_EDITORIAL_RULES = (
    (GIMMICKY_CAPS, _gimmicky_caps_spans),
    (REPEATED_PUNCTUATION, _repeated_punctuation_spans),
    (EXCESSIVE_EXCLAMATION, _excessive_exclamation_spans),
    (SYMBOL_GIMMICK, _symbol_gimmick_spans),
)
