"""A basket-per-line text file -> its items, split by Arrow, without pandas.

In: a path and :class:`recommender.reading.LoadOptions`. Out:
:class:`BasketLines` -- every item of every non-blank line (stripped, empty
items dropped) with the line it came from, the separator and the encoding.
Both readers of such files use it: :func:`recommender.receipts.load_receipts`
(which turns it into receipt lines, with pandas) and
:mod:`recommender.basket_mine` (which mines it with numpy and Arrow alone), so
the two split every file the same way.

Also here: :func:`guess_format` (does a file hold one row per receipt line or
one basket per line?) and :func:`sniff_basket_separator`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from recommender.errors import InputError
from recommender.readers import sniff_separator

__all__ = ["BasketLines", "split_baskets", "guess_format", "sniff_basket_separator"]


def guess_format(path: Path, opts) -> str:
    """Long format when a receipt and a sku column can be found, else one basket per line."""
    if opts.mapping:
        return "lines"
    table_like = path.suffix.lower() in {".xlsx", ".xlsm", ".parquet", ".pq"}
    if table_like:
        return "lines"
    try:
        with open(path, "rb") as f:
            raw = f.read(1 << 16)
        if raw[:2] == b"\x1f\x8b":
            import zlib
            try:
                raw = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(raw)
            except zlib.error:
                return "lines"  # read_table will give the proper error
        from recommender.readers import detect_encoding
        enc = opts.encoding or detect_encoding(raw, path)
        text = raw.decode(enc, errors="ignore").lstrip("\ufeff")
    except InputError:
        return "lines"
    sample = [ln for ln in text.splitlines()[:50] if ln.strip()]
    if not sample:
        return "lines"
    sep = opts.sep or sniff_separator(sample)
    import csv
    header = next(csv.reader([sample[0]], delimiter=sep))
    from recommender.reading import resolve_columns

    cols = resolve_columns([h.strip() for h in header])
    if "receipt_id" in cols and "sku" in cols:
        return "lines"
    widths = {len(r) for r in csv.reader(sample, delimiter=sep)}
    if len(widths) > 1 or path.suffix.lower() in {".txt", ".dat", ".basket", ".baskets"}:
        return "baskets"
    if widths == {1} and not opts.sep and sniff_basket_separator(sample) == " ":
        return "baskets"  # one column by every usual separator, but words split by spaces: the FIMI layout
    return "lines"


#: Characters Python's ``str.strip()`` removes (``str.isspace``), so the Arrow path strips exactly the same.
_WHITESPACE = ("\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007"
               "\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000")
#: Line boundaries of ``str.splitlines()``; only "\n" (and "\r\n") are common, the rest take the regex path.
_LINE_BREAKS = "\r\n|[\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]"
_RARE_BREAKS = (b"\x0b", b"\x0c", b"\x1c", b"\x1d", b"\x1e", "\x85".encode(), "\u2028".encode(), "\u2029".encode())


def sniff_basket_separator(sample_lines: list[str]) -> str:
    """Separator of a basket-per-line sample: ``, ; TAB |``, else a space when only spaces split the lines.

    Whitespace is chosen only when none of the usual separators splits any
    line and at least a third of the lines hold several space-separated words
    (the FIMI layout, ``12 57 803``).

    >>> sniff_basket_separator(["a;b;c", "b;c"]), sniff_basket_separator(["12 57 803", "9 12", "44"])
    (';', ' ')
    >>> sniff_basket_separator(["whole milk", "bread"])
    ','
    """
    sep = sniff_separator(sample_lines, ragged_ok=True)
    lines = [ln for ln in sample_lines if ln.strip()]
    if not lines or any(len(ln.split(sep)) > 1 for ln in lines):
        return sep
    spaced = sum(len(ln.split()) > 1 for ln in lines)
    return " " if spaced >= max(2, len(lines) / 3) else sep


@dataclass
class BasketLines:
    """The items of a basket-per-line file, in file order.

    Attributes
    ----------
    items : pyarrow.Array of str
        Every item, stripped; a line of separators only holds one empty item
        (rejected as "missing sku" by the readers).
    owner : numpy.ndarray of int32
        Index into ``lines`` of each item's line (non-decreasing).
    lines : pyarrow.Array of str
        The non-blank lines, as read (for rejected rows and the read checks).
    line_numbers : numpy.ndarray of int64
        1-based physical line number of each of ``lines``.
    encoding, sep : str
    """

    items: object
    owner: np.ndarray
    lines: object
    line_numbers: np.ndarray
    encoding: str
    sep: str

    @property
    def item_line_numbers(self) -> np.ndarray:
        """1-based line number of each item (its receipt id)."""
        return self.line_numbers[self.owner]


def split_baskets(path: Path, opts) -> BasketLines:
    """One receipt a line: items split by the separator.

    Vectorised with Arrow (no Python loop per line) and equal to splitting
    ``text.splitlines()`` line by line: blank lines are skipped but keep their
    number, items are stripped as ``str.strip()`` does, empty items (a trailing
    separator, doubled separators) are dropped, and a line of separators only
    becomes one empty item.

    Examples
    --------
    >>> import tempfile, os
    >>> p = Path(tempfile.mkdtemp()) / "b.dat"
    >>> _ = p.write_text("1 2 \\n\\n3\\n")
    >>> from recommender.reading import LoadOptions
    >>> b = split_baskets(p, LoadOptions(sep=" "))
    >>> b.items.to_pylist(), b.item_line_numbers.tolist(), b.sep
    (['1', '2', '3'], [1, 1, 3], ' ')
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    from recommender.arrow_arrays import from_numpy, list_offsets, string_lengths, strings
    from recommender.readers import _decode, _gunzip, detect_encoding, sniff_kind

    # (arrays are built from buffers and read back through them: pyarrow would import pandas otherwise)
    raw = path.read_bytes()
    if not raw:
        raise InputError("the file is empty", path=path, hint="export the baskets again")
    kind = sniff_kind(raw[:8])
    if kind == "gzip":
        raw = _gunzip(raw, path)
    elif kind != "text":
        raise InputError("a basket-per-line file must be text", path=path, hint="use --format lines for tables")
    enc = opts.encoding or detect_encoding(raw, path)
    text = _decode(raw, enc, path)
    if opts.sep == "":
        raise InputError("--sep is empty", path=path, hint="give a separator, e.g. --sep ';' or --sep space")
    if enc in ("utf-8", "utf-8-sig"):
        utf8 = raw[3:] if raw.startswith(b"\xef\xbb\xbf") else raw  # the text without its BOM, as _decode gives it
    else:
        utf8 = text.encode("utf-8")
    del raw, text
    # 32-bit offsets below 2 GB: every array split from it then costs 4 bytes less per line and per item
    kind = pa.StringArray if len(utf8) < 2 ** 31 - 1 else pa.LargeStringArray
    offsets = np.array([0, len(utf8)], dtype=np.int32 if kind is pa.StringArray else np.int64)
    whole = kind.from_buffers(1, pa.py_buffer(offsets), pa.py_buffer(utf8))
    n_cr = utf8.count(b"\r")
    if any(b in utf8 for b in _RARE_BREAKS) or n_cr != utf8.count(b"\r\n"):
        physical = pc.split_pattern_regex(whole, _LINE_BREAKS).flatten()
    else:
        physical = pc.split_pattern(whole, "\n").flatten()
        if n_cr:
            physical = pc.replace_substring_regex(physical, "\r$", "")
    del whole, utf8
    nonblank = np.flatnonzero(string_lengths(pc.utf8_trim(physical, _WHITESPACE)) > 0)
    if not len(nonblank):
        raise InputError("the file is empty (no baskets)", path=path)
    kept = physical.take(from_numpy(nonblank.astype(np.int64)))
    del physical
    sep = opts.sep or sniff_basket_separator(kept.slice(0, 200).to_pylist())
    parts = pc.split_pattern(kept, sep)
    owner = np.repeat(np.arange(len(kept), dtype=np.int32), np.diff(list_offsets(parts)))
    items = pc.utf8_trim(parts.flatten(), _WHITESPACE)
    keep = string_lengths(items) > 0
    items, owner = items.filter(from_numpy(keep)), owner[keep]
    lonely = np.flatnonzero(np.bincount(owner, minlength=len(kept)) == 0)
    if len(lonely):  # a line of separators only: one empty item, rejected as missing sku
        order = np.argsort(np.concatenate([owner, lonely.astype(owner.dtype)]), kind="stable")
        empty = strings([""] * len(lonely), large=pa.types.is_large_string(items.type))
        items = pa.concat_arrays([items, empty]).take(from_numpy(order.astype(np.int64)))
        owner = np.concatenate([owner, lonely.astype(owner.dtype)])[order]
    return BasketLines(items=items, owner=owner, lines=kept, line_numbers=(nonblank + 1).astype(np.int64),
                       encoding=enc, sep=sep)
