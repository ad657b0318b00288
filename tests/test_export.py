"""Staff exports: read back as Excel would, Chinese survives, formulas are neutralised,
till components sum to the bundle price, one printed page per store, no customer ids."""

from __future__ import annotations

import datetime as dt
import json
import re

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from openpyxl import load_workbook

from recommender.errors import InputError
from recommender.export import POS_COLUMNS, export_bundles, neutralise, pos_table, staff_table
from recommender.pricing import price_bundle
from recommender.reasons import reasons_for

EVIL = '=HYPERLINK("http://x","y")'
CATALOG = {
    "1001": {"name": "shirt", "name_zh": "衬衫", "price": 50.0, "unit_cost": 20.0, "department": "apparel",
             "style": "business"},
    "1002": {"name": "tie", "name_zh": "领带", "price": 30.0, "unit_cost": 9.0, "department": "apparel"},
    "2001": {"name": EVIL, "name_zh": "感冒片", "price": 25.0, "unit_cost": 10.0, "department": "pharmacy",
             "need": "cold relief"},
    "2002": {"name": "<script>alert(1)</script>", "name_zh": "纸巾", "price": 8.0, "unit_cost": 3.0,
             "department": "pharmacy"},
    "3001": {"name": "green tea", "name_zh": "绿茶", "price": 120.0, "unit_cost": 60.0, "department": "grocery"},
    "3002": {"name": "teapot", "name_zh": "茶壶", "price": 90.0, "unit_cost": 30.0, "department": "grocery"},
}


def bundle_row(bundle_id, store, skus, gap, sets, kind="percent_off", gift=None):
    """What the bundles stage produces for one bundle (pricing + reasons)."""
    items = [{"sku": s, **CATALOG[s], "role": "anchor" if i == 0 else "addon"} for i, s in enumerate(skus)]
    d = price_bundle(items, gap, sets, discount_type=kind, gift=gift)
    rows = [{"sku": s, **CATALOG[s]} for s in skus]
    reasons = reasons_for(rows, d, gift={"name": "medicine bag"} if gift else None)
    return {"bundle_id": bundle_id, "store": store, "items": tuple(skus),
            "names": tuple(CATALOG[s]["name"] for s in skus), "names_zh": json.dumps(
                [CATALOG[s]["name_zh"] for s in skus], ensure_ascii=False),
            "anchor": skus[0], "regular_price": d.regular_price, "bundle_price": d.bundle_price, "saving": d.saving,
            "discount_type": d.discount_type, "reason_en": reasons["reason_en"], "reason_zh": reasons["reason_zh"],
            "recommended": d.recommended, "components": json.dumps(list(d.components)),
            "gift_name": "medicine bag" if gift else None, "gift_name_zh": "药品收纳袋" if gift else None,
            "customer_id": "CUST-999"}  # must never reach an export


@pytest.fixture
def bundles():
    return pd.DataFrame([
        bundle_row("B1", "S1", ["1001", "1002"], 500, 20),
        bundle_row("B2", "S1", ["2001", "2002"], 800, 30, kind="gift",
                   gift={"sku": "9001", "price": 6.0, "unit_cost": 0.5}),
        bundle_row("B3", "S2", ["3001", "3002"], 300, 10, kind="addon_discount"),
        bundle_row("B4", "S2", ["1001", "1002"], 0, 500),  # nobody lacks the tie: not recommended
    ])


def test_fixture_is_what_the_tests_assume(bundles):
    assert bundles["recommended"].tolist() == [True, True, True, False]


def test_csv_reads_back_as_excel_would(bundles, tmp_path):
    out = export_bundles(bundles, "csv", tmp_path / "b.csv", lang="zh")
    assert out.read_bytes().startswith(b"\xef\xbb\xbf")  # BOM: Excel picks UTF-8
    back = pd.read_csv(out, encoding="utf-8-sig", dtype=str)
    assert list(back["套餐编号"]) == ["B1", "B2", "B3"]
    assert back.loc[0, "商品名称"] == "衬衫 + 领带"
    assert back.loc[0, "推荐理由"].startswith("商务正装一套搭齐：衬衫+领带，立省")
    assert back.loc[1, "推荐理由"].endswith("送药品收纳袋")
    assert back.loc[2, "商品编码"] == "3001, 3002"
    assert float(back.loc[0, "套餐价"]) == bundles.loc[0, "bundle_price"]


def test_formula_is_neutralised_in_csv(bundles, tmp_path):
    out = export_bundles(bundles, "csv", tmp_path / "b.csv", lang="en")
    back = pd.read_csv(out, encoding="utf-8-sig", dtype=str)
    names = back.loc[back["Bundle"] == "B2", "Products"].iloc[0]
    assert names == "'" + EVIL + " + <script>alert(1)</script>"
    for col in back.columns:
        assert not back[col].dropna().str.match(r"^[=+\-@\t\r]").any(), col


