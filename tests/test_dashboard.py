"""Dashboard pages run without errors (streamlit.testing AppTest) on the demo data."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import ROOT


@pytest.fixture
def demo_env(tmp_path, monkeypatch):
    monkeypatch.setenv("RECOMMENDER_DATA_DIR", str(tmp_path))
    return tmp_path


def test_data_page_creates_demo_and_shows_accounting(demo_env):
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120).run()
    assert not at.exception, at.exception
    assert (demo_env / "demo" / "receipts.csv").exists()
    metrics = {m.label: m.value for m in at.metric}
    read = int(metrics["Rows read"].replace(",", ""))
    used = int(metrics["Rows used"].replace(",", ""))
    rejected = int(metrics["Rows rejected"].replace(",", ""))
    assert read == used + rejected and rejected > 0
    assert metrics["Balanced"] == "yes"
    assert any("Rejected rows by reason" in h.value for h in at.subheader)
