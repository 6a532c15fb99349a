"""English content shared by every vertical: cities, generic query templates, brand-wide facts,
reference-ad templates and the few writing conventions the generator needs for English.

Templates are `str.format` strings. Query templates see {product} (the product as typed), {city}, {brand},
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
BRAND_REF = "the {noun}"  # noun: the topic's words["noun"], else the last word of its descriptor
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
            "how to choose {product}", "what to look for in {product}", "{product} tips", "are {product} worth it",
            "{product} cost", "how much is {product}", "{product} pros and cons", "{product} guide {year}", "{product} faq",
            "what is the average price of {product}", "is {brand} legit", "{product} explained",
            "{product} mistakes to avoid", "how does {brand} work",
        ),
        (
            "how to find good {product} in {city}", "average cost of {product} in {city}",
            "{product} {city} tips", "what to know about {product} in {city}",
        ),
    ),
    "comm": (
        (
            "best {product}", "best {product} {year}", "top rated {product}", "{product} reviews", "{brand} reviews",
            "is {brand} good", "{brand} vs {rival}", "{brand} or {rival}", "recommended {product}",
            "{product} comparison", "which {product} is best", "best {product} for the money", "{brand} {product} reviews",
            "most popular {product}", "{product} ratings", "top 10 {product}", "best value {product}",
        ),
        (
            "best {product} in {city}", "{product} near me", "top {product} {city}", "best {product} near me",
            "{city} {product} reviews", "good {product} near {city}", "{product} in {city}",
            "top rated {product} {city}", "{product} {city} recommendations", "best {product} around {city}",
        ),
    ),
    "trans": (
        (
            "cheap {product}", "{product} price", "{product} deals", "{product} discount", "{product} coupon code",
            "{product} sale {month}", "affordable {product}", "{brand} promo code", "{brand} price",
            "{product} cost {year}", "{brand} discount", "low cost {product}", "{product} special offer", "{product} prices {month}",
        ),
        (
            "cheap {product} {city}", "{product} {city} price", "{product} deals {city}", "affordable {product} near me",
            "{product} {city} {month}", "{product} {city} cost", "discount {product} {city}", "{product} open now near me",
        ),
    ),
    "nav": (
        (
            "{brand}", "{brand} official site", "{brand} website", "{brand} {product}", "{brand} contact",
            "{site}.com", "{brand} phone number", "www.{site}.com",
        ),
        ("{brand} {city}", "{brand} near me", "{brand} {city} hours", "{brand} locations"),
    ),
}

KIND_QUERIES = {
    "goods": {
        "info": ("{product} buying guide", "how long do {product} last", "{product} care tips"),
        "comm": ("best {product} brands", "{product} review {year}", "{product} worth buying", "{product} brands ranked"),
        "trans": ("buy {product}", "buy {product} online", "{product} free shipping", "{product} on sale", "{product} clearance"),
    },
    "service": {
        "info": ("{product} questions to ask", "what to expect from {product}", "how to prepare for {product}"),
        "comm": ("most trusted {product}", "{product} with good reviews", "best rated {product} {year}"),
        "trans": ("{product} quote", "{product} rates", "{product} fees", "{product} consultation"),
    },
}

# Bidword shapes: the advertiser bought the brand, or the bare product (optionally with a city).
BID_NAV = ("{brand}", "{brand} {product}")
BID_CORE = ("{product}",)
BID_CORE_LOCAL = ("{product} {city}", "{city} {product}")

# --- facts every vertical can use ---------------------------------------------------------------------
# Slots named b_* are brand-wide: drawn once per brand, so a brand keeps its rating across requests.
SLOTS = {
    "b_rating": ("float", 4.2, 4.9, 1),
    "b_reviews": ("int", 300, 48000, 100),
    "b_years": ("int", 4, 38, 1),
}

FACTS = (
    {
        "selling_point": ("{b_rating}/5 from {b_reviews} reviews", "Rated {b_rating}/5 by {b_reviews} customers"),
        "page_clause": (
            "{brand} holds a {b_rating}/5 rating from {b_reviews} customer reviews",
            "customers rate {brand} {b_rating}/5 across {b_reviews} reviews",
        ),
    },
    {
        "selling_point": ("{b_years} years in business", "Trusted for {b_years} years"),
        "page_clause": ("{brand} has been in business for {b_years} years",
               "{brand} has {b_years} years of experience"),
    },
    {
        # Used by every topic that defines a price and the words item/per/per_lp.
        "selling_point": ("{item} from ${price}{price_unit}", "{item} starting at ${price}{price_unit}"),
        "page_clause": ("pricing for {item} starts at ${price}{price_unit_page}",
               "{brand} offers {item} from ${price}{price_unit_page}"),
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
