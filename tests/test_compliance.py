"""The risk-control checker: each rule fires with a tight span, clean ads pass, traps stay quiet."""

import pytest

from relate_ray.rewards.compliance import RULES, check, violation_char_mask


def hits(text, lang):
    """(rule, offending text) pairs, in the order check() reports them."""
    return [(v.rule, text[slice(*v.span)]) for v in check(text, lang).violations]


@pytest.mark.parametrize("lang, text, rule, offending", [
    # Chinese Advertising Law, Art. 9(3)
    ("zh", "国家级专家团队坐诊", "absolute_term", "国家级"),
    ("zh", "本市最便宜的驾校", "absolute_term", "最便宜"),
    ("zh", "全市最强的健身教练", "absolute_term", "最强"),
    ("zh", "销量第一的空气炸锅", "absolute_term", "第一"),
    ("zh", "史上最低价，限时三天", "absolute_term", "史上最低价"),
    ("zh", "最低价仅99元", "absolute_term", "最低价"),
    ("zh", "100％有效的去污喷雾", "absolute_term", "100％"),
    ("zh", "顶级食材，匠心烹制", "absolute_term", "顶级"),
    # Art. 16-18 medical
    ("zh", "专治牛皮癣，三天根治", "medical_claim", "根治"),
    ("zh", "纯中药配方无副作用", "medical_claim", "无副作用"),
    ("zh", "七天瘦十斤，轻松见效", "medical_claim", "七天瘦十斤"),
    # Art. 25 finance
    ("zh", "稳健理财，保本保息", "finance_guarantee", "保本保息"),
    ("zh", "新手专享，年化收益8%保证", "finance_guarantee", "年化收益8%保证"),
    ("zh", "零风险投资，随存随取", "finance_guarantee", "零风险"),
    # Art. 24 education
    ("zh", "雅思保过班火热报名", "education_guarantee", "保过"),
    ("zh", "会计初级包过，不过全额退款", "education_guarantee", "不过全额退款"),
    ("zh", "IT培训包就业，月薪过万", "education_guarantee", "包就业"),
    ("zh", "命题专家亲自授课", "education_guarantee", "命题专家"),
    ("zh", "纯天然精华，神奇功效", "exaggeration", "神奇功效"),
    ("zh", "点击这里领取优惠券", "click_here", "点击这里"),
    ("zh", "限时抢购！！", "repeated_punctuation", "！！"),
    # English
    ("en", "The #1 Pizza in Town", "absolute_term", "#1"),
    ("en", "Voted No. 1 Dentist", "absolute_term", "No. 1"),
    ("en", "Simply The Best Burgers", "absolute_term", "The Best"),
    ("en", "World's Best Coffee Beans", "absolute_term", "World's Best"),
    ("en", "Natural Remedy Cures Arthritis", "medical_claim", "Cures"),
    ("en", "Clinically proven serum for fine lines", "medical_claim", "Clinically proven"),
    ("en", "Lose 10 lbs in 7 days with our plan", "medical_claim", "Lose 10 lbs in 7 days"),
    ("en", "A Miracle Pill for Joint Pain", "medical_claim", "Miracle Pill"),
    ("en", "Risk-free investing, start with $100", "finance_guarantee", "Risk-free"),
    ("en", "Earn 12% guaranteed returns monthly", "finance_guarantee", "12% guaranteed returns"),
    ("en", "Get rich from home in weeks", "finance_guarantee", "Get rich"),
    ("en", "IELTS Band 7 Guaranteed in 8 Weeks", "education_guarantee", "Band 7 Guaranteed"),
    ("en", "CPA exam prep, pass guaranteed", "education_guarantee", "pass guaranteed"),
    ("en", "Results guaranteed on every order", "exaggeration", "guaranteed"),
    ("en", "Click here for cheap flights", "click_here", "Click here"),
    ("en", "HUGE Savings on Sofas", "gimmicky_caps", "HUGE"),
    ("en", "Shoes on Sale, BUY NOW", "gimmicky_caps", "BUY NOW"),
    ("en", "Cheap flights?! Book today", "repeated_punctuation", "?!"),
    ("en", "Hotel deals $$$ off tonight", "symbol_gimmick", "$$$"),
    ("en", "★★★ Hotels in Rome", "symbol_gimmick", "★★★"),
])
def test_rule_fires_with_exact_span(lang, text, rule, offending):
    assert (rule, offending) in hits(text, lang)
    assert not check(text, lang).ok


def test_excessive_exclamation_allows_one_and_flags_the_rest():
    text = "Free shipping! Order today! Limited stock!"
    found = [(v.rule, v.span) for v in check(text, "en").violations]
    assert found == [("excessive_exclamation", (26, 27)), ("excessive_exclamation", (41, 42))]
    assert check("Free shipping on every order!", "en").ok
    # a doubled mark is one repeated_punctuation violation, not also an excessive one
    assert hits("Wow!! Sale", "en") == [("repeated_punctuation", "!!")]


