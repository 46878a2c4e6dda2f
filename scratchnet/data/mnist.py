"""Find, verify, download and load MNIST (or any data set in MNIST's IDX layout).

Where the files come from, first match wins:

1. ``data_dir`` argument (the ``--data-dir`` of the command-line tools),
2. the ``MNIST_DIR`` environment variable,
3. the project cache, ``<repository root>/data/mnist`` (or the ``cache_dir`` argument),
4. a download from ``mirrors`` into that cache.

Decisions
---------
- An explicit directory (argument or ``MNIST_DIR``) that lacks a file is an error: it does not fall
  through to the cache or a download, since silently using another copy would hide the mistake.
- Verification (SHA-256 of each file's *decompressed* bytes, against ``checksums``):
  downloads are always verified; a directory you name is verified only with ``verify=True``, so
  Fashion-MNIST and other data sets in MNIST's layout load; the cache is verified unless
  ``verify=False``, because it is ours and should hold exactly MNIST.
- A download goes to a hidden temp file in the cache directory and is renamed into place only after
  its checksum matches: a failed, corrupted or partial download leaves nothing behind, and the next
  mirror is tried. Only the missing files of the requested split are fetched; the file is kept as
  the server sent it (``.gz`` or raw).
- Labels are returned as int64 (ready to index with, and what torch's losses want); images stay uint8.
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import os
import sys
import urllib.error
import urllib.request
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ..fileio import create_temp_beside, remove_quietly
from .idx import DEFAULT_MAX_BYTES, GZIP_MAGIC, IDXError, read_idx

__all__ = [
    "MNIST_FILES",
    "MNIST_SHA256",
    "DEFAULT_MIRRORS",
    "MNIST_DIR_ENV",
    "MNISTSplit",
    "MNISTNotFoundError",
    "ChecksumError",
    "default_cache_dir",
    "find_idx_file",
    "load_idx_pair",
    "locate_mnist",
    "verify_mnist_dir",
    "download_mnist",
    "load_mnist_split",
    "load_mnist",
]

#: split -> (images file, labels file), without the optional ``.gz``.
MNIST_FILES: dict[str, tuple[str, str]] = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
_ALL_FILES = [name for pair in MNIST_FILES.values() for name in pair]

#: SHA-256 of each original MNIST file's decompressed bytes.
MNIST_SHA256: dict[str, str] = {
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}

#: Mirrors serving ``<name>.gz``; tried in order.
DEFAULT_MIRRORS: tuple[str, ...] = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)

MNIST_DIR_ENV = "MNIST_DIR"
_DOWNLOAD_LIMIT = 256 << 20  # no MNIST file comes near this, compressed or not
_CHUNK = 1 << 20


class MNISTNotFoundError(FileNotFoundError):
    """The MNIST files are not where they were looked for and could not be downloaded."""


class ChecksumError(ValueError):
    """A file's decompressed bytes do not have the expected SHA-256."""


@dataclass(frozen=True, eq=False)
class MNISTSplit:
    """One split of MNIST as loaded from disk.

    Attributes
    ----------
    images : (N, 28, 28) uint8.
    labels : (N,) int64 in 0..9.
    split : ``"train"`` or ``"test"``.
    directory : where the files were read from.
    """

    images: np.ndarray
    labels: np.ndarray
    split: str
    directory: Path

    def __len__(self) -> int:
        return len(self.labels)


def default_cache_dir() -> Path:
    """``<repository root>/data/mnist``; the repository root is the parent of the ``scratchnet`` package."""
    return Path(__file__).resolve().parents[2] / "data" / "mnist"


