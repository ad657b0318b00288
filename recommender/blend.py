"""Learn the suggestion blend on a validation period inside the training data.

In: training receipt lines (and the catalog), mining parameters. Out: a
:class:`Blend` -- one weight per source of :data:`recommender.suggest.SOURCES`
(rules, history, attributes, best sellers, EASE^R, item-kNN), the EASE^R λ
and a score -> probability map -- and, with :func:`attach`, a
:class:`recommender.suggest.Recommender` that uses it.

How
---
1. Split the training lines by time: the last ``val_days`` are the validation
   period, everything before is the fitting part. The test period of an
   evaluation is never seen: :func:`recommender.evaluate.evaluate` calls this
   on its training lines only.
2. Mine the fitting part, build a recommender on it, and choose λ for EASE^R
   by hit rate@k on the validation receipts (one hidden item each, as in the
   evaluation) among :data:`recommender.similarity.LAMBDAS`.
3. For each validation basket keep, per source, the scores of its best
   :data:`CANDIDATES` items (each source divided by its best allowed item,
   see :func:`recommender.suggest.normalise`) and of the hidden item.
4. Search the weights: start from every source alone and from the fixed
   weights, keep the start with the most validation hits, then change one
   weight at a time over :data:`GRID` while hits go up. Because every source
   alone is a start, the blend's validation hit rate is at least every part's;
   a source whose weight ends at zero does not join the blend.
5. Calibrate: the share of validation baskets whose hidden item sat at each
   rank of the blended score (made non-increasing) is the probability that
   ``rank_by="margin"`` multiplies by the unit margin.

:func:`save_blend` / :func:`load_blend` keep a blend in a run folder
(``blend.json`` and ``similarity.npz``, written atomically).
"""

from __future__ import annotations

import io
import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["Blend", "learn_blend", "attach", "save_blend", "load_blend", "choose_lambda", "search_weights", "GRID",
           "CANDIDATES"]

#: Weights tried for each source (best sellers never drop below the smallest: they fill the list).
GRID = (0.0, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0)
#: Best items per source and basket kept for the weight search.
CANDIDATES = 100
FILL = 1e-4
#: EASE^R λ when there is no validation period to choose it on.
DEFAULT_LAMBDA = 50.0


@dataclass
class Blend:
    """A learned blend: ``weights`` by source (None: the fixed weights), EASE^R ``ease_lambda``, ``calibration``
    (probability that the item at rank 0, 1, ... is wanted)."""

    weights: dict | None
    ease_lambda: float | None
    calibration: list | None = None
    validation: dict = field(default_factory=dict)

    @property
    def joined(self) -> list[str]:
        """Sources with a weight above the fill level (they shape the ranking)."""
        return [s for s, w in (self.weights or {}).items() if w > FILL]


def _default_params(lines, level="sku"):
    from recommender.pipeline import MiningParams

    n = int(lines["receipt_id"].nunique())
    return MiningParams(level=level, min_count=max(10, math.ceil(0.001 * n)), min_confidence=0.01, max_len=2)


def choose_lambda(fit_lines: pd.DataFrame, skus, cases, k: int = 5, lambdas=None) -> tuple[float, dict]:
    """λ with the most validation hits for plain EASE^R (dense, basket items excluded), and hits per λ.

    ``cases`` are ``(basket, hidden, store, customer)`` tuples; ties go to the smaller λ.
    """
    from recommender.similarity import LAMBDAS, _active, basket_matrix, ease

    lambdas = LAMBDAS if lambdas is None else lambdas
    code = {s: i for i, s in enumerate(skus)}
    x = basket_matrix(fit_lines, code)
    active = _active(x, 10 ** 9)
    pos = np.full(len(skus), -1, np.int64)
    pos[active] = np.arange(len(active))
    sub = x[:, active]
    rows, cols, hidden = [], [], []
    for i, (basket, hid, _s, _c) in enumerate(cases):
        for s in basket:
            j = pos[code[s]] if s in code else -1
            if j >= 0:
                rows.append(i)
                cols.append(j)
        hidden.append(pos[code[hid]] if hid in code else -1)
    from scipy import sparse

    xv = sparse.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(cases), len(active)))
    xv.data[:] = 1.0
    hidden = np.asarray(hidden)
    hits = {}

    def trial(lam):
        scores = np.asarray(xv @ ease(sub, lam))
        scores[xv.nonzero()] = -np.inf
        hits[float(lam)] = int(_hits_dense(scores, hidden, k))

    for lam in lambdas:
        trial(lam)
    # A best λ at the edge of the grid: look two steps (x4) further that way.
    for _ in range(2):
        best = max(hits, key=lambda lam: (hits[lam], -lam))
        if best == max(hits):
            trial(best * 4)
        elif best == min(hits) and best / 4 >= 0.1:
            trial(best / 4)
        else:
            break
    best = max(hits, key=lambda lam: (hits[lam], -lam))
    return best, dict(sorted(hits.items()))


