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
