"""MNIST loading: pair checks, where the files are found, verification, and downloads from a local
HTTP server (good, corrupted, truncated and missing files, mirror fallback, nothing left behind).

All on small generated files; only ``test_real_mnist_loads_and_verifies`` reads the real data set,
from ``$MNIST_DIR`` when it is set.
"""

from __future__ import annotations

import gzip
import hashlib
import http.server
import os
import threading
from pathlib import Path

import numpy as np
import pytest

import scratchnet
from scratchnet.data import (
    MNIST_FILES,
    ChecksumError,
    IDXError,
    MNISTNotFoundError,
    default_cache_dir,
    download_mnist,
    load_idx_pair,
    load_mnist,
    load_mnist_split,
    verify_mnist_dir,
    write_idx,
)

REAL_MNIST_DIR = os.environ.get("MNIST_DIR")  # read before the autouse fixture removes it
ALL_NAMES = [name for pair in MNIST_FILES.values() for name in pair]


@pytest.fixture(autouse=True)
def no_mnist_dir_env(monkeypatch):
    monkeypatch.delenv("MNIST_DIR", raising=False)


def fake_split(n: int, seed: int, size: int = 28) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, size, size), dtype=np.uint8), rng.integers(0, 10, n).astype(np.uint8)


def make_mnist_dir(directory: Path, n: int = 6, seed: int = 0, compress: bool = True, size: int = 28) -> dict[str, str]:
    """Write the four files (train: n samples, test: n // 2) and return their SHA-256 table."""
    directory.mkdir(parents=True, exist_ok=True)
    sums = {}
    for split, count in (("train", n), ("test", n // 2)):
        images, labels = fake_split(count, seed + (split == "test"), size)
        for name, array in zip(MNIST_FILES[split], (images, labels)):
            path = write_idx(directory / (name + (".gz" if compress else "")), array, gzip=compress)
            raw = path.read_bytes()
            sums[name] = hashlib.sha256(gzip.decompress(raw) if compress else raw).hexdigest()
    return sums


def files_in(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir()) if directory.exists() else []


# --- load_idx_pair -----------------------------------------------------------------------------


def test_load_idx_pair_accepts_any_image_size_and_returns_int64_labels(tmp_path):
    images = np.arange(5 * 8 * 6, dtype=np.uint8).reshape(5, 8, 6)
    write_idx(tmp_path / "i", images)
    write_idx(tmp_path / "l", np.array([0, 3, 25, 1, 2], dtype=np.uint8))
    x, y = load_idx_pair(tmp_path / "i", tmp_path / "l")
    np.testing.assert_array_equal(x, images)
    assert y.dtype == np.int64 and y.tolist() == [0, 3, 25, 1, 2]


@pytest.mark.parametrize(
    "images, labels, kwargs, bad_file, message",
    [
        (np.zeros((4, 28), np.uint8), np.zeros(4, np.uint8), {}, "images", r"expected images of shape \(N, H, W\), got 2-D"),
        (np.zeros((4, 28, 28), np.uint8), np.zeros((4, 2), np.uint8), {}, "labels", r"expected labels of shape \(N,\), got 2-D \(4, 2\)"),
        (np.zeros((4, 28, 28), np.uint8), np.zeros(4, np.float32), {}, "labels", "expected integer labels, got float32"),
        (np.zeros((4, 28, 28), np.uint8), np.zeros(3, np.uint8), {}, "images", "has 4 images but .* has 3 labels"),
        (np.zeros((4, 28, 28), np.uint8), np.array([0, 9, 10, 1], np.uint8), {"num_classes": 10}, "labels", "label 10 at index 2 is out of range; expected 0..9"),
        (np.zeros((2, 28, 28), np.uint8), np.array([1, -1], np.int8), {}, "labels", "label -1 at index 1 is out of range; expected >= 0"),
        (np.zeros((2, 14, 14), np.uint8), np.zeros(2, np.uint8), {"image_shape": (28, 28)}, "images", "expected 28x28 images, got 14x14"),
    ],
    ids=["images-2d", "labels-2d", "float-labels", "count-mismatch", "label-above-9", "negative-label", "wrong-size"],
)
def test_load_idx_pair_rejects_mismatched_files_naming_the_file(tmp_path, images, labels, kwargs, bad_file, message):
    paths = {"images": write_idx(tmp_path / "images", images), "labels": write_idx(tmp_path / "labels", labels)}
    with pytest.raises(IDXError, match=message) as info:
        load_idx_pair(paths["images"], paths["labels"], **kwargs)
    assert str(info.value).startswith(str(paths[bad_file]))


def test_load_mnist_rejects_labels_above_9_naming_the_labels_file(tmp_path):
    make_mnist_dir(tmp_path, compress=False)
    write_idx(tmp_path / "train-labels-idx1-ubyte", np.array([1, 2, 3, 4, 5, 12], np.uint8))
    with pytest.raises(IDXError, match=r"train-labels-idx1-ubyte: label 12 at index 5 is out of range; expected 0..9"):
        load_mnist(tmp_path)


def test_load_mnist_needs_28x28_but_load_idx_pair_does_not(tmp_path):
    make_mnist_dir(tmp_path, size=14)
    with pytest.raises(IDXError, match="expected 28x28 images, got 14x14"):
        load_mnist(tmp_path)
    x, _ = load_idx_pair(tmp_path / "train-images-idx3-ubyte.gz", tmp_path / "train-labels-idx1-ubyte.gz")
    assert x.shape == (6, 14, 14)


@pytest.mark.parametrize("compress", [False, True], ids=["raw", "gzip"])
def test_load_mnist_reads_both_splits_from_a_directory(tmp_path, compress):
    make_mnist_dir(tmp_path, n=6, compress=compress)
    for split, n, seed in (("train", 6, 0), ("test", 3, 1)):
        s = load_mnist_split(tmp_path, split)
        images, labels = fake_split(n, seed)
        np.testing.assert_array_equal(s.images, images)
        np.testing.assert_array_equal(s.labels, labels)
        assert s.images.dtype == np.uint8 and s.labels.dtype == np.int64
        assert len(s) == n and s.split == split and s.directory == tmp_path


def test_unknown_split_is_rejected(tmp_path):
    with pytest.raises(ValueError, match="split='val'; expected one of 'train', 'test'"):
        load_mnist(tmp_path, split="val")


# --- where the files are found -----------------------------------------------------------------


@pytest.fixture
def three_places(tmp_path):
    """An explicit dir (3 training samples), an env dir (4), and a cache (5), each with its checksums."""
    places = {}
    for name, n in (("explicit", 3), ("env", 4), ("cache", 5)):
        places[name] = (tmp_path / name, make_mnist_dir(tmp_path / name, n=n, seed=n))
    return places


def unreachable_mirror():
    return ["http://127.0.0.1:9/"]


def test_explicit_dir_wins_over_env_and_cache(three_places, monkeypatch):
    monkeypatch.setenv("MNIST_DIR", str(three_places["env"][0]))
    cache, sums = three_places["cache"]
    x, _ = load_mnist(three_places["explicit"][0], cache_dir=cache, checksums=sums, mirrors=unreachable_mirror())
    assert len(x) == 3


def test_env_wins_over_cache(three_places, monkeypatch):
    monkeypatch.setenv("MNIST_DIR", str(three_places["env"][0]))
    cache, sums = three_places["cache"]
    x, _ = load_mnist(cache_dir=cache, checksums=sums, mirrors=unreachable_mirror())
    assert len(x) == 4


def test_cache_is_used_when_nothing_is_named(three_places):
    cache, sums = three_places["cache"]
    s = load_mnist_split(cache_dir=cache, checksums=sums, mirrors=unreachable_mirror())
    assert len(s) == 5 and s.directory == cache


def test_empty_env_var_counts_as_unset(three_places, monkeypatch):
    monkeypatch.setenv("MNIST_DIR", "")
    cache, sums = three_places["cache"]
    assert len(load_mnist(cache_dir=cache, checksums=sums)[0]) == 5


@pytest.mark.parametrize("via", ["argument", "env"])
def test_named_dir_without_the_files_is_an_error_not_a_fallback(three_places, tmp_path, monkeypatch, via):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "train-images-idx3-ubyte").write_bytes(b"")  # one of two present
    cache, sums = three_places["cache"]
    if via == "env":
        monkeypatch.setenv("MNIST_DIR", str(empty))
    where = "data_dir" if via == "argument" else r"\$MNIST_DIR"
    with pytest.raises(MNISTNotFoundError, match=f"{where}={empty}: missing train-labels-idx1-ubyte"):
        load_mnist(empty if via == "argument" else None, cache_dir=cache, checksums=sums)


def test_cache_without_files_and_download_off_explains_how_to_provide_them(tmp_path):
    cache = tmp_path / "cache"
    with pytest.raises(MNISTNotFoundError) as info:
        load_mnist(split="test", download=False, cache_dir=cache)
    message = str(info.value)
    for needle in ("download=False", "data_dir=", "--data-dir", "MNIST_DIR=", str(cache), *ALL_NAMES):
        assert needle in message
    assert not cache.exists()


def test_default_cache_is_data_mnist_at_the_repository_root():
    repo_root = Path(scratchnet.__file__).resolve().parent.parent
    assert default_cache_dir() == repo_root / "data" / "mnist"


# --- verification ------------------------------------------------------------------------------


def test_verify_mnist_dir_accepts_matching_files_and_lists_each_mismatch(tmp_path):
    sums = make_mnist_dir(tmp_path)
    found = verify_mnist_dir(tmp_path, checksums=sums)
    assert set(found) == set(ALL_NAMES)
    with pytest.raises(ChecksumError) as info:
        verify_mnist_dir(tmp_path)  # against the real MNIST sums
    for name in ALL_NAMES:
        assert name in str(info.value)
    assert "verify=False" in str(info.value)


def test_verify_mnist_dir_reports_missing_files(tmp_path):
    make_mnist_dir(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(MNISTNotFoundError, match="missing t10k-labels-idx1-ubyte"):
        verify_mnist_dir(tmp_path, checksums={})
    assert set(verify_mnist_dir(tmp_path, ["train"], checksums=make_mnist_dir(tmp_path))) == set(MNIST_FILES["train"])


def test_named_dir_is_not_verified_by_default_so_other_data_sets_load(tmp_path):
    make_mnist_dir(tmp_path)  # e.g. Fashion-MNIST: same layout, other bytes
    assert load_mnist(tmp_path)[0].shape == (6, 28, 28)
    with pytest.raises(ChecksumError, match="train-images-idx3-ubyte"):
        load_mnist(tmp_path, verify=True)


def test_cache_is_verified_by_default(tmp_path):
    sums = make_mnist_dir(tmp_path)
    with pytest.raises(ChecksumError):
        load_mnist(cache_dir=tmp_path, mirrors=unreachable_mirror())
    assert len(load_mnist(cache_dir=tmp_path, verify=False)[0]) == 6
    assert len(load_mnist(cache_dir=tmp_path, checksums=sums)[0]) == 6


# --- downloads from a local server -------------------------------------------------------------


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (http.server's name)
        self.server.requests.append(self.path)
        route = self.server.routes.get(self.path)
        if route is None:
            self.send_error(404)
            return
        kind, body = route
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body[: len(body) // 2] if kind == "cut-connection" else body)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    """A local HTTP server; set ``server.routes[path] = (kind, body)``. Yields its base URL."""
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.routes, httpd.requests = {}, []
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    httpd.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    yield httpd
    httpd.shutdown()
    httpd.server_close()
    thread.join(5)


@pytest.fixture
def source(tmp_path):
    """Generated MNIST-like files (gzip) and their checksum table."""
    directory = tmp_path / "source"
    sums = make_mnist_dir(directory, n=8, seed=7)
    return directory, sums


def serve(server, mirror: str, directory: Path, kind: str = "ok", names=ALL_NAMES) -> str:
    """Publish ``<mirror>/<name>.gz`` for each file, good or damaged by ``kind``."""
    for name in names:
        body = (directory / f"{name}.gz").read_bytes()
        if kind == "corrupt":  # still valid gzip, different content
            raw = bytearray(gzip.decompress(body))
            raw[-1] ^= 0xFF
            body = gzip.compress(bytes(raw), mtime=0)
        elif kind == "truncated":  # a shorter file, honestly announced
            body = body[: len(body) // 2]
        elif kind == "raw":
            body = gzip.decompress(body)
        server.routes[f"/{mirror}/{name}.gz"] = ("cut-connection" if kind == "cut-connection" else "ok", body)
    return f"{server.url}/{mirror}/"


@pytest.mark.parametrize("kind, stored_as", [("ok", ".gz"), ("raw", "")])
def test_download_fills_the_cache_with_verified_files(server, source, tmp_path, kind, stored_as):
    directory, sums = source
    mirror = serve(server, "m1", directory, kind)
    cache = tmp_path / "cache"
    x, y = load_mnist(split="train", cache_dir=cache, mirrors=[mirror], checksums=sums, progress=True, timeout=5)
    images, labels = fake_split(8, 7)
    np.testing.assert_array_equal(x, images)
    np.testing.assert_array_equal(y, labels)
    assert files_in(cache) == sorted(name + stored_as for name in MNIST_FILES["train"])
    assert len(server.requests) == 2
    load_mnist(split="train", cache_dir=cache, mirrors=[mirror], checksums=sums)
    assert len(server.requests) == 2, "a filled cache must not download again"


def test_download_mnist_fetches_only_missing_files(server, source, tmp_path):
    directory, sums = source
    mirror = serve(server, "m1", directory)
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "train-images-idx3-ubyte.gz").write_bytes((directory / "train-images-idx3-ubyte.gz").read_bytes())
    files = download_mnist(cache, mirrors=[mirror], checksums=sums, timeout=5)
    assert set(files) == set(ALL_NAMES)
    assert "/m1/train-images-idx3-ubyte.gz" not in server.requests and len(server.requests) == 3
    verify_mnist_dir(cache, checksums=sums)


@pytest.mark.parametrize("bad", ["missing", "corrupt", "truncated", "cut-connection"])
def test_a_bad_mirror_falls_back_to_the_next_one(server, source, tmp_path, bad):
    directory, sums = source
    first = f"{server.url}/m1/" if bad == "missing" else serve(server, "m1", directory, bad)
    second = serve(server, "m2", directory)
    cache = tmp_path / "cache"
    x, _ = load_mnist(split="test", cache_dir=cache, mirrors=[first, second], checksums=sums, timeout=5)
    assert len(x) == 4
    assert files_in(cache) == sorted(name + ".gz" for name in MNIST_FILES["test"])
    assert server.requests == [
        "/m1/t10k-images-idx3-ubyte.gz", "/m2/t10k-images-idx3-ubyte.gz",
        "/m1/t10k-labels-idx1-ubyte.gz", "/m2/t10k-labels-idx1-ubyte.gz",
    ]


def test_all_mirrors_failing_lists_each_reason_and_leaves_nothing_behind(server, source, tmp_path):
    directory, sums = source
    mirrors = [
        f"{server.url}/missing/",
        serve(server, "corrupt", directory, "corrupt"),
        serve(server, "truncated", directory, "truncated"),
        serve(server, "cut", directory, "cut-connection"),
    ]
    cache = tmp_path / "cache"
    with pytest.raises(MNISTNotFoundError) as info:
        load_mnist(cache_dir=cache, mirrors=mirrors, checksums=sums, timeout=5)
    message = str(info.value)
    expected_reasons = ["HTTP 404", "SHA-256 of the decompressed file is", "Compressed file ended", "incomplete download: received"]
    for mirror, reason in zip(mirrors, expected_reasons):
        line = next(line for line in message.splitlines() if line.strip().startswith(mirror))
        assert reason in line, f"{mirror}: expected {reason!r} in {line!r}"
    for needle in ("data_dir=", "--data-dir", "MNIST_DIR=", str(cache)):
        assert needle in message
    assert files_in(cache) == [], "a failed download must leave nothing in the cache"


def test_offline_without_a_copy_gives_the_helpful_error(tmp_path):
    cache = tmp_path / "cache"
    with pytest.raises(MNISTNotFoundError) as info:
        load_mnist(split="test", cache_dir=cache, mirrors=unreachable_mirror(), timeout=2)
    message = str(info.value)
    assert "http://127.0.0.1:9/t10k-images-idx3-ubyte.gz: cannot connect" in message
    for needle in ("data_dir=", "--data-dir", "MNIST_DIR=", str(cache), *ALL_NAMES):
        assert needle in message
    assert files_in(cache) == []


def test_download_refuses_files_without_a_known_checksum(tmp_path):
    with pytest.raises(ValueError, match="no SHA-256 for t10k-images-idx3-ubyte"):
        download_mnist(tmp_path, ["test"], mirrors=unreachable_mirror(), checksums={"t10k-labels-idx1-ubyte": "0" * 64})


# --- the real data set -------------------------------------------------------------------------


@pytest.mark.full_data
@pytest.mark.skipif(not REAL_MNIST_DIR, reason="set MNIST_DIR to a directory with the real MNIST files")
def test_real_mnist_loads_and_verifies():
    verify_mnist_dir(REAL_MNIST_DIR)
    for split, n in (("train", 60000), ("test", 10000)):
        x, y = load_mnist(REAL_MNIST_DIR, split, verify=True)
        assert x.shape == (n, 28, 28) and x.dtype == np.uint8
        assert y.shape == (n,) and y.min() == 0 and y.max() == 9
        assert np.bincount(y, minlength=10).min() > n // 20
    assert y[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]  # the first test digits
