"""Frequent itemsets with exact counts from a sparse receipt x item matrix.

In: a boolean CSR matrix (receipts x items, e.g. ``Baskets.matrix``) and an
absolute threshold ``min_count``. Out: a DataFrame with one row per frequent
itemset (single items included): ``items`` (tuple of column indices, ascending)
and ``count`` (number of receipts containing every item), sorted by
``(len(items), items)``.

An itemset is frequent iff ``count >= min_count``; turn a relative support into
that integer once, with :func:`min_count_for`, so every engine applies the same
threshold exactly.

Engines are looked up by name in a registry: ``"fast"`` (the default, a numba
depth-first miner, see :mod:`recommender.mining.fast`, which hands small
problems to a numpy-only Eclat, :mod:`recommender.mining.small`, so that they
never import numba) and ``"mlxtend"`` (the
reference, mlxtend's FP-growth). Other modules may add more with
:func:`register_engine` (e.g. a Spark engine). Heavy libraries are imported by
the engine that needs them, so importing this package is cheap.
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np

from recommender.errors import InputError

__all__ = [
    "ThresholdTooLow",
    "min_count_for",
    "frequent_itemsets",
    "register_engine",
    "engine_names",
    "DEFAULT_MAX_ITEMSETS",
]

#: Above this many itemsets the result no longer fits comfortably as Python tuples.
DEFAULT_MAX_ITEMSETS = 20_000_000

#: Rough bytes one itemset costs once it is a row of the result DataFrame
#: (tuple + int objects + count + pandas overhead), used by the memory guard.
BYTES_PER_ITEMSET = 200


class ThresholdTooLow(InputError):
    """The threshold would produce more itemsets than fit in the budget.

    Raised before or during mining, instead of exhausting memory.

    Parameters
    ----------
    message : str
        What happened, with the figures.
    suggested_min_count : int
        A threshold that is known (or estimated) to fit the budget.

    Examples
    --------
    >>> e = ThresholdTooLow("too many itemsets", suggested_min_count=12)
    >>> e.suggested_min_count, str(e)
    (12, 'too many itemsets (try min_count >= 12)')
    """

    def __init__(self, message: str, suggested_min_count: int):
        super().__init__(message, hint=f"try min_count >= {suggested_min_count}")
        self.suggested_min_count = int(suggested_min_count)


def min_count_for(min_support: float, n_receipts: int) -> int:
    """Smallest receipt count that reaches ``min_support`` of ``n_receipts``.

    ``ceil(min_support * n_receipts)``, forgiving float noise of 1e-9 so that
    0.28 x 25 (= 7.000000000000001 in floats) gives 7, and never below 1.

    Examples
    --------
    >>> min_count_for(0.28, 25), min_count_for(0.01, 1050), min_count_for(1e-9, 10)
    (7, 11, 1)
    """
    if not isinstance(min_support, (int, float, np.integer, np.floating)) or isinstance(min_support, bool):
        raise TypeError(f"min_support must be a number, got {type(min_support).__name__}")
    if not (0 < min_support <= 1):
        raise ValueError(f"min_support must be in (0, 1], got {min_support!r}")
    if n_receipts < 0:
        raise ValueError(f"n_receipts must be >= 0, got {n_receipts!r}")
    return max(1, math.ceil(min_support * n_receipts - 1e-9))


Engine = Callable[..., "pd.DataFrame"]
_ENGINES: dict[str, tuple[Engine, bool]] = {}


def register_engine(name: str, func: Engine, sorted_output: bool = False) -> None:
    """Make ``func`` available as ``frequent_itemsets(..., engine=name)``.

    ``func(matrix, min_count, max_len, progress, max_itemsets, memory_budget)``
    receives a canonical boolean CSR array and must return the documented
    DataFrame. Rows may come in any order (the caller sorts them) unless the
    engine promises ``sorted_output``.
    """
    _ENGINES[name] = (func, sorted_output)


def engine_names() -> list[str]:
    """Names accepted by ``engine`` (besides ``"auto"``)."""
    return sorted(_ENGINES)


def _fast_engine(matrix, min_count, max_len, progress, max_itemsets, memory_budget):
    # small problems are mined by numpy alone: importing numba costs ~100 MB and a second
    from recommender.mining.small import try_mine

    result = try_mine(matrix, min_count, max_len, progress, max_itemsets, memory_budget)
    if result is not None:
        return result
    from recommender.mining.fast import mine

    return mine(matrix, min_count, max_len=max_len, progress=progress, max_itemsets=max_itemsets,
                memory_budget=memory_budget)


def _mlxtend_engine(matrix, min_count, max_len, progress, max_itemsets, memory_budget):
    from recommender.mining.reference import mine_mlxtend

    return mine_mlxtend(matrix, min_count, max_len=max_len, progress=progress)


register_engine("fast", _fast_engine, sorted_output=True)
register_engine("mlxtend", _mlxtend_engine)


def as_bool_csr(matrix) -> sp.csr_array:
    """Validate ``matrix`` and return it as a canonical boolean CSR array.

    Canonical: sorted unique column indices per row and no stored False, so
    engines can trust ``indptr``/``indices`` alone.
    """
    import scipy.sparse as sp

    if hasattr(matrix, "to_scipy"):  # recommender.baskets.BoolRows: canonical by construction
        matrix = matrix.to_scipy()
    if not sp.issparse(matrix):
        raise TypeError(f"matrix must be a scipy.sparse matrix, got {type(matrix).__name__}")
    if matrix.ndim != 2:
        raise ValueError(f"matrix must be 2-D, got shape {matrix.shape}")
    m = sp.csr_array(matrix, dtype=bool)  # shares the caller's arrays when it can
    if not (m.has_canonical_format and m.data.all()):
        m = m.copy()  # never modify the caller's matrix
        m.sum_duplicates()
        m.eliminate_zeros()
        m.sort_indices()
    return m


def frequent_itemsets(matrix, min_count: int, max_len: int | None = None, engine: str = "auto",
                      progress=None, max_itemsets: int = DEFAULT_MAX_ITEMSETS,
                      memory_budget: int | None = None) -> pd.DataFrame:
    """Every itemset contained in at least ``min_count`` receipts, with its count.

    Parameters
    ----------
    matrix : scipy.sparse matrix or array of bool, shape (n_receipts, n_items)
        Receipts as rows, items as columns (e.g. ``Baskets.matrix``).
    min_count : int
        Absolute threshold, >= 1 (see :func:`min_count_for`).
    max_len : int, optional
        Longest itemset to report; no limit by default.
    engine : str
        ``"auto"`` (= ``"fast"``), ``"fast"``, ``"mlxtend"`` or a registered name.
    progress : callable, optional
        ``progress(done, total, message)``, called now and then.
    max_itemsets : int
        Refuse (raise :class:`ThresholdTooLow`) rather than produce more itemsets.
    memory_budget : int, optional
        Bytes the result may take; default half of the available memory.

    Returns
    -------
    DataFrame
        Columns ``items`` (tuple of int, ascending) and ``count`` (int64),
        sorted by ``(len(items), items)``.

    Examples
    --------
    >>> import scipy.sparse as sp
    >>> m = sp.csr_array(np.array([[1, 1, 0], [1, 1, 1], [0, 1, 1]], dtype=bool))
    >>> frequent_itemsets(m, min_count=2).to_records(index=False).tolist()
    [((0,), 2), ((1,), 3), ((2,), 2), ((0, 1), 2), ((1, 2), 2)]
    """
    name = "fast" if engine == "auto" else engine
    if name not in _ENGINES:
        raise ValueError(f"unknown engine {engine!r}; choose one of: auto, {', '.join(engine_names())}")
    if isinstance(min_count, bool) or not isinstance(min_count, (int, np.integer)) or min_count < 1:
        raise ValueError(f"min_count must be an integer >= 1, got {min_count!r}")
    if max_len is not None and (isinstance(max_len, bool) or not isinstance(max_len, (int, np.integer))
                                or max_len < 1):
        raise ValueError(f"max_len must be None or an integer >= 1, got {max_len!r}")
    if max_itemsets < 1:
        raise ValueError(f"max_itemsets must be >= 1, got {max_itemsets!r}")
    m = as_bool_csr(matrix)
    if memory_budget is None:
        memory_budget = default_memory_budget()
    func, sorted_output = _ENGINES[name]
    result = func(m, int(min_count), None if max_len is None else int(max_len), progress,
                  int(max_itemsets), int(memory_budget))
    return result if sorted_output else sort_itemsets(result)


def default_memory_budget() -> int:
    """Half of the memory available now (4 GiB if the system does not say)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024 // 2
    except OSError:
        pass
    return 4 << 30