def find_idx_file(directory: str | os.PathLike, name: str) -> Path | None:
    """``directory/name`` if it exists, else ``directory/name.gz``, else None."""
    for candidate in (Path(directory) / name, Path(directory) / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    return None


# ---------------------------------------------------------------------------------------------
# loading and checking a pair of files


def load_idx_pair(
    images_path: str | os.PathLike,
    labels_path: str | os.PathLike,
    *,
    image_shape: tuple[int, int] | None = None,
    num_classes: int | None = None,
    max_bytes: int | None = DEFAULT_MAX_BYTES,
) -> tuple[np.ndarray, np.ndarray]:
    """Load an images file and a labels file in MNIST's IDX layout, and check they belong together.

    Works for any data set in that layout (Fashion-MNIST, KMNIST, EMNIST ...): image size and
    number of classes are checked only when given.

    Parameters
    ----------
    images_path : IDX file of shape (N, H, W).
    labels_path : IDX file of shape (N,), integer type.
    image_shape : expected (H, W), or None to accept any.
    num_classes : labels must lie in ``0..num_classes-1``; None only requires them to be >= 0.

    Returns
    -------
    images : (N, H, W) as stored (uint8 for MNIST).
    labels : (N,) int64.

    Raises
    ------
    IDXError : a malformed file, wrong number of dimensions, different counts, bad labels.
    """
    images = read_idx(images_path, max_bytes=max_bytes)
    labels = read_idx(labels_path, max_bytes=max_bytes)
    if images.ndim != 3:
        raise IDXError(
            f"{os.fspath(images_path)}: expected images of shape (N, H, W), got {images.ndim}-D {images.shape}"
        )
    if labels.ndim != 1:
        raise IDXError(f"{os.fspath(labels_path)}: expected labels of shape (N,), got {labels.ndim}-D {labels.shape}")
    if labels.dtype.kind not in "iu":
        raise IDXError(f"{os.fspath(labels_path)}: expected integer labels, got {labels.dtype}")
    if len(images) != len(labels):
        raise IDXError(
            f"{os.fspath(images_path)} has {len(images)} images but {os.fspath(labels_path)} "
            f"has {len(labels)} labels; expected the same count"
        )
    if image_shape is not None and images.shape[1:] != tuple(image_shape):
        h, w = image_shape
        raise IDXError(
            f"{os.fspath(images_path)}: expected {h}x{w} images, got {images.shape[1]}x{images.shape[2]}"
        )
    top = None if num_classes is None else num_classes - 1
    out_of_range = (labels < 0) if top is None else (labels < 0) | (labels > top)
    if out_of_range.any():
        bad = int(np.flatnonzero(out_of_range)[0])
        expected = ">= 0" if top is None else f"0..{top}"
        raise IDXError(
            f"{os.fspath(labels_path)}: label {int(labels[bad])} at index {bad} is out of range; expected {expected}"
        )
    return images, labels.astype(np.int64)


# ---------------------------------------------------------------------------------------------
# checksums


def sha256_decompressed(path: Path, max_bytes: int = _DOWNLOAD_LIMIT) -> tuple[str, bool]:
    """SHA-256 of a file's decompressed bytes, and whether it was gzip; reads at most ``max_bytes``."""
    digest = hashlib.sha256()
    total = 0
    with open(path, "rb") as f:
        compressed = f.read(2) == GZIP_MAGIC
        f.seek(0)
        stream = gzip.GzipFile(fileobj=f, mode="rb") if compressed else f
        with stream:
            while chunk := stream.read(_CHUNK):
                total += len(chunk)
                if total > max_bytes:
                    raise ChecksumError(f"{path}: more than {max_bytes} bytes (decompressed); not an MNIST file")
                digest.update(chunk)
    return digest.hexdigest(), compressed


def verify_mnist_dir(
    path: str | os.PathLike,
    splits: Sequence[str] = ("train", "test"),
    *,
    checksums: Mapping[str, str] = MNIST_SHA256,
) -> dict[str, Path]:
    """Check that ``path`` holds the files of ``splits`` with the expected SHA-256 (after decompression).

    Returns
    -------
    files : file name (without ``.gz``) -> the path checked.

    Raises
    ------
    MNISTNotFoundError : a file is missing (neither ``name`` nor ``name.gz``).
    ChecksumError : a file differs from the original, listing each one with expected and actual hash.
    """
    names = [name for split in splits for name in MNIST_FILES[_check_split(split)]]
    found = {name: find_idx_file(path, name) for name in names}
    missing = [name for name, p in found.items() if p is None]
    if missing:
        raise MNISTNotFoundError(f"{os.fspath(path)}: missing {', '.join(missing)} (each with or without .gz)")
    problems = []
    for name, p in found.items():
        if name not in checksums:
            problems.append(f"  {p}: no known SHA-256 for {name}")
            continue
        try:
            actual, _ = sha256_decompressed(p)
        except (OSError, EOFError, zlib.error, ChecksumError) as exc:
            problems.append(f"  {p}: cannot be read: {exc}")
            continue
        if actual != checksums[name]:
            problems.append(f"  {p}: SHA-256 {actual}, expected {checksums[name]}")
    if problems:
        raise ChecksumError(
            f"{os.fspath(path)}: files differ from the original MNIST:\n" + "\n".join(problems)
            + "\n(another data set in MNIST's layout? load it with verify=False)"
        )
    return found  # type: ignore[return-value]


# ---------------------------------------------------------------------------------------------
# downloading


def _describe_failure(exc: BaseException, timeout: float) -> str:
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code} {exc.reason}"
    if isinstance(exc, urllib.error.URLError):
        if isinstance(exc.reason, TimeoutError):
            return f"timed out after {timeout:g} s"
        return f"cannot connect: {exc.reason}"
    if isinstance(exc, TimeoutError):
        return f"timed out after {timeout:g} s"
    return f"{type(exc).__name__}: {exc}"


