"""Bounded memory on hostile inputs: a gzip bomb, a 200 MB single line, 100,000 columns; reading path chosen by
the decompressed size; a clear message (exit 2) before the budget, never an internal error.

The CLI runs in a subprocess whose address space is capped (RLIMIT_AS 1.5 GiB), so a regression fails the test
instead of taking the machine down; the peak resident memory is read back from the kernel (ru_maxrss)."""

from __future__ import annotations

import gzip
import json
import sys

import pytest

from recommender import limits
from recommender.errors import InputError
from recommender.receipts import LoadOptions, load_receipts
from tests.conftest import ROOT

CAP = int(1.5 * 2 ** 30)
#: Runs the CLI under the cap and prints the child's peak RSS (KiB) as the last line of stderr.
RUNNER = """
import resource, subprocess, sys
cap = int(sys.argv[1])
def limit():
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
r = subprocess.run([sys.executable, "-m", "recommender", *sys.argv[2:]], preexec_fn=limit)
print("PEAK_KB=%d" % resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr)
sys.exit(r.returncode)
"""


def run_capped(*args):
    import subprocess

    res = subprocess.run([sys.executable, "-c", RUNNER, str(CAP), *map(str, args)], capture_output=True, text=True,
                         cwd=ROOT, timeout=600)
    *rest, peak = res.stderr.rstrip().splitlines() or [""]
    assert peak.startswith("PEAK_KB="), res.stderr
    return res.returncode, "\n".join(rest), int(peak.split("=")[1]) * 1024


def assert_clean_failure(code, err, peak, *words):
    assert code in (0, 2), err
    assert "Traceback" not in err and "internal error" not in err, err
    assert peak < 1.5e9, f"peak {peak / 1e6:.0f} MB"
    for w in words:
        assert w in err, err


@pytest.mark.slow
def test_gzip_bomb_is_refused_while_streaming(tmp_path):
    """A header, one line, then 400 MB of zeros in a ~0.4 MB .gz (the 13 MB -> 3 GB bomb, scaled down: the
    reading stops within the first 2 MiB of the zeros whatever follows, so a bigger bomb changes nothing)."""
    path = tmp_path / "bomb.csv.gz"
    with gzip.open(path, "wb", compresslevel=1) as f:
        f.write(b"receipt_id,sku,quantity\n1,A,1\n")
        zeros = b"0" * (1 << 20)
        for _ in range(400):
            f.write(zeros)
    assert path.stat().st_size < 5e6
    code, err, peak = run_capped("validate", path)
    assert code == 2
    assert_clean_failure(code, err, peak, "bomb.csv.gz:3", "malformed line", "longer than 1 MiB")
    assert peak < 400e6  # far less than the 400 MB the file expands to: it was never held


@pytest.mark.slow
def test_200_mb_single_line_csv(tmp_path):
    path = tmp_path / "one-line.csv"
    with open(path, "wb") as f:
        f.write(b"receipt_id,sku,quantity")
        block = b",A" * (1 << 19)
        for _ in range(200):
            f.write(block)
    assert path.stat().st_size > 200e6
    code, err, peak = run_capped("validate", path)
    assert code == 2
    assert_clean_failure(code, err, peak, "one-line.csv:1", "malformed line", "line 1 ")


@pytest.mark.slow
def test_100000_column_csv(tmp_path):
    path = tmp_path / "wide.csv"
    with open(path, "w") as f:
        f.write(",".join(["receipt_id", "sku"] + [f"c{i}" for i in range(99_998)]) + "\n")
        for r in range(5):
            f.write(",".join([str(r), "A"] + ["1"] * 99_998) + "\n")
    code, err, peak = run_capped("validate", path)
    assert code == 2
    assert_clean_failure(code, err, peak, "wide.csv:1", "100,000 columns", "at most 2,000")


def test_a_long_field_under_the_line_limit_is_no_internal_error(tmp_path):
    """The standard csv module's own 128 KiB field limit must not surface as an internal error."""
    path = tmp_path / "long-field.csv"
    path.write_text("receipt_id,sku,quantity\n1,A,1\n2," + "B" * 300_000 + ",1\n3,C,1\n")
    code, err, peak = run_capped("validate", path, "--json")
    assert_clean_failure(code, err, peak)


