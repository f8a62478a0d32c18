"""Data sets for validation training, read from local files only (never downloaded).

- `digits`: scikit-learn's bundled 8x8 digits (1797 samples, values 0..16), split once
  with a fixed seed into 1438 train / 359 test samples (20 % test).
- `mnist`: the MNIST IDX files in a local directory (optionally gzipped).
- `cifar10`: the CIFAR-10 python batches (`cifar-10-batches-py`, read without `pickle`)
  or binary batches (`cifar-10-batches-bin`).
- `multidigits` / `multimnist`: the paper's MultiMNIST procedure (Section 4.1, after
  Sabour et al. 2017) applied to digits / MNIST, see `make_multi`.

Images are kept as uint8 [n, C, H, W] with a `scale` (the value of a full pixel: 16 for the
sklearn digits, 255 otherwise); targets are int64 class indices [n] or, for the
multi-digit sets, float32 multi-hot vectors [n, K].
"""

from __future__ import annotations

import gzip
import math
import os
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from xncost.errors import XncostError
from xncost.train.pickle_reader import PendingArray, PickleRefused, read_pickle

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
CIFAR_BIN_DIR = "cifar-10-batches-bin"
CIFAR_ROW = 3 * 32 * 32
CIFAR_KEYS = (b"batch_label", b"data", b"labels", b"filenames")
MAX_IDX_BYTES = 2**31  # what an IDX header may promise (MNIST's largest file: 47 MB)
MAX_BATCH_BYTES = 2**28  # a CIFAR-10 batch (10000 images: 30.7 MB)
READ_CHUNK = 1 << 20


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


class _Source:
    """A data file opened for bounded reading, gunzipped when it starts with the gzip magic
    bytes; every read error becomes one XncostError naming the file."""

    def __init__(self, path: Path, what: str) -> None:
        self.path, self.what = path, what
        try:
            self.raw = open(path, "rb")  # noqa: SIM115 - closed by __exit__
            self.gzipped = self.raw.read(2) == b"\x1f\x8b"
            self.raw.seek(0)
            self.size = os.fstat(self.raw.fileno()).st_size
        except OSError as exc:
            raise XncostError(f"{path}: cannot read {what} ({exc.strerror or exc})") from None
        self.stream: Any = gzip.GzipFile(fileobj=self.raw, mode="rb") if self.gzipped else self.raw

    def __enter__(self) -> _Source:
        return self

    def __exit__(self, *exc: object) -> None:
        self.raw.close()

    def read(self, n: int) -> bytes:
        """Up to n bytes (fewer at the end), read in chunks so a lying size costs nothing."""
        return bytes(self.read_into(bytearray(min(n, READ_CHUNK)), n))

    def read_into(self, buffer: bytearray, n: int) -> memoryview:
        """Up to n bytes into `buffer` (grown as data arrives: a lying size costs nothing, a
        true one no second copy); the bytes read."""
        got = 0
        try:
            while got < n:
                if got == len(buffer):
                    buffer.extend(bytes(min(n - got, max(len(buffer), READ_CHUNK))))
                view = memoryview(buffer)[got : min(n, got + READ_CHUNK)]
                k = self.stream.readinto(view)
                view.release()
                if not k:
                    break
                got += k
        except (OSError, EOFError, zlib.error) as exc:
            kind = "corrupt gzip data in" if self.gzipped else "cannot read"
            raise XncostError(f"{self.path}: {kind} {self.what} ({exc})") from None
        return memoryview(buffer)[:got]


def _read_bytes(path: Path, what: str, limit: int) -> bytes:
    """A whole (decompressed) file of at most `limit` bytes."""
    with _Source(path, what) as src:
        if not src.gzipped and src.size > limit:
            raise XncostError(f"{path}: {src.size} bytes, more than {limit} for {what}")
        start = src.size + 1 if not src.gzipped else READ_CHUNK
        buffer = bytearray(min(start, limit + 1))
        n = len(src.read_into(buffer, limit + 1))
    if n > limit:
        raise XncostError(f"{path}: decompresses to more than {limit} bytes, too large for {what}")
    del buffer[n:]
    return bytes(buffer)


