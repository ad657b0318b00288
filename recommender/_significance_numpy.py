"""The kernels of :mod:`recommender._significance_kernels` in numpy, for runs too small to pay for numba.

In: float arrays of counts (or z scores). Out: float arrays of p-values, equal
to the compiled kernels' (the same operations in the same order, element by
element; tests compare them). Numba costs about a second and 100 MB to start,
more than a few thousand tests take here, so :mod:`recommender.significance`
uses this module up to :data:`recommender.significance.NUMPY_MAX_TESTS` tests.
Branches become masks, and the loops run over all elements at once, each
element leaving its loop when the scalar version would.
"""

from __future__ import annotations

import math
from decimal import Decimal, getcontext

import numpy as np

_EPS = 2.220446049250313e-16


def _stirling_errors() -> np.ndarray:
    """ln(n!) - (n + 1/2) ln n + n - ln sqrt(2 pi) for n = 0..15, to 40 digits (index 0 unused)."""
    getcontext().prec = 40
    pi = Decimal("3.141592653589793238462643383279502884197")
    out = [0.0]
    for n in range(1, 16):
        d = Decimal(math.factorial(n)).ln() - (Decimal(n) + Decimal("0.5")) * Decimal(n).ln() + n \
            - (2 * pi).sqrt().ln()
        out.append(float(d))
    return np.array(out)


_SFERR = _stirling_errors()


def stirlerr(n: np.ndarray) -> np.ndarray:
    s0, s1, s2, s3, s4 = 1.0 / 12, 1.0 / 360, 1.0 / 1260, 1.0 / 1680, 1.0 / 1188
    out = np.empty(n.shape)
    small = n <= 15.0
    out[small] = _SFERR[n[small].astype(np.int64)]
    m = n[~small]
    nn = m * m
    out[~small] = np.where(m > 500, (s0 - s1 / nn) / m,
                           np.where(m > 80, (s0 - (s1 - s2 / nn) / nn) / m,
                                    np.where(m > 35, (s0 - (s1 - (s2 - s3 / nn) / nn) / nn) / m,
                                             (s0 - (s1 - (s2 - (s3 - s4 / nn) / nn) / nn) / nn) / m)))
    return out


