"""Shared fixtures: paths to the shared public data, a CLI runner."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("RECOMMENDER_SHARED_DATASETS") or ROOT.parent / "shared" / "datasets")
ONLINE_RETAIL = SHARED / "online_retail.csv.gz"


@pytest.fixture(autouse=True)
def _fresh_sign_in_throttle():
    """Each test starts with no failed sign-ins on record.

    The dashboard keeps one sign-in throttle per server process (``st.cache_resource``);
    every ``AppTest`` of a pytest run is the same process and, as a loopback client, the
    same client address, so a wrong password in one test file would otherwise count
    toward the throttle in the next (order-dependent results). Cleared only when the
    dashboard is already imported, so tests that never touch it do not import Streamlit.
    """
    common = sys.modules.get("recommender.dashboard.common")
    if common is not None:
        common.throttle.clear()


@pytest.fixture
def online_retail() -> Path:
    if not ONLINE_RETAIL.exists():
        pytest.skip("shared/datasets/online_retail.csv.gz is not present beside the repo")
    return ONLINE_RETAIL


def run_cli(*args, cwd=None) -> subprocess.CompletedProcess:
    """Run ``python -m recommender ARGS`` as a user would; capture text output."""
    return subprocess.run([sys.executable, "-m", "recommender", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd or ROOT, timeout=600)


@pytest.fixture
def cli():
    return run_cli


@pytest.fixture(scope="session")
def demo_data(tmp_path_factory) -> Path:
    """The default demo shop, generated once per test session into a temporary folder."""
    from recommender.demo import generate_demo

    out = tmp_path_factory.mktemp("demo")
    generate_demo(out)
    return out


@pytest.fixture(scope="session")
def demo_run(demo_data, tmp_path_factory) -> Path:
    """A subcategory-level mining run of the demo shop, made through the CLI once per session."""
    out = tmp_path_factory.mktemp("runs") / "demo"
    res = run_cli("mine", demo_data / "receipts.csv", "--catalog", demo_data / "catalog.csv", "--level",
                  "subcategory", "--min-support", "0.002", "--out", out)
    assert res.returncode == 0, res.stderr
    return out


def _local_spark():
    """The process's local[2] SparkSession (started if none runs, or if a test stopped it); skips without Java."""
    import shutil

    pytest.importorskip("pyspark")
    if shutil.which("java") is None:
        pytest.skip("Spark needs Java (no java on PATH)")
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    from recommender.mining.spark import get_session

    return get_session("local[2]")


@pytest.fixture
def spark_session():
    """The process's local[2] SparkSession, shared by every Spark test of the run (a JVM start costs seconds).

    Function-scoped so that a test which stops it (``tests/test_spark.py``, or the bounded-driver test that needs
    a session of its own) leaves no stale session behind: the next test gets a running one. Skips without Java.
    """
    return _local_spark()


@pytest.fixture(scope="module")
def spark_module_session():
    """The same session for module-scoped fixtures that cache Spark DataFrames across a module's tests.

    No test may stop it within such a module: the cached DataFrames would then belong to a stopped session.
    """
    return _local_spark()
