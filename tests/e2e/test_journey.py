"""A merchandiser's own export, from upload to approved offers, in headless Chromium (issue #18).

Two journeys, each touching no mining field: the UK gift shop (``../shared/datasets/online_retail.csv.gz``: no
catalog, no stores, fee codes, pounds) and a Chinese chain's GBK till export written here (names only in
商品名称, no code column). Upload on the first page, mine with the page's defaults, see rules with names, see
priced bundles in the shop's currency with no fee item, approve one, download the staff CSV, come back to the
first page and find the upload still active. No page shows an error element, and the browser is allowed no
request to any address but the loopback server: every other request is blocked and fails the test.

Run with ``pytest -m e2e tests/e2e/test_journey.py`` (slow: a first start creates the demo shop).
"""

from __future__ import annotations

import csv
import io
import json
import random
import shutil
import time
from pathlib import Path
from urllib.parse import urlparse

import pytest

from tests.conftest import ROOT
from tests.e2e.test_browser import (ARGS, CHROMIUM, SHOTS, FIRST_RUN_TIMEOUT, STEP_TIMEOUT, choose, free_port,
                                    no_errors, open_page, server, settle, shot)

pytestmark = pytest.mark.e2e
playwright = pytest.importorskip("playwright.sync_api")

ONLINE_RETAIL = ROOT.parent / "shared" / "datasets" / "online_retail.csv.gz"
RULES_WITHIN_S = 180  # from pressing Mine to rules with names on the Bundles page
LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}


def chinese_gbk_export(path: Path) -> Path:
    """A Chinese chain's till export in GBK: names only (商品名称), no code column, prices in yuan."""
    rng = random.Random(7)
    pairs = [("农夫山泉矿泉水", "康师傅红烧牛肉面"), ("蒙牛纯牛奶", "桃李面包"), ("青岛啤酒", "卫龙辣条"),
             ("立白洗衣液", "维达抽纸")]
    singles = ["金龙鱼大米", "海天酱油", "老干妈辣酱", "伊利酸奶", "旺旺雪饼", "统一绿茶"]
    price = {n: round(rng.uniform(3, 60), 1) for p in pairs for n in p} | {n: round(rng.uniform(3, 60), 1)
                                                                          for n in singles}
    rows = ["小票号,商品名称,数量,单价,销售时间"]
    for i in range(3000):
        day = f"2025-{1 + i % 12:02d}-{1 + i % 28:02d} {8 + i % 12:02d}:{i % 60:02d}:00"
        basket = set()
        a, b = pairs[i % len(pairs)]
        basket.add(a)
        if rng.random() < 0.6:
            basket.add(b)
        basket.update(rng.sample(singles, rng.randint(0, 2)))
        for name in sorted(basket):
            rows.append(f"T{i:05d},{name},{rng.randint(1, 3)},{price[name]},{day}")
    path.write_bytes(("\r\n".join(rows) + "\r\n").encode("gbk"))
    return path


