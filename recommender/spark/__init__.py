"""The whole pipeline on Spark: read, clean, count and mine in the cluster.

One module per stage:

- :mod:`recommender.spark.load` -- CSV (also .gz) / Parquet -> clean lines and
  rejects as Spark DataFrames, with the embedded loader's accounting;
- :mod:`recommender.spark.son` -- baskets at a level, frequent itemsets by SON
  (exact), per-basket-size-band counts and pair counts for the statistics;
- :mod:`recommender.spark.items` -- the run's items table and suspected
  non-products from per-SKU aggregates;
- :mod:`recommender.spark.pipeline` -- a run folder equal to the embedded one.

Only small tables (counts per itemset, per band, per SKU) reach the driver; it
never collects receipt lines or baskets. The session is
:func:`recommender.mining.spark.get_session` (``RECOMMENDER_SPARK_MASTER``,
``--spark-conf``).
"""
