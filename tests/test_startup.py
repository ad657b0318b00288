"""Start-up: each command imports only what it uses.

A heavy library (numba, scipy.stats, pyspark, streamlit, ...) costs a tenth of a
second to seconds and up to 100 MB before any work starts. Each command is run
in a fresh interpreter and the heavy modules it loaded are compared with what
it needs. ``--help`` of every command the parser knows (new commands included)
must load none of them, nor numpy or pandas.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from recommender.cli import build_parser
from tests.conftest import ROOT

HEAVY = ("numba", "scipy.stats", "scipy.special", "scipy.optimize", "pyspark", "streamlit", "matplotlib", "sklearn",
         "statsmodels", "altair", "playwright", "mlxtend", "openpyxl", "duckdb", "IPython")
BASE = ("numpy", "pandas", "pyarrow", "scipy")

PROBE = """
import contextlib, io, json, sys
from recommender.cli import main
watch = json.loads(sys.argv[1])
code = None
with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()) as err:
    try:
        code = main(sys.argv[2:])
    except SystemExit as exc:
        code = exc.code
print(json.dumps({"code": code, "loaded": [m for m in watch if m in sys.modules], "stderr": err.getvalue()[-500:]}))
"""


def loaded_by(*argv, watch=HEAVY + BASE) -> dict:
    res = subprocess.run([sys.executable, "-c", PROBE, json.dumps(list(watch)), *map(str, argv)],
                         capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout.strip().splitlines()[-1])


def commands() -> list[str]:
    sub = next(a for a in build_parser()._actions if a.__class__.__name__ == "_SubParsersAction")
    return sorted(sub.choices)


@pytest.mark.parametrize("command", commands())
def test_help_imports_nothing_heavy(command):
    out = loaded_by(command, "--help")
    assert out["code"] == 0
    assert out["loaded"] == [], f"`recommender {command} --help` imports {out['loaded']}"


@pytest.fixture(scope="module")
def shop(demo_data, demo_run, tmp_path_factory):
    run = tmp_path_factory.mktemp("startup") / "run"
    shutil.copytree(demo_run, run)  # bundles writes into the run: not into the shared one
    truth = json.loads((demo_data / "ground_truth.json").read_text())
    groups = {g: ",".join(s["store_id"] for s in truth["stores"] if s["group"] == g) for g in ("test", "control")}
    return {"receipts": demo_data / "receipts.csv", "catalog": demo_data / "catalog.csv", "run": run,
            "tmp": run.parent, "launch": truth.get("launch_date", "2025-07-01"), **groups}


#: command -> (arguments, heavy modules it needs). Everything else in HEAVY must stay unloaded.
CASES = {
    "validate": (lambda s: [s["receipts"]], set()),
    "tickets": (lambda s: [s["receipts"], "--catalog", s["catalog"]], set()),
    "mine": (lambda s: [s["receipts"], "--catalog", s["catalog"], "--level", "subcategory", "--min-support", "0.01",
                        "--out", s["tmp"] / "mined"], set()),  # small: numpy miner and numpy Fisher tests
    "bundles": (lambda s: [s["run"], "--catalog", s["catalog"]], set()),
    "export": (lambda s: [s["run"], "--format", "csv", "--out", s["tmp"] / "staff.csv"], set()),
    "export-xlsx": (lambda s: [s["run"], "--format", "xlsx", "--out", s["tmp"] / "staff.xlsx"], {"openpyxl"}),
    "suggest": (lambda s: [s["run"], "--basket", "A1001"], set()),
    "compare": (lambda s: [s["run"], s["run"]], set()),
    "uplift": (lambda s: [s["receipts"], "--launch", s["launch"], "--test-stores", s["test"], "--control-stores",
                          s["control"]], {"scipy.stats", "scipy.special", "scipy.optimize"}),
}


@pytest.mark.parametrize("case", list(CASES))
def test_command_imports_only_what_it_uses(shop, case):
    args, needs = CASES[case]
    command = case.split("-")[0]
    if command == "export":  # export reads the bundles of the run
        assert loaded_by("bundles", shop["run"], "--catalog", shop["catalog"], watch=())["code"] == 0
    out = loaded_by(command, *args(shop))
    assert out["code"] == 0, out["stderr"]
    extra = sorted(set(out["loaded"]) & set(HEAVY) - needs)
    assert not extra, f"`recommender {command}` imports {extra}, which it does not need"


def test_mining_a_basket_per_line_file_imports_no_pandas(tmp_path):
    """The FIMI layout is mined with numpy and Arrow alone (recommender.basket_mine): pandas would cost about
    as much CPU and memory as the whole job, scipy.sparse a tenth; numba is not needed for a small problem."""
    rng = __import__("numpy").random.default_rng(1)
    lines = [" ".join(str(x) for x in rng.choice(30, size=int(rng.integers(1, 7)), replace=False)) + " "
             for _ in range(400)]
    path = tmp_path / "retail.dat"
    path.write_text("\n".join(lines) + "\n")
    out = loaded_by("mine", path, "--min-support", "0.02", "--out", tmp_path / "run")
    assert out["code"] == 0, out["stderr"]
    assert (tmp_path / "run" / "rules.parquet").exists()
    assert not {"pandas", "scipy", "numba", "scipy.stats", "mlxtend"} & set(out["loaded"]), out["loaded"]
    # with a catalog, --rejects or a long CSV the general path (pandas) is taken, and works
    out = loaded_by("mine", path, "--min-support", "0.02", "--out", tmp_path / "run2", "--rejects",
                    tmp_path / "rejects.csv")
    assert out["code"] == 0 and "pandas" in out["loaded"], out
