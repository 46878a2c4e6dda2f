"""Read and write IDX files, the format MNIST is shipped in, raw or gzip-compressed.

Every way a file can be wrong (bad magic, unknown type, zero sizes, truncation, trailing bytes, a
broken gzip stream) raises one exception, :class:`IDXError`, whose message names the file.

Format (all integers big-endian)::

    byte 0, 1   0x00 0x00
    byte 2      type code: 0x08 ubyte, 0x09 sbyte, 0x0B short, 0x0C int, 0x0D float, 0x0E double
    byte 3      ndim, the number of dimensions (at least 1)
    ndim x 4    each dimension as an unsigned 32-bit integer
    data        prod(dims) values of the type, big-endian, C order

Decisions
---------
- The first dimension (the item count) may be 0: an empty data set, read as shape ``(0, d1, ...)``.
  Every other dimension describes one item and must be at least 1, even in an empty file.
- gzip is recognised by its magic bytes ``1f 8b``, never by the file name.
- The data length is checked against the header before the data is read: a raw file's size comes
  from the file system; a gzip stream is decompressed in chunks and never beyond the declared size
  plus one byte, so a header that claims billions of items fails without allocating them.
- ``max_bytes`` (2 GiB by default, ``None`` for no limit) caps the data a header may claim, so a
  small gzip "bomb" cannot make the reader decompress gigabytes.
"""

from __future__ import annotations

import gzip as _gzip
import os
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

from ..fileio import atomic_write

__all__ = ["IDXError", "IDXHeader", "read_idx", "read_idx_header", "write_idx", "DEFAULT_MAX_BYTES"]

#: The largest data section (in bytes) a header may claim unless the caller raises the limit.
DEFAULT_MAX_BYTES = 2 << 30

GZIP_MAGIC = b"\x1f\x8b"

#: IDX type code -> (big-endian NumPy dtype, name used in messages).
TYPE_CODES: dict[int, tuple[np.dtype, str]] = {
    0x08: (np.dtype(">u1"), "ubyte"),
    0x09: (np.dtype(">i1"), "sbyte"),
    0x0B: (np.dtype(">i2"), "short"),
    0x0C: (np.dtype(">i4"), "int"),
    0x0D: (np.dtype(">f4"), "float"),
    0x0E: (np.dtype(">f8"), "double"),
}
_CODE_OF_TYPE = {dtype.type: code for code, (dtype, _) in TYPE_CODES.items()}
_CHUNK = 4 << 20


def _max_ndim() -> int:
    """The most dimensions a NumPy array may have here (64 in NumPy 2, 32 before)."""
    for n in (64, 32):
        try:
            np.empty((1,) * n, dtype=np.uint8)
            return n
        except ValueError:
            continue
    return 32


MAX_NDIM = _max_ndim()


class IDXError(ValueError):
    """A file is not a valid IDX file (or two IDX files do not belong together).

    The message starts with the file's path and says what was expected.
    """


@dataclass(frozen=True)
class IDXHeader:
    """What an IDX header declares.

    Attributes
    ----------
    dtype : big-endian NumPy dtype of the stored values.
    shape : the declared dimensions.
    header_bytes : size of the header, ``4 + 4 * ndim``.
    compressed : whether the file is gzip-compressed.
    """

    dtype: np.dtype
    shape: tuple[int, ...]
    header_bytes: int
    compressed: bool

    @property
    def data_bytes(self) -> int:
        """Bytes of data the header claims: ``prod(shape) * itemsize`` (exact, never overflows)."""
        count = 1
        for d in self.shape:
            count *= d
        return count * self.dtype.itemsize

    def describe(self) -> str:
        """``'10000x28x28 ubyte = 7840000 bytes of data'``, for messages."""
        dims = "x".join(str(d) for d in self.shape)
        return f"{dims} {TYPE_CODES[_CODE_OF_TYPE[self.dtype.type]][1]} = {self.data_bytes} bytes of data"


def _is_gzip(f: BinaryIO, name: str) -> bool:
    if not f.seekable():
        raise IDXError(f"{name}: not a regular file (a pipe or a device?); expected an IDX file on disk")
    start = f.read(2)
    f.seek(0)
    return start == GZIP_MAGIC


