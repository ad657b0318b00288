"""Reason lines: the right type from catalog attributes, the rule of 100, honest evidence."""

from __future__ import annotations

import re

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from recommender.pricing import price_bundle
from recommender.reasons import (evidence_line, evidence_percent, reason_line, reason_type, reasons_for,
                                 saving_text)

SHIRT = {"sku": "1", "name": "shirt", "name_zh": "衬衫", "department": "Apparel", "style": "business"}
TIE = {"sku": "2", "name": "tie", "name_zh": "领带", "department": "Apparel"}
COLD = {"sku": "3", "name": "cold tablets", "name_zh": "感冒片", "department": "Pharmacy", "need": "cold relief"}
TISSUE = {"sku": "4", "name": "tissues", "name_zh": "纸巾", "department": "Pharmacy", "need": "cold relief"}
SUNSCREEN = {"sku": "5", "name": "sunscreen", "name_zh": "防晒霜", "department": "cosmetics", "season": "summer"}
AFTERSUN = {"sku": "6", "name": "after-sun gel", "name_zh": "晒后修复凝胶", "department": "cosmetics",
            "season": "summer"}
TEA = {"sku": "7", "name": "green tea", "name_zh": "绿茶", "department": "grocery"}
CUPS = {"sku": "8", "name": "paper cups", "name_zh": "纸杯", "department": "grocery"}


def test_each_reason_type_from_its_catalog_attributes():
    assert reason_type([SHIRT, TIE]) == "complete_the_look"
    assert reason_type([{**SHIRT, "department": "服装"}, TIE]) == "complete_the_look"
    assert reason_type([COLD, TISSUE]) == "need_kit"
    assert reason_type([COLD, {**TISSUE, "need": None}]) == "need_kit"  # a pharmacy anchor with a need
    assert reason_type([SUNSCREEN, AFTERSUN]) == "seasonal_kit"  # shared season tag
    assert reason_type([COLD, TISSUE], season="winter") == "seasonal_kit"  # the campaign's season
    assert reason_type([TEA, CUPS]) == "value_pack"
    assert reason_type([{**TEA, "need": "breakfast"}, {**CUPS, "need": "breakfast"}]) == "value_pack"  # grocery
    assert reason_type([{**COLD, "need": None}, {**TISSUE, "need": None}]) == "value_pack"  # no need tag
    # attributes that do not agree do not make a kit
    assert reason_type([TEA, {**CUPS, "need": "breakfast"}]) == "value_pack"
    assert reason_type([{**SUNSCREEN, "season": "all year"}, {**AFTERSUN, "season": "all year"}]) == "value_pack"
    assert reason_type([{**SUNSCREEN, "season": "summer"}, {**AFTERSUN, "season": "winter"}]) == "value_pack"


def test_reason_lines_in_both_languages():
    assert reason_line([SHIRT, TIE], 12, 80) == "Complete the business look: shirt + tie, save 15%"
    assert reason_line([SHIRT, TIE], 12, 80, "zh") == "商务正装一套搭齐：衬衫+领带，立省15%"
    assert reason_line([COLD, TISSUE], 3, 30).startswith("Everything for cold relief: cold tablets + tissues")
    assert reason_line([COLD, TISSUE], 3, 30, "zh").startswith("感冒护理一站配齐：感冒片+纸巾")
    assert reason_line([COLD, TISSUE], 3, 30, season="summer").startswith("Summer family medicine kit: ")
    assert reason_line([COLD, TISSUE], 3, 30, "zh", season="summer").startswith("夏季家庭常备药箱：")
    assert reason_line([TEA, CUPS], 1, 10) == "Value pack: green tea + paper cups, save 10%"
    assert reason_line([TEA, CUPS], 1, 10, "zh") == "超值组合：绿茶+纸杯，立省10%"


def test_gift_phrasing():
    bag = {"name": "medicine bag"}
    assert reason_line([COLD, TISSUE], gift=bag).endswith(", free medicine bag")
    assert reason_line([COLD, TISSUE], gift=bag, lang="zh").endswith("，送药品收纳袋")
    assert reason_line([COLD, TISSUE], gift={"name": "pouch", "name_zh": "小药包"}, lang="zh").endswith("送小药包")


def test_multi_valued_tags_and_all_year_seasons():
    remedy = {"name": "cold remedy", "name_zh": "感冒药", "department": "pharmacy",
              "need": "cold relief;family first aid", "season": "all"}
    stomach = {"name": "stomach remedy", "name_zh": "胃药", "department": "pharmacy", "need": "family first aid",
               "season": "summer"}
    dewormer = {**stomach, "name": "dewormer", "name_zh": "驱虫药"}
    vitamin_c = {"name": "vitamin C", "name_zh": "维生素C", "department": "pharmacy", "need": "cold relief",
                 "season": "all"}
    assert reason_line([remedy, vitamin_c], 3, 50) == "Everything for cold relief: cold remedy + vitamin C, save 6%"
    assert reason_line([stomach, remedy, dewormer], 3, 50, "zh").startswith("夏季家庭常备药箱：胃药+感冒药+驱虫药")
    shirt = {**SHIRT, "style": None, "need": "office wear"}
    tie = {**TIE, "need": "office wear"}
    assert reason_line([shirt, tie], 12, 80).startswith("Complete the office look: shirt + tie")
    assert reason_line([shirt, tie], 12, 80, "zh").startswith("商务正装一套搭齐：")