def _download_one(
    url: str, name: str, cache_dir: Path, expected_sha256: str, timeout: float, progress: bool | None
) -> Path:
    """Fetch ``url`` to a temp file in ``cache_dir``, verify it, rename it into place; returns the path."""
    fd, tmp = create_temp_beside(cache_dir / name)
    try:
        with os.fdopen(fd, "wb") as out:
            with urllib.request.urlopen(url, timeout=timeout) as response:
                length = response.headers.get("Content-Length")
                total = int(length) if length is not None and length.isdigit() else None
                if total is not None and total > _DOWNLOAD_LIMIT:
                    raise ChecksumError(f"server announces {total} bytes; no MNIST file is that large")
                received = 0
                show = sys.stderr.isatty() if progress is None else progress
                with tqdm(total=total, unit="B", unit_scale=True, desc=name, disable=not show, leave=False) as bar:
                    while chunk := response.read(_CHUNK):
                        received += len(chunk)
                        if received > _DOWNLOAD_LIMIT:
                            raise ChecksumError(f"more than {_DOWNLOAD_LIMIT} bytes; no MNIST file is that large")
                        out.write(chunk)
                        bar.update(len(chunk))
                if total is not None and received != total:
                    raise ChecksumError(f"incomplete download: received {received} of {total} bytes")
            out.flush()
            os.fsync(out.fileno())
        actual, compressed = sha256_decompressed(tmp)
        if actual != expected_sha256:
            raise ChecksumError(f"SHA-256 of the decompressed file is {actual}, expected {expected_sha256}")
        final = cache_dir / (f"{name}.gz" if compressed else name)
        os.replace(tmp, final)
        tmp = None
        return final
    finally:
        remove_quietly(tmp)


def _how_to_provide(cache_dir: Path) -> str:
    return (
        "Provide a copy in one of these ways:\n"
        "  - pass data_dir=/path/to/mnist (--data-dir /path/to/mnist on the command line),\n"
        f"  - set the environment variable {MNIST_DIR_ENV}=/path/to/mnist, or\n"
        f"  - put the four files {', '.join(_ALL_FILES)} (each may be .gz) in {cache_dir}"
    )


def download_mnist(
    cache_dir: str | os.PathLike | None = None,
    splits: Sequence[str] = ("train", "test"),
    *,
    mirrors: Sequence[str] = DEFAULT_MIRRORS,
    checksums: Mapping[str, str] = MNIST_SHA256,
    timeout: float = 30.0,
    progress: bool | None = None,
) -> dict[str, Path]:
    """Download the files of ``splits`` that ``cache_dir`` lacks, verifying each against ``checksums``.

    Each file is fetched as ``<mirror>/<name>.gz`` from the first mirror that delivers it intact;
    the server may send it gzip-compressed or raw.

    Parameters
    ----------
    cache_dir : destination, created if needed (default: :func:`default_cache_dir`).
    mirrors : base URLs tried in order (any scheme urllib opens).
    checksums : file name -> SHA-256 of its decompressed bytes; a file without one is not fetched.
    timeout : seconds for connecting and for each read.
    progress : show a tqdm bar; None: only when stderr is a terminal.

    Returns
    -------
    files : file name -> path in the cache, for every file of ``splits``.

    Raises
    ------
    MNISTNotFoundError : every mirror failed for a file; lists each URL and why, and how to
        provide a copy instead.
    """
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    names = [name for split in splits for name in MNIST_FILES[_check_split(split)]]
    unknown = [name for name in names if name not in checksums]
    if unknown:
        raise ValueError(
            f"download_mnist: checksums has no SHA-256 for {', '.join(unknown)}; "
            "refusing to download unverified files"
        )
    if not mirrors:
        raise MNISTNotFoundError(f"download_mnist: no mirrors given.\n{_how_to_provide(cache)}")
    cache.mkdir(parents=True, exist_ok=True)
    files: dict[str, Path] = {}
    for name in names:
        existing = find_idx_file(cache, name)
        if existing is not None:
            files[name] = existing
            continue
        failures = []
        for mirror in mirrors:
            url = mirror.rstrip("/") + f"/{name}.gz"
            try:
                files[name] = _download_one(url, name, cache, checksums[name], timeout, progress)
                break
            except (OSError, ValueError, EOFError, zlib.error, http.client.HTTPException) as exc:
                failures.append(f"  {url}: {_describe_failure(exc, timeout)}")
        else:
            raise MNISTNotFoundError(
                f"MNIST file {name} is not in {cache} and could not be downloaded:\n"
                + "\n".join(failures) + "\n" + _how_to_provide(cache)
            )
    return files


