"""numpy arrays and Python strings <-> Arrow arrays, through their buffers.

Why: pyarrow (26) imports pandas, if it is installed, the first time it converts
a Python or numpy object (``pa.array``, ``Array.to_numpy``, a scalar argument
to a compute function): about 0.45 CPU seconds and 100 MB, as much as the
whole basket-per-line mining job (:mod:`recommender.basket_mine`) costs
otherwise. Building arrays from their buffers and reading buffers back never
asks for pandas. Only arrays without nulls are read back (``to_numpy``).

Examples
--------
>>> import numpy as np
>>> to_numpy(from_numpy(np.array([3, 1, 2]))).tolist(), to_numpy(from_numpy(np.array([True, False]))).tolist()
([3, 1, 2], [True, False])
>>> strings(["a", None, "中"]).to_pylist(), string_lengths(strings(["ab", "", "中"])).tolist()
(['a', None, '中'], [2, 0, 3])
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

__all__ = ["from_numpy", "to_numpy", "strings", "string_lengths"]

_TYPES = {np.dtype(np.int64): pa.int64(), np.dtype(np.int32): pa.int32(), np.dtype(np.uint32): pa.uint32(),
          np.dtype(np.float64): pa.float64(), np.dtype(np.uint64): pa.uint64(), np.dtype(np.int8): pa.int8(),
          np.dtype(np.uint8): pa.uint8(), np.dtype(np.int16): pa.int16(), np.dtype(np.uint16): pa.uint16(),
          np.dtype(np.float32): pa.float32()}
_DTYPES = {str(t): d for d, t in _TYPES.items()}


def from_numpy(values) -> pa.Array:
    """A 1-D numpy array of numbers or booleans as an Arrow array (no nulls)."""
    values = np.ascontiguousarray(values)
    if values.dtype == np.bool_:
        bits = np.packbits(values, bitorder="little")
        return pa.Array.from_buffers(pa.bool_(), len(values), [None, pa.py_buffer(bits)])
    return pa.Array.from_buffers(_TYPES[values.dtype], len(values), [None, pa.py_buffer(values)])


def to_numpy(array) -> np.ndarray:
    """An Arrow array (or one-chunk chunked array) of numbers or booleans, without nulls, as numpy."""
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    if array.null_count:
        raise ValueError("to_numpy reads arrays without nulls only")
    n, offset = len(array), array.offset
    data = array.buffers()[1]
    if pa.types.is_boolean(array.type):
        if n == 0:
            return np.zeros(0, dtype=bool)
        bits = np.unpackbits(np.frombuffer(data, dtype=np.uint8), bitorder="little")
        return bits[offset:offset + n].astype(bool)
    dtype = _DTYPES[str(array.type)]
    if n == 0:
        return np.zeros(0, dtype=dtype)
    return np.frombuffer(data, dtype=dtype)[offset:offset + n].copy()


def _offsets(array) -> np.ndarray:
    wide = pa.types.is_large_string(array.type) or pa.types.is_large_binary(array.type) or \
        pa.types.is_large_list(array.type)
    raw = array.buffers()[1]
    if raw is None:
        return np.zeros(1, dtype=np.int64)
    off = np.frombuffer(raw, dtype=np.int64 if wide else np.int32)
    return off[array.offset:array.offset + len(array) + 1].astype(np.int64)


def string_lengths(array) -> np.ndarray:
    """Length in bytes (UTF-8) of each string of an Arrow string array (0 for a null)."""
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    return np.diff(_offsets(array))


def list_offsets(array) -> np.ndarray:
    """The offsets of a list array (``len + 1`` of them, from 0)."""
    off = _offsets(array)
    return off - off[0]


def strings(values, large: bool = True) -> pa.Array:
    """A sequence of str (or None for a null) as an Arrow (large) string array."""
    encoded = [b"" if v is None else v.encode("utf-8") for v in values]
    offsets = np.zeros(len(encoded) + 1, dtype=np.int64 if large else np.int32)
    if encoded:
        np.cumsum(np.fromiter(map(len, encoded), dtype=np.int64, count=len(encoded)), out=offsets[1:])
    nulls = np.fromiter((v is None for v in values), dtype=bool, count=len(encoded))
    validity = pa.py_buffer(np.packbits(~nulls, bitorder="little")) if nulls.any() else None
    kind = pa.large_string() if large else pa.string()
    return pa.Array.from_buffers(kind, len(encoded), [validity, pa.py_buffer(offsets), pa.py_buffer(b"".join(encoded))],
                                 null_count=int(nulls.sum()))
