"""IDX reader/writer: round trips, every malformed-file case with its message, and a fuzz test."""

from __future__ import annotations

import gzip
import os
import struct
import tempfile
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scratchnet.data import IDXError, read_idx, read_idx_header, write_idx


def header(code: int, *dims: int) -> bytes:
    return struct.pack(f">BBBB{len(dims)}I", 0, 0, code, len(dims), *dims)


def put(path: Path, data: bytes, compress: bool = False) -> Path:
    path.write_bytes(gzip.compress(data, mtime=0) if compress else data)
    return path


DTYPES = [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64]


@pytest.mark.parametrize("compress", [False, True], ids=["raw", "gzip"])
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("shape", [(7,), (5, 3, 4), (2, 3, 1, 2)])
def test_write_then_read_gives_back_the_same_array(tmp_path, compress, dtype, shape):
    rng = np.random.default_rng(0)
    info = np.iinfo(dtype) if np.dtype(dtype).kind in "iu" else None
    if info is not None:
        array = rng.integers(info.min, info.max, size=shape, endpoint=True).astype(dtype)
    else:
        array = rng.standard_normal(shape).astype(dtype)
    path = write_idx(tmp_path / "a.idx", array, gzip=compress)
    back = read_idx(path)
    assert back.dtype == np.dtype(dtype) and back.dtype.isnative
    assert back.shape == shape
    np.testing.assert_array_equal(back, array)
    assert read_idx_header(path).compressed == compress


def test_written_bytes_follow_the_idx_layout(tmp_path):
    path = write_idx(tmp_path / "a", np.array([[1, 2], [3, 256]], dtype=np.int16))
    assert path.read_bytes() == header(0x0B, 2, 2) + b"\x00\x01\x00\x02\x00\x03\x01\x00"


def test_gzip_is_detected_by_magic_bytes_not_by_name(tmp_path):
    array = np.arange(12, dtype=np.uint8).reshape(3, 4)
    gz_without_suffix = write_idx(tmp_path / "plain-name", array, gzip=True)
    raw_with_suffix = write_idx(tmp_path / "looks.gz", array, gzip=False)
    assert gz_without_suffix.read_bytes()[:2] == b"\x1f\x8b"
    np.testing.assert_array_equal(read_idx(gz_without_suffix), array)
    np.testing.assert_array_equal(read_idx(raw_with_suffix), array)


def test_big_endian_input_is_written_correctly(tmp_path):
    array = np.array([1.5, -2.25], dtype=">f8")
    np.testing.assert_array_equal(read_idx(write_idx(tmp_path / "f", array)), array)


@pytest.mark.parametrize("compress", [False, True], ids=["raw", "gzip"])
def test_a_file_with_zero_items_reads_as_an_empty_array(tmp_path, compress):
    path = write_idx(tmp_path / "empty", np.zeros((0, 28, 28), dtype=np.uint8), gzip=compress)
    back = read_idx(path)
    assert back.shape == (0, 28, 28) and back.dtype == np.uint8


def test_write_is_atomic_and_leaves_no_temp_files(tmp_path):
    target = tmp_path / "x"
    write_idx(target, np.arange(3, dtype=np.uint8))
    with pytest.raises(IDXError, match="int64 has no IDX type code"):
        write_idx(target, np.arange(3, dtype=np.int64))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x"]
    np.testing.assert_array_equal(read_idx(target), [0, 1, 2])


@pytest.mark.parametrize(
    "array, message",
    [
        (np.arange(3, dtype=np.int64), "dtype int64 has no IDX type code"),
        (np.array([True]), "dtype bool has no IDX type code"),
        (np.array(5, dtype=np.uint8), "1 to 255 dimensions, got 0-D"),
        (np.zeros((2, 0), dtype=np.uint8), "only the first dimension may be 0"),
    ],
)
def test_write_rejects_what_idx_cannot_hold(tmp_path, array, message):
    with pytest.raises(IDXError, match=message):
        write_idx(tmp_path / "bad", array)


# --- malformed files ---------------------------------------------------------------------------

