"""A grocery export in the layout of Kaggle's public "Groceries dataset", generated.

In: a seed and sizes. Out: a CSV with ``Member_number, Date, itemDescription``
(dates as DD-MM-YYYY), one row per item bought; a basket is one member on one
day (``--map receipt_id=Member_number+Date``).

What makes it hard for association rules, as in the real export: a long-tailed
popularity (a few staples are in a large share of baskets), small baskets
(2-3 items), members who come back for their own favourites, and only weak
associations (a handful of pairs where one item makes the other a few points
more likely). Best sellers are a strong baseline here.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

ITEMS = 160


def groceries_export(path, n_members: int = 3000, n_baskets: int = 15000, seed: int = 0) -> Path:
    """Write the export to ``path`` and return it.

    >>> import tempfile
    >>> p = groceries_export(Path(tempfile.mkdtemp()) / "g.csv", n_members=50, n_baskets=200)
    >>> list(pd.read_csv(p).columns)
    ['Member_number', 'Date', 'itemDescription']
    """
    rng = np.random.default_rng(seed)
    names = [f"item {i:03d}" for i in range(ITEMS)]
    pop = 1.0 / (np.arange(ITEMS) + 4.0) ** 1.1
    pop /= pop.sum()
    # Weak pairs: having the first makes the second a little more likely.
    pairs = [(int(a), int(b)) for a, b in rng.choice(ITEMS, size=(20, 2)) if a != b]
    favourites = rng.choice(ITEMS, size=(n_members, 3), p=pop)
    days = pd.date_range("2014-01-01", "2015-12-30", freq="D")
    rows = []
    members = rng.integers(1000, 1000 + n_members, size=n_baskets)
    when = rng.integers(0, len(days), size=n_baskets)
    for m, d in zip(members, when):
        size = 2 + rng.poisson(0.6)
        basket = set()
        for _ in range(size):
            if rng.random() < 0.15:
                basket.add(int(favourites[m - 1000, rng.integers(3)]))
            else:
                basket.add(int(rng.choice(ITEMS, p=pop)))
        for a, b in pairs:
            if a in basket and rng.random() < 0.08:
                basket.add(b)
        date = days[d].strftime("%d-%m-%Y")
        rows += [(int(m), date, names[i]) for i in sorted(basket)]
    path = Path(path)
    pd.DataFrame(rows, columns=["Member_number", "Date", "itemDescription"]).to_csv(path, index=False)
    return path
