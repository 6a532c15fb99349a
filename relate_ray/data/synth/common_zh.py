"""Chinese content shared by every vertical: cities, generic query templates, brand-wide facts,
reference-ad templates and the writing conventions the generator needs for Chinese.

Same fields as `common_en`. Chinese queries are written the way people type them (no spaces, city
glued to the product: "北京雅思培训哪家好"); numbers are Arabic digits without thousands separators.
"""

from __future__ import annotations

# --- writing conventions (read by the generator) ---------------------------------------------------
CASED = False
THOUSANDS = False
CLAUSE_JOINS = ("，",)
SENTENCE_END = "。"
SENTENCE_SEP = ""
TYPO_RATE = 0.0
CITY_SPACE_RATE = 0.15  # "北京 雅思培训": some users do put a space after the city
BRAND_REF_SHARE = 0.35  # "我们" reads repetitive when overused
BRAND_REF = "我们"  # how a page refers back to its own brand
NEAR_WORDS = ("附近",)  # query templates with these need a local business
TITLE_LEN = (10, 25)
DESCRIPTION_LEN = (25, 70)

CITIES = (
    "北京", "上海", "广州", "深圳", "杭州", "成都", "武汉", "南京", "西安", "重庆", "天津", "苏州",
    "长沙", "郑州", "青岛", "厦门", "宁波", "合肥", "济南", "昆明", "大连", "沈阳", "福州", "无锡",
    "东莞", "佛山", "南昌", "贵阳",
)
MONTHS = ("五一", "国庆", "暑假", "寒假", "春节", "周末", "双十一", "元旦", "年底", "下个月", "端午")
YEARS = ("2024", "2025")

# --- queries -----------------------------------------------------------------------------------------
QUERIES = {
    "info": (
        (
            "{t}怎么选", "{t}有什么讲究", "{t}靠谱吗", "{t}一般多少钱", "{t}注意事项", "{t}有必要吗",
            "{brand}靠谱吗", "{brand}是正规的吗", "{t}避坑指南", "{year}年{t}攻略", "{t}怎么样",
            "{t}价格一般多少", "{t}常见问题",
        ),
        ("{city}{t}一般多少钱", "{city}哪里有{t}", "{city}{t}哪里实惠"),
    ),
    "comm": (
        (
            "{t}哪家好", "{t}推荐", "{t}排行榜", "{brand}怎么样", "{brand}口碑", "{brand}和{rival}哪个好",
            "{brand}评价", "口碑好的{t}", "{year}{t}推荐", "性价比高的{t}", "{brand}好不好", "{t}选哪家",
        ),
        (
            "{city}{t}哪家好", "{city}{t}推荐", "{city}靠谱的{t}", "{city}最好的{t}", "附近的{t}",
            "{city}{t}排名", "{city}{t}哪里好", "附近{t}哪家好", "{city}{t}口碑",
        ),
    ),
    "trans": (
        (
            "{t}价格", "{t}多少钱", "{t}优惠", "便宜的{t}", "{brand}优惠券", "{brand}价格表",
            "{month}{t}优惠", "{t}特价", "{t}折扣", "{t}活动", "{brand}{t}价格",
        ),
        (
            "{city}{t}价格", "{city}{t}多少钱", "{city}便宜的{t}", "{month}{city}{t}", "附近{t}价格",
            "{city}{t}优惠活动",
        ),
    ),
    "nav": (
        ("{brand}", "{brand}官网", "{brand}电话", "{brand}客服", "{brand}{t}", "{brand}app", "{brand}官方"),
        ("{brand}{city}", "{brand}{city}店", "{brand}地址", "{city}{brand}门店", "{brand}附近门店"),
    ),
}

KIND_QUERIES = {
    "goods": {
        "info": ("{t}怎么挑", "{t}测评", "{t}哪款好"),
        "comm": ("{t}哪个牌子好", "十大{t}品牌", "{t}品牌排行", "{t}哪款性价比高"),
        "trans": ("{t}包邮", "{t}正品", "{t}旗舰店", "买{t}", "{t}优惠券"),
    },
    "service": {
        "info": ("{t}需要多长时间", "{t}优缺点", "{t}流程"),
        "comm": ("{t}哪家专业", "正规的{t}", "{t}机构推荐"),
        "trans": ("{t}收费标准", "{t}预约", "{t}报价"),
    },
}

BID_NAV = ("{brand}", "{brand}{t}")
BID_CORE = ("{t}",)
BID_CORE_LOCAL = ("{city}{t}",)

# --- facts every vertical can use ---------------------------------------------------------------------
SLOTS = {
    "b_rating": ("float", 4.5, 4.9, 1),
    "b_reviews": ("int", 300, 48000, 100),
    "b_years": ("int", 5, 30, 1),
}

FACTS = (
    {
        "sp": ("评分{b_rating}分，{b_reviews}条评价", "{b_reviews}条真实评价"),
        "lp": ("{brand}累计{b_reviews}条用户评价，综合评分{b_rating}分", "用户给{brand}打出{b_rating}分，共{b_reviews}条评价"),
    },
    {
        "sp": ("{b_years}年老品牌", "深耕行业{b_years}年"),
        "lp": ("{brand}已在行业深耕{b_years}年", "{brand}成立至今已有{b_years}年"),
    },
    {
        "sp": ("{item}{price}元{per}起", "{item}低至{price}元{per}"),
        "lp": ("{item}{per_lp}{price}元起", "{brand}的{item}价格{per_lp}{price}元起"),
    },
)

# --- reference ads ---------------------------------------------------------------------------------
TITLES = (
    "{brand}-{city}{name}", "{city}{name}，选{brand}", "{brand}{name}，{sps}", "{sps}|{brand}",
    "【{brand}】{city}{name}", "{brand}官方{name}，{cta}", "{name}就选{brand}", "{brand}：{sps}",
)
DESCRIPTIONS = (
    "{sp0}，{sp1}，{sp2}。{cta}！", "{brand}：{sp0}，{sp1}，{cta}。", "{sp0}，{sp1}。{brand}{name}，{cta}。",
    "{city}{name}选{brand}：{sp0}，{sp1}，{sp2}。", "{sp0}；{sp1}；{sp2}。{cta}。", "{brand}{name}，{sp0}，{sp1}！",
)