MALFORMED = {
    "empty file": (b"", "empty file"),
    "short magic": (b"\x00\x00\x08", "truncated header: 3 bytes"),
    "wrong magic": (b"\x12\x34\x08\x01" + b"\x00" * 8, r"bad magic number 0x12340801"),
    "unsupported type code": (b"\x00\x00\x0a\x01\x00\x00\x00\x01\x00", "unsupported type code 0x0A"),
    "zero dimensions": (b"\x00\x00\x08\x00", "declares 0 dimensions"),
    "truncated dims": (header(0x08, 3, 4, 5)[:10], "truncated header: 3 dimensions need 12 bytes"),
    "zero inner dimension": (header(0x08, 3, 0, 5), "dimension 1 of 3x0x5 is 0"),
    "truncated data": (header(0x08, 3, 4, 5) + b"\x00" * 59, "truncated: header claims 3x4x5 ubyte = 60 bytes of data"),
    "truncated wide data": (header(0x0C, 2, 2) + b"\x00" * 15, "truncated: header claims 2x2 int = 16 bytes of data"),
    "trailing bytes": (header(0x08, 2, 2) + b"\x00" * 5, "trailing bytes: header claims 2x2 ubyte = 4 bytes"),
}


@pytest.mark.parametrize("compress", [False, True], ids=["raw", "gzip"])
@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_file_gives_a_clear_error_naming_the_file(tmp_path, case, compress):
    data, message = MALFORMED[case]
    path = put(tmp_path / "t10k-images-idx3-ubyte.gz", data, compress)
    with pytest.raises(IDXError, match=message) as info:
        read_idx(path)
    assert str(info.value).startswith(str(path) + ":")


def test_truncated_message_states_claim_and_actual_size(tmp_path):
    path = put(tmp_path / "t10k-images-idx3-ubyte", header(0x08, 10000, 28, 28) + b"\x07" * 1234)
    with pytest.raises(IDXError) as info:
        read_idx(path)
    assert str(info.value) == (
        f"{path}: truncated: header claims 10000x28x28 ubyte = 7840000 bytes of data, "
        "file has 1234 after the 16-byte header"
    )


def test_trailing_message_counts_the_extra_bytes(tmp_path):
    path = put(tmp_path / "labels", header(0x08, 4) + b"\x01" * 7)
    with pytest.raises(IDXError, match=r"file has 7 after the 8-byte header \(3 trailing bytes\)"):
        read_idx(path)


