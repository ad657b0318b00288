"""The Spark loader gives the embedded loader's accounting, lines and rejects, row for row.

One local[2] SparkSession for the module; skipped cleanly without pyspark or Java.
"""

from __future__ import annotations

import gzip
import shutil

import pandas as pd
import pytest

from recommender.errors import InputError
from recommender.receipts import LoadOptions, load_receipts

pytestmark = pytest.mark.spark

pytest.importorskip("pyspark")
if shutil.which("java") is None:
    pytest.skip("Spark needs Java (no java on PATH)", allow_module_level=True)

MESSY = """\
InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Store

1001,A,"MUG, RED",2,01/02/2025 10:00,2.50,C1,S1
1001,B,TEA,1,01/02/2025 10:00,1.00,C1,S1
1001,B,TEA,1,01/02/2025 10:00,1.00,C1,S1
1002,A,"MUG, RED",x,01/02/2025 11:00,2.50,C2,S1
1002,B,TEA,1,not a date,1.00,C2,S2
1003,,TEA,1,02/02/2025 09:00,1.00,C3,S1
,A,MUG,1,02/02/2025 09:00,1.00,C3,S1
1004,A,MUG,1,02/02/2025 09:00,abc,C3,S1
1005,POST,POSTAGE,1,03/02/2025 09:00,18.00,C4,S1
1006,A,MUG,0,03/02/2025 09:00,2.50,C4,S1
1007,A,MUG,1,03/02/2025 09:00,-2.50,C4,S1
1008,C,SPOON,1,03/02/2025 09:00,0,C4,S1
C1009,A,MUG,-2,04/02/2025 09:00,2.50,C1,S1
C1010,B,TEA,-1,05/02/2025 09:00,1.00,C9,S1
1011,A,MUG,1,1,2
1012,A,MUG,2,05/03/2025 09:00,2.50,C5,S1
1012,B,TEA,1,05/03/2025 09:00,1.00,C5,S1
1012,C,SPOON,1,05/03/2025 09:00,1.00,C5,S1
1012,D,PLATE,1,05/03/2025 09:00,1.00,C5,S1
1013,A,MUG,1,06/03/2025 09:00,2.50,,S2
1013,D,PLATE,1,06/03/2025 09:00,1.00,,S2
1014,E,BOWL,1,07/03/2025 09:00,3.00,C6,S2
1014,A,MUG,,07/03/2025 09:00,2.50,C6,S2
"""

OPTION_SETS = [
    {"cancellations": "net", "duplicates": "reject", "zero_price": "reject", "non_products": ("post",),
     "max_basket_items": 3, "max_rejected_share": 1, "months": (2, 3)},
    {"dayfirst": True, "since": "2025-02-03", "stores": ("S1",), "non_product_pattern": "P.*",
     "max_rejected_share": 1},
]


@pytest.fixture
def spark(spark_session):
    return spark_session


def _plain(values) -> list:
    return [None if pd.isna(v) else v for v in values]


def same_as_embedded(path, opts, spark):
    from recommender.spark.load import load_receipts_spark

    ours = load_receipts(path, opts)
    theirs = load_receipts_spark(path, opts, spark=spark)
    assert theirs.accounting.to_dict() == ours.accounting.to_dict()
    lines = theirs.lines.toPandas().sort_values("line_no").reset_index(drop=True)
    assert list(lines.columns) == list(ours.lines.columns)
    for col in ours.lines.columns:
        a, b = ours.lines[col], lines[col]
        if col == "timestamp":
            assert a.isna().tolist() == b.isna().tolist()
            assert (a.dropna().astype("int64") == pd.to_datetime(b.dropna()).astype("datetime64[ns]")
                    .astype("int64")).all()
        elif a.dtype.kind == "f":
            pd.testing.assert_series_equal(a.astype(float), b.astype(float), check_names=False)
        else:
            assert _plain(a) == _plain(b), col
    rejects = theirs.rejects.toPandas().sort_values("line_no", kind="stable").reset_index(drop=True)
    assert list(rejects.columns) == list(ours.rejects.columns)
    assert rejects["line_no"].tolist() == ours.rejects["line_no"].tolist()
    assert rejects["reason"].tolist() == ours.rejects["reason"].tolist()
    assert _plain(rejects["column"]) == _plain(ours.rejects["column"])
    return ours, theirs


@pytest.mark.parametrize("kw", OPTION_SETS)
def test_messy_csv_every_reason_as_embedded(tmp_path, spark, kw):
    path = tmp_path / "messy.csv"
    path.write_text(MESSY, encoding="utf-8")
    ours, _ = same_as_embedded(path, LoadOptions(**kw), spark)
    assert sum(ours.accounting.rows_rejected.values()) >= 8  # the file exercises most reasons


def test_gzip_semicolon_decimal_comma(tmp_path, spark):
    text = ("receipt;sku;qty;price\n" + "".join(f"r{i // 3};s{i % 7};{1 + i % 2};{i % 5},{i % 10}0\n"
                                                for i in range(300)))
    path = tmp_path / "r.csv.gz"
    with gzip.open(path, "wt", encoding="utf-8") as f:
        f.write(text)
    ours, theirs = same_as_embedded(path, LoadOptions(), spark)
    assert theirs.accounting.decimal == "," and theirs.accounting.rows_used == 300


