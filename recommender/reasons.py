"""One short line per bundle, in English and Chinese, saying why to buy it.

In: the bundle's catalog rows (anchor first; ``name``, ``name_zh``,
``department``, ``need``, ``season`` and optional ``style``/``occasion`` tags,
and ``<tag>_zh`` translations), the saving and regular price from
:mod:`recommender.pricing`, and for the evidence line the rule's counts.
Out: plain strings from fixed templates -- deterministic, no network calls.

Reason types (first that applies):

1. ``complete_the_look``: the anchor is apparel ("Complete the business look: ...");
   the look is a ``style``/``occasion`` tag, else the items' shared need tag.
2. ``seasonal_kit``: a ``season`` is given for the campaign, or two items share
   a season tag and none has another season (all-year tags do not count)
   ("Summer family medicine kit: ...").
3. ``need_kit``: a pharmacy or cosmetics anchor and a need tag (the one most
   items share) ("Everything for cold relief: ...").
4. ``matching_set``: the items' names share a run of words (a design, a
   collection: "LUNCH BAG RED RETROSPOT" and "RED RETROSPOT PICNIC BAG"), found
   by :func:`recommender.variants.shared_theme` -- what a till export's names
   say about the set when no catalog tags do ("Red Retrospot collection: ...").
   Given the file's vocabulary (:class:`recommender.variants.Vocabulary`), a
   shared product noun ("NIGHT LIGHT", "HOT WATER BOTTLE") is not a theme: the
   plain reason is used instead.
5. ``value_pack``: anything else (grocery and the rest).

A tag cell may hold several tags separated by ``;`` ("cold relief;family first aid").

The saving follows the rule of 100: a percent when the regular price is under
100 ("save 15%" / "立省15%"), an amount from 100 up ("save £30" / "立省30英镑",
"立省30元" for CNY). Amounts follow the shop's currency, an ISO 4217 code (see
:mod:`recommender.money`); with none known they carry no symbol ("save 30").
Percents are rounded down, so a line never overstates the saving.
"""

from __future__ import annotations

import math

from recommender.money import currency_symbol, currency_unit_zh
from recommender.policy import DEFAULT_ALIASES, department_key

REASON_TYPES = ("complete_the_look", "need_kit", "seasonal_kit", "matching_set", "value_pack")

_APPAREL = {"apparel", "clothing", "fashion", "menswear", "womenswear", "footwear", "shoes", "服装", "服饰",
            "男装", "女装", "鞋"}
_CARE = {"pharmacy", "cosmetics", "cosmetic", "beauty", "personal care", "skincare", "health", "medicine",
         "otc", "drugstore", "美妆", "化妆品", "个护", "药品", "药房", "医药"}
_ALL_YEAR = {"all", "all year", "all-year", "year-round", "any", "全年", "四季"}
_STYLE_TAGS = ("style", "occasion", "look")
#: English wording of a look from an apparel need tag ("Complete the office look").
_LOOK_EN = {"office wear": "office", "casual wear": "casual", "keep warm": "warm winter", "basics": "everyday"}
_TAG_SEPARATORS = (";", "；", "|")

#: Built-in Chinese for common tags; a catalog's ``<tag>_zh`` column wins.
ZH = {
    # styles
    "business": "商务正装", "office wear": "商务正装", "office": "商务正装", "casual wear": "休闲",
    "keep warm": "保暖", "basics": "日常基础", "formal": "正装", "casual": "休闲", "sport": "运动", "sports": "运动",
    "outdoor": "户外", "wedding": "婚礼", "party": "派对", "office": "通勤",
    # needs
    "cold relief": "感冒护理", "cold": "感冒护理", "flu": "感冒护理", "allergy": "过敏护理", "allergy relief": "过敏护理",
    "first aid": "急救", "family first aid": "家庭常备", "bone health": "骨骼健康", "daily health": "日常保健", "pain relief": "止痛", "digestion": "肠胃护理", "sleep": "睡眠", "sun protection": "防晒",
    "skincare": "护肤", "hydration": "补水保湿", "baby care": "婴儿护理", "travel": "旅行", "oral care": "口腔护理",
    "breakfast": "早餐", "baking": "烘焙", "barbecue": "烧烤", "hot pot": "火锅",
    # seasons
    "summer": "夏季", "winter": "冬季", "spring": "春季", "autumn": "秋季", "fall": "秋季",
    "christmas": "圣诞", "new year": "新年", "spring festival": "春节", "back to school": "开学",
    # gifts
    "medicine bag": "药品收纳袋", "tote bag": "环保袋", "gift bag": "礼品袋",
}