# ---------------------------------------------------------------------------------------------
# locating and loading


def _check_split(split: str) -> str:
    if split not in MNIST_FILES:
        raise ValueError(f"MNIST: split={split!r}; expected one of {', '.join(map(repr, MNIST_FILES))}")
    return split


def locate_mnist(
    data_dir: str | os.PathLike | None = None,
    split: str = "train",
    download: bool = True,
    *,
    cache_dir: str | os.PathLike | None = None,
    mirrors: Sequence[str] = DEFAULT_MIRRORS,
    checksums: Mapping[str, str] = MNIST_SHA256,
    verify: bool | None = None,
    timeout: float = 30.0,
    progress: bool | None = None,
) -> Path:
    """The directory holding ``split``'s two files: ``data_dir``, else ``$MNIST_DIR``, else the cache
    (downloading into it if needed). See the module docstring for the order and the verification rules.

    Raises
    ------
    MNISTNotFoundError : the named directory lacks a file, or the cache does and it cannot be downloaded.
    ChecksumError : verification was asked for (or the cache is used) and a file differs.
    """
    names = MNIST_FILES[_check_split(split)]
    env = os.environ.get(MNIST_DIR_ENV) or None
    if data_dir is not None or env is not None:
        where = "data_dir" if data_dir is not None else f"${MNIST_DIR_ENV}"
        directory = Path(data_dir if data_dir is not None else env)
        missing = [name for name in names if find_idx_file(directory, name) is None]
        if missing:
            raise MNISTNotFoundError(
                f"{where}={os.fspath(directory)}: missing {', '.join(missing)} (each with or without .gz)"
            )
        if verify:
            verify_mnist_dir(directory, (split,), checksums=checksums)
        return directory

    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    missing = [name for name in names if find_idx_file(cache, name) is None]
    if missing and not download:
        raise MNISTNotFoundError(
            f"MNIST {split} files {', '.join(missing)} are not in {cache} and download=False.\n"
            + _how_to_provide(cache)
        )
    if missing:
        download_mnist(cache, (split,), mirrors=mirrors, checksums=checksums, timeout=timeout, progress=progress)
    if verify is not False:
        verify_mnist_dir(cache, (split,), checksums=checksums)
    return cache


def load_mnist_split(
    data_dir: str | os.PathLike | None = None,
    split: str = "train",
    download: bool = True,
    **options,
) -> MNISTSplit:
    """Like :func:`load_mnist`, but returns an :class:`MNISTSplit` that also records split and directory.
    ``options`` are :func:`locate_mnist`'s keyword arguments."""
    directory = locate_mnist(data_dir, split, download, **options)
    images_name, labels_name = MNIST_FILES[split]
    images_path = find_idx_file(directory, images_name)
    labels_path = find_idx_file(directory, labels_name)
    images, labels = load_idx_pair(images_path, labels_path, image_shape=(28, 28), num_classes=10)
    if images.dtype != np.uint8:
        raise IDXError(f"{images_path}: expected uint8 pixels, got {images.dtype}")
    return MNISTSplit(images, labels, split, directory)


def load_mnist(
    data_dir: str | os.PathLike | None = None,
    split: str = "train",
    download: bool = True,
    **options,
) -> tuple[np.ndarray, np.ndarray]:
    """Load one split of MNIST.

    Parameters
    ----------
    data_dir : directory with the files (overrides ``$MNIST_DIR`` and the cache); no download then.
    split : ``"train"`` (60000 images) or ``"test"`` (10000).
    download : fetch missing files into the cache (only when neither data_dir nor $MNIST_DIR is set).

    Keyword-only options (:func:`locate_mnist`'s):

    cache_dir : the cache (default ``<repository root>/data/mnist``).
    mirrors : base URLs to download ``<name>.gz`` from, in order.
    checksums : file name -> SHA-256 of its decompressed bytes (inject your own for other data).
    verify : True: check checksums wherever the files are; False: never check existing files;
        None (default): check the cache, not a directory you named. Downloads are always checked.
    timeout : seconds, for each network operation.
    progress : tqdm bar while downloading; None: only when stderr is a terminal.

    Returns
    -------
    images : (N, 28, 28) uint8.
    labels : (N,) int64 in 0..9.
    """
    s = load_mnist_split(data_dir, split, download, **options)
    return s.images, s.labels
