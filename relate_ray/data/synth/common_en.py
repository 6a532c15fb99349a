"""English content shared by every vertical: cities, generic query templates, brand-wide facts,
reference-ad templates and the few writing conventions the generator needs for English.

Templates are `str.format` strings. Query templates see {t} (the product as typed), {city}, {brand},
{rival} (another brand of the same topic), {site} (the brand as a domain name), {month}, {year}; all
already lowercase. Fact and page
templates see the topic's words, {brand}, {city}, {name} and sampled slots (see `SLOTS`).
"""

from __future__ import annotations

# --- writing conventions (read by the generator) ---------------------------------------------------
CASED = True  # queries get lowercased and typo'd; sentences get capitalized
THOUSANDS = True  # 12,000 rather than 12000
CLAUSE_JOINS = (", and ", "; ")  # two landing-page clauses in one sentence
SENTENCE_END = "."
SENTENCE_SEP = " "
TYPO_RATE = 0.07  # share of queries with one mistyped word, as real search logs have
CITY_SPACE_RATE = 0.0
BRAND_REF_SHARE = 0.5  # share of page clauses that say "the clinic" instead of the brand name
BRAND_REF = "the {noun}"  # noun: the topic's words["noun"], else the last word of its desc
NEAR_WORDS = ("near me", "nearby")  # query templates with these need a local business
TITLE_LEN = (25, 60)
DESCRIPTION_LEN = (60, 150)

CITIES = (
    "Austin", "Denver", "Seattle", "Chicago", "Boston", "Atlanta", "Phoenix", "San Diego",
    "Portland", "Nashville", "Miami", "Dallas", "Houston", "Philadelphia", "Minneapolis",
    "Charlotte", "Orlando", "Las Vegas", "Salt Lake City", "Raleigh", "Columbus", "Tampa",
    "Pittsburgh", "Sacramento", "Kansas City", "New York", "Los Angeles", "San Francisco",
    "Baltimore", "San Antonio", "Detroit", "Cincinnati",
)
MONTHS = (
    "january", "february", "march", "april", "may", "june", "july", "august", "september",
    "october", "november", "december", "this weekend", "next month",
)
YEARS = ("2024", "2025")

# --- queries -----------------------------------------------------------------------------------------
# Per intent: templates that fit any topic, and templates that only make sense for local businesses.
# Topic kinds add their own (KIND_QUERIES): "goods" are shipped products, "service" is booked help.
QUERIES = {
    "info": (
        (
            "how to choose {t}", "what to look for in {t}", "{t} tips", "are {t} worth it",
            "{t} cost", "how much is {t}", "{t} pros and cons", "{t} guide {year}", "{t} faq",
            "what is the average price of {t}", "is {brand} legit", "{t} explained",
            "{t} mistakes to avoid", "how does {brand} work",
        ),
        (
            "how to find good {t} in {city}", "average cost of {t} in {city}",
            "{t} {city} tips", "what to know about {t} in {city}",
        ),
    ),
    "comm": (
        (
            "best {t}", "best {t} {year}", "top rated {t}", "{t} reviews", "{brand} reviews",
            "is {brand} good", "{brand} vs {rival}", "{brand} or {rival}", "recommended {t}",
            "{t} comparison", "which {t} is best", "best {t} for the money", "{brand} {t} reviews",
            "most popular {t}", "{t} ratings", "top 10 {t}", "best value {t}",
        ),
        (
            "best {t} in {city}", "{t} near me", "top {t} {city}", "best {t} near me",
            "{city} {t} reviews", "good {t} near {city}", "{t} in {city}",
            "top rated {t} {city}", "{t} {city} recommendations", "best {t} around {city}",
        ),
    ),
    "trans": (
        (
            "cheap {t}", "{t} price", "{t} deals", "{t} discount", "{t} coupon code",
            "{t} sale {month}", "affordable {t}", "{brand} promo code", "{brand} price",
            "{t} cost {year}", "{brand} discount", "low cost {t}", "{t} special offer", "{t} prices {month}",
        ),
        (
            "cheap {t} {city}", "{t} {city} price", "{t} deals {city}", "affordable {t} near me",
            "{t} {city} {month}", "{t} {city} cost", "discount {t} {city}", "{t} open now near me",
        ),
    ),
    "nav": (
        (
            "{brand}", "{brand} official site", "{brand} website", "{brand} {t}", "{brand} contact",
            "{site}.com", "{brand} phone number", "www.{site}.com",
        ),
        ("{brand} {city}", "{brand} near me", "{brand} {city} hours", "{brand} locations"),
    ),
}

