"""Baselines in the evaluation (EASE^R, item-kNN) and the learned blend that must not lose to them."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recommender.blend import _clearly_better, learn_blend, load_blend, save_blend, search_weights
from recommender.evaluate import evaluate
from recommender.receipts import LoadOptions, load_receipts
from recommender.similarity import LAMBDAS, fit, prune
from recommender.suggest import SOURCES, Recommender

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from groceries import groceries_export  # noqa: E402


def _small_shop(seed=0, n_receipts=900, n_items=30):
    """Receipts over 120 days: popular items, two planted pairs, one receipt a few hours apart."""
    rng = np.random.default_rng(seed)
    pop = 1.0 / (np.arange(n_items) + 2.0)
    pop /= pop.sum()
    start = pd.Timestamp("2025-01-01")
    rows = []
    for r in range(n_receipts):
        items = set(rng.choice(n_items, size=1 + rng.poisson(1.5), p=pop).tolist())
        if 3 in items and rng.random() < 0.6:
            items.add(17)
        if 5 in items and rng.random() < 0.5:
            items.add(22)
        t = start + pd.Timedelta(hours=float(r) * 120 * 24 / n_receipts)
        rows += [(f"R{r:05d}", f"I{i:02d}", t) for i in sorted(items)]
    return pd.DataFrame(rows, columns=["receipt_id", "sku", "timestamp"])


def _numpy_ease(x: np.ndarray, lam: float) -> np.ndarray:
    """EASE^R as written in Steck (2019), eq. 8: B = I - P diagMat(1 / diag(P)), P = (X'X + λI)^-1."""
    g = x.T @ x + lam * np.eye(x.shape[1])
    p = np.linalg.inv(g)
    return np.eye(x.shape[1]) - p @ np.diag(1.0 / np.diag(p))


def _cases(test: pd.DataFrame, seed=0):
    """The protocol, re-stated: receipts in id order, SKUs sorted, one hidden by the seeded generator."""
    rng = np.random.default_rng(seed)
    out = []
    for _rid, grp in sorted(test.groupby("receipt_id")):
        skus = sorted(set(grp["sku"]))
        if len(skus) >= 2:
            h = int(rng.integers(len(skus)))
            out.append((skus[:h] + skus[h + 1:], skus[h]))
    return out


def _split(lines, days=30):
    start = lines.groupby("receipt_id")["timestamp"].transform("min")
    cutoff = start.max() - pd.Timedelta(days=days)
    return lines[start < cutoff], lines[start >= cutoff]


def _ease_hits(train, cases, lam, k=5):
    items = sorted(set(train["sku"]))
    col = {s: i for i, s in enumerate(items)}
    x = np.zeros((train["receipt_id"].nunique(), len(items)))
    for r, (_rid, grp) in enumerate(train.groupby("receipt_id")):
        x[r, [col[s] for s in grp["sku"]]] = 1.0
    b = _numpy_ease(x, lam)
    hits = 0
    for basket, hidden in cases:
        v = np.zeros(len(items))
        v[[col[s] for s in basket if s in col]] = 1.0
        scores = v @ b
        order = [j for j in np.lexsort((np.arange(len(items)), -scores)) if v[j] == 0][:k]
        hits += hidden in {items[j] for j in order}
    return hits


def test_ease_row_is_a_faithful_ease_with_lambda_chosen_inside_the_training_data():
    lines = _small_shop()
    table = evaluate(lines, test_days=30, k=5, min_count=2)
    assert list(table["method"]) == ["blend", "rules", "bestsellers", "ease", "itemknn", "blend_margin"]
    train, test = _split(lines)
    # λ: the grid value with most hits on the last 30 days of the training data, fitted on what precedes them.
    fit_part, val = _split(train)
    tried = [float(v) for v in table.attrs["validation"]["ease_hits_by_lambda"]]
    assert set(LAMBDAS) <= set(tried)  # the grid, perhaps extended at the edge the best λ sits on
    val_hits = {lam: _ease_hits(fit_part, _cases(val), lam) for lam in tried}
    best = max(val_hits, key=lambda lam: (val_hits[lam], -lam))
    assert table.attrs["ease_lambda"] == best
    assert table.attrs["validation"]["ease_hits_by_lambda"] == {str(k): v for k, v in val_hits.items()}
    # The ease row: that λ refitted on all training receipts, scored on the test receipts.
    row = table.set_index("method").loc["ease"]
    cases = _cases(test)
    assert row["n_test"] == len(cases)
    assert row["hits"] == _ease_hits(train, cases, best)


def test_item_knn_is_the_cosine_of_item_columns():
    lines = _small_shop(n_receipts=200, n_items=12)
    skus = sorted(set(lines["sku"]))
    x = pd.crosstab(lines["receipt_id"], lines["sku"]).reindex(columns=skus).to_numpy(float).clip(0, 1)
    norms = np.sqrt((x * x).sum(axis=0))
    expected = (x.T @ x) / np.outer(norms, norms)
    np.fill_diagonal(expected, 0.0)
    np.testing.assert_allclose(fit(lines, skus, "itemknn").toarray(), expected, rtol=1e-12, atol=1e-12)


def test_pruning_keeps_the_largest_weights_of_each_row():
    rng = np.random.default_rng(1)
    w = rng.normal(size=(20, 20))
    kept = prune(w, 5).toarray()
    assert ((kept != 0).sum(axis=1) == 5).all()
    for i in range(20):
        assert set(np.flatnonzero(kept[i])) == set(np.argsort(-np.abs(w[i]), kind="stable")[:5])


def test_weight_search_never_loses_to_a_single_source_on_validation():
    rng = np.random.default_rng(0)
    n_cases, per = 300, 20
    feats = rng.random((n_cases * per, len(SOURCES)))
    case = np.repeat(np.arange(n_cases), per)
    code = np.tile(np.arange(per), n_cases)
    hidden = np.zeros(n_cases * per, bool)
    hidden[np.arange(n_cases) * per + rng.integers(per, size=n_cases)] = True
    feats[hidden, 0] += 0.3  # the first source knows something
    feats[hidden, 4] += 0.3 * (rng.random(n_cases) < 0.5)  # the fifth too, on half the cases
    w, hits = search_weights((feats, case, code, hidden), n_cases, k=5)
    assert all(hits["blend"] >= h for s, h in hits.items())
    assert w[0] > 0 and w[4] > 0


def test_a_change_must_win_clearly():
    old = np.zeros(100, bool)
    assert not _clearly_better(old, old)
    new = old.copy()
    new[:3] = True
    assert not _clearly_better(new, old)  # 3 more hits out of nothing lost: z = 1.7
    new[:5] = True
    assert _clearly_better(new, old)


def _groceries(tmp_path):
    path = groceries_export(tmp_path / "groceries.csv")
    opts = LoadOptions(mapping={"receipt_id": "Member_number+Date", "customer_id": "Member_number", "timestamp": "Date", "sku": "itemDescription"}, dayfirst=True)
    return load_receipts(path, opts).lines


@pytest.mark.slow
def test_on_a_grocery_export_with_weak_associations_the_blend_is_at_least_best_sellers(tmp_path):
    lines = _groceries(tmp_path)
    table = evaluate(lines, test_days=30, k=5)
    rate = table.set_index("method")["hit_rate"]
    assert rate["blend"] >= rate["bestsellers"]
    assert table.attrs["validation"]["hit_rate"]["blend"] >= max(
        v for s, v in table.attrs["validation"]["hit_rate"].items() if s != "blend")


def test_a_learned_blend_round_trips_through_the_run_folder(tmp_path):
    from recommender.blend import attach
    from recommender.pipeline import MiningParams, mine
    from recommender.runs import write_run

    lines = _small_shop()
    blend = learn_blend(lines, params=MiningParams(min_count=2, min_confidence=0.01, max_len=2))
    result = mine(lines, params=MiningParams(min_count=2, min_confidence=0.01, max_len=2))
    run = write_run(tmp_path / "run", itemsets_df=result.itemsets, rules_df=result.rules, manifest=result.manifest)
    rec = attach(Recommender.from_run(run, lines=lines), lines, blend)
    save_blend(run, rec, blend)
    again = Recommender.from_run(run, lines=lines)
    assert again.weights == rec.weights
    for name in ("ease", "itemknn"):
        np.testing.assert_allclose(again.similarity[name].toarray(), rec.similarity[name].toarray(), rtol=1e-6)
    for basket in (["I03"], ["I05", "I00"], []):
        assert [s["item"] for s in again.suggest(basket, k=5)] == [s["item"] for s in rec.suggest(basket, k=5)]
    got = rec.suggest(["I03"], k=5)
    sim = [g for g in got if g["source"] in ("ease", "itemknn")]
    assert all(g["reason"].startswith("often bought with ") for g in sim)


def test_suspected_non_products_are_never_suggested(tmp_path):
    from recommender.items import item_table
    from recommender.nonproducts import detect_non_products
    from recommender.pipeline import MiningParams, mine
    from recommender.runs import write_run

    lines = _small_shop()
    lines["name"] = "ITEM " + lines["sku"]
    lines["unit_price"] = 2.0
    fee = lines.drop_duplicates("receipt_id").assign(sku="POST", name="POSTAGE", unit_price=18.0)
    lines = pd.concat([lines, fee], ignore_index=True)  # on every receipt: the top best seller
    assert "POST" in set(detect_non_products(lines)["sku"])
    direct = Recommender.from_run(mine(lines, params=MiningParams(min_count=2)), lines=lines)
    result = mine(lines, params=MiningParams(min_count=2))
    run = write_run(tmp_path / "run", itemsets_df=result.itemsets, rules_df=result.rules, manifest=result.manifest,
                    extra_tables={"items": item_table(lines, detect_non_products(lines))})
    from_items = Recommender.from_run(run)
    for rec in (direct, from_items):
        for basket in ([], ["I03"], ["I01", "I02"]):
            assert "POST" not in [s["item"] for s in rec.suggest(basket, k=10)]


def test_rank_by_margin_orders_by_probability_times_unit_margin():
    from recommender.blend import attach
    from recommender.pipeline import MiningParams, mine

    lines = _small_shop()
    price = {f"I{i:02d}": 1.0 + (i * 7) % 13 for i in range(30)}
    lines["unit_price"] = lines["sku"].map(price)
    params = MiningParams(min_count=2, min_confidence=0.01, max_len=2)
    blend = learn_blend(lines, params=params)
    assert blend.calibration and all(a >= b for a, b in zip(blend.calibration, blend.calibration[1:]))
    rec = attach(Recommender.from_run(mine(lines, params=params), lines=lines), lines, blend)
    for basket in (["I03"], ["I05", "I01"]):
        got = rec.suggest(basket, k=6, rank_by="margin")
        assert [g["expected_margin"] for g in got] == sorted((g["expected_margin"] for g in got), reverse=True)
        for g in got:
            assert g["unit_margin"] == pytest.approx(0.3 * price[g["item"]])
            assert g["expected_margin"] == pytest.approx(g["probability"] * g["unit_margin"], abs=1e-5)
        by_score = [g["item"] for g in rec.suggest(basket, k=6)]
        assert set(basket).isdisjoint(g["item"] for g in got) and len(by_score) == 6
    with pytest.raises(ValueError):
        rec.suggest(["I03"], rank_by="price")


def test_cli_blend_then_suggest_and_evaluate(tmp_path, cli):
    import json

    lines = _small_shop()
    path = tmp_path / "receipts.csv"
    lines.assign(timestamp=lines["timestamp"].dt.strftime("%Y-%m-%d %H:%M")).to_csv(path, index=False)
    run = tmp_path / "run"
    assert cli("mine", str(path), "--out", str(run), "--min-count", "2", "--max-len", "2",
               "--min-confidence", "0.01").returncode == 0
    res = cli("blend", str(run))
    assert res.returncode == 0, res.stderr
    info = json.loads((run / "blend.json").read_text())
    assert set(info["weights"]) == set(SOURCES) and (run / "similarity.npz").exists()
    res = cli("suggest", str(run), "--basket", "I03", "--k", "4", "--json")
    out = json.loads(res.stdout)
    direct = Recommender.from_run(run, lines=load_receipts(path).lines).suggest(["I03"], k=4)
    assert out["suggestions"] == direct and len(direct) == 4
    res = cli("evaluate", str(path), "--min-count", "2", "--json")
    assert res.returncode == 0, res.stderr
    assert [r["method"] for r in json.loads(res.stdout)] == ["blend", "rules", "bestsellers", "ease", "itemknn",
                                                            "blend_margin"]
