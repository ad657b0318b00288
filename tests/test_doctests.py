"""Every docstring example in the library runs (the examples are documentation; they must stay true)."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import recommender

MODULES = sorted(m.name for m in pkgutil.walk_packages(recommender.__path__, "recommender.")
                 if not m.name.startswith("recommender.dashboard") and m.name != "recommender.__main__")


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    failed, _ = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert failed == 0
