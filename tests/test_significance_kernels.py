"""The numpy kernels of the significance tests equal the compiled ones, table by table."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from recommender import _significance_kernels as compiled
from recommender import _significance_numpy as plain
from recommender.significance import fisher_greater


@st.composite
def tables(draw):
    n = draw(st.integers(1, 300_000))
    size = draw(st.integers(1, 40))
    n_x = np.array(draw(st.lists(st.integers(0, n), min_size=size, max_size=size)), dtype=float)
    n_y = np.array(draw(st.lists(st.integers(0, n), min_size=size, max_size=size)), dtype=float)
    lo, hi = np.maximum(0, n_x + n_y - n), np.minimum(n_x, n_y)
    u = np.array(draw(st.lists(st.floats(0, 1), min_size=size, max_size=size)))
    k = np.minimum(np.floor(lo + u * (hi - lo + 1)), hi)
    return k, n_x, n_y, np.full(size, float(n))


@settings(max_examples=200, deadline=None)
@given(t=tables(), upper=st.booleans())
def test_numpy_tails_equal_compiled(t, upper):
    a = compiled.hypergeom_tails(*t, upper)
    b = plain.hypergeom_tails(*t, upper)
    np.testing.assert_allclose(b, a, rtol=1e-11, atol=1e-300)


def test_numpy_normal_tail_equals_compiled():
    z = np.concatenate([np.random.default_rng(0).normal(0, 6, 5000), [np.nan, 0.0, 40.0, -40.0, np.inf, -np.inf]])
    np.testing.assert_array_equal(plain.upper_tail(z), compiled.upper_tail(z))


def test_both_sides_of_the_switch_agree(monkeypatch):
    import recommender.significance as significance

    rng = np.random.default_rng(1)
    n_x, n_y = rng.integers(50, 900, 500).astype(float), rng.integers(50, 900, 500).astype(float)
    k = np.minimum(n_x, n_y) // 3
    small = fisher_greater(k, n_x, n_y, 5000)
    monkeypatch.setattr(significance, "NUMPY_MAX_TESTS", 0)
    np.testing.assert_allclose(fisher_greater(k, n_x, n_y, 5000), small, rtol=1e-11)
