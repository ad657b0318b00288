"""No live formulas in any file meant for a spreadsheet, through every writer; program data keeps its values."""

from __future__ import annotations

import ast
import csv
import io

import pandas as pd
import pytest
from openpyxl import load_workbook

from recommender import export, spreadsheet
from recommender.receipts import load_receipts, write_rejects
from tests.conftest import ROOT, run_cli

HOSTILE = ['=HYPERLINK("http://x";"y")', "@SUM(1+1)", "+1+2", "-3+4", "\tTAB", "\rCR", "=cmd|' /C calc'!A0"]
STARTS = ("=", "+", "-", "@", "\t", "\r")


def _is_number(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


def assert_no_live_formula(cells) -> int:
    """Every cell starting with = + - @ tab CR is a plain number; return how many cells were looked at."""
    n = 0
    for cell in cells:
        n += 1
        if isinstance(cell, str) and cell.startswith(STARTS):
            assert _is_number(cell), repr(cell)
    return n


def csv_cells(data: bytes):
    text = data.decode("utf-8-sig")
    return [c for row in csv.reader(io.StringIO(text, newline="")) for c in row]


#: The hostile file is meant to lose rows to unreadable numbers: accept the loss (see check_rejected_share).
ACCEPT = ("--max-rejected-share", "1")


@pytest.fixture(scope="module")
def hostile_receipts(tmp_path_factory):
    """Receipts whose cells (quantities, prices, stores, SKUs, receipt ids, an extra column) are formulas."""
    path = tmp_path_factory.mktemp("hostile") / "receipts.csv"
    rows = [["receipt_id", "timestamp", "store_id", "sku", "quantity", "unit_price", "=note"]]
    for i in range(30):
        rows.append([f"r{i}", "2025-01-01 10:00", "S1", "A" if i % 2 else "B", "1", "2.0", "ok"])
        rows.append([f"r{i}", "2025-01-01 10:00", "S1", "C", "1", "3.0", "ok"])
    for j, h in enumerate(HOSTILE):
        rows.append([f"q{j}", "2025-01-02 10:00", "S1", "A", h, "2.0", h])  # rejected: quantity
        rows.append([f"p{j}", "2025-01-02 10:00", h, "A", "1", "2.0", h])  # kept: hostile store
        rows.append([f"p{j}", "2025-01-02 10:00", h, h, "1", "2.0", h])  # kept: hostile SKU
        rows.append([h, "2025-01-02 10:00", "S1", "A", "1", h, h])  # rejected: price, hostile receipt id
    with path.open("w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows(rows)
    return path


def test_neutralise_every_dangerous_start():
    for bad in HOSTILE:
        assert spreadsheet.neutralise(bad) == "'" + bad
    assert spreadsheet.neutralise("tea") == "tea" and spreadsheet.neutralise(-3.5) == -3.5
    assert export.neutralise is spreadsheet.neutralise  # one function, not a copy


def test_validate_rejects_file_holds_no_formula(hostile_receipts, tmp_path):
    out = tmp_path / "rejects.csv"
    res = run_cli("validate", hostile_receipts, "--rejects", out, *ACCEPT)
    assert res.returncode == 0, res.stderr
    data = out.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")
    cells = csv_cells(data)
    assert assert_no_live_formula(cells) > 100
    # the hostile values are all there, shown as text
    for h in HOSTILE:
        assert {"'" + h, "'" + h.strip()} & set(cells), h


def test_write_rejects_and_the_dashboard_download_hold_no_formula(hostile_receipts, tmp_path):
    receipts = load_receipts(hostile_receipts, max_rejected_share=1)
    assert len(receipts.rejects) == 2 * len(HOSTILE)
    assert_no_live_formula(csv_cells(write_rejects(receipts, tmp_path / "r.csv").read_bytes()))
    assert_no_live_formula(csv_cells(spreadsheet.csv_bytes(receipts.rejects)))


def test_every_dashboard_download_goes_through_a_neutralising_writer():
    """Each ``st.download_button`` of every page is fed by csv_bytes or the export writer (export_bytes)."""
    allowed = {"csv_bytes", "export_bytes"}
    found = 0
    for page in (ROOT / "recommender" / "dashboard").glob("*.py"):
        for node in ast.walk(ast.parse(page.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "download_button":
                data = node.args[1] if len(node.args) > 1 else next(k.value for k in node.keywords if k.arg == "data")
                name = getattr(data, "func", None)
                name = getattr(name, "id", None) or getattr(name, "attr", None)
                assert name in allowed, f"{page.name}:{node.lineno} downloads {ast.unparse(data)}"
                found += 1
    assert found >= 2


@pytest.mark.parametrize("level", ["store", "sku"])
def test_tickets_out_holds_no_formula(hostile_receipts, tmp_path, level):
    out = tmp_path / "tickets.csv"
    res = run_cli("tickets", hostile_receipts, "--level", level, "--out", out, *ACCEPT)
    assert res.returncode == 0, res.stderr
    cells = csv_cells(out.read_bytes())
    assert_no_live_formula(cells)
    assert level != "sku" or "'@SUM(1+1)" in cells


def test_export_writers_hold_no_formula(tmp_path):
    rows = []
    for i, h in enumerate(HOSTILE):
        rows.append({"bundle_id": f"B{i}", "store": h, "items": (h, f"x{i}"), "names": (h, "tea"),
                     "regular_price": 10.0, "bundle_price": 9.0, "saving": 1.0, "reason_en": h, "reason_zh": h,
                     "item_prices": [4.0, 6.0],
                     "recommended": True})
    table = pd.DataFrame(rows)
    for fmt in ("csv", "pos"):
        out = export.export_bundles(table, fmt, tmp_path / f"b.{fmt}.csv")
        assert assert_no_live_formula(csv_cells(out.read_bytes())) > len(HOSTILE)
    ws = load_workbook(export.export_bundles(table, "xlsx", tmp_path / "b.xlsx")).active
    cells = [c for row in ws.iter_rows() for c in row]
    assert all(c.data_type != "f" for c in cells)
    assert_no_live_formula(c.value for c in cells)


def test_compare_out_holds_no_formula_and_run_data_keeps_values(hostile_receipts, tmp_path):
    for name in ("a", "b"):
        res = run_cli("mine", hostile_receipts, "--level", "sku", "--min-support", "0.01", "--out", tmp_path / name,
                      *ACCEPT)
        assert res.returncode == 0, res.stderr
    out = tmp_path / "compare.csv"
    res = run_cli("compare", tmp_path / "a", tmp_path / "b", "--out", out)
    assert res.returncode == 0, res.stderr
    assert_no_live_formula(csv_cells(out.read_bytes()))
    # a run folder is data for programs: its values are exactly what was mined
    itemsets = pd.read_csv(tmp_path / "a" / "itemsets.csv", encoding="utf-8-sig", dtype=str)
    assert any("@SUM(1+1)" in v and "'@SUM" not in v for v in itemsets.astype(str).to_numpy().ravel())