def journey(page, base: str, upload: Path, *, expect_name: str, money: str, currency: str, tmp_path: Path,
            tag: str, fee_codes=()) -> None:
    """Upload -> mine with defaults -> rules with names -> bundles in ``money`` -> approve -> CSV -> first page."""
    page.goto(base)
    page.get_by_text("Rows read").first.wait_for(timeout=FIRST_RUN_TIMEOUT)  # first start: the demo shop
    settle(page)
    no_errors(page)
    page.get_by_text("Upload receipts", exact=True).first.click()
    settle(page)
    page.locator('[data-testid="stFileUploader"]').first.locator('input[type="file"]').set_input_files(str(upload))
    page.get_by_role("button", name="Load receipts").wait_for(timeout=STEP_TIMEOUT)
    settle(page)
    page.get_by_role("button", name="Load receipts").click()
    page.get_by_text("Loaded. Mine it on the Mining page.").first.wait_for(timeout=FIRST_RUN_TIMEOUT)
    settle(page, FIRST_RUN_TIMEOUT)
    no_errors(page)
    shot(page, f"{tag}-01-data")

    open_page(page, base, "mining", "Re-run mining", timeout=FIRST_RUN_TIMEOUT)
    no_errors(page)
    page.get_by_role("button", name="Mine").click()  # the page's defaults: no field touched
    pressed = time.monotonic()
    page.get_by_text("Done:").first.wait_for(timeout=RULES_WITHIN_S * 1000)
    settle(page)
    no_errors(page)
    shot(page, f"{tag}-02-mining")

    open_page(page, base, "bundles", "Bundles and rules", timeout=RULES_WITHIN_S * 1000)
    page.get_by_label("Search items").fill(expect_name)
    page.get_by_label("Search items").press("Enter")
    settle(page)
    page.get_by_role("tab", name="Rule network").click()
    node = page.locator('[data-testid="stGraphVizChart"] svg text').filter(has_text=expect_name).first
    node.wait_for(timeout=STEP_TIMEOUT)
    assert time.monotonic() - pressed < RULES_WITHIN_S  # rules with names within 3 minutes of pressing Mine
    no_errors(page)
    shot(page, f"{tag}-03-rules")
    page.get_by_label("Search items").fill("")
    page.get_by_label("Search items").press("Enter")
    settle(page)

    # priced offers with no catalog: say the shop's currency among the assumptions, build them again
    choose(page, "Currency", currency)
    page.get_by_role("button", name="Build the offers with these assumptions").click()
    page.get_by_text("offers built").first.wait_for(timeout=FIRST_RUN_TIMEOUT)
    settle(page)
    no_errors(page)
    detail = page.get_by_role("heading", name="Bundle detail")
    detail.wait_for(timeout=STEP_TIMEOUT)
    detail.scroll_into_view_if_needed()
    price = page.locator('[data-testid="stMetric"]').filter(has_text="Bundle price").first
    assert money in price.inner_text()
    no_errors(page)
    shot(page, f"{tag}-04-bundles")
    page.get_by_role("button", name="Approve").click()
    page.get_by_text("Approved by local").first.wait_for(timeout=STEP_TIMEOUT)
    settle(page)
    no_errors(page)

    open_page(page, base, "export", "Export for stores")
    no_errors(page)
    with page.expect_download(timeout=STEP_TIMEOUT) as info:
        page.get_by_role("button", name="Download CSV").click()
    rows = list(csv.DictReader(io.StringIO(Path(info.value.path()).read_text(encoding="utf-8-sig"))))
    assert len(rows) == 1
    from recommender.export import HEADERS_EN

    skus = [s.strip() for s in rows[0][HEADERS_EN["skus"]].split(",")]
    assert not set(skus) & set(fee_codes), skus
    shot(page, f"{tag}-05-export")

    # back on the first page, the upload is still the active data
    page.goto(base)
    page.get_by_text("Rows read").first.wait_for(timeout=FIRST_RUN_TIMEOUT)
    settle(page)
    no_errors(page)
    sidebar = page.locator('[data-testid="stSidebar"]')
    assert upload.name in sidebar.inner_text()
    assert page.get_by_role("radio", name="Upload receipts").is_checked()
    shot(page, f"{tag}-06-back")


def run_journey(tmp_path, upload: Path, **kw) -> None:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM}")
    import os

    env = {**os.environ, "RECOMMENDER_DATA_DIR": str(tmp_path / "data"),
           "RECOMMENDER_DB": str(tmp_path / "db" / "decisions.sqlite"), "PYTHONUNBUFFERED": "1"}
    env.pop("RECOMMENDER_USERS", None)
    outside = []

    def guard(route):
        host = urlparse(route.request.url).hostname or ""
        if route.request.url.startswith(("data:", "blob:")) or host in LOOPBACK:
            route.continue_()
        else:  # blocked, and remembered: the test fails on any request out of the machine
            outside.append(route.request.url)
            route.abort()

    with playwright.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            context = browser.new_context(viewport={"width": 1440, "height": 1700}, accept_downloads=True)
            context.route("**/*", guard)
            page = context.new_page()
            try:
                with server(env, free_port(), tmp_path / "server.log") as base:
                    journey(page, base, upload, tmp_path=tmp_path, **kw)
            finally:  # the server's log beside the screenshots, for a failure's traceback
                SHOTS.mkdir(parents=True, exist_ok=True)
                if (tmp_path / "server.log").exists():
                    shutil.copy(tmp_path / "server.log", SHOTS / f"{kw.get('tag', 'journey')}-server.log")
        finally:
            browser.close()
    assert not outside, outside


def test_online_retail_from_upload_to_approved_offer(tmp_path):
    if not ONLINE_RETAIL.exists():
        pytest.skip(f"{ONLINE_RETAIL} is absent")
    run_journey(tmp_path, ONLINE_RETAIL, expect_name="WHITE HANGING HEART T-LIGHT HOLDER", money="£", currency="GBP",
                tag="online-retail",
                fee_codes=("POST", "DOT", "M", "C2", "BANK CHARGES", "AMAZONFEE", "CRUK", "D", "S", "B"))


def test_chinese_gbk_names_only_from_upload_to_approved_offer(tmp_path):
    upload = chinese_gbk_export(tmp_path / "门店小票.csv")
    run_journey(tmp_path, upload, expect_name="农夫山泉矿泉水", money="¥", currency="CNY", tag="gbk")
    manifests = list((tmp_path / "data" / "runs").glob("门店小票-*/manifest.json"))
    assert manifests, "the run is named after the data, in Chinese"
    assert json.loads(manifests[0].read_text(encoding="utf-8"))["n_rules"] > 0
