"""Rules explorer at scale: filter-change latency and dashboard memory on a run with millions of rules.

Run (from the repository root; the run folder is made once, it takes minutes)::

    .venv/bin/python -m recommender mine ../shared/datasets/online_retail.csv.gz \\
        --min-support 0.0025 --max-len 4 --out /tmp/or-0.0025
    .venv/bin/python bench/bench_explorer.py /tmp/or-0.0025 --before /tmp/before-checkout

``--before`` is a checkout of the code before the change being measured, e.g.
``git worktree add --detach /tmp/before-checkout 6d97fbe`` (DuckDB over Parquet, no
item index) or ``3abe56d`` (every rule in pandas); without it only "after" runs.

What is measured: the real Bundles page (``recommender/dashboard/bundles_page.py``
of each checkout) driven by Streamlit's ``AppTest`` in a fresh process per
version, on a data folder holding the demo shop and the big run. The first
open of the page (reading the run) is timed apart; then each filter change
(min lift, min confidence, a search, significant-only off, min support) is
one rerun of the page, timed wall-clock. "peak MB" is the process's
``ru_maxrss``: the Python interpreter, Streamlit, the page and what it holds.
It stands for the dashboard server's memory with one user on that run.
The machine is shared: the 1-minute load average before and after each
version is written beside its figures. Writes bench/results/explorer.txt.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: Filter changes, in order: (widget kind, key, value).
CHANGES = (("number_input", "f_lift", 2.0), ("slider", "f_conf", 0.3), ("text_input", "f_search", "heart"),
           ("toggle", "f_sig", False), ("number_input", "f_support", 0.003))

_CHILD = r"""
import json, resource, sys, time
root, run_name, changes = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
sys.path.insert(0, root)
from streamlit.testing.v1 import AppTest
t0 = time.perf_counter()
at = AppTest.from_file(root + "/app.py", default_timeout=1800)
at.session_state["run_name"] = run_name
at.run()
at.switch_page("recommender/dashboard/bundles_page.py").run()
first = time.perf_counter() - t0
assert not at.exception, [e.value for e in at.exception]
times = []
for kind, key, value in changes:
    widget = getattr(at, kind)(key=key)
    t = time.perf_counter()
    (widget.input(value) if kind == "text_input" else widget.set_value(value)).run()
    times.append(time.perf_counter() - t)
    assert not at.exception, [e.value for e in at.exception]
print(json.dumps({"first_open_s": first, "changes_s": times,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def measure(code_root: Path, data: Path, run_name: str) -> dict:
    env = {**os.environ, "RECOMMENDER_DATA_DIR": str(data), "PYTHONPATH": str(code_root)}
    env.pop("RECOMMENDER_DB", None)
    env.pop("RECOMMENDER_USERS", None)
    # every version runs from this repository's root: a run's input path is stored as it was given to `mine`
    # (often relative), and a version that cannot find the receipts skips reading them on first open
    out = subprocess.run([sys.executable, "-c", _CHILD, str(code_root), run_name, json.dumps(CHANGES)],
                         cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    if out.returncode:
        raise SystemExit(f"{code_root}: {out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def data_folder(run: Path, demo: Path | None) -> Path:
    """A data folder with the demo shop (so the app's first start has nothing to create) and the big run."""
    data = Path(tempfile.mkdtemp(prefix="bench-explorer-"))
    (data / "runs").mkdir()
    if demo is not None:
        shutil.copytree(demo / "demo", data / "demo")
        shutil.copytree(demo / "runs" / "demo", data / "runs" / "demo")
    (data / "runs" / run.name).symlink_to(run.resolve())
    return data


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run", type=Path, help="a run folder with millions of rules")
    ap.add_argument("--before", type=Path, help="a checkout of the code before the change")
    ap.add_argument("--demo-data", type=Path, help="a data folder that already holds demo/ and runs/demo")
    ap.add_argument("--before-result", help="the JSON line printed by an earlier 'before' measurement (reused)")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "explorer.txt")
    args = ap.parse_args(argv)
    manifest = json.loads((args.run / "manifest.json").read_text(encoding="utf-8"))
    n_rules = manifest["tables"]["rules"]["rows"]
    versions = ([("before", args.before)] if args.before else []) + [("after", ROOT)]
    rows = [("before", json.loads(args.before_result))] if args.before_result and not args.before else []
    for label, code in versions:
        data = data_folder(args.run, args.demo_data)
        load_before = os.getloadavg()[0]
        try:
            res = measure(code, data, args.run.name)
        finally:
            shutil.rmtree(data, ignore_errors=True)
        res["load"] = [round(load_before, 2), round(os.getloadavg()[0], 2)]
        rows.append((label, res))
        print(label, json.dumps(res), flush=True)
    lines = [f"Rules explorer on {args.run.name}: {n_rules:,} rules "
             f"({platform.machine()}, {os.cpu_count()} cores, shared; {platform.python_version()})",
             "filter changes: " + ", ".join(f"{k}={v}" for _, k, v in CHANGES), "",
             f"{'version':8} {'first open s':>12} {'median change s':>16} {'max change s':>13} {'peak MB':>8} "
             f"{'load 1m before/after':>21}"]
    for label, res in rows:
        ch = sorted(res["changes_s"])
        load = "/".join(f"{x:.1f}" for x in res.get("load", [])) or "-"
        lines.append(f"{label:8} {res['first_open_s']:12.1f} {ch[len(ch) // 2]:16.2f} {ch[-1]:13.2f} "
                     f"{res['peak_mb']:8.0f} {load:>21}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
