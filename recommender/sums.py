"""Exact sums per group: the correctly rounded sum, whatever the order of the terms.

A float sum depends on the order of its terms, and a cluster adds in no fixed
order. So every sum a report prints (sales, units, margins) is the exact sum of
its terms rounded once (:func:`math.fsum`): the embedded engine and Spark
(:mod:`recommender.spark.counts`, integer parts summed as decimals) then give
the same float to the last bit.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["group_sum", "exact_sum", "linear_quantile"]


def exact_sum(values) -> float:
    """The correctly rounded sum of ``values`` (NaN counts as 0); never -0.0.

    >>> exact_sum([0.1] * 10), sum([0.1] * 10)
    (1.0, 0.9999999999999999)
    """
    v = np.asarray(values, dtype="float64")
    return math.fsum(v[~np.isnan(v)].tolist()) + 0.0


def group_sum(codes, values, n: int) -> np.ndarray:
    """Exact sum of ``values`` per group code ``0..n-1`` (NaN counts as 0; an empty group sums to 0).

    >>> group_sum(np.array([1, 0, 1]), np.array([0.1, 2.0, 0.2]), 3).tolist()
    [2.0, 0.30000000000000004, 0.0]
    """
    codes = np.asarray(codes, dtype=np.int64)
    values = np.nan_to_num(np.asarray(values, dtype="float64"), nan=0.0)
    out = np.zeros(n, dtype="float64")
    if not len(codes):
        return out
    order = np.argsort(codes, kind="stable")
    codes, values = codes[order], values[order]
    starts = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]])
    ends = np.r_[starts[1:], len(codes)]
    for s, e in zip(starts.tolist(), ends.tolist()):
        out[codes[s]] = math.fsum(values[s:e].tolist()) + 0.0
    return out


def linear_quantile(n: int, q: float, order_stat) -> float:
    """``numpy.quantile(values, q)`` (method "linear") from ``n`` and ``order_stat(k)``, the k-th smallest value.

    The same float operations as numpy's, so a quantile computed where the values live (only two order
    statistics fetched) equals numpy's on the whole array.

    >>> v = np.array([3.0, 1.0, 7.5, 2.25, 9.0])
    >>> s = np.sort(v)
    >>> all(linear_quantile(len(v), q, lambda k: s[k]) == np.quantile(v, q) for q in (0.1, 0.5, 0.99, 1.0))
    True
    """
    v = np.float64(n - 1) * np.float64(q)
    if v >= n - 1:
        return float(np.float64(order_stat(n - 1)))
    lo = np.floor(v)
    gamma = v - lo
    a, b = np.float64(order_stat(int(lo))), np.float64(order_stat(int(lo) + 1))
    diff = b - a
    return float(b - diff * (1 - gamma) if gamma >= 0.5 else a + diff * gamma)