def test_a_catalog_translation_column_wins():
    rows = [{**SHIRT, "style": "smart", "style_zh": "商务休闲"}, TIE]
    assert reason_line(rows, 12, 80, "zh").startswith("商务休闲一套搭齐")


def test_rule_of_100_both_sides():
    assert saving_text(15, 99.99) == "save 15%"  # under 100: percent
    assert saving_text(15, 99.99, "zh") == "立省15%"
    assert saving_text(15, 100, currency="CNY") == "save CN¥15"  # from 100: amount
    assert saving_text(30, 300, "zh", "CNY") == "立省30元"
    assert saving_text(30, 300, "zh", "GBP") == "立省30英镑"  # Chinese copy follows the currency
    assert saving_text(12.5, 250, currency="GBP") == "save £12.50"
    assert saving_text(0.5, 80, currency="GBP") == "save £0.50"  # under 1%: the amount says more
    assert saving_text(15, 100) == "save 15" and saving_text(15, 100, "zh") == "立省15"  # no currency: no symbol


@given(st.integers(1, 9_999), st.integers(1, 9_999))
def test_percent_saving_never_overstates(saving_c, price_c):
    if saving_c >= price_c:
        return
    text = saving_text(saving_c / 100, price_c / 100)
    m = re.fullmatch(r"save (\d+)%", text)
    if m:
        assert int(m.group(1)) / 100 <= saving_c / price_c
        assert (int(m.group(1)) + 1) / 100 > saving_c / price_c  # and is the floor, not lower


@given(st.integers(1, 10**6), st.data())
def test_evidence_percent_never_overstates(antecedent_count, data):
    count = data.draw(st.integers(0, antecedent_count))
    pct = evidence_percent(count, antecedent_count)
    assert pct * antecedent_count <= count * 100 < (pct + 1) * antecedent_count
    line = evidence_line("X", "Y", count, antecedent_count)
    if pct >= 1:
        assert line == f"{pct}% of receipts with X also have Y"


def test_evidence_lines():
    assert evidence_line("shirt", "tie", 62, 100) == "62% of receipts with shirt also have tie"
    assert evidence_line("shirt", "tie", 629, 1000) == "62% of receipts with shirt also have tie"  # not 63
    assert evidence_line("衬衫", "领带", 62, 100, "zh") == "含衬衫的小票中62%也有领带"
    assert evidence_line("a", "b", 0, 10, "zh") == "含a的小票中不到1%也有b"
    with pytest.raises(ValueError):
        evidence_line("a", "b", 11, 10)


def test_chinese_output_contains_the_chinese_names():
    for rows in ([SHIRT, TIE], [COLD, TISSUE], [SUNSCREEN, AFTERSUN], [TEA, CUPS]):
        zh = reason_line(rows, 5, 50, "zh")
        assert all(r["name_zh"] in zh for r in rows)
        assert not any(r["name"] in zh for r in rows)
    # without a Chinese name the English one stands in
    assert "green tea" in reason_line([{**TEA, "name_zh": None}, CUPS], 5, 50, "zh")


def test_catalog_dataframe_rows_and_missing_values():
    frame = pd.DataFrame([TEA, CUPS]).astype("string")
    frame["need"] = pd.array([pd.NA, pd.NA], dtype="string")
    assert reason_type(frame) == "value_pack"
    assert reason_line(frame, 1, 10) == "Value pack: green tea + paper cups, save 10%"


