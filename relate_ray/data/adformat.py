"""The output format the policy must write, defined once, and the one parser everybody shares.

The policy answers with exactly two lines:

    Title: <ad title>
    Description: <ad description>

(the field names are the same for Chinese ads; the Chinese prompt says so). The length, format and
relevance rewards, the CTCVR scorer, the simulator and evaluation all read ads through `parse_ad`, so
an ad means the same thing everywhere.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

TITLE_KEY = "Title"
DESCRIPTION_KEY = "Description"
FIELD_KEYS = (TITLE_KEY, DESCRIPTION_KEY)

# What the ad product accepts: each field's length in characters (zh, en) or words (en_words), as
# [low, high]. The run's copy is config (`ad.length_limits`), which the length reward and the
# post-processor read. The simulated searchers' own length taste lives in relate_ray.sim.features
# (SWEET_SPOT) and is never read by a reward: the two may differ.
LENGTH_LIMITS = {
    "zh": {"title": (10, 25), "description": (25, 70)},
    "en": {"title": (25, 60), "description": (60, 150)},
    "en_words": {"title": (4, 10), "description": (10, 25)},
}

# A field line: optional spaces, the key, an ASCII or full-width colon, the value.
_FIELD_LINE = re.compile(r"^\s*(?P<key>[A-Za-z]+)\s*[:：]\s*(?P<value>.*?)\s*$")
_MARKDOWN = re.compile(r"(\*\*|__|^#+\s|^\s*[-*]\s|`)")


@dataclass(frozen=True)
class ParsedAd:
    """An ad read from model output. `ok` means the output followed the format exactly."""

    title: str
    description: str
    ok: bool
    problems: tuple[str, ...] = field(default=())

    @property
    def text(self) -> str:
        """Title and description joined the way scorers read the whole ad."""
        return f"{self.title} {self.description}".strip()


def render_ad(title: str, description: str) -> str:
    """The exact text a perfect policy output would be (used by templates and tests)."""
    return f"{TITLE_KEY}: {title}\n{DESCRIPTION_KEY}: {description}"


def parse_ad(output: str) -> ParsedAd:
    """Parse a policy output; always returns the best-effort fields plus a list of format problems.

    Problems: a missing or repeated field, an empty field, any other non-blank line (chatter), or
    markdown decoration. `title`/`description` hold the first value found ("" when absent), so a
    scorer can still judge a slightly malformed ad while the format reward punishes it.
    """
    values: dict[str, list[str]] = {k: [] for k in FIELD_KEYS}
    problems: list[str] = []
    for line in output.strip().splitlines():
        if not line.strip():
            continue
        match = _FIELD_LINE.match(line.replace("*", "") if _MARKDOWN.search(line) else line)
        if _MARKDOWN.search(line):
            problems.append("markdown")
        key = match.group("key").capitalize() if match else None
        if key in values:
            values[key].append(match.group("value"))
        else:
            problems.append("extra text")
    for key in FIELD_KEYS:
        if not values[key]:
            problems.append(f"missing {key.lower()}")
        elif len(values[key]) > 1:
            problems.append(f"repeated {key.lower()}")
        elif not values[key][0]:
            problems.append(f"empty {key.lower()}")
    title = values[TITLE_KEY][0] if values[TITLE_KEY] else ""
    description = values[DESCRIPTION_KEY][0] if values[DESCRIPTION_KEY] else ""
    unique = tuple(dict.fromkeys(problems))
    return ParsedAd(title=title, description=description, ok=not unique, problems=unique)
