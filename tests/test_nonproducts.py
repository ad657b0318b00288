"""Suspected non-products: fees, postage, services and adjustments found on the lines."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from recommender.nonproducts import detect_non_products, fee_word, non_products_flag


def _shop(extra):
    """30 ordinary products with five-digit codes, plus the given (sku, name, prices) lines."""
    rows = []
    for i in range(30):
        for r in range(5):
            rows.append({"receipt_id": f"r{i}-{r}", "sku": str(20000 + i), "name": f"MUG {i}", "unit_price": 2.0 + i % 3})
    for sku, name, prices in extra:
        for k, p in enumerate(prices):
            rows.append({"receipt_id": f"x{sku}-{k}", "sku": sku, "name": name, "unit_price": p})
    return pd.DataFrame(rows)


@pytest.mark.parametrize("name,word", [("DOTCOM POSTAGE", "POSTAGE"), ("Bank Charges", "CHARGES"), ("AMAZON FEE", "FEE"),
                                       ("Manual", "MANUAL"), ("快递运费", "运费"), ("包装费", "包装费"),
                                       ("手续费（刷卡）", "手续费"), ("Gift Voucher £20.00", "VOUCHER"),
                                       ("运费 10元", "运费"), ("快递费5元", "快递费")])
def test_fee_names_are_recognised_by_their_head(name, word):
    assert fee_word(name) == word


@pytest.mark.parametrize("name", ["CARRIAGE CLOCK", "FRENCH CARRIAGE LANTERN", "COFFEE", "运费险说明书 书", "衬衫",
                                  None, float("nan")])
def test_products_mentioning_a_fee_word_are_not_fees(name):
    assert fee_word(name) is None


def test_each_signal_flags_its_code_and_products_stay():
    lines = _shop([("POST", "POSTAGE", [18.0] * 3), ("C2", "CARRIAGE", [50.0] * 3),
                   ("20999", "Odd thing", [0.1, 0.2, 5, 40, 90, 300]),  # keyed by hand: price all over the place
                   ("21000", "Grand piano", [900.0] * 2)])                # a hundred times the usual item
    got = detect_non_products(lines).set_index("sku")["reasons"].to_dict()
    assert set(got) == {"POST", "C2", "20999", "21000"}
    assert "name says POSTAGE" in got["POST"] and "no digit" in got["POST"]
    assert "shorter" in got["C2"]
    assert "price varies" in got["20999"]
    assert "typical" in got["21000"]
    # most lines first, then by code
    assert detect_non_products(lines)["sku"].tolist() == ["20999", "C2", "POST", "21000"]


def _codes_shop(codes, extra=()):
    rows = [{"receipt_id": f"r{c}-{r}", "sku": c, "name": f"MUG {c}", "unit_price": 2.0} for c in codes for r in range(3)]
    rows += [{"receipt_id": f"x{sku}", "sku": sku, "name": name, "unit_price": price} for sku, name, price in extra]
    return pd.DataFrame(rows)


def test_code_shape_and_price_level_need_a_shop_with_a_usual_code():
    six = [str(100000 + i) for i in range(30)]
    got = detect_non_products(_codes_shop(six, [("C12", "BOX", 2.0), ("C123", "TIN", 2.0)]))
    # half the usual six characters is "much shorter"; four of six is not
    assert got["sku"].tolist() == ["C12"] and "shorter than the usual 6" in got["reasons"][0]
    # 19 codes have no usual shape or typical price: a code without digit and a 1,000x price stay
    few = [str(20000 + i) for i in range(17)]
    assert detect_non_products(_codes_shop(few, [("ABC", "BOWL", 2.0), ("20999", "PIANO", 2000.0)])).empty


def test_a_nameless_line_is_judged_by_its_code():
    lines = _codes_shop([str(20000 + i) for i in range(30)], [("CARRIAGE", None, 5.0), ("12345", None, 5.0)])
    got = detect_non_products(lines).set_index("sku")["reasons"].to_dict()
    assert list(got) == ["CARRIAGE"] and got["CARRIAGE"].startswith("name says CARRIAGE")


def test_names_as_items_skip_the_code_shape():
    rows = [{"receipt_id": str(i), "sku": n, "unit_price": 5.0} for i in range(40) for n in ("衬衫", "领带", f"袜子{i}")]
    rows.append({"receipt_id": "99", "sku": "运费", "unit_price": 10.0})
    got = detect_non_products(pd.DataFrame(rows))
    assert got["sku"].tolist() == ["运费"]


def test_no_lines_no_suspects():
    assert detect_non_products(pd.DataFrame({"sku": [], "receipt_id": []})).empty
    assert non_products_flag(detect_non_products(pd.DataFrame({"sku": []}))) == ""


def test_validate_lists_suspects_and_a_flag_that_drops_them(cli, tmp_path):
    path = tmp_path / "r.csv"
    _shop([("POST", "POSTAGE", [18.0] * 3), ("BANK CHARGES", "Bank Charges", [15.0] * 2)]).to_csv(path, index=False)
    res = cli("validate", path, "--json")
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert [s["sku"] for s in out["suspected_non_products"]] == ["POST", "BANK CHARGES"]
    assert out["non_products_flag"] == "--non-products 'POST,BANK CHARGES'"
    text = cli("validate", path).stdout
    assert "2 suspected" in text and "--non-products 'POST,BANK CHARGES'" in text
    # pasting the flag drops them (as rejected rows, counted) and nothing more is suspected
    again = json.loads(cli("validate", path, "--json", "--non-products", "POST,BANK CHARGES").stdout)
    assert again["rows_rejected"] == {"non-product code": 5}
    assert again["suspected_non_products"] == []


def test_online_retail_fee_codes_are_suspected(cli, online_retail):
    res = cli("validate", online_retail, "--json")
    assert res.returncode == 0, res.stderr
    listed = {s["sku"] for s in json.loads(res.stdout)["suspected_non_products"]}
    assert {"POST", "DOT", "C2", "M", "BANK CHARGES", "AMAZONFEE"} <= listed