def _read_exact(stream: BinaryIO, n: int) -> bytes:
    """Read up to ``n`` bytes, looping over short reads; fewer only at end of stream."""
    parts, have = [], 0
    while have < n:
        chunk = stream.read(n - have)
        if not chunk:
            break
        parts.append(chunk)
        have += len(chunk)
    return b"".join(parts)


def _parse_header(stream: BinaryIO, name: str, compressed: bool) -> IDXHeader:
    magic = _read_exact(stream, 4)
    if len(magic) == 0:
        raise IDXError(f"{name}: empty file; expected an IDX header (0x00 0x00 <type> <ndim>)")
    if len(magic) < 4:
        raise IDXError(f"{name}: truncated header: {len(magic)} bytes, expected at least 4")
    if magic[0] != 0 or magic[1] != 0:
        raise IDXError(
            f"{name}: bad magic number 0x{magic[:4].hex()}: expected 0x0000 followed by a type code "
            "and the number of dimensions (is this an IDX file?)"
        )
    code, ndim = magic[2], magic[3]
    if code not in TYPE_CODES:
        known = ", ".join(f"0x{c:02X} ({t})" for c, (_, t) in TYPE_CODES.items())
        raise IDXError(f"{name}: unsupported type code 0x{code:02X}; expected one of {known}")
    if ndim == 0:
        raise IDXError(f"{name}: header declares 0 dimensions; expected at least 1")
    if ndim > MAX_NDIM:
        raise IDXError(f"{name}: header declares {ndim} dimensions; expected at most {MAX_NDIM} (NumPy's limit)")
    raw_dims = _read_exact(stream, 4 * ndim)
    if len(raw_dims) < 4 * ndim:
        raise IDXError(
            f"{name}: truncated header: {ndim} dimensions need {4 * ndim} bytes after the magic "
            f"number, file has {len(raw_dims)}"
        )
    shape = struct.unpack(f">{ndim}I", raw_dims)
    for axis, size in enumerate(shape[1:], start=1):
        if size == 0:
            raise IDXError(
                f"{name}: dimension {axis} of {'x'.join(map(str, shape))} is 0; only the first "
                "dimension (the item count) may be 0"
            )
    return IDXHeader(TYPE_CODES[code][0], tuple(shape), 4 + 4 * ndim, compressed)


def _check_limit(header: IDXHeader, name: str, max_bytes: int | None) -> None:
    if max_bytes is not None and header.data_bytes > max_bytes:
        raise IDXError(
            f"{name}: header claims {header.describe()}, more than max_bytes={max_bytes}; "
            "pass a larger max_bytes (or None) if the file really is that large"
        )


def read_idx_header(path: str | os.PathLike) -> IDXHeader:
    """Read and check only the header of an IDX file (raw or gzip).

    Raises
    ------
    IDXError : the header is missing, truncated or malformed.
    """
    name = os.fspath(path)
    with open(path, "rb") as f:
        compressed = _is_gzip(f, name)
        if not compressed:
            return _parse_header(f, name, False)
        try:
            with _gzip.GzipFile(fileobj=f, mode="rb") as stream:
                return _parse_header(stream, name, True)
        except (OSError, EOFError, zlib.error) as exc:
            raise IDXError(f"{name}: broken gzip stream: {exc}") from None


def read_idx(path: str | os.PathLike, *, max_bytes: int | None = DEFAULT_MAX_BYTES) -> np.ndarray:
    """Read an IDX file, raw or gzip-compressed, into a NumPy array.

    Parameters
    ----------
    path : file to read; gzip is detected by its magic bytes, not by the name.
    max_bytes : largest data section the header may claim (None: no limit).

    Returns
    -------
    array : the declared shape, in native byte order: uint8, int8, int16, int32, float32 or float64.

    Raises
    ------
    IDXError : bad magic, unsupported type code, zero dimensions, truncated data, trailing bytes,
        or a broken gzip stream. The message names the file and what was expected.
    OSError : the file cannot be opened (FileNotFoundError, IsADirectoryError, ...).
    """
    name = os.fspath(path)
    with open(path, "rb") as f:
        if _is_gzip(f, name):
            return _read_gzip(f, name, max_bytes)
        return _read_raw(f, name, max_bytes)


