"""Data sets for validation training, read from local files only (never downloaded).

- `digits`: scikit-learn's bundled 8x8 digits (1797 samples, values 0..16), split once
  with a fixed seed into 1438 train / 359 test samples (20 % test).
- `mnist`: the MNIST IDX files in a local directory (optionally gzipped).
- `cifar10`: the CIFAR-10 python batches (`cifar-10-batches-py`).
- `multidigits` / `multimnist`: the paper's MultiMNIST procedure (Section 4.1, after
  Sabour et al. 2017) applied to digits / MNIST, see `make_multi`.

Images are kept as uint8 [n, C, H, W] with a `scale` (the value of a full pixel: 16 for the
sklearn digits, 255 otherwise); targets are int64 class indices [n] or, for the
multi-digit sets, float32 multi-hot vectors [n, K].
"""

from __future__ import annotations

import gzip
import io
import pickle
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from xncost.errors import XncostError

DATASETS = ("digits", "multidigits", "mnist", "cifar10", "multimnist")
SPLIT_SEED = 0
MULTI_SEED = 0
DIGITS_TEST_FRACTION = 0.2
MULTI_PER_IMAGE = 4
NUM_CLASSES = 10

IDX_IMAGES_MAGIC = 2051
IDX_LABELS_MAGIC = 2049
MNIST_SIDE = 28
MNIST_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
CIFAR_DIR = "cifar-10-batches-py"
CIFAR_TRAIN = tuple(f"data_batch_{i}" for i in range(1, 6))
CIFAR_TEST = "test_batch"
CIFAR_ROW = 3 * 32 * 32


@dataclass(frozen=True)
class Split:
    """One split: uint8 images [n, C, H, W] and targets ([n] int64 or [n, K] multi-hot)."""

    images: np.ndarray
    targets: np.ndarray

    def __len__(self) -> int:
        return int(self.images.shape[0])


@dataclass(frozen=True)
class DataBundle:
    """A train/test pair with what a model needs to know about it."""

    name: str
    train: Split
    test: Split
    num_classes: int
    scale: int
    multi_label: bool

    @property
    def in_channels(self) -> int:
        return int(self.train.images.shape[1])

    @property
    def image_side(self) -> int:
        return int(self.train.images.shape[2])


def load_digits_split() -> tuple[Split, Split]:
    """scikit-learn's 8x8 digits, values 0..16, with the fixed seeded 80/20 split."""
    try:
        from sklearn.datasets import load_digits
    except ImportError as exc:
        raise XncostError(
            "the digits data set needs scikit-learn: pip install xncost[digits]"
        ) from exc
    d = load_digits()
    images = np.rint(d.images).astype(np.uint8)[:, None]
    labels = d.target.astype(np.int64)
    order = np.random.default_rng(SPLIT_SEED).permutation(len(labels))
    n_test = int(round(len(labels) * DIGITS_TEST_FRACTION))
    test, train = order[:n_test], order[n_test:]
    return Split(images[train], labels[train]), Split(images[test], labels[test])


