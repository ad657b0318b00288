#!/usr/bin/env bash
# One command from a fresh clone: set up, make the demo shop, run the pipeline, open the dashboard.
#   ./run.sh          set up + demo data + CLI pipeline + dashboard (http://localhost:8501)
#   ./run.sh --cli    the same without the dashboard (no browser wanted)
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python3}

if ! "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    echo "error: Python 3.11 or newer is needed ($PY is $("$PY" -V 2>&1)); set PYTHON=python3.11" >&2
    exit 2
fi
if [ ! -x .venv/bin/python ]; then
    echo "==> creating .venv"
    "$PY" -m venv .venv
fi
# The pinned versions first (repeatable), then the project; a dependency declared since the lock was made
# still installs through the second step.
echo "==> installing (requirements.lock, then pip install -e .[dev])"
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -r requirements.lock
.venv/bin/python -m pip install -q -e ".[dev]"

R=.venv/bin/recommender
echo "==> demo data (data/demo)"
$R demo
echo "==> receipts accounting"
$R validate data/demo/receipts.csv --catalog data/demo/catalog.csv --rejects data/demo/rejects.csv
echo "==> mining rules (data/runs/demo)"
$R mine data/demo/receipts.csv --catalog data/demo/catalog.csv --level subcategory --min-support 0.002 \
    --out data/runs/demo
echo "==> pricing bundles"
$R bundles data/runs/demo
echo "==> staff lists (out/)"
mkdir -p out
$R export data/runs/demo --format xlsx --out out/bundles.xlsx
$R export data/runs/demo --format html --out out/bundles.html
echo "==> ticket counts and the launch's uplift"
$R tickets data/demo/receipts.csv --catalog data/demo/catalog.csv --level department --limit 5
.venv/bin/python - <<'PY'
import json, subprocess
t = json.load(open("data/demo/ground_truth.json"))
subprocess.run([".venv/bin/recommender", "uplift", "data/demo/receipts.csv", "--launch", t["launch_date"],
                "--test-stores", ",".join(t["test_stores"]), "--control-stores", ",".join(t["control_stores"])],
               check=True)
PY

if [ "${1:-}" = "--cli" ]; then
    exit 0
fi
# Loopback unless told otherwise; a network address needs a users file (demo mode is for this computer only).
ADDRESS=${RECOMMENDER_ADDRESS:-127.0.0.1}
USERS=${RECOMMENDER_USERS:-${RECOMMENDER_DATA_DIR:-data}/users.toml}
case "$ADDRESS" in
    127.*|::1|localhost) ;;
    *) if [ ! -f "$USERS" ]; then
           echo "error: serving $ADDRESS needs a users file ($USERS): python -m recommender.auth add-user NAME --role ROLE" >&2
           exit 2
       fi ;;
esac
echo "==> dashboard: http://$ADDRESS:8501 (Ctrl+C to stop)"
exec .venv/bin/streamlit run app.py --server.address "$ADDRESS"