def test_parquet_typed_columns(tmp_path, spark):
    frame = pd.DataFrame({"order_id": [1, 1, 2, 2, 3, None], "product_id": ["a", "b", "a", "a", "c", "d"],
                          "qty": [1.0, 2.0, -1.0, 1.0, None, 1.0],
                          "date": pd.to_datetime(["2025-01-01 10:00"] * 4 + ["2025-01-02 00:00", "2025-01-03 00:00"])})
    path = tmp_path / "r.parquet"
    frame.to_parquet(path)
    same_as_embedded(path, LoadOptions(), spark)


#: Cells on both sides of what the JVM cleans itself (recommender.spark.clean): padded with Unicode spaces,
#: -0, currency, thousands marks, exponents, 16 digits, impossible and non-ISO dates.
EDGES = """\
receipt,sku,qty,price,date,store
R1,A,1,1.50,2025-01-01 10:00:00,S1
\u3000R1\u2002,a ,2,2,2025-01-01T10:00:00,S1
R1,B,-0,£2,2025-01-01 10:00,S1
R2,A,1,"1,234.5",2025-01-02,S1
R2,B,1e1,0.1000000000000001,2025-02-30 10:00:00,S2
R2,C,3,1234567890123456,01/02/2025 10:00,S2
R3,A, 4 ,-0.00,2025-01-03,S2
R3,B,1,3,2025-01-03 24:00:00,
R3,C,,0.5,  2025-01-03 09:00:00 ,S1
R4,A,1,2,,S1
CR5,A,-1,1.50,2025-01-04 10:00:00,S1
R5,A,1,1.50,2025-01-01 10:00:00,S1
R1,A,1,1.50,2025-01-01 10:00:00,S1
"""


@pytest.mark.parametrize("kw", [{"max_rejected_share": 1}, {"max_rejected_share": 1, "non_products": ("b",),
                                                          "since": "2025-01-02", "stores": ("S1", "S2"),
                                                          "duplicates": "reject", "cancellations": "net"}])
def test_native_and_python_cleaning_agree_row_for_row(tmp_path, spark, kw):
    from recommender.spark.clean import native_clean

    path = tmp_path / "edges.csv"
    path.write_text(EDGES, encoding="utf-8")
    ours, theirs = same_as_embedded(path, LoadOptions(**kw), spark)
    assert ours.accounting.rows_used >= 3 and len(ours.accounting.rows_rejected) >= 3
    frame = spark.createDataFrame([(" R1", "A", "1", "1.5", "2025-01-01 10:00:00")], "_f0 string, _f1 string, "
                                  "_f2 string, _f3 string, _f4 string")
    cols = {"receipt_id": ["r"], "sku": ["s"], "quantity": ["q"], "unit_price": ["p"], "timestamp": ["d"]}
    prepare, simple, _ = native_clean(frame, cols, ["r", "s", "q", "p", "d"], list(frame.columns),
                                      LoadOptions(**kw), ".")
    assert frame.select("*", *prepare).where(simple).count() == 1  # plain rows never reach Python


def test_rejects_written_as_parquet_dataset(tmp_path, spark):
    from recommender.spark.load import load_receipts_spark, write_rejects_parquet

    path = tmp_path / "messy.csv"
    path.write_text(MESSY, encoding="utf-8")
    got = load_receipts_spark(path, LoadOptions(max_rejected_share=1), spark=spark)
    out = write_rejects_parquet(got, tmp_path / "rejects")
    back = pd.read_parquet(out)
    ours = load_receipts(path, LoadOptions(max_rejected_share=1))
    assert sorted(back["line_no"].tolist()) == ours.rejects["line_no"].tolist()
    assert (tmp_path / "rejects").is_dir()


def test_what_it_cannot_read_is_said(tmp_path, spark):
    from recommender.spark.load import load_receipts_spark

    path = tmp_path / "q.csv"
    path.write_text('receipt,sku,name\n1,a,"two\nlines"\n2,b,x\n', encoding="utf-8")
    with pytest.raises(InputError, match="spans several lines"):
        load_receipts_spark(path, LoadOptions(), spark=spark)
    baskets = tmp_path / "b.txt"
    baskets.write_text("a,b\nb,c,d\n", encoding="utf-8")
    with pytest.raises(InputError, match="one basket per line"):
        load_receipts_spark(baskets, LoadOptions(format="baskets"), spark=spark)


def test_parse_share_stops_as_embedded(tmp_path, spark):
    from recommender.spark.load import load_receipts_spark

    path = tmp_path / "r.csv"
    path.write_text("receipt,sku,date\n1,A,13-02-2025\n2,B,14-02-2025\n", encoding="utf-8")
    opts = LoadOptions(date_format="%m-%d-%Y")
    with pytest.raises(InputError) as ours:
        load_receipts(path, opts)
    with pytest.raises(InputError) as theirs:
        load_receipts_spark(path, opts, spark=spark)
    assert str(theirs.value) == str(ours.value)
