"""The vectorised basket-per-line reader equals the line-by-line reading it replaced; whitespace files and
implausible reads."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from recommender import receipts as rc
from recommender.baskets import build_baskets
from recommender.readers import Table, _decode, _empty_malformed, detect_encoding
from recommender.receipts import LoadOptions, load_receipts


def _read_baskets_line_by_line(path, opts: LoadOptions) -> Table:
    """The reader as it was: ``splitlines``, then split and strip each line in Python (the reference)."""
    raw = path.read_bytes()
    if not raw:
        raise rc.InputError("the file is empty", path=path, hint="export the baskets again")
    enc = opts.encoding or detect_encoding(raw, path)
    text = _decode(raw, enc, path)
    nonblank = [(i + 1, ln) for i, ln in enumerate(text.splitlines()) if ln.strip()]
    if not nonblank:
        raise rc.InputError("the file is empty (no baskets)", path=path)
    sep = opts.sep or rc.sniff_basket_separator([ln for _, ln in nonblank[:200]])
    line_nos, items, raws = [], [], []
    for no, ln in nonblank:
        parts = [x.strip() for x in ln.split(sep)]
        parts = [x for x in parts if x] or [""]
        line_nos.extend([no] * len(parts))
        items.extend(parts)
        raws.extend([ln] * len(parts))
    frame = pd.DataFrame({"receipt_id": pd.Series(line_nos).astype("str"), "sku": pd.Series(items, dtype="str"),
                          "_line": np.asarray(line_nos, dtype="int64"), "_raw": raws})
    return Table(frame=frame, malformed=_empty_malformed(), path=str(path), kind="baskets", encoding=enc, sep=sep)


WORDS = ["milk", "bread", " eggs ", "12", "007", "tea\u3000", "牛奶", "a b", "", " ", "\t", "x\x1f", "\xa0y"]
SEPS = [",", ";", " ", "\t", "|"]
BREAKS = ["\n", "\n", "\n", "\r\n", "\r", "\x0b", "\x1c", "\u2028", "\x85"]


@st.composite
def basket_files(draw):
    sep = draw(st.sampled_from(SEPS))
    n = draw(st.integers(1, 25))
    out = []
    for _ in range(n):
        kind = draw(st.sampled_from(["basket", "basket", "basket", "blank", "spaces", "seps"]))
        if kind == "basket":
            line = sep.join(draw(st.lists(st.sampled_from(WORDS), min_size=1, max_size=6)))
            if draw(st.booleans()):
                line += sep  # a trailing separator, as in the FIMI files
        elif kind == "blank":
            line = ""
        elif kind == "spaces":
            line = "  \t "
        else:
            line = sep * draw(st.integers(1, 3))
        out.append(line + draw(st.sampled_from(BREAKS)))
    text = "".join(out)
    if not draw(st.booleans()):
        text = text.rstrip("\n")
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "gb18030", "utf-16"]))
    if encoding == "gb18030" and any(ch in text for ch in "\x85\u2028"):
        encoding = "utf-8"  # GB18030 encodes them too, but keep the detector's job simple
    given_sep = draw(st.sampled_from([None, sep]))
    options = dict(max_basket_items=draw(st.sampled_from([None, 2, 4])),
                   non_products=draw(st.sampled_from([(), ("milk",), ("12", "bread")])),
                   duplicates=draw(st.sampled_from(["keep", "reject"])))
    return text, encoding, given_sep, options


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=basket_files())
def test_vectorised_reader_equals_line_by_line(tmp_path, monkeypatch, case):
    text, encoding, sep, options = case
    p = tmp_path / "b.txt"
    p.write_bytes(text.encode(encoding))
    opts = LoadOptions(format="baskets", sep=sep, encoding=None if encoding != "gb18030" else encoding, **options)

    def read(reader):
        with monkeypatch.context() as m:
            m.setattr(rc, "_read_baskets", reader)
            try:
                return load_receipts(p, opts)
            except rc.InputError as exc:
                return str(exc)

    new = read(rc._read_baskets)
    old = read(_read_baskets_line_by_line)
    if isinstance(old, str) or isinstance(new, str):
        assert old == new
        return
    pd.testing.assert_frame_equal(new.lines, old.lines)
    pd.testing.assert_frame_equal(new.rejects, old.rejects)
    assert new.accounting.to_dict() == old.accounting.to_dict()


def test_fimi_layout_is_read_without_sep(tmp_path):
    lines = ["1 2 3 ", "2 3", "", "4", "5 1  2 ", "3 4"] * 5
    p = tmp_path / "retail"  # no extension: the layout alone tells
    p.write_text("\n".join(lines) + "\n")
    r = load_receipts(p)
    assert r.accounting.format == "baskets" and r.accounting.sep == " "
    expected = [frozenset(ln.split()) for ln in lines if ln.strip()]
    assert r.lines.groupby("line_no")["sku"].agg(frozenset).tolist() == expected
    assert r.accounting.rows_read == len(expected) == r.accounting.rows_used
    assert r.lines["line_no"].drop_duplicates().tolist() == [i + 1 for i, ln in enumerate(lines) if ln.strip()]
    assert not [w for w in r.accounting.warnings if "implausible" in w]


def test_comma_baskets_with_spaces_keep_the_comma(tmp_path):
    p = tmp_path / "b.txt"
    p.write_text("whole milk, bread\nrolls/buns, whole milk , soda\nbeer\n")
    r = load_receipts(p)
    assert r.accounting.sep == ","
    assert build_baskets(r.lines).as_sets() == [frozenset({"whole milk", "bread"}),
                                               frozenset({"rolls/buns", "whole milk", "soda"}), frozenset({"beer"})]


def test_one_item_per_basket_warns_and_names_the_separator(tmp_path):
    rng = np.random.default_rng(0)
    lines = [" ".join(map(str, rng.choice(500, size=rng.integers(2, 6), replace=False))) for _ in range(60)]
    p = tmp_path / "b.txt"
    p.write_text("\n".join(lines) + "\n")
    r = load_receipts(p, sep=",")  # the wrong separator, as a user might pass it
    warning = next(w for w in r.accounting.warnings if "implausible" in w)
    assert "every receipt has one item" in warning and "--sep ' '" in warning
    assert r.accounting.warnings[warning] == r.accounting.n_receipts == 60


def test_one_item_per_receipt_in_a_table_names_the_receipt_column(tmp_path):
    rows = "\n".join(f"{i},{i % 7},2" for i in range(40))
    p = tmp_path / "r.csv"
    p.write_text("line_id,sku,qty\n" + rows + "\n")
    r = load_receipts(p, mapping={"receipt_id": "line_id"})
    warning = next(w for w in r.accounting.warnings if "implausible" in w)
    assert "every receipt has one item" in warning and "--map receipt_id=" in warning


def test_about_as_many_items_as_rows_warns(tmp_path):
    rows = "\n".join(f"{i // 2},sku{i}" for i in range(60))
    p = tmp_path / "r.csv"
    p.write_text("receipt,sku\n" + rows + "\n")
    r = load_receipts(p)
    warning = next(w for w in r.accounting.warnings if "implausible" in w)
    assert "items" in warning and "rows" in warning


def test_ordinary_files_do_not_warn(tmp_path):
    rows = "\n".join(f"{i // 3},sku{i % 9}" for i in range(90))
    p = tmp_path / "r.csv"
    p.write_text("receipt,sku\n" + rows + "\n")
    assert not [w for w in load_receipts(p).accounting.warnings if "implausible" in w]


def test_mine_prints_the_warning(tmp_path):
    import subprocess
    import sys

    rng = np.random.default_rng(1)
    p = tmp_path / "b.dat"
    p.write_text("\n".join(" ".join(map(str, rng.choice(50, size=4, replace=False))) for _ in range(80)) + "\n")
    res = subprocess.run([sys.executable, "-m", "recommender", "mine", str(p), "--sep", ",", "--min-count", "2",
                          "--out", str(tmp_path / "run")], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert "every receipt has one item" in res.stderr and "--sep ' '" in res.stderr
