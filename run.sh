#!/usr/bin/env bash
# One command from a fresh clone: set up, make the demo shop, run the pipeline, open the dashboard.
#   ./run.sh          set up + demo data + CLI pipeline + dashboard (http://localhost:8501)
#   ./run.sh --cli    the same without the dashboard (no browser wanted)
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python3}

if [ ! -x .venv/bin/python ]; then
    echo "==> creating .venv"
    "$PY" -m venv .venv
fi
echo "==> installing (pip install -e .[dev])"
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e ".[dev]"

R=.venv/bin/recommender
echo "==> demo data (data/demo)"
$R demo
echo "==> receipts accounting"
$R validate data/demo/receipts.csv --catalog data/demo/catalog.csv --rejects data/demo/rejects.csv
if $R --help | grep -q " mine "; then
    echo "==> mining rules (data/runs/demo)"
    $R mine data/demo/receipts.csv --catalog data/demo/catalog.csv --level subcategory --min-support 0.002 \
        --out data/runs/demo
fi

if [ "${1:-}" = "--cli" ]; then
    exit 0
fi
echo "==> dashboard: http://localhost:8501 (Ctrl+C to stop)"
exec .venv/bin/streamlit run app.py
