"""Ordinary mistakes end with a clear message (exit 2) or a correct read, never a silent loss (issue #19).

The files are written here: a grocery export keyed by member and day with DD-MM-YYYY dates,
a basket-per-line file, and a receipts file without any time.
"""

from __future__ import annotations

import random

import pytest

from recommender.errors import InputError
from recommender.receipts import MAX_REJECTED_SHARE, LoadOptions, load_receipts

ITEMS = ["whole milk", "rolls/buns", "yogurt", "soda", "other vegetables", "tropical fruit", "sausage", "water"]


@pytest.fixture
def grocery(tmp_path):
    """Member_number,Date,itemDescription; one basket = one member on one day; dates DD-MM-YYYY."""
    rng = random.Random(7)
    rows = ["Member_number,Date,itemDescription"]
    for _ in range(300):
        member, day = 1000 + rng.randrange(150), f"{rng.randint(1, 28):02d}-{rng.randint(1, 12):02d}-2015"
        rows += [f"{member},{day},{item}" for item in rng.sample(ITEMS, rng.randint(1, 4))]
    path = tmp_path / "groceries.csv"
    path.write_text("\n".join(rows) + "\n")
    return path


KEY = ("--map", "receipt_id=Member_number+Date", "--map", "sku=itemDescription")


def test_wrong_date_format_stops_with_the_column_an_example_and_a_fix(cli, grocery, tmp_path):
    res = cli("mine", grocery, *KEY, "--map", "timestamp=Date", "--date-format", "%m-%d-%Y", "--out", tmp_path / "r")
    assert res.returncode == 2, res.stderr
    err = res.stderr
    assert "Traceback" not in err and "'Date'" in err and "unparsable timestamp" in err
    assert "try --date-format %d-%m-%Y" in err and "--max-rejected-share" in err
    assert not (tmp_path / "r").exists()
    # the composite key alone also gives the timestamp, so the wrong format is caught the same way
    res = cli("mine", grocery, *KEY, "--date-format", "%m-%d-%Y", "--out", tmp_path / "r")
    assert res.returncode == 2 and "try --date-format %d-%m-%Y" in res.stderr


def test_the_right_date_format_reads_every_row_and_says_so(cli, grocery, tmp_path):
    res = cli("mine", grocery, *KEY, "--date-format", "%d-%m-%Y", "--out", tmp_path / "r")
    assert res.returncode == 0, res.stderr
    n = len(grocery.read_text().splitlines()) - 1
    assert f"read {n:,} rows, used {n:,}, rejected 0" in res.stderr


def test_max_rejected_share_accepts_the_loss_and_the_accounting_shows_it(cli, grocery, tmp_path):
    r = load_receipts(grocery, LoadOptions(mapping={"receipt_id": "Member_number+Date", "sku": "itemDescription"},
                                           date_format="%m-%d-%Y", max_rejected_share=1))
    lost = r.accounting.rows_rejected["unparsable timestamp"]
    assert lost / r.accounting.rows_read > MAX_REJECTED_SHARE
    res = cli("mine", grocery, *KEY, "--date-format", "%m-%d-%Y", "--max-rejected-share", "1",
              "--out", tmp_path / "r")
    assert res.returncode == 0, res.stderr
    assert f"unparsable timestamp {lost:,}" in res.stderr


def test_parse_share_is_checked_by_the_library(grocery):
    opts = LoadOptions(mapping={"receipt_id": "Member_number+Date", "sku": "itemDescription"},
                       date_format="%m-%d-%Y")
    with pytest.raises(InputError) as exc:
        load_receipts(grocery, opts)
    assert exc.value.column == "Date" and "%d-%m-%Y" in exc.value.hint


def test_unreadable_numbers_name_the_column_and_example(cli, tmp_path):
    p = tmp_path / "shop.csv"
    p.write_text("receipt,sku,name,price\n" + "".join(f"{i},A{i % 3},tea {i % 3},2.50\n" for i in range(1, 40)))
    res = cli("validate", p, "--map", "quantity=name")
    assert res.returncode == 2 and "'name'" in res.stderr and "unparsable quantity" in res.stderr
    assert "e.g. 'tea " in res.stderr and "--map quantity=COLUMN" in res.stderr


