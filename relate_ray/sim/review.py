"""The simulated ad platform's own review: does an ad pass before it may be served (eq. 11)?

The paper counts texts approved by an industrial risk-control system, not by the reward the policy
was trained on. This is that system for the simulated market. It is written apart from the training
checker (`relate_ray.rewards.compliance`, which nothing here imports and which never imports this),
with its own rules, so a policy that learned to dodge the training lexicon is not thereby approved:

* prohibited claims: absolute and superlative claims, guarantees of results, cures and risk-free
  money, per language (the platform's own lists below, not the reward's lexicon files);
* a stated fact the landing page contradicts (same unit, other value: a wrong price or discount),
  which a reviewer checks against the advertiser's page (`relate_ray.sim.features.fact_check`);
* contact details and links in the copy (the platform serves its own link and call button), except
  a domain the searcher typed (a brand named like its site);
* shouting: three or more ALL-CAPS words, or runs of "!!" / "？？".

`review(request, title, description)` returns the decision and every reason, so a rejection can be
read. Deterministic and cheap (regular expressions), for evaluation of thousands of ads.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from relate_ray.data.schema import AdRequest
from relate_ray.sim.features import fact_check, facts, normalize, request_context

# Each entry: (reason, pattern over the lowercased ad). English patterns carry word boundaries.
_PROHIBITED_EN = tuple((reason, re.compile(pattern)) for reason, pattern in (
    ("absolute claim", r"\b(?:best|cheapest|lowest|fastest|safest)\b[^.!?]{0,30}?\b(?:ever|anywhere|on earth|"
                       r"in (?:the )?(?:world|town|city|country|market|industry))\b"),
    ("absolute claim", r"(?:#|\bno\.?\s?)1\b|\bnumber one\b|\bunbeatable\b|\bunrivall?ed\b|\bworld[- ]class\b"),
    ("guaranteed result", r"\bguarantee(?:d|s)? (?:results?|success|approval|returns?|pass|weight loss|cure)\b"
                          r"|\b100\s?% (?:guaranteed|success|effective|safe|cure)\b|\bnever fails?\b"),
    ("health claim", r"\b(?:cures?|heals?|reverses?) (?:\w+ ){0,2}(?:disease|cancer|diabetes|myopia|"
                     r"acne|pain|arthritis|hair loss)\b|\bmiracle\b|\bno side effects?\b"),
    ("financial promise", r"\brisk[- ]free\b|\bzero risk\b|\bno risk\b|\bguaranteed (?:profit|income|interest)\b"
                          r"|\bget rich\b|\bdouble your money\b"),
))
_PROHIBITED_ZH = tuple((reason, re.compile(pattern)) for reason, pattern in (
    ("absolute claim", r"最(?:好|佳|低|便宜|强|优|快|安全|大|专业|权威)|第一|首选|国家级|顶级|唯一|独家|史无前例|无与伦比"),
    ("guaranteed result", r"保证|包过|包治|百分之百|100%(?:有效|成功|通过|安全)|绝对|永不"),
    ("health claim", r"根治|治愈|药到病除|无副作用|特效|神药|立竿见影"),
    ("financial promise", r"零风险|无风险|保本|稳赚|高收益无风险|躺赚|翻倍"),
))
_CONTACT = re.compile(r"https?://|www\.|\b[\w.-]+\.(?:com|net|org|cn|io)\b|\b\d{3}[-. ]\d{3,4}[-. ]\d{4}\b"
                      r"|\b1[3-9]\d{9}\b|微信|加v|vx", re.IGNORECASE)
_CAPS_WORD = re.compile(r"\b[A-Z]{3,}\b")
_SHOUT_PUNCT = re.compile(r"[!！]{2,}|[?？]{2,}")
# Acronyms a reviewer lets through in capitals.
_ACRONYMS = frozenset({"USA", "SUV", "GPS", "LED", "USB", "CEO", "SEO", "CPA", "MBA", "IELTS", "TOEFL",
                       "SAT", "GMAT", "API", "CRM", "ERP", "SAAS", "PDF", "HVAC", "ATM", "FAQ", "IRA",
                       "APR", "VIP", "DIY", "BMW", "AWD", "FHA", "LLC", "DUI", "HIV", "MRI", "ICU"})


@dataclass(frozen=True)
class ReviewDecision:
    """approved: the ad may be served; reasons: why not (empty when approved)."""

    approved: bool
    reasons: tuple[str, ...]


def review(request: AdRequest, title: str, description: str) -> ReviewDecision:
    """The platform's decision on one ad (title and description) for its request."""
    text = normalize(f"{title} {description}").strip()
    low = text.lower()
    lang = "zh" if request.lang == "zh" else "en"
    reasons: list[str] = []
    for reason, pattern in (_PROHIBITED_ZH if lang == "zh" else _PROHIBITED_EN):
        if pattern.search(low) and reason not in reasons:
            reasons.append(reason)
    if lang == "zh" and any(p.search(low) for _, p in _PROHIBITED_EN):
        reasons.append("absolute claim")  # English claims inside Chinese copy are read too
    ctx = request_context(request)
    if fact_check(facts(text, lang), ctx.source_facts, ctx.mentioned_values)[2]:
        reasons.append("contradicts the landing page")
    typed = f"{request.query} {request.bidword}".lower()  # a brand that is a domain, searched for by name
    if any(m.group(0).lower() not in typed for m in _CONTACT.finditer(text)):
        reasons.append("contact details or link")
    if len([w for w in _CAPS_WORD.findall(text) if w not in _ACRONYMS]) >= 3 or _SHOUT_PUNCT.search(text):
        reasons.append("shouting")
    unique = tuple(dict.fromkeys(reasons))
    return ReviewDecision(not unique, unique)
