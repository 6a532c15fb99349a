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
            "{product}怎么选", "{product}有什么讲究", "{product}靠谱吗", "{product}一般多少钱", "{product}注意事项", "{product}有必要吗",
            "{brand}靠谱吗", "{brand}是正规的吗", "{product}避坑指南", "{year}年{product}攻略", "{product}怎么样",
            "{product}价格一般多少", "{product}常见问题",
        ),
        ("{city}{product}一般多少钱", "{city}哪里有{product}", "{city}{product}哪里实惠"),
    ),
    "comm": (
        (
            "{product}哪家好", "{product}推荐", "{product}排行榜", "{brand}怎么样", "{brand}口碑", "{brand}和{rival}哪个好",
            "{brand}评价", "口碑好的{product}", "{year}{product}推荐", "性价比高的{product}", "{brand}好不好", "{product}选哪家",
        ),
        (
            "{city}{product}哪家好", "{city}{product}推荐", "{city}靠谱的{product}", "{city}最好的{product}", "附近的{product}",
            "{city}{product}排名", "{city}{product}哪里好", "附近{product}哪家好", "{city}{product}口碑",
        ),
    ),
    "trans": (
        (
            "{product}价格", "{product}多少钱", "{product}优惠", "便宜的{product}", "{brand}优惠券", "{brand}价格表",
            "{month}{product}优惠", "{product}特价", "{product}折扣", "{product}活动", "{brand}{product}价格",
        ),
        (
            "{city}{product}价格", "{city}{product}多少钱", "{city}便宜的{product}", "{month}{city}{product}", "附近{product}价格",
            "{city}{product}优惠活动",
        ),
    ),
    "nav": (
        ("{brand}", "{brand}官网", "{brand}电话", "{brand}客服", "{brand}{product}", "{brand}app", "{brand}官方"),
        ("{brand}{city}", "{brand}{city}店", "{brand}地址", "{city}{brand}门店", "{brand}附近门店"),
    ),
}

KIND_QUERIES = {
    "goods": {
        "info": ("{product}怎么挑", "{product}测评", "{product}哪款好"),
        "comm": ("{product}哪个牌子好", "十大{product}品牌", "{product}品牌排行", "{product}哪款性价比高"),
        "trans": ("{product}包邮", "{product}正品", "{product}旗舰店", "买{product}", "{product}优惠券"),
    },
    "service": {
        "info": ("{product}需要多长时间", "{product}优缺点", "{product}流程"),
        "comm": ("{product}哪家专业", "正规的{product}", "{product}机构推荐"),
        "trans": ("{product}收费标准", "{product}预约", "{product}报价"),
    },
}

BID_NAV = ("{brand}", "{brand}{product}")
BID_CORE = ("{product}",)
BID_CORE_LOCAL = ("{city}{product}",)

# --- facts every vertical can use ---------------------------------------------------------------------
SLOTS = {
    "b_rating": ("float", 4.5, 4.9, 1),
    "b_reviews": ("int", 300, 48000, 100),
    "b_years": ("int", 5, 30, 1),
}

FACTS = (
    {
        "selling_point": ("评分{b_rating}分，{b_reviews}条评价", "{b_reviews}条真实评价"),
        "page_clause": ("{brand}累计{b_reviews}条用户评价，综合评分{b_rating}分", "用户给{brand}打出{b_rating}分，共{b_reviews}条评价"),
    },
    {
        "selling_point": ("{b_years}年老品牌", "深耕行业{b_years}年"),
        "page_clause": ("{brand}已在行业深耕{b_years}年", "{brand}成立至今已有{b_years}年"),
    },
    {
        "selling_point": ("{item}{price}元{price_unit}起", "{item}低至{price}元{price_unit}"),
        "page_clause": ("{item}{price_unit_page}{price}元起", "{brand}的{item}价格{price_unit_page}{price}元起"),
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