KIND_QUERIES = {
    "goods": {
        "info": ("{t} buying guide", "how long do {t} last", "{t} care tips"),
        "comm": ("best {t} brands", "{t} review {year}", "{t} worth buying", "{t} brands ranked"),
        "trans": ("buy {t}", "buy {t} online", "{t} free shipping", "{t} on sale", "{t} clearance"),
    },
    "service": {
        "info": ("{t} questions to ask", "what to expect from {t}", "how to prepare for {t}"),
        "comm": ("most trusted {t}", "{t} with good reviews", "best rated {t} {year}"),
        "trans": ("{t} quote", "{t} rates", "{t} fees", "{t} consultation"),
    },
}

# Bidword shapes: the advertiser bought the brand, or the bare product (optionally with a city).
BID_NAV = ("{brand}", "{brand} {t}")
BID_CORE = ("{t}",)
BID_CORE_LOCAL = ("{t} {city}", "{city} {t}")

# --- facts every vertical can use ---------------------------------------------------------------------
# Slots named b_* are brand-wide: drawn once per brand, so a brand keeps its rating across requests.
SLOTS = {
    "b_rating": ("float", 4.2, 4.9, 1),
    "b_reviews": ("int", 300, 48000, 100),
    "b_years": ("int", 4, 38, 1),
}

FACTS = (
    {
        "sp": ("{b_rating}/5 from {b_reviews} reviews", "Rated {b_rating}/5 by {b_reviews} customers"),
        "lp": (
            "{brand} holds a {b_rating}/5 rating from {b_reviews} customer reviews",
            "customers rate {brand} {b_rating}/5 across {b_reviews} reviews",
        ),
    },
    {
        "sp": ("{b_years} years in business", "Trusted for {b_years} years"),
        "lp": ("{brand} has been in business for {b_years} years",
               "{brand} has {b_years} years of experience"),
    },
    {
        # Used by every topic that defines a price and the words item/per/per_lp.
        "sp": ("{item} from ${price}{per}", "{item} starting at ${price}{per}"),
        "lp": ("pricing for {item} starts at ${price}{per_lp}",
               "{brand} offers {item} from ${price}{per_lp}"),
    },
)

# --- reference ads ---------------------------------------------------------------------------------
# {sp0}..{sp2}: selling points as written; {sp0l}..: first letter lowered; {sps}: the shortest one.
TITLES = (
    "{brand} | {name} in {city}", "{name} in {city} - {brand}", "{brand}: {sps}", "{sps} | {brand}",
    "{brand} {name} - {cta}", "{name} from {brand}", "{name} by {brand} | {sps}", "{cta} | {brand}",
    "{city} {name} | {brand}",
)
DESCRIPTIONS = (
    "{sp0}. {sp1}. {cta}.", "{sp0}, {sp1l} and {sp2l}. {cta}.", "{name} by {brand}: {sp0l}, {sp1l}. {cta}!",
    "{sp0} and {sp1l}. {sp2}. {cta} with {brand}.", "{brand} in {city}: {sp0l}. {sp1}. {cta}.",
    "{sp0}. {sp1}. {sp2}.", "Looking for {name}? {sp0}. {sp1}. {cta}.",
)