@pytest.mark.parametrize("text", [
    "Lisbon Flights From $59 | Free 23 kg Bag",
    "Title: Secure Cloud Backup for Teams\n"
    "Description: Encrypted storage, SOC 2 audited. Start a 30-day free trial today.",
    "Gel Manicure & Pedicure in Soho - Book Online, Walk-ins Welcome",
    "IELTS Prep Course | Small Classes, Certified Tutors. Free Placement Test!",
    "Compare the SUV Range - Test Drive a Hybrid SUV This Weekend",
    "Artisan Cured Meats & Cheeses, Delivered Fresh. Money-Back Guarantee on Every Order.",
    "Find the best hotel deals in Rome. Free cancellation on most rooms.",
    "Flights LHR to JFK from $399. USA VPN deals... and more",
    "High-Yield Savings, FDIC Insured. 30-day replacement guarantee on cards.",
])
def test_clean_english_ads_pass(text):
    assert hits(text, "en") == []


@pytest.mark.parametrize("text", [
    "北京雅思培训 小班授课 首课免费试听",
    "Title：上海到东京特价机票\nDescription：最近航班实时查询，往返含税价透明，在线选座。",
    "新款智能手表，心率监测，续航14天，今日下单最后一天享包邮。",
    "家用SUV限时试驾，预约即送保养一次，详询4S店。",
    "红包过期前使用，全场满199减30……",
    "初中数学一对一辅导，第一次课免费，名师讲解绝对值与方程。",
    "治愈系手绘插画课程，零基础入门，首个月免费",
    "北京→上海机票，100%纯棉睡衣同城配送",
    # 最 + quantity + number is an "up to" limit, not a ranking
    "理赔最快3天到账，保额最高200万，单场会议最多支持500人，最长可分24期",
])
def test_clean_chinese_ads_pass(text):
    assert hits(text, "zh") == []


@pytest.mark.parametrize("lang, text", [
    ("en", "Secure checkout"), ("en", "Manicure studio"), ("en", "Bestow a gift"),
    ("en", "Cured salmon platter"), ("en", "IELTS and TOEFL classes"), ("en", "Family SUV"),
    ("en", "Curettage explained"), ("en", "Get richer flavour"), ("en", "Room #12 upgrade"),
    ("zh", "最近上新"), ("zh", "最后三天"), ("zh", "最终解释权归本店所有"),
    ("zh", "至少需要两人，最少三晚"),
    ("zh", "最新款上市"), ("zh", "确保过程安全"), ("zh", "地点此次变更为二楼"),
])
def test_false_positive_traps_do_not_fire(lang, text):
    assert hits(text, lang) == []


def test_generic_rule_yields_to_domain_rule():
    # "最佳" inside "疗效最佳" and "100%" inside "100%就业" are one claim each, not two.
    assert hits("疗效最佳，100%就业", "zh") == [
        ("medical_claim", "疗效最佳"), ("education_guarantee", "100%就业")]
    assert hits("Guaranteed returns", "en") == [("finance_guarantee", "Guaranteed returns")]


def test_overlapping_matches_of_one_rule_merge():
    assert hits("全网最低价", "zh") == [("absolute_term", "全网最低价")]


def test_results_sorted_by_start_and_spans_exact():
    text = "BUY NOW!! 100% effective miracle cure, the best, click here"
    violations = check(text, "en").violations
    starts = [v.span[0] for v in violations]
    assert starts == sorted(starts) and len(violations) >= 5
    assert all(0 <= v.span[0] < v.span[1] <= len(text) and v.rule in RULES for v in violations)


def test_case_insensitive_without_changing_offsets():
    # "İ" lowercases to two characters; matching must not shift the offsets after it.
    text = "İstanbul tours, CLINICALLY PROVEN relaxation"
    assert ("medical_claim", "CLINICALLY PROVEN") in hits(text, "en")


def test_char_mask_matches_spans():
    text = "三天根治，保本理财"
    mask = violation_char_mask(text, "zh")
    assert len(mask) == len(text)
    assert "".join(c for c, m in zip(text, mask) if m) == "根治保本"
    assert violation_char_mask("", "en") == []
    assert not any(violation_char_mask("Lisbon Flights From $59", "en"))


def test_empty_text_is_ok():
    assert check("", "zh").ok and check("", "en").violations == ()


@pytest.mark.parametrize("lang", ["fr", "EN", "zh-CN", ""])
def test_invalid_lang_raises(lang):
    with pytest.raises(ValueError):
        check("hello", lang)