def test_xlsx_reads_back_with_formats_and_no_formulas(bundles, tmp_path):
    out = export_bundles(bundles, "xlsx", tmp_path / "b.xlsx", lang="zh", selection="all", currency="CNY")
    ws = load_workbook(out).active
    header = [c.value for c in ws[1]]
    assert header[:4] == ["套餐编号", "门店", "商品编码", "商品名称"]
    assert all(c.font.bold for c in ws[1])
    rows = list(ws.iter_rows(min_row=2, values_only=True))
    assert [r[0] for r in rows] == ["B1", "B2", "B3", "B4"]
    assert rows[0][3] == "衬衫 + 领带"  # Chinese names survive
    price_col = header.index("套餐价") + 1
    assert ws.cell(row=2, column=price_col).number_format == '"¥"#,##0.00'
    assert ws.cell(row=2, column=price_col).value == bundles.loc[0, "bundle_price"]
    assert ws.column_dimensions["D"].width >= len("衬衫 + 领带")
    for row in ws.iter_rows():
        for cell in row:
            assert cell.data_type != "f", cell.coordinate  # nothing evaluates

    en = load_workbook(export_bundles(bundles, "xlsx", tmp_path / "en.xlsx")).active
    evil = [c for row in en.iter_rows() for c in row if isinstance(c.value, str) and c.value.lstrip("'") == EVIL
            + " + <script>alert(1)</script>"]
    assert len(evil) == 1 and evil[0].value.startswith("'=") and evil[0].data_type == "s"
    assert not any(isinstance(c.value, str) and c.value.startswith(("=", "+", "-", "@"))
                   for row in en.iter_rows() for c in row)


def test_pos_components_sum_to_the_bundle_price(bundles, tmp_path):
    out = export_bundles(bundles, "pos", tmp_path / "pos.csv", valid_from="2026-12-01",
                         valid_to=dt.date(2026, 12, 31))
    assert not out.read_bytes().startswith(b"\xef\xbb\xbf")
    pos = pd.read_csv(out, dtype={"sku": str, "promotion_id": str, "store": str})
    assert tuple(pos.columns) == POS_COLUMNS
    assert set(pos["valid_from"]) == {"2026-12-01"} and set(pos["valid_to"]) == {"2026-12-31"}
    expected = bundles.set_index("bundle_id")["bundle_price"]
    for pid, group in pos.groupby("promotion_id"):
        assert round(group["promotion_price"].sum() * 100) == round(expected[pid] * 100)
        assert group["mix_match_group"].nunique() == 1
    gift = pos[pos["promotion_id"] == "B2"]
    assert gift["sku"].tolist() == ["2001", "2002", "9001"]
    assert gift["promotion_price"].tolist()[-1] == 0.0
    assert (pos["trigger"] == "ticket").all()  # shelf offers: every ticket holding the group
    # a till offer is applied only when the till offered it to a basket without the add-on
    till = pos_table(bundles.assign(discount_type="till_addon"))
    assert (till["trigger"] == "till_prompt").all() and len(till) == len(pos)


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(st.integers(50, 100_000), st.floats(0, 0.9), st.integers(1, 3)), min_size=2, max_size=5),
       st.integers(1, 3000), st.integers(0, 300),
       st.sampled_from(["percent_off", "set_price", "amount_off", "addon_discount", "cheapest_free"]))
def test_pos_split_is_exact_for_any_priced_bundle(spec, gap, sets, kind):
    items = [{"sku": f"s{i}", "price": p / 100, "unit_cost": round(p * c) / 100, "quantity": q}
             for i, (p, c, q) in enumerate(spec)]
    d = price_bundle(items, gap, sets, discount_type=kind)
    frame = pd.DataFrame([{"bundle_id": "X", "items": [i["sku"] for i in items], "regular_price": d.regular_price,
                           "bundle_price": d.bundle_price, "saving": d.saving, "recommended": True,
                           "components": list(d.components)}])
    pos = pos_table(frame)
    assert sum(round(p * 100) for p in pos["promotion_price"]) == round(d.bundle_price * 100)
    assert pos["quantity"].tolist() == [i["quantity"] for i in items]


def test_pos_rejects_components_that_do_not_add_up(bundles, tmp_path):
    target = tmp_path / "pos.csv"
    target.write_text("previous list\n")
    broken = bundles.copy()
    comps = json.loads(broken.loc[0, "components"])
    comps[0]["promotion_price"] += 0.01
    broken.loc[0, "components"] = json.dumps(comps)
    with pytest.raises(InputError, match="B1"):
        export_bundles(broken, "pos", target)
    assert target.read_text() == "previous list\n"  # the old file is untouched
    assert [p.name for p in tmp_path.iterdir()] == ["pos.csv"]  # and no temporary file is left