def _text(value) -> str | None:
    if value is None:
        return None
    try:
        if value != value:  # NaN
            return None
    except TypeError:  # pd.NA
        return None
    s = str(value).strip()
    return s or None


def _rows(items) -> list:
    if hasattr(items, "to_dict") and hasattr(items, "columns"):
        return items.to_dict("records")
    return [dict(r) for r in items]


def _kind(department) -> str:
    key = department_key(department)
    mapped = DEFAULT_ALIASES.get(key, key)
    if key in _APPAREL or mapped == "apparel":
        return "apparel"
    if key in _CARE or mapped == "pharmacy":
        return "care"
    return "other"


def _tags(value) -> list:
    text = _text(value)
    if text is None:
        return []
    for sep in _TAG_SEPARATORS[1:]:
        text = text.replace(sep, _TAG_SEPARATORS[0])
    return [t.strip() for t in text.split(_TAG_SEPARATORS[0]) if t.strip()]


def _shared(rows, tag):
    """The most common tag in column ``tag`` and on how many items (the earlier tag wins a tie)."""
    counts: dict = {}
    first: dict = {}
    for r in rows:
        for v in dict.fromkeys(t.lower() for t in _tags(r.get(tag))):
            counts[v] = counts.get(v, 0) + 1
        for t in _tags(r.get(tag)):
            first.setdefault(t.lower(), t)
    if not counts:
        return None, 0
    best = max(counts, key=lambda v: counts[v])  # max keeps the first of equal counts
    return first[best], counts[best]


def _season_tag(rows):
    """A season two items share while no item has another one (all-year tags do not count)."""
    seasons = {}
    for r in rows:
        for t in _tags(r.get("season")):
            if t.lower() not in _ALL_YEAR:
                seasons.setdefault(t.lower(), []).append(t)
    if len(seasons) != 1:
        return None
    (found,) = seasons.values()
    return found[0] if len(found) >= 2 else None


def reason_type(items, season=None, vocabulary=None) -> str:
    """Which kind of reason fits the bundle (see the module docstring for the order).

    Parameters
    ----------
    items : list of dict or DataFrame
        Catalog rows of the bundle's items, anchor first.
    season : str, optional
        The campaign's season, e.g. "summer".
    vocabulary : recommender.variants.Vocabulary, optional
        The file's names and prices: a shared product noun is no theme.

    Examples
    --------
    >>> reason_type([{"department": "Apparel"}, {"department": "Apparel"}])
    'complete_the_look'
    >>> reason_type([{"department": "pharmacy", "need": "cold relief"}, {"department": "pharmacy"}])
    'need_kit'
    >>> reason_type([{"department": "pharmacy"}, {"department": "pharmacy"}], season="summer")
    'seasonal_kit'
    >>> reason_type([{"department": "grocery"}, {"department": "grocery"}])
    'value_pack'
    >>> reason_type([{"name": "LUNCH BAG RED RETROSPOT"}, {"name": "RED RETROSPOT PICNIC BAG"}])
    'matching_set'
    """
    rows = _rows(items)
    if not rows:
        raise ValueError("a bundle has items")
    anchor_kind = _kind(rows[0].get("department"))
    if anchor_kind == "apparel":
        return "complete_the_look"
    if _text(season) or _season_tag(rows):
        return "seasonal_kit"
    if anchor_kind == "care" and _shared(rows, "need")[0] is not None:
        return "need_kit"
    if _theme(rows, vocabulary) is not None:
        return "matching_set"
    return "value_pack"


def _theme(rows, vocabulary=None):
    from recommender.variants import shared_theme

    names = [_text(r.get("name")) or _text(r.get("name_zh")) for r in rows]
    return None if any(n is None for n in names) else shared_theme(names, vocabulary)


def _zh(value: str, rows=(), tag=None) -> str:
    if tag:  # a catalog translation of the same cell wins
        for r in rows:
            tags, zh = _tags(r.get(tag)), _tags(r.get(f"{tag}_zh"))
            low = [t.lower() for t in tags]
            if value.lower() in low and len(zh) == len(tags):
                return zh[low.index(value.lower())]
    return ZH.get(value.lower(), value)


