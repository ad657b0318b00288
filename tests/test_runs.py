"""Run folders: exact round trip, atomic replacement, labels."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import recommender.runs as runs
from recommender.baskets import build_baskets
from recommender.errors import InputError
from recommender.rules import association_rules, compare_rules, substitutes
from recommender.runs import itemsets_with_labels, read_run, write_run


def _mine_all(matrix, min_count):
    """Every itemset of up to 3 items with its count (brute force, small data)."""
    import itertools

    dense = matrix.toarray()
    out = []
    for k in (1, 2, 3):
        for t in itertools.combinations(range(dense.shape[1]), k):
            c = int(dense[:, list(t)].all(axis=1).sum())
            if c >= min_count:
                out.append((t, c))
    return pd.DataFrame({"items": [t for t, _ in out], "count": np.array([c for _, c in out], dtype=np.int64)})


@pytest.fixture(scope="module")
def mined():
    rng = np.random.default_rng(0)
    names = ["咖啡", "牛奶", "sugar", "tea, green", 'say "hi"', "0012"]
    rows = []
    for r in range(300):
        for j, name in enumerate(names):
            if rng.random() < 0.15 + 0.1 * j:
                rows.append((f"r{r}", name))
        if ("r%d" % r, "咖啡") in rows[-6:]:
            rows.append((f"r{r}", "牛奶"))
    b = build_baskets(pd.DataFrame(rows, columns=["receipt_id", "sku"]))
    sets = _mine_all(b.matrix, 10)
    cat = pd.DataFrame({"sku": names, "subcategory": ["hot", "hot", "hot", "hot", "x", "x"]})
    return {
        "baskets": b,
        "itemsets": itemsets_with_labels(sets, b),
        "rules": association_rules(sets, b, min_confidence=0.0),
        "rules_plain": association_rules(sets, b, min_confidence=0.0, stratify=False),
        "substitutes": substitutes(b, cat, min_count=5, fdr=1.0, max_lift=10.0),
    }


def test_itemsets_with_labels(mined):
    b, its = mined["baskets"], mined["itemsets"]
    sets = b.as_sets()
    for _, row in its.iterrows():
        assert list(row["items"]) == sorted(row["items"]) and row["size"] == len(row["items"])
        assert row["count"] == sum(1 for s in sets if set(row["items"]) <= s)
        assert row["support"] == row["count"] / b.n_receipts


def test_round_trip_is_exact(tmp_path, mined):
    cmp = compare_rules(mined["rules_plain"].head(20), mined["rules"].iloc[10:30])
    assert len(mined["substitutes"]) and len(cmp)
    out = write_run(tmp_path / "run", itemsets_df=mined["itemsets"], rules_df=mined["rules"],
                    substitutes_df=mined["substitutes"], manifest={"level": "sku", "min_support": 0.03},
                    extra_tables={"compare": cmp})
    run = read_run(out)
    pd.testing.assert_frame_equal(run.itemsets, mined["itemsets"])
    pd.testing.assert_frame_equal(run.rules, mined["rules"])
    pd.testing.assert_frame_equal(run.substitutes, mined["substitutes"])
    pd.testing.assert_frame_equal(run.tables["compare"], cmp)
    assert isinstance(run.rules["antecedents"].iloc[0], tuple)
    assert run.manifest["level"] == "sku" and run.manifest["min_support"] == 0.03
    assert set(run.manifest["files"]) == {p.name for p in out.iterdir()}
    assert run.manifest["created_at"].endswith("+00:00")
    assert run.path == out


def test_round_trip_keeps_inf_and_nan(tmp_path, mined):
    rules = mined["rules_plain"]
    assert rules["p_value_cmh"].isna().all()
    rules = rules.assign(conviction=np.where(np.arange(len(rules)) % 2 == 0, np.inf, rules["conviction"]))
    run = read_run(write_run(tmp_path / "r", itemsets_df=mined["itemsets"], rules_df=rules, manifest={}))
    pd.testing.assert_frame_equal(run.rules, rules)
    assert run.substitutes.empty and list(run.substitutes.columns) == list(mined["substitutes"].columns)


def test_csv_files_hold_json_arrays_and_read_back_without_parquet(tmp_path, mined):
    out = write_run(tmp_path / "run", itemsets_df=mined["itemsets"], rules_df=mined["rules"],
                    substitutes_df=mined["substitutes"], manifest={})
    raw = (out / "rules.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # BOM, for Excel
    csv = pd.read_csv(out / "rules.csv", encoding="utf-8-sig")
    assert json.loads(csv["antecedents"].iloc[0]) == list(mined["rules"]["antecedents"].iloc[0])
    for p in out.glob("*.parquet"):
        p.unlink()
    run = read_run(out)
    pd.testing.assert_frame_equal(run.rules, mined["rules"], check_dtype=False)
    pd.testing.assert_frame_equal(run.itemsets, mined["itemsets"], check_dtype=False)


def test_replaces_a_previous_run_and_leaves_no_temporary_folders(tmp_path, mined):
    target = tmp_path / "run"
    write_run(target, itemsets_df=mined["itemsets"], rules_df=mined["rules"], manifest={"n": 1})
    write_run(target, itemsets_df=mined["itemsets"].head(3), rules_df=mined["rules"].head(2), manifest={"n": 2})
    run = read_run(target)
    assert run.manifest["n"] == 2 and len(run.rules) == 2 and len(run.itemsets) == 3
    assert [p.name for p in tmp_path.iterdir()] == ["run"]


def test_a_failed_write_leaves_the_previous_run_untouched(tmp_path, mined, monkeypatch):
    target = tmp_path / "run"
    write_run(target, itemsets_df=mined["itemsets"], rules_df=mined["rules"], manifest={"n": 1})
    before = {p.name: p.read_bytes() for p in target.iterdir()}
    real = runs._write_table

    def fail_on_rules(folder, name, frame):
        if name == "rules":
            raise OSError("disk full")
        return real(folder, name, frame)

    monkeypatch.setattr(runs, "_write_table", fail_on_rules)
    with pytest.raises(OSError, match="disk full"):
        write_run(target, itemsets_df=mined["itemsets"].head(1), rules_df=mined["rules"], manifest={"n": 2})
    assert {p.name: p.read_bytes() for p in target.iterdir()} == before
    assert [p.name for p in tmp_path.iterdir()] == ["run"]
    with pytest.raises(OSError):
        write_run(tmp_path / "new", itemsets_df=mined["itemsets"], rules_df=mined["rules"], manifest={})
    assert [p.name for p in tmp_path.iterdir()] == ["run"]


def test_refuses_to_replace_a_folder_that_is_not_a_run(tmp_path, mined):
    precious = tmp_path / "docs"
    precious.mkdir()
    (precious / "thesis.docx").write_bytes(b"x")
    with pytest.raises(InputError, match="not a previous run"):
        write_run(precious, itemsets_df=mined["itemsets"], rules_df=mined["rules"], manifest={})
    assert (precious / "thesis.docx").read_bytes() == b"x"
    empty = tmp_path / "empty"
    empty.mkdir()
    write_run(empty, itemsets_df=mined["itemsets"], rules_df=mined["rules"], manifest={})
    assert (empty / "manifest.json").exists()


def test_read_run_of_a_folder_without_manifest(tmp_path):
    with pytest.raises(InputError, match="manifest"):
        read_run(tmp_path)


def test_manifest_accepts_numpy_and_paths(tmp_path, mined):
    out = write_run(tmp_path / "run", itemsets_df=mined["itemsets"], rules_df=mined["rules"],
                    manifest={"n": np.int64(3), "input": tmp_path / "x.csv", "levels": ("sku",)})
    m = read_run(out).manifest
    assert m["n"] == 3 and m["input"] == str(tmp_path / "x.csv") and m["levels"] == ["sku"]


def test_run_files_get_ordinary_permissions(tmp_path, mined):
    import os
    import stat

    mask = os.umask(0o022)
    try:
        out = write_run(tmp_path / "run", itemsets_df=mined["itemsets"], rules_df=mined["rules"], manifest={})
    finally:
        os.umask(mask)
    assert stat.S_IMODE(out.stat().st_mode) == 0o755
    assert {stat.S_IMODE(p.stat().st_mode) for p in out.iterdir()} == {0o644}