def bd0(x: np.ndarray, np_: np.ndarray) -> np.ndarray:
    """x log(x / np) + np - x, accurately when x is close to np (Loader, 2000)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        out = x * np.log(x / np_) + np_ - x
    close = np.flatnonzero(np.abs(x - np_) < 0.1 * (x + np_))
    if len(close):
        xc, mc = x[close], np_[close]
        v = (xc - mc) / (xc + mc)
        s = (xc - mc) * v
        ej = 2 * xc * v
        v = v * v
        live = np.arange(len(close))
        for j in range(1, 1000):
            ej[live] *= v[live]
            s1 = s[live] + ej[live] / (2 * j + 1)
            done = s1 == s[live]
            out[close[live[done]]] = s1[done]
            s[live] = s1
            live = live[~done]
            if not len(live):
                break
    return out


def dbinom_raw(x, n, p, q) -> np.ndarray:
    out = np.zeros(x.shape)
    todo = np.ones(x.shape, bool)

    def case(mask):
        nonlocal todo
        hit = np.flatnonzero(todo & mask)
        todo &= ~mask
        return hit

    i = case(p == 0)
    out[i] = (x[i] == 0).astype(float)
    i = case(q == 0)
    out[i] = (x[i] == n[i]).astype(float)
    i = case(x == 0)
    if len(i):
        ni, pi, qi = n[i], p[i], q[i]
        with np.errstate(divide="ignore", invalid="ignore"):
            val = np.where(pi < 0.1, -bd0(ni, ni * qi) - ni * pi, ni * np.log(qi))
        out[i] = np.where(ni == 0, 1.0, np.exp(val))
    i = case(x == n)
    if len(i):
        ni, pi, qi = n[i], p[i], q[i]
        with np.errstate(divide="ignore", invalid="ignore"):
            val = np.where(qi < 0.1, -bd0(ni, ni * pi) - ni * qi, ni * np.log(pi))
        out[i] = np.exp(val)
    i = case((x < 0) | (x > n))
    out[i] = 0.0
    i = np.flatnonzero(todo)
    if len(i):
        xi, ni, pi, qi = x[i], n[i], p[i], q[i]
        lc = stirlerr(ni) - stirlerr(xi) - stirlerr(ni - xi) - bd0(xi, ni * pi) - bd0(ni - xi, ni * qi)
        lf = math.log(2 * math.pi) + np.log(xi) + np.log1p(-xi / ni)
        out[i] = np.exp(lc - 0.5 * lf)
    return out


def dhyper(x, r, b, n) -> np.ndarray:
    out = np.zeros(x.shape)
    zero = (n < x) | (r < x) | (n - x > b)
    empty = ~zero & (n == 0)
    out[empty] = (x[empty] == 0).astype(float)
    i = np.flatnonzero(~zero & ~empty)
    if len(i):
        xi, ri, bi, ni = x[i], r[i], b[i], n[i]
        p = ni / (ri + bi)
        q = (ri + bi - ni) / (ri + bi)
        out[i] = dbinom_raw(xi, ri, p, q) * dbinom_raw(ni - xi, bi, p, q) / dbinom_raw(ni, ri + bi, p, q)
    return out


def phyper(x, nr, nb, n, lower) -> np.ndarray:
    """P(X <= x) (or P(X > x)) for X red balls among n drawn from nr red and nb black (R's phyper)."""
    x, nr, nb, n = (np.array(a, dtype=float) for a in (x, nr, nb, n))
    lower = np.broadcast_to(np.asarray(lower, bool), x.shape).copy()
    swap = x * (nr + nb) > n * nr  # sum over the shorter tail: swap colours and tails
    nr[swap], nb[swap] = nb[swap], nr[swap].copy()
    x[swap] = n[swap] - x[swap] - 1
    lower[swap] = ~lower[swap]
    out = np.empty(x.shape)
    below = (x < 0) | (x < n - nb)
    out[below] = np.where(lower[below], 0.0, 1.0)
    above = ~below & ((x >= nr) | (x >= n))
    out[above] = np.where(lower[above], 1.0, 0.0)
    i = np.flatnonzero(~below & ~above)
    if len(i):
        xi, nri, nbi, ni, lo = x[i], nr[i], nb[i], n[i], lower[i]
        d = dhyper(xi, nri, nbi, ni)
        total, term = np.zeros(len(i)), np.ones(len(i))
        live = np.flatnonzero((d != 0.0) & (xi > 0))
        while len(live):
            xl = xi[live]
            term[live] *= xl * (nbi[live] - ni[live] + xl) / (ni[live] + 1 - xl) / (nri[live] + 1 - xl)
            total[live] += term[live]
            xi[live] = xl - 1
            live = live[(xi[live] > 0) & (term[live] >= _EPS * total[live])]
        pd = d * (1.0 + total)
        out[i] = np.where(d == 0.0, np.where(lo, 0.0, 1.0), np.where(lo, pd, 0.5 - pd + 0.5))
    return out


def hypergeom_tails(k, n_x, n_y, n, upper: bool) -> np.ndarray:
    if upper:
        return phyper(k - 1.0, n_x, n - n_x, n_y, False)
    return phyper(k, n_x, n - n_x, n_y, True)


_erfc = np.frompyfunc(math.erfc, 1, 1)


def upper_tail(z: np.ndarray) -> np.ndarray:
    """P(Z >= z) for a standard normal Z, as 0.5 * erfc(z / sqrt 2)."""
    z = np.asarray(z, dtype=float)
    out = np.ones(z.shape)
    ok = ~np.isnan(z)
    out[ok] = 0.5 * _erfc(z[ok] / math.sqrt(2.0)).astype(float)
    return out
