"""Same product in another colour or design, told from names and prices alone (any language)."""

from __future__ import annotations

import pandas as pd
from hypothesis import given
from hypothesis import strategies as st

from recommender.bundles import variant_gate
from recommender.variants import are_variants, name_tokens, shared_theme


def test_colour_and_design_variants_at_one_price():
    assert are_variants("ALARM CLOCK BAKELIKE GREEN", "ALARM CLOCK BAKELIKE ORANGE", 3.75, 3.75)
    assert are_variants("JUMBO BAG RED RETROSPOT", "JUMBO BAG WOODLAND ANIMALS", 2.08, 2.08)
    assert are_variants("60 TEATIME FAIRY CAKE CASES", "PACK OF 72 SKULL CAKE CASES", 0.55, 0.55)
    assert are_variants("红色保温杯", "蓝色保温杯", 39.0, 39.0)
    # matching designs of different products, another price: a cross-sell
    assert not are_variants("LUNCH BAG RED RETROSPOT", "JUMBO BAG RED RETROSPOT", 1.65, 2.08)
    assert not are_variants("ALARM CLOCK BAKELIKE GREEN", "ALARM CLOCK BAKELIKE ORANGE", 3.75, None)
    assert not are_variants("shirt", "tie", 20.0, 20.0) and not are_variants("大米", "食用油", 9.0, 9.0)


def test_each_stem_rule_on_its_own():
    # half the words of the longer name, exactly: {heart, garland} of 4 words; one word more and it is not
    assert are_variants("SMALL HEART LIGHT GARLAND", "LARGE HEART WHITE GARLAND", 2.5, 2.5)
    assert not are_variants("SMALL HEART FAIRY LIGHT GARLAND", "LARGE HEART WHITE GARLAND", 2.5, 2.5)
    # the same first two words, 2 of 5 in common: "JUMBO BAG <design>"
    assert are_variants("JUMBO BAG BAROQUE BLACK WHITE", "JUMBO BAG TOYS", 2.08, 2.08)
    assert not are_variants("JUMBO BAG BAROQUE BLACK WHITE", "TOYS JUMBO BAG", 2.08, 2.08)
    # a price that is no price says nothing
    for price in (float("inf"), float("nan"), 0.0, -1.0):
        assert not are_variants("ALARM CLOCK GREEN", "ALARM CLOCK ORANGE", price, price)


words = st.lists(st.sampled_from(["red", "blue", "bag", "jumbo", "mug", "set", "杯", "红"]), min_size=1, max_size=5)


@given(words, words, st.sampled_from([1.0, 2.5]), st.sampled_from([1.0, 2.5]))
def test_variants_is_symmetric_and_needs_one_price(a, b, pa, pb):
    na, nb = " ".join(a), " ".join(b)
    assert are_variants(na, nb, pa, pb) == are_variants(nb, na, pb, pa)
    if pa != pb:
        assert not are_variants(na, nb, pa, pb)
    if are_variants(na, nb, pa, pb):
        assert len(set(name_tokens(na)) & set(name_tokens(nb))) >= 2


def test_the_gate_drops_sets_holding_two_variants_and_counts_them():
    cands = pd.DataFrame({"level_items": [("g", "o", "b"), ("g", "b"), ("o", "b")], "anchor": ["g", "g", "o"],
                          "addons": [("o", "b"), ("b",), ("b",)]})
    cands.attrs["gates"] = {"not_significant": 3}
    names = {"g": "ALARM CLOCK GREEN", "o": "ALARM CLOCK ORANGE", "b": "AA BATTERIES"}
    # the regular prices differ (a stray recent price); the most common till prices agree
    out = variant_gate(cands, names, {"g": 3.75, "o": 8.29, "b": 3.75}, {"g": 3.75, "o": 3.75, "b": 1.0})
    assert out["level_items"].tolist() == [("g", "b"), ("o", "b")]
    assert out.attrs["gates"] == {"not_significant": 3, "same_product_variants": 1}


def test_shared_theme():
    assert shared_theme(["LUNCH BAG RED RETROSPOT", "RED RETROSPOT PICNIC BAG"]) == "RED RETROSPOT"
    assert shared_theme(["green tea", "paper cups"]) is None
    # one long word is a theme, a short generic one is not
    assert shared_theme(["REGENCY CAKESTAND 3 TIER", "REGENCY TEA PLATE"]) == "REGENCY"
    assert shared_theme(["SET OF 3 CAKE TINS", "JAM MAKING SET WITH JARS"]) is None


# A file's own vocabulary: hot water bottles (one product, designs at 4.25-5.95), a Regency design on products
# from 1.25 to 12.75, lunch and jumbo bags in matching designs, Chinese thermos cups in three colours.
VOCAB_NAMES = ["HOT WATER BOTTLE KEEP CALM", "LOVE HOT WATER BOTTLE", "SCOTTIE DOG HOT WATER BOTTLE",
               "HOT WATER BOTTLE OWL", "REGENCY CAKESTAND 3 TIER", "REGENCY TEAPOT ROSES", "REGENCY MUG",
               "LUNCH BAG PINK POLKADOT", "LUNCH BAG SPACEBOY", "LUNCH BAG SUKI", "JUMBO BAG PINK POLKADOT",
               "JUMBO BAG SPACEBOY", "JUMBO BAG SUKI", "CHARLOTTE BAG PINK POLKADOT", "红色保温杯", "蓝色保温杯",
               "绿色保温杯", "大米", "食用油", "shirt", "tie", "LUNCH BAG VINTAGE DOILY", "JUMBO BAG VINTAGE DOILY",
               "VINTAGE DOILY NAPKINS"]
