"""Choose a store's offers as one portfolio: the most expected margin with no two offers sharing an item.

In: the expected incremental profit of each recommended offer in one store and
the items each one holds. Out: which offers to run -- the set with the largest
total expected profit in which no item appears twice -- and how it was found.

Why: two offers that share an item compete for the same tickets (a ticket
takes one of them, and the till would stack both discounts), so their profits
cannot be added. Keeping the most profitable offer first and dropping what
clashes with it (greedy) can lose: one offer worth 10 sharing an item with two
disjoint offers worth 6 each keeps 10 instead of 12.

This is a maximum-weight independent set on the "shares an item" graph, solved
exactly per connected component by branch and bound (branch on the offer with
the most clashes: run it, dropping its neighbours, or not; prune when the
remaining weight cannot beat the best). Branching on a vertex of degree >= 2
(components of degree <= 1 are solved directly) gives at most about 1.47^n
nodes, so a component of up to :data:`MAX_EXACT` offers (about 10^5 nodes)
is solved exactly; a larger one falls back to greedy (most profitable first)
and says so in ``method``. Real stores have a handful of recommended offers
per component.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Largest connected component of clashing offers solved exactly (above: greedy, reported).
MAX_EXACT = 30


@dataclass(frozen=True)
class Portfolio:
    """The offers chosen in one store.

    Attributes
    ----------
    chosen : tuple of int
        Indices of the offers to run, ascending.
    total : float
        Their summed weight (expected profit): with no shared item they do not compete for the same add-on.
    method : str
        ``"exact"`` when every component was solved exactly, ``"greedy"`` when one exceeded :data:`MAX_EXACT`.
    greedy_total : float
        What keeping the most profitable offer first would have given, for comparison.
    """

    chosen: tuple
    total: float
    method: str
    greedy_total: float


def _clashes(item_sets) -> list:
    owners: dict = {}
    for i, items in enumerate(item_sets):
        for it in items:
            owners.setdefault(it, []).append(i)
    adj = [set() for _ in item_sets]
    for idx in owners.values():
        for i in idx:
            adj[i].update(j for j in idx if j != i)
    return adj


def _components(adj) -> list:
    seen, out = set(), []
    for start in range(len(adj)):
        if start in seen:
            continue
        comp, stack = [], [start]
        seen.add(start)
        while stack:
            v = stack.pop()
            comp.append(v)
            for w in adj[v]:
                if w not in seen:
                    seen.add(w)
                    stack.append(w)
        out.append(sorted(comp))
    return out


def _greedy(nodes, weights, adj, order_key) -> list:
    taken, blocked = [], set()
    for v in sorted(nodes, key=order_key):
        if v not in blocked:
            taken.append(v)
            blocked.update(adj[v])
            blocked.add(v)
    return taken


def _exact(nodes, weights, adj, order_key) -> list:
    best = {"w": -1.0, "set": []}
    start = _greedy(nodes, weights, adj, order_key)  # a good first bound
    best["w"], best["set"] = sum(weights[v] for v in start), start

    def solve(left: frozenset, taken: list, w: float):
        if w + sum(weights[v] for v in left) <= best["w"] + 1e-12:
            return
        deg = {v: len(adj[v] & left) for v in left}
        if not left or max(deg.values()) <= 1:
            # isolated offers all run; of a clashing pair the heavier runs (the earlier on a tie)
            pick = [v for v in left if deg[v] == 0]
            for v in sorted(left, key=order_key):
                if deg[v] == 1 and not (adj[v] & left & set(pick)):
                    pick.append(v)
            total = w + sum(weights[v] for v in pick)
            if total > best["w"] + 1e-12:
                best["w"], best["set"] = total, taken + pick
            return
        v = min(left, key=lambda x: (-deg[x], order_key(x)))
        solve(left - adj[v] - {v}, taken + [v], w + weights[v])  # run v
        solve(left - {v}, taken, w)  # or not

    solve(frozenset(nodes), [], 0.0)
    return best["set"]


def choose_offers(weights, item_sets, *, names=None, max_exact: int = MAX_EXACT) -> Portfolio:
    """The offers to run in one store: the most total weight with no item in two offers.

    Parameters
    ----------
    weights : sequence of float
        Expected incremental profit of each offer (> 0 for an offer worth running).
    item_sets : sequence of iterables
        The items of each offer.
    names : sequence, optional
        A tie-break key per offer (e.g. bundle ids), so equal portfolios are chosen the same way every run.
    max_exact : int
        Largest connected component solved exactly; larger ones are solved greedily.

    Examples
    --------
    One offer worth 10 clashes with two disjoint offers worth 6 each: the portfolio runs the two.

    >>> p = choose_offers([10.0, 6.0, 6.0], [{"a", "b"}, {"a", "c"}, {"b", "d"}])
    >>> p.chosen, p.total, p.greedy_total, p.method
    ((1, 2), 12.0, 10.0, 'exact')
    >>> choose_offers([5.0, 4.0], [{"x"}, {"y"}]).chosen
    (0, 1)
    """
    weights = [float(w) for w in weights]
    sets = [set(s) for s in item_sets]
    if len(weights) != len(sets):
        raise ValueError("one weight per offer")
    if names is None:
        names = list(range(len(weights)))

    def order_key(i):
        return (-weights[i], str(names[i]), i)

    # an offer that earns nothing is never worth running, and it blocks nothing
    worth = [w > 0 for w in weights]
    adj = _clashes([s if ok else set() for s, ok in zip(sets, worth)])
    chosen, method = [], "exact"
    all_nodes = [i for i in range(len(weights)) if worth[i]]
    greedy = _greedy(all_nodes, weights, adj, order_key)
    for comp in _components(adj):
        if not worth[comp[0]]:
            continue
        if len(comp) > max_exact:
            method = "greedy"
            chosen += _greedy(comp, weights, adj, order_key)
        else:
            chosen += _exact(comp, weights, adj, order_key)
    chosen = tuple(sorted(chosen))
    return Portfolio(chosen=chosen, total=float(sum(weights[i] for i in chosen)), method=method,
                     greedy_total=float(sum(weights[i] for i in greedy)))