def _many_lines_gz(path, n):
    with gzip.open(path, "wt", compresslevel=6) as f:
        f.write("receipt_id,sku,quantity\n")
        for i in range(n):
            f.write(f"{i // 3},S{i % 97},1\n")
    return path


def test_reading_path_is_decided_by_the_decompressed_size(tmp_path):
    path = _many_lines_gz(tmp_path / "r.csv.gz", 400_000)
    plan = limits.plan_read(path, 2048)
    assert plan.kind == "gzip" and plan.lines == 400_001 and plan.columns == 3
    assert plan.bytes_expanded > 5 * path.stat().st_size  # what it expands to, not what it weighs on disk
    assert not plan.stream
    tight = limits.plan_read(path, 350)
    assert tight.stream and tight.chunk_rows >= 1000
    # streamed within the tight budget: the same accounting and lines as read whole
    whole = load_receipts(path)
    streamed = load_receipts(path, LoadOptions(max_memory_mb=350))
    assert streamed.accounting.to_dict() == whole.accounting.to_dict()
    assert streamed.lines["sku"].tolist() == whole.lines["sku"].tolist()


def test_over_budget_is_a_clear_error_before_reading(tmp_path, cli):
    path = _many_lines_gz(tmp_path / "r.csv.gz", 400_000)
    with pytest.raises(InputError, match="too big to read within --max-memory 260 MB"):
        limits.plan_read(path, 260)
    res = cli("validate", path, "--max-memory", "260")
    assert res.returncode == 2 and "raise --max-memory" in res.stderr and "Traceback" not in res.stderr
    res = cli("validate", path, "--max-memory", "lots")
    assert res.returncode == 2 and "Traceback" not in res.stderr


def test_the_dashboard_reading_path_honours_its_setting(tmp_path, monkeypatch):
    """The dashboard loads with default options: the budget comes from RECOMMENDER_MAX_MEMORY_MB."""
    path = _many_lines_gz(tmp_path / "r.csv.gz", 400_000)
    monkeypatch.setenv("RECOMMENDER_MAX_MEMORY_MB", "260")
    with pytest.raises(InputError, match="RECOMMENDER_MAX_MEMORY_MB"):
        load_receipts(path, LoadOptions(mapping={}))
    monkeypatch.setenv("RECOMMENDER_MAX_MEMORY_MB", "350")
    assert load_receipts(path, LoadOptions(mapping={})).accounting.rows_read == 400_000  # streamed


def test_budget_comes_from_the_flag_the_environment_or_the_default(monkeypatch):
    monkeypatch.delenv("RECOMMENDER_MAX_MEMORY_MB", raising=False)
    assert limits.max_memory_mb() == limits.DEFAULT_MAX_MEMORY_MB == 2048
    monkeypatch.setenv("RECOMMENDER_MAX_MEMORY_MB", "700")  # the dashboard's setting
    assert limits.max_memory_mb() == 700 and limits.max_memory_mb(900) == 900
    with pytest.raises(InputError):
        limits.max_memory_mb(10)


def test_a_line_at_the_limit_passes_and_one_over_is_named(tmp_path):
    ok = tmp_path / "ok.csv"
    ok.write_bytes(b"a,b\n" + b"x" * limits.MAX_LINE_BYTES + b"\n1,2\n")
    assert limits.scan_text(ok)[1:] == (3, 2, limits.MAX_LINE_BYTES)
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"a,b\n1,2\n" + b"x" * (limits.MAX_LINE_BYTES + 1) + b"\n1,2\n")
    with pytest.raises(InputError, match="line 3 is longer") as exc:
        limits.scan_text(bad)
    assert exc.value.line == 3


def test_out_of_memory_is_a_clear_error_not_an_internal_one(monkeypatch, capsys, tmp_path):
    from recommender import cli

    def boom(*a, **k):
        raise MemoryError

    monkeypatch.setattr(cli, "load_receipts", boom, raising=False)
    import recommender.receipts as receipts

    monkeypatch.setattr(receipts, "load_receipts", boom)
    path = tmp_path / "r.csv"
    path.write_text("receipt_id,sku\n1,A\n")
    assert cli.main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert "out of memory" in err and "internal error" not in err