def test_format_baskets_with_map_is_a_contradiction(cli, grocery, tmp_path):
    res = cli("mine", grocery, "--format", "baskets", *KEY, "--out", tmp_path / "r")
    assert res.returncode == 2 and "--format baskets" in res.stderr and "--map" in res.stderr
    assert "Traceback" not in res.stderr


def test_slice_on_a_composite_key_uses_its_date(cli, grocery, tmp_path):
    res = cli("mine", grocery, *KEY, "--since", "2015-06-01", "--until", "2015-08-31", "--out", tmp_path / "r")
    assert res.returncode == 0, res.stderr
    r = load_receipts(grocery, LoadOptions(mapping={"receipt_id": "Member_number+Date", "sku": "itemDescription"},
                                           since="2015-06-01", until="2015-08-31"))
    assert r.accounting.columns["timestamp"] == "Date"
    months = r.lines["timestamp"].dt.month
    assert months.between(6, 8).all() and len(r.lines) > 0
    # day first was read from the values (a first part above 12), so 05-07-2015 is 5 July
    assert f"used {r.accounting.rows_used:,}" in res.stderr
    # validate accepts the same slice flags and agrees
    res = cli("validate", grocery, *KEY, "--since", "2015-06-01", "--until", "2015-08-31", "--json")
    assert res.returncode == 0, res.stderr
    assert f'"rows_used": {r.accounting.rows_used}' in res.stdout


def test_slice_without_a_timestamp_is_a_contradiction(cli, tmp_path):
    baskets = tmp_path / "b.txt"
    baskets.write_text("a,b,c\nb,c\na,c,d\n")
    res = cli("mine", baskets, "--format", "baskets", "--months", "6,7,8", "--out", tmp_path / "r")
    assert res.returncode == 2 and "--months" in res.stderr and "no timestamp" in res.stderr
    lines = tmp_path / "l.csv"
    lines.write_text("receipt,sku\n1,a\n1,b\n2,a\n")
    res = cli("validate", lines, "--since", "2025-01-01")
    assert res.returncode == 2 and "--map timestamp=COLUMN" in res.stderr
    res = cli("mine", lines, "--since", "2025-03-01", "--until", "2025-01-01", "--out", tmp_path / "r")
    assert res.returncode == 2 and "after --until" in res.stderr


def test_evaluate_without_time_ends_with_a_clear_message(cli, tmp_path):
    p = tmp_path / "notime.csv"
    p.write_text("receipt,sku\n" + "".join(f"{i},{'ab'[i % 2]}\n{i},c\n" for i in range(60)))
    res = cli("evaluate", p)
    assert res.returncode == 2, res.stderr
    assert "internal error" not in res.stderr and "timestamp" in res.stderr and "--map timestamp=" in res.stderr


def test_every_command_that_reads_receipts_prints_its_accounting(cli, demo_run, demo_data):
    receipts = demo_data / "receipts.csv"
    res = cli("tickets", receipts, "--level", "store")
    assert res.returncode == 0, res.stderr
    assert f"{receipts}: read " in res.stderr and " used " in res.stderr and "rejected" in res.stderr
    res = cli("suggest", demo_run, "--basket", "business shirt")
    assert res.returncode == 0, res.stderr
    assert "read " in res.stderr and "rejected" in res.stderr


def test_the_chunked_loader_stops_the_same_way(grocery):
    from recommender.ingest import load_receipts_chunked

    opts = LoadOptions(mapping={"receipt_id": "Member_number", "sku": "itemDescription", "timestamp": "Date"},
                       date_format="%m-%d-%Y")
    with pytest.raises(InputError) as chunked:
        load_receipts_chunked(grocery, opts, chunk_rows=50)
    with pytest.raises(InputError) as whole:
        load_receipts(grocery, opts)
    assert str(chunked.value) == str(whole.value) and "try --date-format %d-%m-%Y" in str(whole.value)