def test_reasons_for_a_price_decision():
    items = [{"sku": "1", "price": 50, "unit_cost": 20, "department": "apparel"},
             {"sku": "2", "price": 30, "unit_cost": 9, "department": "apparel"}]
    d = price_bundle(items, 500, 20)
    out = reasons_for([SHIRT, TIE], d)
    assert out["reason_type"] == "complete_the_look"
    pct = int(d.saving * 100 // d.regular_price)
    assert out["reason_en"] == f"Complete the business look: shirt + tie, save {pct}%"
    assert out["reason_zh"] == f"商务正装一套搭齐：衬衫+领带，立省{pct}%"
    g = price_bundle(items, 500, 20, gift={"sku": "bag", "price": 5, "unit_cost": 0.5}, discount_type="gift")
    out = reasons_for([SHIRT, TIE], g, gift={"name": "medicine bag"})
    assert out["reason_zh"].endswith("送药品收纳袋")


def test_names_sharing_a_design_make_a_matching_set_in_both_languages():
    bags = [{"name": "LUNCH BAG RED RETROSPOT"}, {"name": "RED RETROSPOT PICNIC BAG"}]
    assert reason_type(bags) == "matching_set"
    assert reason_line(bags, 0.23, 4.6, currency="GBP").startswith("Red Retrospot collection: LUNCH BAG")
    assert reason_line(bags, 0.23, 4.6, "zh", currency="GBP").startswith("Red Retrospot系列组合：")
    cups = [{"name": "不锈钢保温杯"}, {"name": "保温杯杯套"}]
    assert reason_line(cups, 3, 50, "zh", currency="CNY") == "保温杯系列组合：不锈钢保温杯+保温杯杯套，立省6%"
    assert reason_type([TEA, CUPS]) == "value_pack"  # nothing shared: no theme is made up


def test_a_shared_product_noun_is_no_theme_given_the_files_vocabulary():
    from recommender.variants import Vocabulary

    names = ["RABBIT NIGHT LIGHT", "RED TOADSTOOL LED NIGHT LIGHT", "OWL NIGHT LIGHT", "REGENCY CAKESTAND 3 TIER",
             "REGENCY TEAPOT ROSES", "REGENCY MUG", "PARTY BUNTING", "SPOTTY BUNTING", "PAPER BUNTING",
             "JUMBO BAG VINTAGE LEAF", "LUNCH BAG VINTAGE LEAF DESIGN", "JUMBO BAG OWLS", "LUNCH BAG OWLS",
             "JUMBO BAG DOILY", "LUNCH BAG DOILY", "VINTAGE LEAF MUG", "VINTAGE LEAF CAKESTAND",
             "VINTAGE LEAF DOORMAT", "VINTAGE LEAF CHOPPING BOARD", "红色保温杯", "蓝色保温杯", "绿色保温杯", "保温杯杯套"]
    prices = [2.08, 1.65, 1.95, 12.75, 4.95, 1.25, 4.95, 4.95, 4.25, 2.08, 1.65, 2.08, 1.65, 2.08, 1.65, 1.25,
              9.95, 7.95, 5.95, 39.0, 45.0, 42.0, 9.9]
    v = Vocabulary(names, prices)
    lights = [{"name": "RABBIT NIGHT LIGHT"}, {"name": "RED TOADSTOOL LED NIGHT LIGHT"}]
    assert reason_type(lights) == "matching_set"  # without the vocabulary the names alone say "Night Light"
    assert reason_type(lights, vocabulary=v) == "value_pack"
    assert reason_line(lights, 0.18, 3.73, currency="GBP", vocabulary=v) == (
        "Value pack: RABBIT NIGHT LIGHT + RED TOADSTOOL LED NIGHT LIGHT, save 4%")
    bunting = [{"name": "PARTY BUNTING"}, {"name": "SPOTTY BUNTING"}]  # one word, one price: the product
    assert reason_type(bunting) == "matching_set" and reason_type(bunting, vocabulary=v) == "value_pack"
    # a design shared by two products stays a theme, in both languages
    regency = [{"name": "REGENCY CAKESTAND 3 TIER"}, {"name": "REGENCY TEAPOT ROSES"}]
    assert reasons_for(regency, currency="GBP", vocabulary=v) == {
        "reason_type": "matching_set", "reason_en": "Regency collection: REGENCY CAKESTAND 3 TIER + REGENCY TEAPOT ROSES",
        "reason_zh": "Regency系列组合：REGENCY CAKESTAND 3 TIER+REGENCY TEAPOT ROSES"}
    # the bags' own nouns (JUMBO BAG / LUNCH BAG) are not part of the theme
    bags = [{"name": "JUMBO BAG VINTAGE LEAF"}, {"name": "LUNCH BAG VINTAGE LEAF DESIGN"}]
    assert reason_line(bags) == "Bag Vintage Leaf collection: JUMBO BAG VINTAGE LEAF + LUNCH BAG VINTAGE LEAF DESIGN"
    assert reason_line(bags, vocabulary=v) == "Vintage Leaf collection: JUMBO BAG VINTAGE LEAF + LUNCH BAG VINTAGE LEAF DESIGN"
    # Chinese: 保温杯 is the thermos (3 cups at 39-45 and a 9.90 sleeve: middle half 39-42), the product, no theme
    cups = [{"name": "不锈钢保温杯"}, {"name": "保温杯杯套"}]
    assert reason_line(cups, 3, 50, "zh", currency="CNY") == "保温杯系列组合：不锈钢保温杯+保温杯杯套，立省6%"
    assert reason_line(cups, 3, 50, "zh", currency="CNY", vocabulary=v) == "超值组合：不锈钢保温杯+保温杯杯套，立省6%"
    reds = [{"name": "红色保温杯"}, {"name": "蓝色保温杯"}]
    assert reason_type(reds, vocabulary=v) == "value_pack"