def read_idx(
    path: Path, *, magic: int, what: str, inner: tuple[int, ...] | None = None
) -> np.ndarray:
    """An IDX file of unsigned bytes, checking magic number, header and length: the data is
    read (and decompressed) only up to what the header promises, plus one byte, and only
    once the header's sizes after the first are `inner` (28x28 for MNIST images)."""
    with _Source(path, what) as src:
        data = src.read(4)
        if len(data) < 4:
            raise XncostError(f"{path}: truncated, {len(data)} bytes, expected an IDX header")
        found = int.from_bytes(data, "big")
        if found != magic:
            raise XncostError(f"{path}: bad magic number {found}, expected {magic} ({what})")
        ndim = magic & 0xFF
        header = 4 + 4 * ndim
        data += src.read(header - 4)
        if len(data) < header:
            raise XncostError(
                f"{path}: truncated header, {len(data)} bytes, expected {header} ({what})"
            )
        dims = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
        shape = "x".join(str(d) for d in dims)
        expected = math.prod(dims)  # Python ints: no overflow
        if expected > MAX_IDX_BYTES:
            raise XncostError(
                f"{path}: header promises {shape} = {expected} bytes, more than "
                f"{MAX_IDX_BYTES} ({what})"
            )
        if inner is not None and dims[1:] != inner:
            raise XncostError(
                f"{path}: images are {'x'.join(map(str, dims[1:]))}, "
                f"expected {'x'.join(map(str, inner))}"
            )
        if not src.gzipped and src.size != header + expected:
            got = src.size
        else:
            buffer = bytearray(min(expected + 1, READ_CHUNK))
            got = header + len(src.read_into(buffer, expected + 1))
    if got != header + expected:
        over = src.gzipped and got > header + expected  # decompression stopped there
        size = f"more than {header + expected}" if over else str(got)
        raise XncostError(
            f"{path}: {size} bytes, expected {header + expected} for {shape} ({what}); "
            "the file is truncated or has trailing data"
        )
    if not src.gzipped:
        body = memoryview(_read_bytes(path, what, header + expected))[header:]
        return np.frombuffer(body, dtype=np.uint8).reshape(dims)
    del buffer[expected:]
    return np.frombuffer(buffer, dtype=np.uint8).reshape(dims)


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
    images = read_idx(
        img_path, magic=IDX_IMAGES_MAGIC, what="IDX3 images", inner=(MNIST_SIDE, MNIST_SIDE)
    )
    labels = read_idx(lab_path, magic=IDX_LABELS_MAGIC, what="IDX1 labels")
    if len(labels) != len(images):
        raise XncostError(
            f"{lab_path}: {len(labels)} labels, expected {len(images)} to match {img_path.name}"
        )
    if len(labels) and int(labels.max()) >= NUM_CLASSES:
        raise XncostError(f"{lab_path}: label {int(labels.max())} out of range 0..9")
    return Split(images[:, None].copy(), labels.astype(np.int64))


def _kind(value: object) -> str:
    """What a value is, in a few words (huge integers not spelled out)."""
    if value is None:
        return "None"
    if isinstance(value, bool):
        return f"the boolean {value}"
    if isinstance(value, int):
        return f"{value}" if value.bit_length() <= 64 else f"a {value.bit_length()}-bit integer"
    if isinstance(value, float):
        return f"the float {value!r}"
    if isinstance(value, PendingArray):
        return "an array"
    return {dict: "a dict", list: "a list", tuple: "a tuple", str: "text"}.get(
        type(value), "bytes" if isinstance(value, (bytes, bytearray)) else type(value).__name__
    )


def _cifar_labels(path: Path, labels: object, rows: int) -> np.ndarray:
    """The labels of a batch: a list of `rows` ints 0..9, anything else refused."""
    if not isinstance(labels, (list, tuple)):
        raise XncostError(f"{path}: b'labels' is {_kind(labels)}, expected a list of ints 0..9")
    for i, v in enumerate(labels):
        if type(v) is not int:
            raise XncostError(f"{path}: label {i} is {_kind(v)}, expected an int 0..9")
        if not 0 <= v < NUM_CLASSES:
            raise XncostError(f"{path}: label {i} is {_kind(v)}, out of range 0..9")
    if len(labels) != rows:
        raise XncostError(f"{path}: {len(labels)} labels, expected {rows} (one per image)")
    return np.asarray(labels, dtype=np.int64)


