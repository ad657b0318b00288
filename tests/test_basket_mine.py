"""The pandas-free mine path for basket-per-line files writes the run folder the general path writes.

Same files, manifest keys and values (but timings and the creation time), accounting, itemsets, counts,
rules, items and suspects; read back, every table is equal. The CSV text differs only in form (Arrow's
writer: see recommender.runs.ArrowTable). Also: the command takes this path, and only when it applies.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from recommender import basket_mine
from recommender.pipeline import MiningParams, mine_to_folder
from recommender.receipts import LoadOptions, load_receipts
from recommender.runs import read_run
from tests.conftest import run_cli

SOURCE = {"load_options": "x", "catalog": None}


def _shop(rng, n=300, n_items=40) -> list[list[str]]:
    weights = 1 / np.arange(1, n_items + 1)
    out = []
    for _ in range(n):
        k = int(rng.integers(1, 9))
        out.append([f"{10000 + i}" for i in rng.choice(n_items, size=k, p=weights / weights.sum())])  # repeats too
    return out


def _write(path, baskets, sep=" ", trailing=True, extra=(), newline="\n", encoding="utf-8"):
    lines = [sep.join(b) + (sep if trailing else "") for b in baskets] + list(extra)
    path.write_bytes(newline.join(lines).encode(encoding) + newline.encode())
    return path


def both(path, tmp_path, params, opts=None):
    opts = opts or LoadOptions()
    general = tmp_path / "general"
    mine_to_folder(load_receipts(path, opts), general, None, params, source=SOURCE)
    lean = tmp_path / "lean"
    basket_mine.mine_basket_file(path, opts, params, lean, source=SOURCE)
    return general, lean


def assert_same_folder(a, b):
    assert sorted(p.name for p in a.iterdir()) == sorted(p.name for p in b.iterdir())
    ra, rb = read_run(a), read_run(b)
    for name in ("itemsets", "rules", "substitutes"):
        pd.testing.assert_frame_equal(getattr(ra, name), getattr(rb, name), check_dtype=False, check_exact=True)
    pd.testing.assert_frame_equal(ra.tables["items"], rb.tables["items"], check_dtype=False, check_exact=True)
    ma, mb = (json.loads((p / "manifest.json").read_text()) for p in (a, b))
    assert list(ma) == list(mb)
    assert list(ma["timings_seconds"]) == list(mb["timings_seconds"])
    for key in set(ma) - {"timings_seconds", "created_at"}:
        assert ma[key] == mb[key], key
    for name in ("itemsets", "rules", "items", "substitutes"):  # what pandas (and Excel) read from the CSV
        ca, cb = (pd.read_csv(p / f"{name}.csv", encoding="utf-8-sig") for p in (a, b))
        pd.testing.assert_frame_equal(ca, cb, check_dtype=False, check_exact=True)
    return ma


@pytest.mark.parametrize("case", ["fimi", "comma_crlf_bom", "gbk_semicolon", "separator_only_lines"])
def test_same_run_folder_as_the_general_path(tmp_path, case):
    rng = np.random.default_rng(7)
    baskets = _shop(rng)
    if case == "fimi":
        path = _write(tmp_path / "b.dat", baskets)
    elif case == "comma_crlf_bom":
        path = tmp_path / "b.csv"
        path.write_bytes(b"\xef\xbb\xbf" + "\r\n".join(", ".join(b) + " ," for b in baskets).encode() + b"\r\n")
    elif case == "gbk_semicolon":
        named = [[{"10000": "牛奶", "10001": "面包"}.get(x, x) for x in b] for b in baskets]
        path = _write(tmp_path / "b.txt", named, sep=";", trailing=False, encoding="gbk")
    else:  # blank lines, a line of separators only (rejected as missing sku), a POSTAGE code
        path = _write(tmp_path / "b.txt", baskets[:150] + [["POSTAGE", "10001"]], sep=",",
                      extra=["", ",,,", "   ", ",", "10002,10003"])
    general, lean = both(path, tmp_path, MiningParams(min_count=3))
    manifest = assert_same_folder(general, lean)
    acc = manifest["accounting"]
    assert acc["balanced"] and acc["format"] == "baskets"
    if case == "separator_only_lines":
        assert acc["rows_rejected"] == {"missing sku": 2} and acc["rows_read"] == 154
        assert "POSTAGE" in manifest["suspected_non_products"]
    assert manifest["n_rules"] > 0


def test_filters_and_one_item_receipts(tmp_path):
    rng = np.random.default_rng(3)
    path = _write(tmp_path / "b.dat", _shop(rng, n=400))
    for params in (MiningParams(min_count=4, prune=True, top_k=25, by="lift"),
                   MiningParams(min_count=4, top_k=30, by="p_value_cmh", max_len=2),
                   MiningParams(min_count=4, stratify=False, top_k=10, by="q_value")):
        assert_same_folder(*both(path, tmp_path, params))
    # every receipt one item: the implausible-read warning, the same on both paths
    single = _write(tmp_path / "one.txt", [[f"{i % 7} {i % 5}"] for i in range(60)], sep=",")
    manifest = assert_same_folder(*both(single, tmp_path, MiningParams(min_count=2)))
    assert any(w.startswith("implausible read") for w in manifest["accounting"]["warnings"])


def test_the_command_takes_it_only_when_it_applies(tmp_path):
    rng = np.random.default_rng(5)
    path = _write(tmp_path / "b.dat", _shop(rng))
    params = MiningParams(min_count=3)
    opts = LoadOptions()
    assert basket_mine.applies(path, opts, params)
    assert not basket_mine.applies(path, opts, params, rejects=tmp_path / "r.csv")
    assert not basket_mine.applies(path, opts, params, catalog="catalog.csv")
    assert not basket_mine.applies(path, LoadOptions(non_products=("10001",)), params)
    assert not basket_mine.applies(path, opts, MiningParams(min_count=3, lhs=("10001",)))
    assert not basket_mine.applies(path, opts, MiningParams(min_count=3, engine="mlxtend"))
    long_csv = tmp_path / "lines.csv"
    long_csv.write_text("receipt,sku\n1,a\n1,b\n2,a\n")
    assert not basket_mine.applies(long_csv, opts, params)
    # the command's folder equals the general path's (which --rejects forces)
    res = run_cli("mine", path, "--min-count", "3", "--out", tmp_path / "cli_lean", "--json")
    assert res.returncode == 0, res.stderr
    res = run_cli("mine", path, "--min-count", "3", "--out", tmp_path / "cli_general", "--rejects",
                  tmp_path / "rejects.csv", "--json")
    assert res.returncode == 0, res.stderr
    a, b = (json.loads((tmp_path / d / "manifest.json").read_text()) for d in ("cli_general", "cli_lean"))
    assert a["input"]["load_options"] == b["input"]["load_options"] and a["accounting"] == b["accounting"]
    assert_same_folder(tmp_path / "cli_general", tmp_path / "cli_lean")


def test_empty_and_unreadable_files_fail_as_on_the_general_path(tmp_path):
    empty = tmp_path / "empty.dat"
    empty.write_text("\n \n")
    res = run_cli("mine", empty, "--min-count", "1", "--out", tmp_path / "run")
    assert res.returncode == 2 and "empty" in res.stderr and "Traceback" not in res.stderr
    seps = tmp_path / "seps.dat"
    seps.write_text(",,\n,\n")
    res = run_cli("mine", seps, "--format", "baskets", "--min-count", "1", "--out", tmp_path / "run")
    assert res.returncode == 2 and "no rows left to mine" in res.stderr and "Traceback" not in res.stderr
    assert not (tmp_path / "run").exists()
