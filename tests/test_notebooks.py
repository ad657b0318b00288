"""The numbered notebooks run top to bottom, on the demo and on any export (issue #19).

Each starts with a cell tagged ``parameters`` (the papermill convention; the same names are read from
``RECOMMENDER_*`` environment variables), so `papermill NOTEBOOK OUT -p receipts_path FILE` runs it on one's
own export. Here: the demo with the defaults, and Online Retail (no catalog, no stores, pounds) with parameters.
"""

from __future__ import annotations

import nbformat
import pytest

from tests.conftest import ONLINE_RETAIL, ROOT

NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]-*.ipynb"))


def _run(path, tmp_path, **parameters):
    import papermill

    out = tmp_path / path.name
    papermill.execute_notebook(str(path), str(out), parameters=parameters, kernel_name="python3",
                               cwd=str(tmp_path), progress_bar=False, request_save_on_cell_execute=False)
    nb = nbformat.read(out, as_version=4)
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors
    return nb


def _text(nb) -> str:
    return "\n".join(str(o.get("text", "")) + str(o.get("data", {}).get("text/plain", ""))
                     for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_has_a_parameters_cell_first(path):
    nb = nbformat.read(path, as_version=4)
    first_code = next(c for c in nb.cells if c.cell_type == "code")
    assert "parameters" in first_code.metadata.get("tags", [])
    assert "receipts_path" in first_code.source and "RECOMMENDER_RECEIPTS" in first_code.source


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_runs_on_the_demo(path, tmp_path):
    nb = _run(path, tmp_path)
    assert all(c.get("outputs") for c in nb.cells if c.cell_type == "code"
               and not {"parameters", "injected-parameters"} & set(c.metadata.get("tags", [])))
    text = _text(nb)
    assert "rows read" in text
    if path.name.startswith("01"):
        assert "strengthened" in text or "appeared" in text  # the summer kit shows up as a tested change


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_runs_on_online_retail(path, tmp_path, online_retail):
    if path.name.startswith("02"):
        import recommender.catalog

        if not hasattr(recommender.catalog, "complete_catalog"):
            pytest.skip("pricing from receipts alone (no catalog) is not in this library yet")
    nb = _run(path, tmp_path, receipts_path=str(online_retail), min_support=0.02, season_months="11,12")
    text = _text(nb)
    assert "541,909 rows read" in text