def test_html_one_page_per_store_and_escaped(bundles, tmp_path):
    out = export_bundles(bundles, "html", tmp_path / "cards.html", selection="all")
    text = out.read_text(encoding="utf-8")
    assert len(re.findall(r'<section class="store"', text)) == 2
    assert 'data-store="S1"' in text and 'data-store="S2"' in text
    assert "page-break-after: always" in text
    assert "<script>" not in text and "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert text.count('class="card"') == 4
    zh = export_bundles(bundles, "html", tmp_path / "zh.html", lang="zh").read_text(encoding="utf-8")
    assert "衬衫 + 领带" in zh and "门店 S1" in zh


def test_no_customer_id_anywhere(bundles, tmp_path):
    for fmt, name in (("csv", "a.csv"), ("html", "a.html"), ("pos", "a.pos.csv")):
        text = export_bundles(bundles, fmt, tmp_path / name, selection="all").read_text(encoding="utf-8-sig")
        assert "customer" not in text.lower() and "CUST-999" not in text
    ws = load_workbook(export_bundles(bundles, "xlsx", tmp_path / "a.xlsx", selection="all")).active
    values = [str(c.value) for row in ws.iter_rows() for c in row]
    assert not any("customer" in v.lower() or "CUST-999" in v for v in values)


def test_selection_store_and_validity(bundles):
    assert staff_table(bundles)["bundle_id"].tolist() == ["B1", "B2", "B3"]
    assert staff_table(bundles, selection="all")["bundle_id"].tolist() == ["B1", "B2", "B3", "B4"]
    assert staff_table(bundles, store="S2", selection="all")["bundle_id"].tolist() == ["B3", "B4"]
    with pytest.raises(InputError, match="approved"):
        staff_table(bundles, selection="approved")
    approved = bundles.assign(approved=[False, True, "yes", True])
    assert staff_table(approved, selection="approved")["bundle_id"].tolist() == ["B2", "B3", "B4"]
    dated = bundles.assign(valid_from="2026-01-05", valid_to=pd.NaT)
    t = staff_table(dated)
    assert set(t["valid_from"]) == {"2026-01-05"} and set(t["valid_to"]) == {""}
    assert set(staff_table(dated, valid_from=dt.date(2026, 2, 1))["valid_from"]) == {"2026-02-01"}


def test_missing_columns_are_input_errors(bundles):
    with pytest.raises(InputError, match="bundle_price"):
        staff_table(bundles.drop(columns=["bundle_price"]))
    with pytest.raises(InputError, match="components"):
        pos_table(bundles.drop(columns=["components"]))


def test_neutralise():
    for bad in ("=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx"):
        assert neutralise(bad) == "'" + bad
    assert neutralise("tea") == "tea" and neutralise(-3.5) == -3.5


def test_till_offers_are_a_till_prompt_list_never_a_shelf_card(tmp_path):
    till = bundle_row("T1", "S1", ["1001", "1002"], 500, 20, kind="till_addon")
    shelf = bundle_row("B1", "S1", ["3001", "3002"], 300, 10)
    other = bundle_row("T2", "S2", ["2001", "2002"], 800, 30, kind="till_addon")
    table = pd.DataFrame([till, shelf, other])
    assert table["discount_type"].tolist() == ["till_addon", "percent_off", "till_addon"]
    text = export_bundles(table, "html", tmp_path / "cards.html", selection="all").read_text(encoding="utf-8")
    cards = re.findall(r'<div class="card" data-bundle="([^"]+)"', text)
    prompts = re.findall(r'<li class="till-prompt" data-bundle="([^"]+)"', text)
    assert cards == ["B1"] and prompts == ["T1", "T2"]
    # each prompt sits in its store's section, under the heading, and says what the till says
    s1 = text[text.index('data-store="S1"'):text.index('data-store="S2"')]
    assert "Till prompts" in s1 and 'data-bundle="T1"' in s1 and 'data-bundle="T2"' not in s1
    assert "At the till: add tie to your shirt" in s1
    zh = export_bundles(table, "html", tmp_path / "zh.html", lang="zh", selection="all").read_text(encoding="utf-8")
    assert "收银加购提示" in zh and re.findall(r'<div class="card" data-bundle="([^"]+)"', zh) == ["B1"]
    # the staff lists say which kind of offer each row is
    staff = staff_table(table, selection="all")
    assert staff["offer_type"].tolist() == ["till_addon", "percent_off", "till_addon"]
    csv = pd.read_csv(export_bundles(table, "csv", tmp_path / "a.csv", selection="all"), encoding="utf-8-sig")
    assert csv["Offer type"].tolist() == ["till_addon", "percent_off", "till_addon"]
