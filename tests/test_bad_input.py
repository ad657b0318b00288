"""Every kind of unusable input: one clear message naming the file, exit 2, no traceback, no output."""

from __future__ import annotations

import gzip
import os

import pandas as pd
import pytest


def check_error(res, *needles, out=None):
    assert res.returncode == 2, (res.returncode, res.stdout, res.stderr)
    assert "Traceback" not in res.stderr and "Traceback" not in res.stdout
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith("recommender: error: ")
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    assert res.stdout == ""
    if out is not None:
        assert not os.path.exists(out)


def test_missing_file(cli, tmp_path):
    p = tmp_path / "nope.csv"
    check_error(cli("validate", p, "--rejects", tmp_path / "rej.csv"), str(p), "file not found",
                out=tmp_path / "rej.csv")


def test_directory(cli, tmp_path):
    check_error(cli("validate", tmp_path), str(tmp_path), "directory")


def test_empty_file(cli, tmp_path):
    p = tmp_path / "empty.csv"
    p.write_bytes(b"")
    check_error(cli("validate", p, "--rejects", tmp_path / "r.csv"), str(p), "empty", out=tmp_path / "r.csv")


def test_header_without_rows(cli, tmp_path):
    p = tmp_path / "header.csv"
    p.write_text("InvoiceNo,StockCode,Quantity\n")
    check_error(cli("validate", p), f"{p}:1", "header but no rows")


def test_missing_required_column(cli, tmp_path):
    p = tmp_path / "nosku.csv"
    p.write_text("InvoiceNo,Quantity\n1,2\n")
    check_error(cli("validate", p), f"{p}:1", "no sku column", "--map sku=COLUMN", "InvoiceNo, Quantity")


def test_map_to_unknown_column(cli, tmp_path):
    p = tmp_path / "r.csv"
    p.write_text("a,b\n1,2\n")
    check_error(cli("validate", p, "--map", "receipt_id=Bon"), str(p), "no column 'Bon'")


def test_duplicate_column_names(cli, tmp_path):
    p = tmp_path / "dup.csv"
    p.write_text("InvoiceNo,StockCode,StockCode\n1,a,b\n")
    check_error(cli("validate", p), f"{p}:1", "duplicate column name 'StockCode'", "columns 2 and 3")


def test_duplicate_column_names_xlsx(cli, tmp_path):
    p = tmp_path / "dup.xlsx"
    pd.DataFrame([[1, "a", "b"]], columns=["InvoiceNo", "StockCode", "X"]).rename(
        columns={"X": "StockCode"}).to_excel(p, index=False)
    check_error(cli("validate", p), str(p), "duplicate column name 'StockCode'")


def test_binary_garbage(cli, tmp_path):
    p = tmp_path / "garbage.csv"
    p.write_bytes(bytes(range(256)) * 64)
    check_error(cli("validate", p), str(p), "binary")


def test_encoding_it_cannot_read(cli, tmp_path):
    p = tmp_path / "gbk.csv"
    p.write_bytes("receipt,sku\n1,a\n2,感冒灵\n".encode("gbk"))
    check_error(cli("validate", p, "--encoding", "utf-8"), f"{p}:3", "cannot decode", "--encoding")
    check_error(cli("validate", p, "--encoding", "klingon"), str(p), "unknown encoding")


def test_truncated_gzip(cli, tmp_path):
    p = tmp_path / "cut.csv.gz"
    whole = gzip.compress(("receipt,sku\n" + "1,a\n" * 5000).encode())
    p.write_bytes(whole[: len(whole) // 2])
    check_error(cli("validate", p, "--rejects", tmp_path / "r.csv"), str(p), "truncated", out=tmp_path / "r.csv")


@pytest.mark.parametrize("name,payload,says", [
    ("receipts.xlsx", b"receipt,sku\n1,a\n", "plain text"),
    ("receipts.parquet", b"receipt,sku\n1,a\n", "plain text"),
    ("receipts.csv.gz", b"receipt,sku\n1,a\n", "plain text"),
    ("receipts.csv", gzip.compress(b"receipt,sku\n1,a\n"), "gzip"),
])
def test_extension_that_lies(cli, tmp_path, name, payload, says):
    p = tmp_path / name
    p.write_bytes(payload)
    check_error(cli("validate", p), str(p), "extension does not match", says)


def test_dirty_rows_are_not_errors(cli, tmp_path):
    p = tmp_path / "dirty.csv"
    p.write_text("receipt,sku,qty\n1,a,1\n2,,1\n3,b,-1\n4,c\n")
    res = cli("validate", p, "--max-rejected-share", "1")  # a quarter of 4 rows is malformed: accepted
    assert res.returncode == 0, res.stderr
    assert "rows rejected" in res.stdout and "balanced      yes" in res.stdout


def test_bad_flag_value_is_a_usage_error(cli, tmp_path):
    p = tmp_path / "r.csv"
    p.write_text("receipt,sku\n1,a\n")
    check_error(cli("validate", p, "--map", "colour=sku"), "colour")