def _cifar_dict(path: Path, batch: object) -> dict[bytes, object]:
    if not isinstance(batch, dict):
        raise XncostError(f"{path}: holds {_kind(batch)}, expected a dict (a CIFAR-10 batch)")
    out = {k.encode() if isinstance(k, str) else k: v for k, v in batch.items()}
    for key in out:
        if key not in CIFAR_KEYS:
            raise XncostError(f"{path}: unexpected key {_kind(key)[:40]}: {key!r:.40}")
    if b"data" not in out or b"labels" not in out:
        raise XncostError(f"{path}: expected a dict with keys b'data' and b'labels'")
    label = out.get(b"batch_label", b"")
    names = out.get(b"filenames", [])
    if not isinstance(label, (bytes, str)):
        raise XncostError(f"{path}: b'batch_label' is {_kind(label)}, expected text")
    if not isinstance(names, list) or not all(isinstance(n, (bytes, str)) for n in names):
        raise XncostError(f"{path}: b'filenames' is not a list of names")
    return out


def read_cifar_batch(path: Path) -> Split:
    """One CIFAR-10 python batch: a pickled dict with b'data' uint8 [n, 3072], b'labels' (a
    list of n ints 0..9), optionally b'batch_label' and b'filenames'; read by
    `xncost.train.pickle_reader`, which cannot build anything else."""
    if not path.is_file():
        raise XncostError(
            f"{path}: missing, expected a CIFAR-10 python batch (or the binary version: "
            f"{path.name}.bin or {CIFAR_BIN_DIR}/)"
        )
    raw = _read_bytes(path, "a CIFAR-10 python batch", MAX_BATCH_BYTES)
    try:
        batch = _cifar_dict(path, read_pickle(raw))
    except PickleRefused as exc:
        raise XncostError(f"{path}: not a CIFAR-10 python batch ({exc})") from None
    data = batch[b"data"]
    array = data.array if isinstance(data, PendingArray) else None
    if array is None or array.ndim != 2 or array.shape[1] != CIFAR_ROW:
        got = f"uint8 {list(array.shape)}" if array is not None else _kind(data)
        raise XncostError(f"{path}: b'data' is {got}, expected uint8 [n, {CIFAR_ROW}]")
    labels = _cifar_labels(path, batch[b"labels"], array.shape[0])
    return Split(array.reshape(-1, 3, 32, 32), labels)


def read_cifar_binary(path: Path) -> Split:
    """One CIFAR-10 binary batch (`data_batch_N.bin`): records of 1 label byte (0..9) and
    3072 pixel bytes (red, green, blue planes of 32x32)."""
    if not path.is_file():
        raise XncostError(f"{path}: missing, expected a CIFAR-10 binary batch")
    raw = _read_bytes(path, "a CIFAR-10 binary batch", MAX_BATCH_BYTES)
    record = CIFAR_ROW + 1
    if not raw or len(raw) % record:
        raise XncostError(
            f"{path}: {len(raw)} bytes, not a whole number of {record}-byte records "
            "(a CIFAR-10 binary batch)"
        )
    rows = np.frombuffer(raw, dtype=np.uint8).reshape(-1, record)
    labels = rows[:, 0].astype(np.int64)
    bad = np.flatnonzero(labels >= NUM_CLASSES)
    if bad.size:
        raise XncostError(f"{path}: label {bad[0]} is {labels[bad[0]]}, out of range 0..9")
    return Split(rows[:, 1:].reshape(-1, 3, 32, 32).copy(), labels)


def load_cifar10_split(data_dir: Path, split: str) -> Split:
    """CIFAR-10 `train` (data_batch_1..5) or `test` (test_batch): the python batches
    (`cifar-10-batches-py`) or, failing those, the binary ones (`cifar-10-batches-bin`)."""
    names = CIFAR_TRAIN if split == "train" else (CIFAR_TEST,)
    folder, read = data_dir, read_cifar_batch
    if (data_dir / CIFAR_DIR).is_dir():
        folder = data_dir / CIFAR_DIR
    elif (data_dir / CIFAR_BIN_DIR).is_dir() or (data_dir / f"{names[0]}.bin").is_file():
        folder = data_dir / CIFAR_BIN_DIR if (data_dir / CIFAR_BIN_DIR).is_dir() else data_dir
        read = read_cifar_binary
        names = tuple(f"{n}.bin" for n in names)
    parts = [read(folder / name) for name in names]
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
