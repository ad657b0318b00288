"""Bundle and basket recommender.

The flow, one module per stage::

    receipts (load any export, account for every row)
      -> baskets (sparse receipt x item matrix at a catalog level)
      -> mining (frequent itemsets with exact counts)
      -> rules (measures derived from counts, significance, substitutes)
      -> bundles (candidates, incremental value) -> pricing, reasons
      -> tickets, uplift (measure) -> export (staff lists)

Heavy modules are imported lazily by the commands that need them, so a
``recommender validate`` does not pay for the miner's start-up.
"""

import os
from pathlib import Path

__version__ = "0.1.0"


def data_dir() -> Path:
    """The project's data folder; ``RECOMMENDER_DATA_DIR`` moves it (tests, deployments)."""
    env = os.environ.get("RECOMMENDER_DATA_DIR")
    return Path(env) if env else Path(__file__).resolve().parents[1] / "data"
