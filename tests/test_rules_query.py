"""The rules explorer's query (recommender/rules_query.py) against pandas over the same rules, and its item index."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from recommender.rules_query import INDEX_FILES, query_rules, rule_index
from recommender.runs import write_run

LABELS = ["tea", "Teapot", "cup", "jam", "cake", "绿茶", 'say "hi"', "back\\slash", "a, b", "[x]"]


def make_rules(data) -> pd.DataFrame:
    rows = []
    for ante, cons, count, conf, lift, sig in data:
        rows.append({"antecedents": tuple(ante), "consequents": tuple(cons), "count": count, "support": count / 100,
                     "confidence": conf, "lift": lift, "p_value": 1 / (1 + count), "q_value": 1 / (1 + count),
                     "significant": sig, "redundant": False})
    return pd.DataFrame(rows)


def write(tmp_path, rules: pd.DataFrame):
    items = pd.DataFrame({"items": [("tea",)], "size": [1], "count": [50], "support": [0.5]})
    return write_run(tmp_path / f"run-{len(list(tmp_path.iterdir()))}", itemsets_df=items, rules_df=rules)


def reference(rules, *, min_support=0.0, min_confidence=0.0, min_lift=0.0, significant_only=False, search="",
              search_labels=(), any_labels=None, pairs_only=False):
    """The same filters in plain pandas over the tuples: which rules pass."""
    keep = (rules["support"] >= min_support) & (rules["confidence"] >= min_confidence) & (rules["lift"] >= min_lift)
    if significant_only:
        keep &= rules["significant"]
    labels = rules["antecedents"] + rules["consequents"]
    if search:
        keep &= labels.map(lambda ls: any(search.lower() in x.lower() or x in set(search_labels) for x in ls))
    if any_labels is not None:
        keep &= labels.map(lambda ls: bool(set(ls) & set(any_labels)))
    if pairs_only:
        keep &= labels.map(len) == 2
    return rules[keep]


# a mined rule's two sides never share an item
_SIDES = st.lists(st.sampled_from(LABELS), min_size=2, max_size=5, unique=True).flatmap(
    lambda ls: st.integers(1, len(ls) - 1).map(lambda k: (ls[:k], ls[k:])))
_RULE = st.tuples(_SIDES, st.integers(1, 90), st.floats(0, 1), st.floats(0.1, 9), st.booleans()).map(
    lambda r: (*r[0], *r[1:]))


@settings(max_examples=40, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.lists(_RULE, min_size=1, max_size=40), search=st.sampled_from(["", "tea", "TEA", "绿", '"', "\\", ",", "x"]),
       names=st.lists(st.sampled_from(LABELS), max_size=2), depts=st.none() | st.lists(st.sampled_from(LABELS), max_size=3),
       pairs=st.booleans(), sig=st.booleans(), lift=st.sampled_from([0.0, 1.0, 3.0]), top=st.integers(1, 50))
def test_query_equals_pandas_over_the_same_rules(tmp_path, data, search, names, depts, pairs, sig, lift, top):
    rules = make_rules(data)
    run = write(tmp_path, rules)
    filters = dict(min_lift=lift, significant_only=sig, search=search, search_labels=names, any_labels=depts,
                   pairs_only=pairs)
    got, total = query_rules(run, top=top, **filters)
    want = reference(rules, **filters)
    assert total == len(want)
    assert len(got) == min(top, len(want))
    # the top rows are the highest lifts, ties by count (the rest of the order is a tie-break)
    best = want.sort_values(["lift", "count"], ascending=False).head(top)
    assert sorted(got["lift"].round(12)) == sorted(best["lift"].round(12))
    passing = set(zip(want["antecedents"], want["consequents"]))
    assert set(zip(got["antecedents"], got["consequents"])) <= passing


def test_only_the_asked_columns_and_an_empty_answer_keeps_them(tmp_path):
    rules = make_rules([(["tea"], ["cup"], 40, 0.8, 2.0, True), (["cake"], ["jam"], 30, 0.6, 3.0, True)])
    run = write(tmp_path, rules)
    got, total = query_rules(run, columns=("lift", "count"))
    assert list(got.columns) == ["antecedents", "consequents", "lift", "count"] and total == 2
    assert got["antecedents"].tolist() == [("cake",), ("tea",)]
    none, zero = query_rules(run, search="nothing like this", columns=("lift",))
    assert zero == 0 and list(none.columns) == ["antecedents", "consequents", "lift"] and none.empty


def test_the_index_is_kept_beside_the_rules_and_rebuilt_when_they_change(tmp_path):
    run = write(tmp_path, make_rules([(["tea"], ["cup"], 40, 0.8, 2.0, True)]))
    assert query_rules(run, search="tea")[1] == 1
    assert all((run / name).exists() for name in INDEX_FILES)
    # the run written again with other rules: the old index is older than rules.parquet, so it is not trusted
    again = write_run(run, itemsets_df=pd.DataFrame({"items": [("jam",)], "size": [1], "count": [5],
                                                     "support": [0.5]}),
                      rules_df=make_rules([(["cake"], ["jam"], 30, 0.6, 3.0, True), (["jam"], ["tea"], 9, 0.2, 1.5,
                                                                                      False)]))
    st_rules = (again / "rules.parquet").stat()
    os.utime(again / "rules.parquet", ns=(st_rules.st_atime_ns, st_rules.st_mtime_ns + 10**9))
    assert query_rules(again, search="tea")[1] == 1 and query_rules(again, search="cake")[1] == 1
    assert rule_index(again).labels.tolist() == ["cake", "jam", "tea"]
    assert rule_index(again).sizes.tolist() == [2, 2]


def test_a_folder_that_cannot_be_written_still_answers(tmp_path, monkeypatch):
    run = write(tmp_path, make_rules([(["tea"], ["cup"], 40, 0.8, 2.0, True), (["cake"], ["jam"], 30, 0.6, 3.0,
                                                                                   True)]))
    import recommender.rules_query as rq

    def refuse(*args, **kwargs):
        raise PermissionError("read-only folder")

    monkeypatch.setattr(rq.tempfile, "mkstemp", refuse)
    assert query_rules(run, any_labels=["jam"])[1] == 1  # the index is kept in memory only
    assert not any((run / name).exists() for name in INDEX_FILES) and not list(run.glob(".*"))


def test_mask_of_labels(tmp_path):
    run = write(tmp_path, make_rules([(["tea"], ["cup"], 40, 0.8, 2.0, True), (["tea", "cake"], ["jam"], 3, 0.6,
                                                                                   3.0, True)]))
    ix = rule_index(run)
    assert ix.rows_with(["tea"]).tolist() == [True, True] and ix.rows_with(["jam", "nope"]).tolist() == [False, True]
    assert np.array_equal(ix.rows_matching("TE"), ix.rows_with(["tea"]))
