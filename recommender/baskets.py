"""Clean receipt lines -> a sparse boolean receipt x item matrix at a catalog level.

In: the ``lines`` DataFrame of :func:`recommender.receipts.load_receipts` (at least
``receipt_id`` and ``sku``), optionally a catalog and a level. Out: :class:`Baskets`,
a CSR matrix with one row per receipt and one column per item at that level,
True where the receipt contains the item (however many units or lines).

The matrix is built from integer codes straight into COO/CSR form, so memory is
proportional to the number of lines, never to receipts x items.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Baskets:
    """Receipts as sets of items.

    Attributes
    ----------
    matrix : scipy.sparse.csr_array of bool (or :class:`BoolRows`), shape (n_receipts, n_items)
        Row i holds the items of receipt ``receipts[i]``; sorted column indices,
        no duplicates.
    receipts : pandas.Index or numpy.ndarray
        Receipt ids, in row order (sorted by :func:`build_baskets`).
    items : pandas.Index or numpy.ndarray
        Item labels at ``level`` (strings), in column order (sorted).
    level : str
        The catalog level of the items.
    n_unmapped_lines : int
        Lines whose SKU had no value at ``level`` in the catalog (left out of
        the matrix; 0 at SKU level).
    """

    matrix: sp.csr_array
    receipts: pd.Index
    items: pd.Index
    level: str = "sku"
    n_unmapped_lines: int = 0

    @property
    def n_receipts(self) -> int:
        return self.matrix.shape[0]

    @property
    def n_items(self) -> int:
        return self.matrix.shape[1]

    def item_counts(self) -> pd.Series:
        """Number of receipts containing each item."""
        import pandas as pd

        return pd.Series(np.asarray(self.matrix.sum(axis=0)).ravel(), index=self.items, name="count")

    def sizes(self) -> np.ndarray:
        """Number of distinct items in each receipt."""
        return np.diff(self.matrix.indptr)

    def as_sets(self) -> list[frozenset]:
        """Each receipt as a frozenset of item labels (for tests and small data)."""
        m, labels = self.matrix, np.asarray(self.items, dtype=object)
        return [frozenset(labels[m.indices[m.indptr[i]:m.indptr[i + 1]]]) for i in range(m.shape[0])]


def build_baskets(lines: pd.DataFrame, catalog: pd.DataFrame | None = None, level: str = "sku") -> Baskets:
    """Return the receipt x item matrix of ``lines`` at ``level``.

    Parameters
    ----------
    lines : DataFrame
        Clean receipt lines with ``receipt_id`` and ``sku``.
    catalog : DataFrame, optional
        Needed for any level other than ``sku``.
    level : str
        One of :data:`recommender.catalog.LEVELS`.

    Returns
    -------
    Baskets

    Examples
    --------
    >>> import pandas as pd
    >>> lines = pd.DataFrame({"receipt_id": ["r1", "r1", "r2", "r1"], "sku": ["b", "a", "a", "b"]})
    >>> b = build_baskets(lines)
    >>> b.matrix.toarray().tolist(), list(b.items), list(b.receipts)
    ([[True, True], [True, False]], ['a', 'b'], ['r1', 'r2'])
    """
    import pandas as pd

    from recommender.catalog import level_map

    mapping = level_map(catalog, level)
    receipt_ids = lines["receipt_id"]
    if mapping is None:
        item_values = lines["sku"]
        n_unmapped = 0
    else:
        item_values = lines["sku"].map(mapping)
        known = item_values.notna().to_numpy()
        n_unmapped = int((~known).sum())
        item_values = item_values[known]
        receipt_ids = receipt_ids[known]
    # Receipts with no mapped item still get an (empty) row: a receipt is a receipt.
    r_codes, r_labels = pd.factorize(lines["receipt_id"].astype("string"), sort=True)
    if mapping is not None:
        r_codes = r_codes[known]
    i_codes, i_labels = pd.factorize(item_values.astype("string"), sort=True)
    return from_codes(r_codes, i_codes, pd.Index(r_labels, dtype="string"), pd.Index(i_labels, dtype="string"),
                      level=level, n_unmapped_lines=n_unmapped)


class BoolRows:
    """A boolean receipts x items matrix as bare CSR arrays: what the numpy miner and tests read, no scipy.

    ``indptr`` and ``indices`` (sorted, unique within each row) as in a
    canonical ``scipy.sparse.csr_array``; :meth:`to_scipy` makes one. Importing
    scipy.sparse costs about 0.1 CPU second and 20 MB, a tenth of mining a
    basket-per-line file (:mod:`recommender.basket_mine`), which is why this exists.

    >>> m = BoolRows(np.array([0, 2, 3]), np.array([0, 1, 0]), (2, 2))
    >>> m.to_scipy().toarray().tolist(), m.nnz
    ([[True, True], [True, False]], 3)
    """

    def __init__(self, indptr, indices, shape):
        self.indptr = np.asarray(indptr, dtype=np.int64)
        self.indices = np.asarray(indices, dtype=np.int32 if shape[1] < 2 ** 31 else np.int64)
        self.shape = (int(shape[0]), int(shape[1]))

    @property
    def nnz(self) -> int:
        return len(self.indices)

    def to_scipy(self):
        import scipy.sparse as sp

        return sp.csr_array((np.ones(self.nnz, dtype=bool), self.indices, self.indptr), shape=self.shape)


def from_codes(receipt_codes, item_codes, receipts, items, level: str = "sku", n_unmapped_lines: int = 0,
               scipy: bool = True) -> Baskets:
    """Baskets from one (receipt code, item code) pair per line; repeated pairs count once.

    ``receipts`` and ``items`` are the labels of the codes (row and column
    order). ``scipy=False`` keeps the matrix as :class:`BoolRows`.

    >>> b = from_codes(np.array([0, 0, 1, 0]), np.array([1, 0, 0, 1]), np.array(["r1", "r2"]), np.array(["a", "b"]))
    >>> b.matrix.toarray().tolist(), b.sizes().tolist()
    ([[True, True], [True, False]], [2, 1])
    """
    n_r, n_i = len(receipts), len(items)
    if scipy:
        import scipy.sparse as sp

        coo = sp.coo_array((np.ones(len(receipt_codes), dtype=bool), (receipt_codes, item_codes)), shape=(n_r, n_i))
        matrix = coo.tocsr()
        # Duplicate (receipt, item) pairs were summed: True + True stays True for bool,
        # but make the structure canonical (sorted, unique) for the miners.
        matrix.sum_duplicates()
        matrix.sort_indices()
        matrix.data[:] = True
    else:
        width = max(n_i, 1)
        key = np.asarray(receipt_codes).astype(np.int64)
        key *= width
        key += item_codes
        key.sort(kind="stable")  # timsort: the basket reader gives the pairs row by row, so this merges short runs
        if key.size:
            key = key[np.concatenate([[True], key[1:] != key[:-1]])]
        rows, cols = np.divmod(key, width)
        del key
        indptr = np.zeros(n_r + 1, dtype=np.int64)
        np.cumsum(np.bincount(rows, minlength=n_r), out=indptr[1:])
        matrix = BoolRows(indptr, cols, (n_r, n_i))
    return Baskets(matrix=matrix, receipts=receipts, items=items, level=level, n_unmapped_lines=n_unmapped_lines)