VOCAB_PRICES = [4.95, 5.95, 4.95, 4.25, 12.75, 4.95, 1.25, 1.65, 1.65, 1.65, 2.08, 2.08, 2.08, 0.85, 39.0, 45.0,
                42.0, 9.0, 25.0, 40.0, 20.0, 1.65, 2.08, 1.65]


def _vocab():
    from recommender.variants import Vocabulary

    return Vocabulary(VOCAB_NAMES, VOCAB_PRICES)


def test_product_phrases_come_from_the_files_names_and_prices():
    v = _vocab()
    # counted by hand from VOCAB_NAMES
    assert v.items(("hot", "water", "bottle")) == 4 and v.is_product_phrase(("hot", "water", "bottle"))
    assert v.items(("regency",)) == 3 and not v.is_product_phrase(("regency",))  # one word names nothing
    assert v.items(("lunch", "bag")) == 4 and v.is_product_phrase(("lunch", "bag"))
    # a design: 3 names (no quarter to drop) at 0.85, 1.65 and 2.08, more than x2 apart
    assert v.items(("pink", "polkadot")) == 3 and not v.is_product_phrase(("pink", "polkadot"))
    assert v.items(("色", "保", "温", "杯")) == 3 and v.is_product_phrase(("色", "保", "温", "杯"))
    assert v.items(("jumbo", "bag", "suki")) == 1 and not v.is_product_phrase(("jumbo", "bag", "suki"))


def test_variants_at_different_prices_need_a_shared_product_phrase():
    v = _vocab()
    assert are_variants("HOT WATER BOTTLE KEEP CALM", "LOVE HOT WATER BOTTLE", 4.95, 5.95, v)
    assert are_variants("SCOTTIE DOG HOT WATER BOTTLE", "HOT WATER BOTTLE OWL", 4.95, 4.25, v)
    assert are_variants("红色保温杯", "蓝色保温杯", 39.0, 45.0, v)
    # the same pairs without the file's vocabulary: only the equal-price rule
    assert not are_variants("HOT WATER BOTTLE KEEP CALM", "LOVE HOT WATER BOTTLE", 4.95, 5.95)
    # beyond the price bound (x2) they are not variants, whatever the names say
    assert not are_variants("HOT WATER BOTTLE KEEP CALM", "LOVE HOT WATER BOTTLE", 4.95, 9.95, v)
    # real cross-sells stay: one design on two products, different products, one shared word
    assert not are_variants("REGENCY CAKESTAND 3 TIER", "REGENCY TEAPOT ROSES", 12.75, 4.95, v)
    assert not are_variants("shirt", "tie", 40.0, 20.0, v) and not are_variants("食用油", "大米", 25.0, 9.0, v)
    # a shared design is not a shared product: LUNCH BAG vs JUMBO BAG around "BAG PINK POLKADOT"
    assert not are_variants("LUNCH BAG PINK POLKADOT", "JUMBO BAG PINK POLKADOT", 1.65, 2.08, v)
    assert not are_variants("CHARLOTTE BAG PINK POLKADOT", "LUNCH BAG PINK POLKADOT", 0.85, 1.65, v)
    # even when the shared design recurs at one price ("VINTAGE DOILY": 1.65-2.08), the bags are two products
    assert v.is_product_phrase(("vintage", "doily"))
    assert not are_variants("LUNCH BAG VINTAGE DOILY", "JUMBO BAG VINTAGE DOILY", 1.65, 2.08, v)


@given(st.sampled_from(VOCAB_NAMES), st.sampled_from(VOCAB_NAMES), st.floats(0.5, 60), st.floats(0.5, 60))
def test_variants_with_a_vocabulary_is_symmetric_and_keeps_the_price_bound(a, b, pa, pb):
    v = _vocab()
    assert are_variants(a, b, pa, pb, v) == are_variants(b, a, pb, pa, v)
    if max(pa, pb) > 2 * min(pa, pb) + 0.01:
        assert not are_variants(a, b, pa, pb, v)
    if are_variants(a, b, pa, pb) and not are_variants(a, b, pa, pb, v):
        raise AssertionError("a vocabulary only adds variants")


def test_the_gate_uses_the_files_vocabulary_at_different_prices():
    skus = {f"s{i}": n for i, n in enumerate(VOCAB_NAMES)}
    price = {f"s{i}": p for i, p in enumerate(VOCAB_PRICES)}
    cands = pd.DataFrame({"level_items": [("s0", "s1"), ("s4", "s5"), ("s7", "s10"), ("s19", "s20")],
                          "anchor": ["s0", "s4", "s7", "s19"], "addons": [("s1",), ("s5",), ("s10",), ("s20",)]})
    out = variant_gate(cands, skus, price)
    assert out["level_items"].tolist() == [("s4", "s5"), ("s7", "s10"), ("s19", "s20")]
    assert out.attrs["gates"] == {"same_product_variants": 1}