def sort_itemsets(df: pd.DataFrame) -> pd.DataFrame:
    """Return ``df`` (items, count) sorted by ``(len(items), items)`` with a fresh index."""
    import pandas as pd

    if len(df) == 0:
        return pd.DataFrame({"items": pd.Series([], dtype=object), "count": pd.Series([], dtype=np.int64)})
    items = list(df["items"])
    order = sorted(range(len(items)), key=lambda i: (len(items[i]), items[i]))
    counts = np.asarray(df["count"], dtype=np.int64)[order]
    return pd.DataFrame({"items": pd.Series([items[i] for i in order], dtype=object), "count": counts})


def frequent_itemset_lists(matrix, min_count: int, max_len: int | None = None, engine: str = "auto",
                           progress=None) -> tuple[list, list]:
    """:func:`frequent_itemsets` as two lists, itemsets (tuples) and counts, in the same order.

    The ``"fast"`` engine's numpy path gives them without building a DataFrame,
    so a small problem is mined without importing pandas (nor numba; nor scipy
    when ``matrix`` is a :class:`recommender.baskets.BoolRows`); every other
    case goes through :func:`frequent_itemsets`.

    >>> import scipy.sparse as sp
    >>> m = sp.csr_array(np.array([[1, 1, 0], [1, 1, 1], [0, 1, 1]], dtype=bool))
    >>> frequent_itemset_lists(m, min_count=2)
    ([(0,), (1,), (2,), (0, 1), (1, 2)], [2, 3, 2, 2, 2])
    """
    if engine in ("auto", "fast") and isinstance(min_count, (int, np.integer)) and not isinstance(min_count, bool) \
            and min_count >= 1 and (max_len is None or (isinstance(max_len, (int, np.integer)) and max_len >= 1)):
        from recommender.mining.small import try_mine_lists

        canonical = matrix if hasattr(matrix, "to_scipy") else as_bool_csr(matrix)
        found = try_mine_lists(canonical, int(min_count), None if max_len is None else int(max_len),
                               progress, DEFAULT_MAX_ITEMSETS, default_memory_budget())
        if found is not None:
            return found
    frame = frequent_itemsets(matrix, min_count, max_len=max_len, engine=engine, progress=progress)
    return list(frame["items"]), frame["count"].astype(np.int64).tolist()
