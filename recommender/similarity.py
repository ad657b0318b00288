"""Item-to-item weights learned from baskets: EASE^R and cosine item-kNN.

In: clean receipt lines and the list of SKUs (the suggestion codes). Out: an
items x items sparse weight matrix ``W``; a basket ``x`` (0/1 over the SKUs)
scores item ``j`` with ``(x @ W)[j]``, the sum of the basket items' rows.

- :func:`ease` is EASE^R (Steck 2019) in closed form: ``P = (X'X + λI)^-1``,
  ``B = I - P diag(1/diag(P))``, i.e. ``B_ij = -P_ij / P_jj`` and ``B_jj = 0``.
- :func:`cosine` is the cosine similarity of item columns, diagonal zero.

Only the ``neighbours`` largest weights (by absolute value) of each row are
kept, so a run stores and serves a few hundred thousand numbers, not a dense
matrix; with ``neighbours >= n_items - 1`` nothing is dropped.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import sparse

__all__ = ["basket_matrix", "ease", "cosine", "prune", "fit", "LAMBDAS", "NEIGHBOURS", "MAX_ITEMS"]

#: λ values tried for EASE^R on the validation period (Steck's data sets land between 50 and 1,000).
LAMBDAS = (5.0, 20.0, 50.0, 100.0, 250.0, 500.0, 1000.0)
#: Weights kept per item row.
NEIGHBOURS = 200
#: Most frequent items kept for the dense EASE inverse (its memory is 8 x MAX_ITEMS^2 bytes).
MAX_ITEMS = 6000


def basket_matrix(lines: pd.DataFrame, code: dict) -> sparse.csr_matrix:
    """Receipts x items 0/1 matrix over the SKUs in ``code`` (SKU -> column).

    >>> lines = pd.DataFrame({"receipt_id": ["1", "1", "2"], "sku": ["a", "b", "a"]})
    >>> basket_matrix(lines, {"a": 0, "b": 1, "c": 2}).toarray().tolist()
    [[1.0, 1.0, 0.0], [1.0, 0.0, 0.0]]
    """
    col = lines["sku"].astype(str).map(code)
    keep = col.notna().to_numpy()
    rows = pd.factorize(lines["receipt_id"].astype(str).to_numpy(object)[keep])[0]
    cols = col[keep].to_numpy(np.int64)
    x = sparse.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(int(rows.max()) + 1 if len(rows) else 0,
                                                                      len(code)))
    x.data[:] = 1.0  # duplicates summed by the constructor: presence, not quantity
    return x


def ease(x, lam: float) -> np.ndarray:
    """EASE^R weights (dense, zero diagonal) for a receipts x items matrix ``x``.

    >>> x = np.array([[1, 1, 0], [1, 1, 0], [0, 1, 1]], float)
    >>> np.round(ease(x, 1.0), 3).tolist()
    [[0.0, 0.667, -0.25], [0.571, 0.0, 0.375], [-0.286, 0.5, 0.0]]
    """
    g = np.asarray((x.T @ x).todense() if sparse.issparse(x) else x.T @ x, dtype=np.float64)
    g[np.diag_indices_from(g)] += lam
    p = np.linalg.inv(g)
    b = p / -np.diag(p)
    b[np.diag_indices_from(b)] = 0.0
    return b


def cosine(x) -> np.ndarray:
    """Cosine similarity of the item columns of ``x`` (dense, zero diagonal).

    >>> x = np.array([[1, 1, 0], [1, 1, 0], [0, 1, 1]], float)
    >>> np.round(cosine(x), 3).tolist()
    [[0.0, 0.816, 0.0], [0.816, 0.0, 0.577], [0.0, 0.577, 0.0]]
    """
    g = np.asarray((x.T @ x).todense() if sparse.issparse(x) else x.T @ x, dtype=np.float64)
    norm = np.sqrt(np.diag(g))
    norm[norm == 0] = 1.0
    s = g / norm[:, None] / norm[None, :]
    s[np.diag_indices_from(s)] = 0.0
    return s


def prune(w: np.ndarray, neighbours: int = NEIGHBOURS) -> sparse.csr_matrix:
    """Keep the ``neighbours`` largest-magnitude weights of each row (ties: lower column first).

    >>> prune(np.array([[0, 3, -5, 1], [2, 0, 0, 0]], float), 2).toarray().tolist()
    [[0.0, 3.0, -5.0, 0.0], [2.0, 0.0, 0.0, 0.0]]
    """
    n_rows, n_cols = w.shape
    if neighbours >= n_cols:
        return sparse.csr_matrix(w)
    cols = np.argsort(-np.abs(w), axis=1, kind="stable")[:, :neighbours]
    rows = np.repeat(np.arange(n_rows), neighbours)
    vals = w[rows, cols.ravel()]
    out = sparse.csr_matrix((vals, (rows, cols.ravel())), shape=w.shape)
    out.eliminate_zeros()
    return out


def _active(x, max_items: int) -> np.ndarray:
    """Columns bought on at least one receipt, at most ``max_items`` of the most frequent."""
    counts = np.asarray(x.sum(axis=0)).ravel()
    active = np.flatnonzero(counts > 0)
    if len(active) > max_items:
        active = np.sort(active[np.lexsort((active, -counts[active]))][:max_items])
    return active


def fit(lines: pd.DataFrame, skus, method: str, lam: float | None = None, neighbours: int = NEIGHBOURS,
        max_items: int = MAX_ITEMS) -> sparse.csr_matrix:
    """Pruned ``len(skus) x len(skus)`` weights of ``method`` ("ease" or "itemknn") fitted on ``lines``.

    >>> lines = pd.DataFrame({"receipt_id": list("112233"), "sku": list("ababac")})
    >>> np.round(fit(lines, ["a", "b", "c"], "itemknn").toarray(), 3).tolist()
    [[0.0, 0.816, 0.577], [0.816, 0.0, 0.0], [0.577, 0.0, 0.0]]
    """
    code = {s: i for i, s in enumerate(skus)}
    x = basket_matrix(lines, code)
    active = _active(x, max_items)
    sub = x[:, active]
    if method == "ease":
        w = ease(sub, float(lam))
    elif method == "itemknn":
        w = cosine(sub)
    else:
        raise ValueError(f"method must be 'ease' or 'itemknn', not {method!r}")
    small = prune(w, neighbours).tocoo()
    n = len(skus)
    return sparse.csr_matrix((small.data, (active[small.row], active[small.col])), shape=(n, n))