def _hits_dense(scores: np.ndarray, hidden: np.ndarray, k: int) -> int:
    """Rows whose hidden column ranks in the top ``k`` (score descending, then column ascending)."""
    ok = hidden >= 0
    s = scores[ok]
    h = hidden[ok]
    hs = s[np.arange(len(h)), h]
    cols = np.arange(s.shape[1])[None, :]
    better = (s > hs[:, None]) | ((s == hs[:, None]) & (cols < h[:, None]))
    return int(((better.sum(axis=1) < k) & np.isfinite(hs)).sum())


def _candidate_table(rec, cases, k: int, top: int = CANDIDATES):
    """Normalised source scores of each validation basket's candidates: (features, case, code, is_hidden)."""
    from recommender.suggest import SOURCES, normalise

    feats, case_ids, codes, is_hidden = [], [], [], []
    for i, (basket, hidden, store, customer) in enumerate(cases):
        h = rec.code.get(hidden)
        terms, allowed, _ = rec.components(basket, customer, store, SOURCES)
        if h is None or not allowed[h]:
            continue  # the hidden item cannot be suggested: a miss for every weighting
        norm = normalise(terms, allowed)
        masked = np.where(allowed[None, :], norm, -1.0)
        pick = set()
        for row in masked:
            m = min(top, len(row) - 1)
            idx = np.argpartition(-row, m)[:m + 1]
            pick.update(idx[row[idx] > 0].tolist())
        # Items no source scores tie at zero and are ranked by code: the lowest codes stand for them.
        zero = np.flatnonzero(allowed & (norm.sum(axis=0) == 0))[:k]
        pick.update(zero.tolist())
        pick.add(h)
        cand = np.fromiter(pick, np.int64)
        feats.append(norm[:, cand].T)
        case_ids.append(np.full(len(cand), i))
        codes.append(cand)
        is_hidden.append(cand == h)
    if not feats:
        return np.zeros((0, len(SOURCES))), np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, bool)
    return np.vstack(feats), np.concatenate(case_ids), np.concatenate(codes), np.concatenate(is_hidden)


def _hidden_rank(table, w: np.ndarray, n_cases: int) -> tuple[np.ndarray, np.ndarray]:
    """Per validation case: the 0-based rank of its hidden item under weights ``w`` (ties by code), and
    whether the hidden item is among the case's candidates at all."""
    feats, case, code, hid = table
    score = feats @ w
    hs = np.full(n_cases, np.nan)
    hc = np.zeros(n_cases, np.int64)
    hs[case[hid]] = score[hid]
    hc[case[hid]] = code[hid]
    better = (score > hs[case]) | ((score == hs[case]) & (code < hc[case]))
    return np.bincount(case[better], minlength=n_cases), ~np.isnan(hs)


def _hits(table, w: np.ndarray, n_cases: int, k: int) -> np.ndarray:
    """Per validation case: whether its hidden item is in the top ``k`` under weights ``w``."""
    if not len(table[0]):
        return np.zeros(n_cases, bool)
    rank, found = _hidden_rank(table, w, n_cases)
    return (rank < k) & found


