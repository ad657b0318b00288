"""The reference engine: mlxtend's FP-growth, with our exact threshold.

In: a canonical boolean CSR matrix and ``min_count``. Out: the itemsets
DataFrame of :func:`recommender.mining.frequent_itemsets` (unsorted).

mlxtend thresholds on a float support (turned into a count with
``ceil(min_support * n)``, so 0.28 of 25 receipts becomes 8, not 7); we ask
for half a receipt less than ``min_count / n``, turn its supports back into
integer counts with ``round(support * n)`` and keep ``count >= min_count``, so
the result does not depend on float rounding at the boundary.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def mine_mlxtend(matrix, min_count: int, max_len: int | None = None, progress=None) -> pd.DataFrame:
    """Frequent itemsets of ``matrix`` by ``mlxtend.frequent_patterns.fpgrowth``.

    Examples
    --------
    >>> import scipy.sparse as sp
    >>> m = sp.csr_array(np.array([[1, 1], [1, 0], [1, 1]], dtype=bool))
    >>> mine_mlxtend(m, 2).to_records(index=False).tolist()
    [((0,), 3), ((1,), 2), ((0, 1), 2)]
    """
    from mlxtend.frequent_patterns import fpgrowth

    n_receipts, n_items = matrix.shape
    empty = pd.DataFrame({"items": pd.Series([], dtype=object), "count": pd.Series([], dtype=np.int64)})
    if min_count > n_receipts or n_items == 0 or matrix.nnz == 0:
        return empty
    if progress is not None:
        progress(0, 1, "encoding for mlxtend")
    frame = encode_sparse(matrix)
    if progress is not None:
        progress(0, 1, "mlxtend fpgrowth")
    found = fpgrowth(frame, min_support=(min_count - 0.5) / n_receipts, use_colnames=False, max_len=max_len)
    if progress is not None:
        progress(1, 1, "mlxtend fpgrowth done")
    if len(found) == 0:
        return empty
    counts = np.rint(found["support"].to_numpy() * n_receipts).astype(np.int64)
    items = [tuple(sorted(int(i) for i in s)) for s in found["itemsets"]]
    keep = counts >= min_count
    return pd.DataFrame({"items": pd.Series([t for t, k in zip(items, keep) if k], dtype=object),
                         "count": counts[keep]})


def encode_sparse(matrix) -> pd.DataFrame:
    """The sparse boolean DataFrame mlxtend expects (columns = column indices)."""
    return pd.DataFrame.sparse.from_spmatrix(matrix.astype(bool), columns=range(matrix.shape[1]))
