"""The synthetic request generator: deterministic, valid rows, real variety, and pages that back up
every number the selling points claim (the simulator reads facts back out with regexes)."""

import re

import pytest

from relate_ray.data.schema import MAX_LEN
from relate_ray.data.synth import VERTICALS, generate_requests
from relate_ray.data.validate import check_row

NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
CJK = re.compile(r"[\u4e00-\u9fff]")
LANGS = ("en", "zh")


@pytest.fixture(scope="module", params=LANGS)
def rows(request):
    return generate_requests(2000, request.param, 11)


@pytest.mark.parametrize("lang", LANGS)
def test_same_seed_same_rows_other_seed_other_rows(lang):
    first, again = generate_requests(60, lang, 3), generate_requests(60, lang, 3)
    assert [r.to_dict() for r in first] == [r.to_dict() for r in again]
    other = generate_requests(60, lang, 4)
    assert sum(a.to_dict() != b.to_dict() for a, b in zip(first, other)) > 50


def test_a_shorter_run_is_a_prefix_of_a_longer_one():
    assert generate_requests(25, "en", 9) == generate_requests(40, "en", 9)[:25]


def test_rows_are_valid(rows):
    lang = rows[0].lang
    for r in rows:
        request, problems = check_row(r.to_dict())
        assert not problems and request == r, (r.id, problems)
        assert r.lang == lang and r.category in VERTICALS and not r.extra
        assert 3 <= len(r.selling_points) <= 6
        texts = [r.query, r.bidword, r.landing_page, *r.selling_points]
        texts += [t for t in (r.ref_title, r.ref_description) if t is not None]
        for text in texts:
            assert text and text == text.strip() and "\n" not in text and "\x00" not in text
        assert len(r.query) <= MAX_LEN["query"] and len(r.landing_page) <= MAX_LEN["landing_page"]
        assert (r.ref_title is None) == (r.ref_description is None)
        if lang == "zh":
            assert CJK.search(r.landing_page) and all(CJK.search(p) or NUMBER.search(p) for p in r.selling_points)


def test_chinese_rows_are_chinese():
    rows = generate_requests(200, "zh", 1)
    assert sum(bool(CJK.search(r.query)) for r in rows) > 180
    assert all(CJK.search(r.landing_page) and CJK.search("".join(r.selling_points)) for r in rows)


def test_every_vertical_appears(rows):
    counts = {v: 0 for v in VERTICALS}
    for r in rows:
        counts[r.category] += 1
    assert len(VERTICALS) >= 12 and min(counts.values()) >= 150


def test_queries_vary(rows):
    assert len({r.query for r in rows}) >= 0.6 * len(rows)
    assert len({r.bidword for r in rows}) >= 0.2 * len(rows)


def test_selling_point_numbers_are_on_the_landing_page(rows):
    for r in rows:
        page = set(NUMBER.findall(r.landing_page))
        for point in r.selling_points:
            assert set(NUMBER.findall(point)) <= page, (r.id, point, r.landing_page)
    with_numbers = sum(any(NUMBER.search(p) for p in r.selling_points) for r in rows)
    assert with_numbers >= 0.95 * len(rows)


def test_reference_ads_on_about_half_the_rows_with_sane_lengths(rows):
    refs = [r for r in rows if r.ref_title]
    assert 0.35 * len(rows) <= len(refs) <= 0.65 * len(rows)
    title_len, desc_len = ((25, 60), (60, 150)) if rows[0].lang == "en" else ((10, 25), (25, 70))
    for r in refs:
        assert title_len[0] <= len(r.ref_title) <= title_len[1]
        assert desc_len[0] <= len(r.ref_description) <= desc_len[1]


def test_ids_unique_and_tagged(rows):
    assert len({r.id for r in rows}) == len(rows)
    lang = rows[0].lang
    assert rows[0].id == f"{lang}-11-000000" and rows[-1].id == f"{lang}-11-001999"


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="lang"):
        generate_requests(3, "fr", 0)
    with pytest.raises(ValueError):
        generate_requests(-1, "en", 0)
    assert generate_requests(0, "zh", 0) == []


def test_vertical_data_files_with_an_unknown_key_or_slot_spec_fail_naming_the_file(tmp_path):
    from relate_ray.data.synth.content import DATA_DIR, load_vertical

    text = (DATA_DIR / "en" / "travel.yaml").read_text()
    assert load_vertical(DATA_DIR / "en" / "travel.yaml")["slots"]["pct"] == ("int", 10, 35, 5)
    typo = tmp_path / "typo.yaml"
    typo.write_text(text.replace("  bidwords:", "  bidword:", 1))
    with pytest.raises(ValueError, match=r"typo.yaml topic hotel: unknown keys \['bidword'\]"):
        load_vertical(typo)
    slot = tmp_path / "slot.yaml"
    slot.write_text(text.replace("pct: {kind: int, low: 10, high: 35, step: 5}", "pct: {kind: int, low: 10, high: 35}"))
    with pytest.raises(ValueError, match=r"slot.yaml: slot 'pct' must be one of"):
        load_vertical(slot)