def _clearly_better(new: np.ndarray, old: np.ndarray, z: float = 2.0) -> bool:
    """Paired sign test: cases newly hit minus cases lost at least ``z`` standard deviations above zero.

    Small weights that win a handful of validation baskets are noise and lose them on the
    test period; a change has to win clearly to be kept.

    >>> _clearly_better(np.array([1] * 30 + [0] * 5, bool), np.array([0] * 30 + [1] * 5, bool))
    True
    >>> _clearly_better(np.array([1, 1, 0], bool), np.array([0, 0, 1], bool))
    False
    """
    gained = int((new & ~old).sum())
    lost = int((old & ~new).sum())
    return gained - lost > 0 and gained - lost >= z * math.sqrt(gained + lost)


def search_weights(table, n_cases: int, k: int = 5, grid=GRID) -> tuple[np.ndarray, dict]:
    """Weights (in :data:`SOURCES` order) that win the validation cases; hits of each source alone and the blend."""
    from recommender.suggest import SOURCES, WEIGHTS

    feats = table[0]
    present = [j for j, _ in enumerate(SOURCES) if len(feats) and feats[:, j].max() > 0]
    bs = SOURCES.index("bestseller")
    alone = {}
    starts = []
    for j in present:
        w = np.zeros(len(SOURCES))
        w[j] = 1.0
        if j != bs:
            w[bs] = FILL
        starts.append(w)
    starts.append(np.array([WEIGHTS.get(s, 0.0) for s in SOURCES]))
    got = [_hits(table, w, n_cases, k) for w in starts]
    for j, h in zip(present, got):
        alone[SOURCES[j]] = int(h.sum())
    i = max(range(len(starts)), key=lambda i: (int(got[i].sum()), -i))
    best, best_hits = starts[i].copy(), got[i]
    for _ in range(4):
        improved = False
        for j in present:
            trials = []
            for v in grid:
                v = max(v, FILL) if j == bs else v
                if v == best[j]:
                    continue
                w = best.copy()
                w[j] = v
                if w.any():
                    trials.append((int((h := _hits(table, w, n_cases, k)).sum()), -abs(v - best[j]), w, h))
            if trials:
                n_hits, _, w, h = max(trials, key=lambda t: (t[0], t[1]))
                if _clearly_better(h, best_hits):
                    best, best_hits, improved = w, h, True
        if not improved:
            break
    alone["blend"] = int(best_hits.sum())
    return best, alone


def _calibrate(table, w: np.ndarray, n_cases: int, depth: int = CANDIDATES):
    """Chance that the item at each rank (0-based, by blended score) is the one the shopper wanted.

    The share of validation baskets whose hidden item sat at that rank, made
    non-increasing (a lower rank is never more likely); zero beyond ``depth``.
    """
    if not len(table[0]) or not n_cases:
        return None
    rank, found = _hidden_rank(table, w, n_cases)
    rank = rank[found]
    share = np.bincount(rank[rank < depth], minlength=depth)[:depth] / n_cases
    return [round(float(v), 8) for v in np.minimum.accumulate(share)]


