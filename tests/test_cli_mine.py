"""The mine / compare / tickets / uplift commands end to end on the demo shop."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from recommender.baskets import build_baskets
from recommender.catalog import load_catalog
from recommender.mining import frequent_itemsets, min_count_for
from recommender.randomise import permute_items, swap_randomise
from recommender.receipts import load_receipts
from recommender.rules import association_rules
from recommender.runs import read_run


def assert_same_run(path_a, path_b):
    """Two run folders hold the same itemsets with the same counts and the same rules."""
    a, b = read_run(path_a), read_run(path_b)
    assert a.itemsets.sort_values("items").reset_index(drop=True).equals(
        b.itemsets.sort_values("items").reset_index(drop=True))
    key = ["antecedents", "consequents"]
    pd.testing.assert_frame_equal(a.rules.sort_values(key).reset_index(drop=True),
                                  b.rules.sort_values(key).reset_index(drop=True))


def test_run_folder_artifacts(demo_run, demo_data):
    files = {p.name for p in demo_run.iterdir()}
    assert {"itemsets.csv", "itemsets.parquet", "rules.csv", "rules.parquet", "substitutes.csv",
            "manifest.json"} <= files
    items = pd.read_csv(demo_run / "itemsets.csv", encoding="utf-8-sig")
    assert list(items.columns[:4]) == ["items", "size", "count", "support"]
    parsed = items["items"].map(json.loads)
    assert all(lst == sorted(lst) and len(lst) == n for lst, n in zip(parsed, items["size"]))
    rules = pd.read_csv(demo_run / "rules.csv", encoding="utf-8-sig")
    for col in ("antecedents", "consequents", "count", "antecedent_count", "consequent_count", "n_receipts", "support",
                "confidence", "lift", "leverage", "conviction", "kulczynski", "p_value", "q_value", "p_value_cmh",
                "q_value_cmh", "significant", "redundant"):
        assert col in rules.columns, col
    assert (rules["antecedents"].map(json.loads).map(len) >= 1).all()
    assert (rules["consequents"].map(json.loads).map(len) > 1).any()  # multi-item consequents exist
    # Counts are the truth: the measures are derived from them.
    np.testing.assert_allclose(rules["confidence"], rules["count"] / rules["antecedent_count"], rtol=1e-12)
    np.testing.assert_allclose(rules["support"], rules["count"] / rules["n_receipts"], rtol=1e-12)
    m = json.loads((demo_run / "manifest.json").read_text())
    assert m["input"]["sha256"] == m["accounting"]["sha256"] and len(m["input"]["sha256"]) == 64
    assert m["n_receipts"] == m["accounting"]["n_receipts"]
    assert m["parameters"]["min_count_used"] == min_count_for(0.002, m["n_receipts"])
    assert m["engine"] == "fast" and "numpy" in m["versions"] and "itemsets" in m["timings_seconds"]


def test_planted_associations_are_significant(demo_run, demo_data):
    truth = json.loads((demo_data / "ground_truth.json").read_text())
    rules = read_run(demo_run).rules
    sig = rules[rules["significant"]]
    pairs = {(a, c) for a, c in zip(sig["antecedents"], sig["consequents"])}
    for assoc in truth["associations"]:
        ante = tuple(sorted(assoc["antecedent"]))
        for cons in assoc["consequent"]:
            assert (ante, (cons,)) in pairs, (ante, cons)


def test_engines_agree_on_the_run(demo_data, tmp_path, cli):
    args = [demo_data / "receipts.csv", "--catalog", demo_data / "catalog.csv", "--level", "subcategory",
            "--min-support", "0.004"]
    assert cli("mine", *args, "--out", tmp_path / "fast").returncode == 0
    res = cli("mine", *args, "--engine", "mlxtend", "--out", tmp_path / "ref")
    assert res.returncode == 0, res.stderr
    assert_same_run(tmp_path / "fast", tmp_path / "ref")


@pytest.mark.slow
def test_randomised_demo_keeps_at_most_a_handful(demo_data):
    lines = load_receipts(demo_data / "receipts.csv").lines
    catalog = load_catalog(demo_data / "catalog.csv")
    baskets = build_baskets(lines, catalog, "subcategory")
    min_count = min_count_for(0.002, baskets.n_receipts)
    for name, null in (("permuted", permute_items(baskets, seed=1)), ("swapped", swap_randomise(baskets, seed=2))):
        sets = frequent_itemsets(null.matrix, min_count)
        rules = association_rules(sets, null, min_confidence=0.0)
        assert rules["significant"].sum() <= 5, (name, int(rules["significant"].sum()), len(rules))
        if name == "permuted":
            assert (rules["q_value"] <= 0.05).sum() <= 5


def test_summer_kit_found_by_season_comparison(demo_data, tmp_path, cli):
    truth = json.loads((demo_data / "ground_truth.json").read_text())
    kit = truth["summer_kit"]["items"]
    common = [demo_data / "receipts.csv", "--catalog", demo_data / "catalog.csv", "--level", "subcategory",
              "--min-support", "0.002"]
    assert cli("mine", *common, "--months", "6-8", "--out", tmp_path / "summer").returncode == 0
    assert cli("mine", *common, "--months", "1-5,9-12", "--out", tmp_path / "rest").returncode == 0
    res = cli("compare", tmp_path / "rest", tmp_path / "summer", "--json")
    assert res.returncode == 0, res.stderr
    table = pd.DataFrame(json.loads(res.stdout))
    grown = table[table["status"].isin(["appeared", "strengthened"])]
    kit_rules = grown[[set(a) | set(c) <= set(kit) and len(set(a) | set(c)) >= 3
                       for a, c in zip(grown["antecedents"], grown["consequents"])]]
    assert len(kit_rules) > 0
    changed = kit_rules[kit_rules["status"] == "strengthened"]
    assert (changed["lift_b"] > changed["lift_a"]).all()


def test_failed_run_leaves_no_folder(demo_data, tmp_path, cli):
    out = tmp_path / "run"
    res = cli("mine", demo_data / "receipts.csv", "--level", "subcategory", "--out", out)  # no catalog
    assert res.returncode == 2 and "catalog" in res.stderr and "Traceback" not in res.stderr
    assert not out.exists()


def test_tickets_command(demo_data, tmp_path, cli):
    out = tmp_path / "tickets.csv"
    res = cli("tickets", demo_data / "receipts.csv", "--catalog", demo_data / "catalog.csv", "--level", "department",
              "--by", "store", "--out", out)
    assert res.returncode == 0, res.stderr
    table = pd.read_csv(out, encoding="utf-8-sig", dtype={"store_id": str})
    assert list(table.columns) == ["level_value", "store_id", "tickets", "sales", "units", "atv", "upt", "penetration"]
    lines = load_receipts(demo_data / "receipts.csv").lines
    cat = load_catalog(demo_data / "catalog.csv")
    dept = lines.merge(cat[["sku", "department"]], on="sku")
    expected = dept.groupby(["department", "store_id"])["receipt_id"].nunique()
    got = table.set_index(["level_value", "store_id"])["tickets"]
    assert got.sort_index().tolist() == expected.sort_index().tolist()
    assert "exceeds it by" in res.stdout


def test_uplift_command_json(demo_data, cli):
    truth = json.loads((demo_data / "ground_truth.json").read_text())
    res = cli("uplift", demo_data / "receipts.csv", "--launch", truth["launch_date"],
              "--test-stores", ",".join(truth["test_stores"]), "--control-stores", ",".join(truth["control_stores"]),
              "--json")
    assert res.returncode == 0, res.stderr
    got = json.loads(res.stdout)
    for key in ("metric", "estimate", "estimate_pct", "ci_low", "ci_high", "p_value", "n_test_stores",
                "n_control_stores", "n_tickets", "method"):
        assert key in got, key
    assert got["design"] == "did" and got["n_test_stores"] == len(truth["test_stores"])
    assert got["ci_low"] <= got["estimate"] <= got["ci_high"]


def test_exploding_threshold_stops_early_with_a_suggestion(demo_data, tmp_path, cli):
    out = tmp_path / "run"
    res = cli("mine", demo_data / "receipts.csv", "--min-count", "1", "--out", out)
    assert res.returncode == 2, res.stderr
    assert "raise --min-count to about" in res.stderr and "Traceback" not in res.stderr
    assert not out.exists()


def test_big_files_are_streamed_with_the_same_accounting(demo_data, monkeypatch, capsys):
    from recommender import cli

    cli.main(["validate", str(demo_data / "receipts.csv"), "--json"])
    whole = json.loads(capsys.readouterr().out)
    from recommender import limits

    monkeypatch.setattr(limits, "estimate_whole_mb", lambda *a: 1e9)  # every file counts as too big to read whole
    import recommender.ingest as ingest

    calls = []
    real = ingest.load_receipts_chunked
    monkeypatch.setattr(ingest, "load_receipts_chunked", lambda *a, **k: calls.append(1) or real(*a, **k))
    cli.main(["validate", str(demo_data / "receipts.csv"), "--json"])
    streamed = json.loads(capsys.readouterr().out)
    assert calls and streamed == whole


@pytest.mark.spark
def test_mine_with_the_spark_engine_writes_the_same_run(demo_data, tmp_path, cli):
    pytest.importorskip("pyspark")
    import shutil

    if shutil.which("java") is None:
        pytest.skip("no Java on this machine")
    common = [demo_data / "receipts.csv", "--catalog", demo_data / "catalog.csv", "--level", "subcategory",
              "--min-support", "0.004"]
    assert cli("mine", *common, "--out", tmp_path / "fast").returncode == 0
    # The driver may take back 1 MB per action (the demo's lines are several): it never collects lines or baskets.
    res = cli("mine", *common, "--engine", "spark", "--out", tmp_path / "spark", "--rejects", tmp_path / "rejects",
              "--spark-conf", "spark.driver.maxResultSize=1m", "--spark-conf", "spark.sql.shuffle.partitions=3")
    assert res.returncode == 0, res.stderr
    assert_same_run(tmp_path / "fast", tmp_path / "spark")
    manifest = json.loads((tmp_path / "spark" / "manifest.json").read_text())
    assert manifest["engine"] == "spark" and manifest["loaded_by"] == "spark"
    fast = json.loads((tmp_path / "fast" / "manifest.json").read_text())
    assert manifest["accounting"] == fast["accounting"]
    import pandas as pd

    rejects = pd.read_parquet(tmp_path / "rejects")  # a Parquet dataset written by Spark
    assert len(rejects) == sum(fast["accounting"]["rows_rejected"].values())