def _read_bytes(path: Path, what: str) -> bytes:
    """File contents, gunzipped when the file starts with the gzip magic bytes."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise XncostError(f"{path}: cannot read {what} ({exc.strerror or exc})") from exc
    if raw[:2] == b"\x1f\x8b":
        try:
            return gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as exc:
            raise XncostError(f"{path}: corrupt gzip data in {what} ({exc})") from exc
    return raw


def read_idx(path: Path, *, magic: int, what: str) -> np.ndarray:
    """An IDX file of unsigned bytes, checking magic number, header and file length."""
    data = _read_bytes(path, what)
    if len(data) < 4:
        raise XncostError(f"{path}: truncated, {len(data)} bytes, expected an IDX header")
    found = int.from_bytes(data[:4], "big")
    if found != magic:
        raise XncostError(f"{path}: bad magic number {found}, expected {magic} ({what})")
    ndim = magic & 0xFF
    header = 4 + 4 * ndim
    if len(data) < header:
        raise XncostError(
            f"{path}: truncated header, {len(data)} bytes, expected {header} ({what})"
        )
    dims = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    expected = header + int(np.prod(dims, dtype=np.int64))
    if len(data) != expected:
        shape = "x".join(str(d) for d in dims)
        raise XncostError(
            f"{path}: {len(data)} bytes, expected {expected} for {shape} ({what}); "
            "the file is truncated or has trailing data"
        )
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(dims)


def _find_file(data_dir: Path, name: str, what: str) -> Path:
    for folder in (data_dir, data_dir / "mnist", data_dir / "MNIST" / "raw"):
        for candidate in (folder / name, folder / f"{name}.gz"):
            if candidate.is_file():
                return candidate
    raise XncostError(f"{data_dir / name}: missing, expected {what} ({name} or {name}.gz)")


def load_mnist_split(data_dir: Path, split: str) -> Split:
    """MNIST `train` or `test` from IDX files (magic 2051 images, 2049 labels; 28x28)."""
    img_name, lab_name = MNIST_FILES[split]
    img_path = _find_file(data_dir, img_name, "MNIST IDX3 images")
    lab_path = _find_file(data_dir, lab_name, "MNIST IDX1 labels")
    images = read_idx(img_path, magic=IDX_IMAGES_MAGIC, what="IDX3 images")
    if images.shape[1:] != (MNIST_SIDE, MNIST_SIDE):
        raise XncostError(
            f"{img_path}: images are {images.shape[1]}x{images.shape[2]}, "
            f"expected {MNIST_SIDE}x{MNIST_SIDE}"
        )
    labels = read_idx(lab_path, magic=IDX_LABELS_MAGIC, what="IDX1 labels")
    if len(labels) != len(images):
        raise XncostError(
            f"{lab_path}: {len(labels)} labels, expected {len(images)} to match {img_path.name}"
        )
    if len(labels) and int(labels.max()) >= NUM_CLASSES:
        raise XncostError(f"{lab_path}: label {int(labels.max())} out of range 0..9")
    return Split(images[:, None].copy(), labels.astype(np.int64))


class _CifarUnpickler(pickle.Unpickler):
    """Unpickles only what a CIFAR-10 batch holds: dicts, lists, bytes and numpy arrays."""

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.numeric", "_frombuffer"),
        ("numpy._core.numeric", "_frombuffer"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("_codecs", "encode"),
    }

    def find_class(self, module: str, name: str) -> object:
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}")
        return super().find_class(module, name)


def read_cifar_batch(path: Path) -> Split:
    """One CIFAR-10 python batch: a pickled dict with b'data' uint8 [n, 3072], b'labels'."""
    if not path.is_file():
        raise XncostError(f"{path}: missing, expected a CIFAR-10 python batch")
    raw = _read_bytes(path, "a CIFAR-10 python batch")
    try:
        batch = _CifarUnpickler(io.BytesIO(raw), encoding="bytes").load()
    except Exception as exc:  # pickle raises many types on corrupt input
        raise XncostError(f"{path}: not a CIFAR-10 python batch ({exc})") from exc
    if not isinstance(batch, dict) or b"data" not in batch or b"labels" not in batch:
        raise XncostError(f"{path}: expected a dict with keys b'data' and b'labels'")
    data, labels = batch[b"data"], batch[b"labels"]
    if not (
        isinstance(data, np.ndarray)
        and data.dtype == np.uint8
        and data.ndim == 2
        and data.shape[1] == CIFAR_ROW
    ):
        got = f"{data.dtype} {list(data.shape)}" if isinstance(data, np.ndarray) else type(data)
        raise XncostError(f"{path}: b'data' is {got}, expected uint8 [n, {CIFAR_ROW}]")
    labels = np.asarray(labels, dtype=np.int64)
    if labels.shape != (data.shape[0],):
        raise XncostError(f"{path}: {labels.size} labels, expected {data.shape[0]} (one per image)")
    if labels.size and (labels.min() < 0 or labels.max() >= NUM_CLASSES):
        raise XncostError(f"{path}: labels out of range 0..9")
    return Split(data.reshape(-1, 3, 32, 32).copy(), labels)


def load_cifar10_split(data_dir: Path, split: str) -> Split:
    """CIFAR-10 `train` (data_batch_1..5) or `test` (test_batch) from the python batches."""
    folder = data_dir / CIFAR_DIR if (data_dir / CIFAR_DIR).is_dir() else data_dir
    names = CIFAR_TRAIN if split == "train" else (CIFAR_TEST,)
    parts = [read_cifar_batch(folder / name) for name in names]
    return Split(
        np.concatenate([p.images for p in parts]), np.concatenate([p.targets for p in parts])
    )


def multi_pad(side: int) -> int:
    """Pad (= maximum shift) for the MultiMNIST canvas: the paper's 4 px at side 28 scaled
    to the image side, round(side / 7), at least 1 (28 -> 4, canvas 36; 8 -> 1, canvas 10)."""
    return max(1, round(side / 7))


def make_multi(
    images: np.ndarray,
    labels: np.ndarray,
    *,
    scale: int,
    per_image: int,
    rng: np.random.Generator,
    num_classes: int = NUM_CLASSES,
) -> Split:
    """The MultiMNIST procedure (paper Section 4.1; Sabour et al. 2017, Section 6).

    Each digit is padded by p = `multi_pad(side)` px to a canvas of side + 2p and shifted
    by up to ±p px in each direction; for every image, `per_image` partners of a DIFFERENT
    class are drawn and the two shifted digits are added pixelwise, clipped at `scale`.
    The target is the multi-hot vector of both classes.
    """
    n, c, h, w = images.shape
    if h != w:
        raise XncostError(f"MultiMNIST needs square images, got {h}x{w}")
    classes = np.unique(labels)
    if len(classes) < 2:
        raise XncostError("MultiMNIST needs digits of at least two different classes")
    p = multi_pad(h)
    side = h + 2 * p
    total = n * per_image
    first = np.repeat(np.arange(n), per_image)
    by_class = {int(k): np.flatnonzero(labels == k) for k in classes}
    second = np.empty(total, dtype=np.int64)
    for k in by_class:
        slots = np.flatnonzero(labels[first] == k)
        others = np.concatenate([m for j, m in by_class.items() if j != k])
        second[slots] = others[rng.integers(0, len(others), size=len(slots))]
    shifts = rng.integers(-p, p + 1, size=(total, 2, 2))
    out = np.zeros((total, c, side, side), dtype=np.uint8)
    for i in range(total):
        y, x = p + shifts[i, 0]
        out[i, :, y : y + h, x : x + w] = images[first[i]]
        y, x = p + shifts[i, 1]
        region = out[i, :, y : y + h, x : x + w]
        region[...] = np.minimum(region.astype(np.uint16) + images[second[i]], scale)
    targets = np.zeros((total, num_classes), dtype=np.float32)
    targets[np.arange(total), labels[first]] = 1.0
    targets[np.arange(total), labels[second]] = 1.0
    return Split(out, targets)


def load_dataset(
    name: str, data_dir: Path | None = None, *, per_image: int = MULTI_PER_IMAGE
) -> DataBundle:
    """Load data set `name` (see module docstring); never downloads anything."""
    if name not in DATASETS:
        raise XncostError(f"unknown dataset {name!r}; expected one of {', '.join(DATASETS)}")
    if name in ("digits", "multidigits"):
        train, test = load_digits_split()
        scale = 16
    else:
        if data_dir is None:
            what = "the CIFAR-10 python batches" if name == "cifar10" else "the MNIST IDX files"
            raise XncostError(f"dataset {name} needs --data-dir DIR holding {what} (no downloads)")
        data_dir = Path(data_dir)
        if not data_dir.is_dir():
            raise XncostError(f"{data_dir}: data directory not found")
        loader = load_cifar10_split if name == "cifar10" else load_mnist_split
        train, test = loader(data_dir, "train"), loader(data_dir, "test")
        scale = 255
    multi = name.startswith("multi")
    if multi:
        rng = np.random.default_rng(MULTI_SEED)
        train = make_multi(train.images, train.targets, scale=scale, per_image=per_image, rng=rng)
        test = make_multi(test.images, test.targets, scale=scale, per_image=per_image, rng=rng)
    return DataBundle(name, train, test, NUM_CLASSES, scale, multi)