def learn_blend(lines: pd.DataFrame, catalog=None, params=None, *, val_days=30, k: int = 5, seed: int = 0,
                lambdas=None, progress=None) -> Blend:
    """Learn the blend's weights and the EASE^R λ on the last ``val_days`` of ``lines`` (see the module docstring).

    Parameters
    ----------
    lines : DataFrame
        Training receipt lines with ``timestamp`` (never the test period).
    catalog : DataFrame, optional
    params : MiningParams, optional
        How to mine the fitting part (default: the evaluation's support rule, pair rules).
    val_days : int or "last month"
        Size of the validation period at the end of ``lines``.
    k : int
        Hit rate@k is what the weights maximise.
    seed : int
        Which item is hidden in each validation receipt.
    """
    from recommender.evaluate import _test_cases, split_by_time
    from recommender.pipeline import mine
    from recommender.similarity import fit
    from recommender.suggest import SOURCES, Recommender

    say = progress or (lambda done, total, message: None)
    fit_lines, val, cutoff = split_by_time(lines, val_days)
    cases = _test_cases(val, seed) if len(val) else []
    if fit_lines["receipt_id"].nunique() < 2 or not cases:
        # Too little history to learn from: the fixed weights, no similarity source.
        return Blend(weights=None, ease_lambda=None,
                     validation={"note": "no validation period inside the training data: fixed weights, "
                                         f"EASE^R at lambda {DEFAULT_LAMBDA:g}"})
    params = params or _default_params(fit_lines)
    say(0, 4, f"validation: mining {fit_lines['receipt_id'].nunique():,} receipts before {cutoff}")
    result = mine(fit_lines, catalog, params)
    rec = Recommender.from_run(result, catalog=catalog, lines=fit_lines)
    say(1, 4, f"validation: choosing the EASE^R λ on {len(cases):,} baskets")
    lam, lam_hits = choose_lambda(fit_lines, rec.skus, cases, k, lambdas)
    rec.use_blend({}, {"ease": fit(fit_lines, rec.skus, "ease", lam), "itemknn": fit(fit_lines, rec.skus, "itemknn")})
    say(2, 4, "validation: scoring candidates")
    table = _candidate_table(rec, cases, k)
    say(3, 4, "validation: searching the weights")
    w, hits = search_weights(table, len(cases), k)
    n = len(cases)
    return Blend(weights={s: float(v) for s, v in zip(SOURCES, w)}, ease_lambda=float(lam),
                 calibration=_calibrate(table, w, len(cases)),
                 validation={"cutoff": str(cutoff), "n_cases": n, "k": k,
                             "hit_rate": {s: round(h / n, 6) for s, h in hits.items()},
                             "ease_hits_by_lambda": {str(lam_): h for lam_, h in lam_hits.items()}})


def attach(rec, lines: pd.DataFrame, blend: Blend):
    """Fit EASE^R (at the blend's λ) and item-kNN on ``lines`` and make ``rec`` use the blend; returns ``rec``."""
    from recommender.similarity import fit

    lam = DEFAULT_LAMBDA if blend.ease_lambda is None else blend.ease_lambda
    sims = {"ease": fit(lines, rec.skus, "ease", lam), "itemknn": fit(lines, rec.skus, "itemknn")}
    return rec.use_blend(blend.weights, sims, blend.calibration)


def save_blend(folder, rec, blend: Blend) -> Path:
    """Write ``similarity.npz`` then ``blend.json`` into a run folder (each atomically); return the folder."""
    from recommender.atomic import atomic_write_bytes, atomic_write_text
    from recommender.suggest import BLEND_FILE, SIMILARITY_FILE

    folder = Path(folder)
    arrays = {"skus": np.asarray(rec.skus, dtype=str)}
    for name, w in rec.similarity.items():
        coo = w.tocoo()
        arrays.update({f"{name}_row": coo.row.astype(np.int32), f"{name}_col": coo.col.astype(np.int32),
                       f"{name}_val": coo.data.astype(np.float32)})
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    atomic_write_bytes(folder / SIMILARITY_FILE, buf.getvalue())
    info = asdict(blend)
    info["joined"] = blend.joined
    atomic_write_text(folder / BLEND_FILE, json.dumps(info, ensure_ascii=False, indent=2))
    return folder


def load_blend(rec, folder):
    """Make ``rec`` use the blend saved in a run folder (SKUs it does not know are dropped); returns ``rec``."""
    from scipy import sparse

    from recommender.suggest import BLEND_FILE, SIMILARITY_FILE

    folder = Path(folder)
    info = json.loads((folder / BLEND_FILE).read_text(encoding="utf-8"))
    sims = {}
    path = folder / SIMILARITY_FILE
    if path.exists():
        with np.load(path, allow_pickle=False) as data:
            skus = data["skus"].tolist()
            remap = np.array([rec.code.get(s, -1) for s in skus], np.int64)
            n = len(rec.skus)
            for name in ("ease", "itemknn"):
                if f"{name}_row" not in data:
                    continue
                r, c, v = remap[data[f"{name}_row"]], remap[data[f"{name}_col"]], data[f"{name}_val"]
                ok = (r >= 0) & (c >= 0)
                sims[name] = sparse.csr_matrix((v[ok].astype(np.float64), (r[ok], c[ok])), shape=(n, n))
    cal = info.get("calibration")
    return rec.use_blend(info["weights"], sims, cal)
