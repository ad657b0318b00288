"""Staff files a shop can print (issue #19): gift and discount offers read right, cards fit an A4 page,
headers are words, XLSX carries currency formats and dates, bad options stop, files get the usual mode."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest
from openpyxl import load_workbook

from recommender.errors import InputError
from recommender.export import HEADERS_EN, export_bundles, staff_table
from tests.test_export import bundle_row


def _shop_bundles(n_s1=11, n_s2=7) -> pd.DataFrame:
    """Two stores; every other bundle a gift offer, the rest discounts; some long names and reasons."""
    rows = []
    for store, n in (("S1", n_s1), ("S2", n_s2)):
        for i in range(n):
            if i % 2:
                row = bundle_row(f"{store}-G{i}", store, ["2001", "2002"], 800, 30, kind="gift",
                                 gift={"sku": "9001", "price": 6.0, "unit_cost": 0.5})
            else:
                row = bundle_row(f"{store}-D{i}", store, ["3001", "3002"], 300, 10,
                                 kind=["percent_off", "addon_discount", "set_price"][i % 3])
            if i % 4 == 0:  # real copy can be long: the card must still keep its size
                row["names"] = ("Tongrentang Huanglian Shangqing tablets", "Changchongqing albendazole tablets",
                                "Stresam stomach capsules")
                row["reason_en"] = ("Summer family medicine kit: Tongrentang Huanglian Shangqing tablets + "
                                    "Changchongqing albendazole tablets + Stresam stomach capsules, everything a "
                                    "family needs on holiday in one bag")
            rows.append(row)
    return pd.DataFrame(rows)


def test_gift_offer_has_no_was_price_and_names_the_gift():
    table = staff_table(_shop_bundles(), selection="all", currency="GBP")
    gifts, deals = table[table["gift"] != ""], table[table["gift"] == ""]
    assert len(gifts) and len(deals)
    assert gifts["regular_price"].isna().all() and gifts["saving"].isna().all()
    assert gifts["offer"].eq("free medicine bag (worth £6.00)").all()
    assert (deals["regular_price"] > deals["bundle_price"]).all()
    for r in deals.itertuples():
        assert r.offer == (f"was £{r.regular_price:,.2f}, now £{r.bundle_price:,.2f}, save £{r.saving:,.2f}"
                           f" ({int(round(r.saving * 100) * 100 // round(r.regular_price * 100))}%)")
    zh = staff_table(_shop_bundles(), selection="all", lang="zh", currency="CNY")
    assert zh.loc[zh["gift"] != "", "offer"].eq("送药品收纳袋（价值¥6.00）").all()


def test_headers_are_words_and_xlsx_has_currency_and_dates(tmp_path):
    bundles = _shop_bundles(3, 0)
    out = export_bundles(bundles, "csv", tmp_path / "b.csv", valid_from="2026-06-01", valid_to="2026-08-31")
    header = pd.read_csv(out, encoding="utf-8-sig", nrows=0).columns.tolist()
    assert header == [HEADERS_EN[c] for c in staff_table(bundles).columns]
    assert not any("_" in h for h in header)
    ws = load_workbook(export_bundles(bundles, "xlsx", tmp_path / "b.xlsx", valid_from="2026-06-01",
                                      valid_to="2026-08-31", currency="GBP")).active
    head = [c.value for c in ws[1]]
    price = ws.cell(row=2, column=head.index("Bundle price") + 1)
    assert isinstance(price.value, float) and price.number_format == '"£"#,##0.00'
    start = ws.cell(row=2, column=head.index("Valid from") + 1)
    assert start.is_date and start.value.date() == dt.date(2026, 6, 1) and start.number_format == "yyyy-mm-dd"


def test_files_get_the_users_usual_permissions(tmp_path):
    old = os.umask(0o022)
    try:
        for fmt in ("csv", "xlsx", "html", "pos"):
            out = export_bundles(_shop_bundles(2, 1), fmt, tmp_path / f"b.{fmt}")
            assert oct(out.stat().st_mode & 0o777) == oct(0o644), fmt
        os.umask(0o027)
        out = export_bundles(_shop_bundles(2, 1), "csv", tmp_path / "group.csv")
        assert oct(out.stat().st_mode & 0o777) == oct(0o640)
    finally:
        os.umask(old)


def test_unknown_store_and_inverted_validity_stop(tmp_path):
    bundles = _shop_bundles(2, 2)
    with pytest.raises(InputError, match="S99") as exc:
        export_bundles(bundles, "csv", tmp_path / "x.csv", store="S99")
    assert "S1, S2" in exc.value.hint
    with pytest.raises(InputError, match="after"):
        export_bundles(bundles, "html", tmp_path / "x.html", valid_from="2026-09-01", valid_to="2026-06-01")
    with pytest.raises(InputError, match="after"):
        export_bundles(bundles, "pos", tmp_path / "x.pos", valid_from="2026-09-01", valid_to="2026-06-01")
    assert not (tmp_path / "x.csv").exists() and not (tmp_path / "x.html").exists()


def test_cli_export_unknown_store_and_inverted_validity_exit_2(tmp_path, cli):
    from recommender.runs import write_run

    empty = pd.DataFrame({"antecedents": [], "consequents": []})
    run = write_run(tmp_path / "run", itemsets_df=pd.DataFrame({"items": [], "count": []}), rules_df=empty,
                    substitutes_df=pd.DataFrame({"item_a": [], "item_b": []}), manifest={"level": "sku"},
                    extra_tables={"bundles": _shop_bundles(2, 2)})
    res = cli("export", run, "--format", "csv", "--out", tmp_path / "x.csv", "--store", "S99")
    assert res.returncode == 2 and "S99" in res.stderr and "Traceback" not in res.stderr
    res = cli("export", run, "--format", "xlsx", "--out", tmp_path / "x.xlsx", "--valid-from", "2026-09-01",
              "--valid-to", "2026-06-01")
    assert res.returncode == 2 and "after" in res.stderr
    assert not list(tmp_path.glob("x.*"))
    res = cli("export", run, "--format", "csv", "--out", tmp_path / "ok.csv", "--store", "S2")
    assert res.returncode == 0, res.stderr


def _cards_per_page(png) -> int:
    """Card outlines on a rendered page: connected blobs of the card border colour (#1f5fbf)."""
    from PIL import Image
    from scipy import ndimage

    rgb = np.asarray(Image.open(png).convert("RGB")).astype(int)
    # blue enough to be the border, anti-aliased pixels included; closed so that a faint pixel does not cut it
    border = (rgb[..., 2] - rgb[..., 0] > 60) & (rgb[..., 2] > 120)
    border = ndimage.binary_dilation(border, iterations=2)
    labels, n = ndimage.label(border)
    boxes = ndimage.find_objects(labels)
    # a card outline spans a quarter of the page height and a third of its width; nothing else does
    h, w = border.shape
    return sum(1 for b in boxes if b[0].stop - b[0].start > h / 6 and b[1].stop - b[1].start > w / 3)


@pytest.mark.skipif(not os.path.exists("/usr/bin/chromium") or not shutil.which("pdftoppm"),
                    reason="needs Debian chromium and poppler-utils (pdftoppm)")
def test_printed_shelf_cards_fit_six_or_more_to_an_a4_page(tmp_path):
    from playwright.sync_api import sync_playwright

    bundles = _shop_bundles(11, 7)
    page_file = export_bundles(bundles, "html", tmp_path / "cards.html", selection="all")
    pdf = tmp_path / "cards.pdf"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
        try:
            page = browser.new_page()
            page.goto(page_file.as_uri())
            page.emulate_media(media="print")
            # no card shows a "was" price equal to its price; gift cards show no "was" at all
            cards = page.eval_on_selector_all(".card", """els => els.map(c => ({
                kind: c.dataset.kind, price: c.querySelector('.bundle').textContent,
                was: c.querySelector('.regular') ? c.querySelector('.regular').textContent : null,
                gift: c.querySelector('.gift') ? c.querySelector('.gift').textContent : null}))""")
            page.pdf(path=str(pdf), format="A4", prefer_css_page_size=True, print_background=True)
        finally:
            browser.close()
    assert len(cards) == len(bundles)
    for c in cards:
        assert c["was"] is None or c["was"].split()[-1] != c["price"], c
        if c["kind"] == "gift":
            assert c["was"] is None and c["gift"].startswith("free medicine bag (worth ¥6.00)"[:10])
        else:
            assert c["was"] is not None and c["gift"] is None
    subprocess.run(["pdftoppm", "-r", "100", "-png", str(pdf), str(tmp_path / "page")], check=True)
    pages = sorted(tmp_path.glob("page-*.png"))
    from PIL import Image

    width, height = Image.open(pages[0]).size
    assert abs(height / width - 297 / 210) < 0.01  # A4 portrait
    counts = [_cards_per_page(png) for png in pages]
    # store S1 (11 cards) fills one page with 8 and a second with 3; S2 (7 cards) starts a page of its own
    assert counts == [8, 3, 7], counts
    assert max(counts) >= 6 and sum(counts) == len(bundles)
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True,
                          check=True).stdout.split("\f")
    assert "Store S1" in text[0] and "Store S2" in text[2] and "Store S1" not in text[2]