def _to_array(data, header: IDXHeader) -> np.ndarray:
    array = np.frombuffer(data, dtype=header.dtype).reshape(header.shape)
    return array.astype(header.dtype.newbyteorder("="), copy=False)


def _read_raw(f: BinaryIO, name: str, max_bytes: int | None) -> np.ndarray:
    header = _parse_header(f, name, False)
    _check_limit(header, name, max_bytes)
    have = os.fstat(f.fileno()).st_size - header.header_bytes
    _check_length(header, name, have, exact=True)
    data = bytearray(header.data_bytes)
    got = f.readinto(data) if data else 0
    if got != header.data_bytes:  # the file changed under us
        _check_length(header, name, got, exact=True)
    return _to_array(data, header)


def _read_gzip(f: BinaryIO, name: str, max_bytes: int | None) -> np.ndarray:
    try:
        with _gzip.GzipFile(fileobj=f, mode="rb") as stream:
            header = _parse_header(stream, name, True)
            _check_limit(header, name, max_bytes)
            # Grow with the data actually decompressed, never more than declared + 1 byte.
            limit, data = header.data_bytes + 1, bytearray()
            while len(data) < limit:
                chunk = stream.read(min(_CHUNK, limit - len(data)))
                if not chunk:
                    break
                data += chunk
    except (OSError, EOFError, zlib.error) as exc:
        raise IDXError(f"{name}: broken gzip stream: {exc}") from None
    _check_length(header, name, len(data), exact=False)
    return _to_array(data, header)


def _check_length(header: IDXHeader, name: str, have: int, exact: bool) -> None:
    need = header.data_bytes
    where = "file has" if not header.compressed else "decompressed file has"
    after = f"after the {header.header_bytes}-byte header"
    if have < need:
        raise IDXError(f"{name}: truncated: header claims {header.describe()}, {where} {have} {after}")
    if have > need:
        amount = f"{have}" if exact else "more"
        extra = f" ({have - need} trailing bytes)" if exact else ""
        raise IDXError(
            f"{name}: trailing bytes: header claims {header.describe()}, {where} {amount} {after}{extra}"
        )


def write_idx(path: str | os.PathLike, array: np.ndarray, gzip: bool = False) -> Path:
    """Write ``array`` as an IDX file, atomically (temp file in the same directory + ``os.replace``).

    Parameters
    ----------
    path : destination; the name is not changed (``gzip=True`` does not append ``.gz``).
    array : at least 1-D, dtype uint8, int8, int16, int32, float32 or float64 (any byte order).
        Dimensions after the first must be at least 1; each must fit in 32 bits.
    gzip : compress the file (deterministically: no timestamp in the gzip header).

    Returns
    -------
    The path written.
    """
    name = os.fspath(path)
    array = np.asarray(array)
    code = _CODE_OF_TYPE.get(array.dtype.type)
    if code is None or array.dtype.kind not in "uif":
        allowed = ", ".join(str(dt.newbyteorder("=")) for dt, _ in TYPE_CODES.values())
        raise IDXError(f"{name}: write_idx: dtype {array.dtype} has no IDX type code; expected one of {allowed}")
    if not 1 <= array.ndim <= 255:
        raise IDXError(f"{name}: write_idx: expected an array with 1 to 255 dimensions, got {array.ndim}-D")
    if any(d > 0xFFFFFFFF for d in array.shape):
        raise IDXError(f"{name}: write_idx: dimensions {array.shape} do not fit in 32 bits")
    if any(d == 0 for d in array.shape[1:]):
        raise IDXError(f"{name}: write_idx: shape {array.shape}: only the first dimension may be 0")
    header = struct.pack(f">BBBB{array.ndim}I", 0, 0, code, array.ndim, *array.shape)
    data = np.ascontiguousarray(array, dtype=TYPE_CODES[code][0])

    target = Path(path)
    payload = data.reshape(-1).view(np.uint8)
    def write(out) -> None:
        if gzip:
            inner = target.name[:-3] if target.name.endswith(".gz") else target.name
            with _gzip.GzipFile(filename=inner, mode="wb", fileobj=out, mtime=0, compresslevel=6) as z:
                z.write(header)
                z.write(payload)
        else:
            out.write(header)
            out.write(payload)

    atomic_write(target, write)
    return target
