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

__version__ = "0.1.0"