def test_corrupted_gzip_stream_is_an_idx_error(tmp_path):
    data = bytearray(gzip.compress(header(0x08, 50) + bytes(range(50)), mtime=0))
    data[len(data) // 2] ^= 0xFF
    path = put(tmp_path / "corrupt.gz", bytes(data))
    with pytest.raises(IDXError, match="corrupt.gz: "):
        read_idx(path)


def test_gzip_with_garbage_after_the_stream_is_an_idx_error(tmp_path):
    path = tmp_path / "garbage.gz"
    path.write_bytes(gzip.compress(header(0x08, 3) + b"\x01\x02\x03", mtime=0) + b"garbage!")
    with pytest.raises(IDXError, match="garbage.gz: broken gzip stream"):
        read_idx(path)


def test_truncated_gzip_file_is_an_idx_error(tmp_path):
    full = gzip.compress(header(0x08, 100) + bytes(100), mtime=0)
    path = put(tmp_path / "cut.gz", full[:-5])
    with pytest.raises(IDXError, match="cut.gz: broken gzip stream"):
        read_idx(path)


@pytest.mark.parametrize("compress", [False, True], ids=["raw", "gzip"])
def test_header_claiming_billions_of_items_fails_without_a_big_allocation(tmp_path, compress):
    # 4e9 x 28 x 28 doubles ~ 25 TB; with the limit lifted the length check must still come first.
    path = put(tmp_path / "huge", header(0x0E, 4_000_000_000, 28, 28) + b"\x00" * 1000, compress)
    tracemalloc.start()
    try:
        with pytest.raises(IDXError, match="truncated: header claims 4000000000x28x28 double"):
            read_idx(path, max_bytes=None)
        with pytest.raises(IDXError, match="more than max_bytes"):
            read_idx(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 16 << 20, f"reader allocated {peak} bytes for a tiny file"


def test_gzip_bomb_is_not_decompressed_beyond_the_declared_size(tmp_path):
    # The header claims 10 bytes; the stream holds 50 MB of zeros after them.
    path = tmp_path / "bomb.gz"
    with gzip.open(path, "wb") as z:
        z.write(header(0x08, 10))
        for _ in range(50):
            z.write(bytes(1 << 20))
    tracemalloc.start()
    try:
        with pytest.raises(IDXError, match="trailing bytes: header claims 10 ubyte"):
            read_idx(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 16 << 20


def test_missing_file_is_a_file_not_found_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_idx(tmp_path / "nope")


# --- fuzzing: whatever the bytes, only IDXError ------------------------------------------------

_VALID = header(0x0B, 3, 2, 2) + np.arange(12, dtype=">i2").tobytes()
_VALID_GZ = gzip.compress(_VALID, mtime=0)
_FUZZ = settings(max_examples=300, deadline=1000, database=None, suppress_health_check=[HealthCheck.too_slow])


def _read_bytes_or_idx_error(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "fuzz"
        path.write_bytes(data)
        try:
            result = read_idx(path)
        except IDXError:
            return
        assert isinstance(result, np.ndarray)


@_FUZZ
@given(st.binary(max_size=64))
def test_fuzz_random_bytes_give_only_idx_errors(data):
    _read_bytes_or_idx_error(data)


@_FUZZ
@given(st.sampled_from([b"\x00\x00", b"\x1f\x8b"]), st.binary(max_size=64))
def test_fuzz_random_bytes_after_a_plausible_magic_give_only_idx_errors(prefix, data):
    _read_bytes_or_idx_error(prefix + data)


@_FUZZ
@given(st.booleans(), st.data())
def test_fuzz_truncations_and_byte_flips_of_a_valid_file_give_only_idx_errors(compressed, data):
    valid = _VALID_GZ if compressed else _VALID
    cut = data.draw(st.integers(0, len(valid)), label="cut")
    mutated = bytearray(valid[:cut])
    for _ in range(data.draw(st.integers(0, 3), label="flips")):
        if mutated:
            i = data.draw(st.integers(0, len(mutated) - 1), label="position")
            mutated[i] = data.draw(st.integers(0, 255), label="value")
    _read_bytes_or_idx_error(bytes(mutated))


def test_valid_fuzz_seed_file_reads(tmp_path):
    path = put(tmp_path / "seed", _VALID_GZ)
    np.testing.assert_array_equal(read_idx(path), np.arange(12).reshape(3, 2, 2))
    assert os.path.getsize(path) == len(_VALID_GZ)


def test_a_header_with_more_dimensions_than_numpy_holds_is_named(tmp_path):
    import struct

    from scratchnet.data.idx import MAX_NDIM

    path = tmp_path / "deep-idx"
    ndim = MAX_NDIM + 1
    path.write_bytes(struct.pack(">BBBB", 0, 0, 8, ndim) + struct.pack(f">{ndim}I", *([1] * ndim)) + b"\x00")
    with pytest.raises(IDXError, match=rf"{path}: header declares {ndim} dimensions; expected at most {MAX_NDIM}"):
        read_idx(path)
    with pytest.raises(IDXError, match=str(path)):
        read_idx_header(path)


def test_a_pipe_is_refused_with_its_name(tmp_path):
    import os
    import threading

    fifo = tmp_path / "pipe-idx"
    os.mkfifo(fifo)
    def write() -> None:  # the reader refuses the pipe and closes it: the writer's broken pipe is expected
        try:
            fifo.write_bytes(b"\x00\x00\x08\x01\x00\x00\x00\x01\x07")
        except BrokenPipeError:
            pass

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    with pytest.raises(IDXError, match=rf"{fifo}: not a regular file"):
        read_idx(fifo)