def _amount(cents: int) -> str:
    return f"{cents // 100}" if cents % 100 == 0 else f"{cents / 100:.2f}"


def _cents(x) -> int:
    return int(math.floor(float(x) * 100 + 0.5 + 1e-7))


def saving_text(saving, regular_price, lang="en", currency=None) -> str:
    """The saving by the rule of 100: a percent under 100, an amount from 100 up.

    Percents are rounded down (never overstated); a saving under 1% is shown as
    an amount. ``currency`` is an ISO 4217 code (None: no symbol).

    >>> saving_text(12, 80), saving_text(12, 80, "zh")
    ('save 15%', '立省15%')
    >>> saving_text(30, 200, "en", "CNY"), saving_text(30, 200, "zh", "CNY"), saving_text(2.5, 120, "en", "GBP")
    ('save CN¥30', '立省30元', 'save £2.50')
    >>> saving_text(19.99, 100.0, "zh", "GBP"), saving_text(19.99, 100.0)
    ('立省19.99英镑', 'save 19.99')
    """
    _check_lang(lang)
    s_c, p_c = _cents(saving), _cents(regular_price)
    if s_c <= 0 or p_c <= 0:
        raise ValueError("saving and regular price must be positive")
    pct = s_c * 100 // p_c
    if p_c < 100_00 and pct >= 1:
        return f"save {pct}%" if lang == "en" else f"立省{pct}%"
    if lang == "en":
        return f"save {currency_symbol(currency, 'en')}{_amount(s_c)}"
    return f"立省{_amount(s_c)}{currency_unit_zh(currency)}"


def _check_lang(lang):
    if lang not in ("en", "zh"):
        raise ValueError(f"lang must be 'en' or 'zh', not {lang!r}")


def _name(row, lang) -> str:
    if lang == "zh":
        return _text(row.get("name_zh")) or _text(row.get("name")) or str(row.get("sku"))
    return _text(row.get("name")) or str(row.get("sku"))


def reason_line(items, saving=0.0, regular_price=None, lang="en", *, season=None, gift=None, currency=None,
                kind=None, vocabulary=None) -> str:
    """One line saying why to buy the bundle.

    Parameters
    ----------
    items : list of dict or DataFrame
        Catalog rows, anchor first.
    saving, regular_price : float
        From the price decision; the saving part is left out when ``saving`` is 0.
    lang : {"en", "zh"}
    season : str, optional
        The campaign's season (makes a seasonal kit).
    gift : dict, optional
        Catalog row of a free gift (``name``, ``name_zh``): the line offers the
        gift instead of a saving.
    currency : str, optional
        ISO 4217 code of the amounts (None: no symbol).
    kind : str, optional
        Force a reason type instead of :func:`reason_type`.
    vocabulary : recommender.variants.Vocabulary, optional
        The file's names and prices: a shared product noun is not a theme
        (:func:`recommender.variants.shared_theme`).

    Examples
    --------
    >>> look = [{"name": "shirt", "name_zh": "衬衫", "department": "apparel", "style": "business"},
    ...         {"name": "tie", "name_zh": "领带", "department": "apparel"}]
    >>> reason_line(look, 12, 80)
    'Complete the business look: shirt + tie, save 15%'
    >>> reason_line(look, 12, 80, "zh")
    '商务正装一套搭齐：衬衫+领带，立省15%'
    >>> kit = [{"name": "cold tablets", "name_zh": "感冒片", "department": "pharmacy", "need": "cold relief"},
    ...        {"name": "tissues", "name_zh": "纸巾", "department": "pharmacy"}]
    >>> reason_line(kit, gift={"name": "medicine bag"}, lang="zh")
    '感冒护理一站配齐：感冒片+纸巾，送药品收纳袋'
    """
    _check_lang(lang)
    rows = _rows(items)
    kind = kind or reason_type(rows, season=season, vocabulary=vocabulary)
    if kind not in REASON_TYPES:
        raise ValueError(f"kind must be one of {', '.join(REASON_TYPES)}, not {kind!r}")
    sep = " + " if lang == "en" else "+"
    names = sep.join(_name(r, lang) for r in rows)
    head = _head(kind, rows, lang, season, vocabulary)
    offer = None
    if gift is not None:
        g = dict(gift)
        if lang == "en":
            offer = f"free {_name(g, 'en')}"
        else:
            offer = "送" + (_text(g.get("name_zh")) or _zh(_name(g, "en")))
    elif saving and _cents(saving) > 0:
        if regular_price is None:
            raise ValueError("a saving needs the regular price (rule of 100)")
        offer = saving_text(saving, regular_price, lang, currency)
    if lang == "en":
        return f"{head}: {names}" + (f", {offer}" if offer else "")
    return f"{head}：{names}" + (f"，{offer}" if offer else "")


