"""Compiled kernels of :mod:`recommender.significance`: hypergeometric tails and the normal upper tail.

In: float arrays of counts (or z scores). Out: float arrays of p-values. A
module of its own so that importing ``significance`` (and ``rules``, and every
command that reads a run) does not import numba: it is loaded the first time a
p-value is computed.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from recommender._significance_numpy import _SFERR


@numba.njit(cache=True)
def _stirlerr(n):
    if n <= 15.0:
        return _SFERR[int(n)]
    nn = n * n
    s0, s1, s2, s3, s4 = 1.0 / 12, 1.0 / 360, 1.0 / 1260, 1.0 / 1680, 1.0 / 1188
    if n > 500:
        return (s0 - s1 / nn) / n
    if n > 80:
        return (s0 - (s1 - s2 / nn) / nn) / n
    if n > 35:
        return (s0 - (s1 - (s2 - s3 / nn) / nn) / nn) / n
    return (s0 - (s1 - (s2 - (s3 - s4 / nn) / nn) / nn) / nn) / n


@numba.njit(cache=True)
def _bd0(x, np_):
    """x log(x / np) + np - x, accurately when x is close to np (Loader, 2000)."""
    if abs(x - np_) < 0.1 * (x + np_):
        v = (x - np_) / (x + np_)
        s = (x - np_) * v
        ej = 2 * x * v
        v = v * v
        for j in range(1, 1000):
            ej *= v
            s1 = s + ej / (2 * j + 1)
            if s1 == s:
                return s1
            s = s1
    return x * math.log(x / np_) + np_ - x


@numba.njit(cache=True)
def _dbinom_raw(x, n, p, q):
    if p == 0:
        return 1.0 if x == 0 else 0.0
    if q == 0:
        return 1.0 if x == n else 0.0
    if x == 0:
        if n == 0:
            return 1.0
        return math.exp(-_bd0(n, n * q) - n * p if p < 0.1 else n * math.log(q))
    if x == n:
        return math.exp(-_bd0(n, n * p) - n * q if q < 0.1 else n * math.log(p))
    if x < 0 or x > n:
        return 0.0
    lc = _stirlerr(n) - _stirlerr(x) - _stirlerr(n - x) - _bd0(x, n * p) - _bd0(n - x, n * q)
    lf = math.log(2 * math.pi) + math.log(x) + math.log1p(-x / n)
    return math.exp(lc - 0.5 * lf)


@numba.njit(cache=True)
def _dhyper(x, r, b, n):
    if n < x or r < x or n - x > b:
        return 0.0
    if n == 0:
        return 1.0 if x == 0 else 0.0
    p = n / (r + b)
    q = (r + b - n) / (r + b)
    return _dbinom_raw(x, r, p, q) * _dbinom_raw(n - x, b, p, q) / _dbinom_raw(n, r + b, p, q)


@numba.njit(cache=True)
def _phyper(x, nr, nb, n, lower):
    """P(X <= x) (or P(X > x)) for X red balls among n drawn from nr red and nb black (R's phyper)."""
    if x * (nr + nb) > n * nr:
        # Sum over the shorter tail: swap colours and tails.
        nr, nb = nb, nr
        x = n - x - 1
        lower = not lower
    if x < 0 or x < n - nb:
        return 0.0 if lower else 1.0
    if x >= nr or x >= n:
        return 1.0 if lower else 0.0
    d = _dhyper(x, nr, nb, n)
    if d == 0.0:
        return 0.0 if lower else 1.0
    total, term = 0.0, 1.0
    while x > 0 and term >= 2.220446049250313e-16 * total:
        term *= x * (nb - n + x) / (n + 1 - x) / (nr + 1 - x)
        total += term
        x -= 1
    pd = d * (1.0 + total)
    return pd if lower else 0.5 - pd + 0.5


@numba.njit(cache=True)
def hypergeom_tails(k, n_x, n_y, n, upper):
    out = np.empty(k.shape[0])
    for i in range(k.shape[0]):
        if upper:
            out[i] = _phyper(k[i] - 1.0, n_x[i], n[i] - n_x[i], n_y[i], False)
        else:
            out[i] = _phyper(k[i], n_x[i], n[i] - n_x[i], n_y[i], True)
    return out


@numba.njit(cache=True)
def upper_tail(z):
    """P(Z >= z) for a standard normal Z, as 0.5 * erfc(z / sqrt 2): exact in the far tail.

    (Compiled rather than ``scipy.special.ndtr``, whose import alone costs a
    fifth of a second of every ``recommender mine``.)
    """
    out = np.empty(z.shape[0])
    for i in range(z.shape[0]):
        out[i] = 1.0 if math.isnan(z[i]) else 0.5 * math.erfc(z[i] / math.sqrt(2.0))
    return out