def _head(kind, rows, lang, season, vocabulary=None) -> str:
    if kind == "complete_the_look":
        style, tag = next(((v[0], t) for t in _STYLE_TAGS for r in rows if (v := _tags(r.get(t)))), (None, None))
        if style is None:  # apparel catalogs often put the occasion in the need tag
            style, tag = _shared(rows, "need")[0], "need"
        if lang == "en":
            return f"Complete the {_LOOK_EN.get(style.lower(), style)} look" if style else "Complete the look"
        return f"{_zh(style, rows, tag)}一套搭齐" if style else "一套搭齐"
    if kind == "need_kit":
        need = _shared(rows, "need")[0]
        if need is None:
            return "Everything you need" if lang == "en" else "一站配齐"
        return f"Everything for {need}" if lang == "en" else f"{_zh(need, rows, 'need')}一站配齐"
    if kind == "seasonal_kit":
        s = _text(season) or _season_tag(rows)
        care = _kind(rows[0].get("department")) == "care"
        if lang == "en":
            label = f"{s[:1].upper()}{s[1:]} " if s else "Seasonal "
            return label + ("family medicine kit" if care else "kit")
        label = _zh(s, rows, "season") if s else "应季"
        return label + ("家庭常备药箱" if care else "应季套装")
    if kind == "matching_set":
        theme = _theme(rows, vocabulary)
        if theme is not None:
            words = theme if any("\u4e00" <= ch <= "\u9fff" for ch in theme) else theme.title()
            return f"{words} collection" if lang == "en" else f"{words}系列组合"
    return "Value pack" if lang == "en" else "超值组合"


def evidence_percent(count: int, antecedent_count: int) -> int:
    """Confidence as a whole percent, rounded down so it never overstates.

    >>> evidence_percent(62, 100), evidence_percent(2, 3)
    (62, 66)
    """
    count, antecedent_count = int(count), int(antecedent_count)
    if antecedent_count <= 0 or not (0 <= count <= antecedent_count):
        raise ValueError(f"need 0 <= count <= antecedent_count and antecedent_count > 0, got {count}, "
                         f"{antecedent_count}")
    return count * 100 // antecedent_count


def evidence_line(antecedent, consequent, count: int, antecedent_count: int, lang="en") -> str:
    """A line true to the data: the share of receipts with the anchor that also hold the add-on(s).

    It counts receipts (tickets), not customers: one customer may leave many receipts, and a till export
    rarely knows who bought, so the line says "receipts" ("小票").

    Parameters
    ----------
    antecedent, consequent : str or sequence of str
        Names (in ``lang``) of the items bought, and of those also bought.
    count, antecedent_count : int
        Receipts with both, and receipts with the antecedent.

    Examples
    --------
    >>> evidence_line("shirt", "tie", 62, 100)
    '62% of receipts with shirt also have tie'
    >>> evidence_line("衬衫", "领带", 623, 1000, "zh")
    '含衬衫的小票中62%也有领带'
    >>> evidence_line("a", ["b", "c"], 1, 1000)
    'under 1% of receipts with a also have b + c'
    """
    _check_lang(lang)
    pct = evidence_percent(count, antecedent_count)
    sep = " + " if lang == "en" else "+"
    a = antecedent if isinstance(antecedent, str) else sep.join(antecedent)
    c = consequent if isinstance(consequent, str) else sep.join(consequent)
    if lang == "en":
        share = f"{pct}%" if pct >= 1 else "under 1%"
        return f"{share} of receipts with {a} also have {c}"
    share = f"{pct}%" if pct >= 1 else "不到1%"
    return f"含{a}的小票中{share}也有{c}"


def reasons_for(items, decision=None, *, season=None, gift=None, currency=None, vocabulary=None) -> dict:
    """Both reason lines for a priced bundle: ``{"reason_type", "reason_en", "reason_zh"}``.

    ``decision`` is a :class:`~recommender.pricing.PriceDecision` (or anything
    with ``saving``, ``regular_price`` and ``discount_type``); a gift decision
    phrases the gift, so pass its catalog row as ``gift``.

    >>> rows = [{"name": "tea", "department": "grocery"}, {"name": "cups", "department": "grocery"}]
    >>> reasons_for(rows)["reason_zh"]
    '超值组合：tea+cups'
    """
    rows = _rows(items)
    kind = reason_type(rows, season=season, vocabulary=vocabulary)
    saving = getattr(decision, "saving", 0.0) if decision is not None else 0.0
    regular = getattr(decision, "regular_price", None) if decision is not None else None
    is_gift = decision is not None and getattr(decision, "discount_type", None) == "gift"
    if is_gift and gift is None:
        gift = {"name": decision.discounted_sku}
    out = {"reason_type": kind}
    if decision is not None and getattr(decision, "discount_type", None) == "mix_match":
        out.update(_mix_match_lines(rows, decision, currency, vocabulary))
        return out
    if decision is not None and getattr(decision, "discount_type", None) == "till_addon":
        out.update(_till_lines(rows, decision, currency))
        return out
    for lang in ("en", "zh"):
        out[f"reason_{lang}"] = reason_line(rows, 0.0 if is_gift else saving, regular, lang, season=season,
                                            gift=gift if is_gift else None, currency=currency, kind=kind,
                                            vocabulary=vocabulary)
    return out


def _mix_match_lines(rows, decision, currency, vocabulary=None) -> dict:
    """A mix & match offer: any two of the family (its shared product phrase) for the bundle price.

    >>> from types import SimpleNamespace
    >>> d = SimpleNamespace(discount_type="mix_match", saving=0.30, regular_price=3.30, bundle_price=3.0)
    >>> rows = [{"name": "LUNCH BAG RED", "name_zh": "午餐包 红"}, {"name": "LUNCH BAG SUKI", "name_zh": "午餐包 素"}]
    >>> _mix_match_lines(rows, d, "GBP")
    {'reason_en': 'Mix & match: any 2 LUNCH BAG for £3.00, save 9%', 'reason_zh': '午餐包任选2件£3.00，立省9%'}
    """
    from recommender.money import format_money
    from recommender.variants import family_name

    out = {}
    for lang in ("en", "zh"):
        family = family_name([_name(r, lang) for r in rows], vocabulary)
        price = format_money(decision.bundle_price, currency, lang)
        save = (saving_text(decision.saving, decision.regular_price, lang, currency)
                if _cents(decision.saving) > 0 else "")
        if lang == "en":
            out["reason_en"] = f"Mix & match: any 2 {family} for {price}" + (f", {save}" if save else "")
        else:
            out["reason_zh"] = f"{family}任选2件{price}" + (f"，{save}" if save else "")
    return out


def _till_lines(rows, decision, currency) -> dict:
    """What the till says to a basket holding the anchor without the add-on: the saving on the add-on itself.

    >>> from types import SimpleNamespace
    >>> d = SimpleNamespace(discount_type="till_addon", saving=3.0, discounted_sku="t",
    ...                     components=({"sku": "s", "regular_amount": 40.0}, {"sku": "t", "regular_amount": 20.0}))
    >>> rows = [{"sku": "s", "name": "shirt", "name_zh": "衬衫"}, {"sku": "t", "name": "tie", "name_zh": "领带"}]
    >>> _till_lines(rows, d, "GBP")
    {'reason_en': 'At the till: add tie to your shirt, save 15% on it', 'reason_zh': '结账加购：买衬衫加购领带，立省15%'}
    """
    addon = next((r for r in rows if str(r.get("sku")) == str(decision.discounted_sku)), rows[-1])
    others = [r for r in rows if r is not addon]
    line = next((c for c in decision.components if str(c["sku"]) == str(decision.discounted_sku)), None)
    base = float(line["regular_amount"]) if line else float(decision.saving)
    out = {}
    for lang in ("en", "zh"):
        have = (" + " if lang == "en" else "+").join(_name(r, lang) for r in others)
        save = saving_text(decision.saving, base, lang, currency) if _cents(decision.saving) > 0 else ""
        if lang == "en":
            out["reason_en"] = f"At the till: add {_name(addon, 'en')} to your {have}" + (f", {save} on it" if save
                                                                                          else "")
        else:
            out["reason_zh"] = f"结账加购：买{have}加购{_name(addon, 'zh')}" + (f"，{save}" if save else "")
    return out
