"""Data loaders (MNIST IDX, CIFAR-10 batches, sklearn digits) and the MultiMNIST procedure."""

from __future__ import annotations

import gzip
import os
import pickle
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xncost.errors import XncostError
from xncost.train import data as D

pytestmark = pytest.mark.heavy  # seconds per test (tests/conftest.py: not in -m fast)


def _idx_bytes(magic: int, dims: tuple[int, ...], payload: bytes) -> bytes:
    head = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in dims)
    return head + payload


def _write_mnist(folder: Path, n_train: int = 5, n_test: int = 3, gz: bool = False) -> dict:
    rng = np.random.default_rng(1)
    arrays = {}
    for split, n in (("train", n_train), ("test", n_test)):
        imgs = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        labs = rng.integers(0, 10, size=n, dtype=np.uint8)
        img_name, lab_name = D.MNIST_FILES[split]
        for name, magic, arr in ((img_name, 2051, imgs), (lab_name, 2049, labs)):
            raw = _idx_bytes(magic, arr.shape, arr.tobytes())
            if gz:
                (folder / f"{name}.gz").write_bytes(gzip.compress(raw))
            else:
                (folder / name).write_bytes(raw)
        arrays[split] = (imgs, labs)
    return arrays


@pytest.mark.parametrize("gz", [False, True])
def test_mnist_idx_round_trip(tmp_path: Path, gz: bool) -> None:
    arrays = _write_mnist(tmp_path, gz=gz)
    for split in ("train", "test"):
        s = D.load_mnist_split(tmp_path, split)
        imgs, labs = arrays[split]
        assert s.images.shape == (len(imgs), 1, 28, 28)
        np.testing.assert_array_equal(s.images[:, 0], imgs)
        np.testing.assert_array_equal(s.targets, labs.astype(np.int64))


def test_mnist_bad_magic_names_file(tmp_path: Path) -> None:
    _write_mnist(tmp_path)
    path = tmp_path / "train-images-idx3-ubyte"
    raw = bytearray(path.read_bytes())
    raw[:4] = (1234).to_bytes(4, "big")
    path.write_bytes(bytes(raw))
    with pytest.raises(XncostError, match=r"train-images-idx3-ubyte: bad magic number 1234") as e:
        D.load_mnist_split(tmp_path, "train")
    assert "2051" in str(e.value)


def test_mnist_labels_bad_magic(tmp_path: Path) -> None:
    _write_mnist(tmp_path)
    path = tmp_path / "t10k-labels-idx1-ubyte"
    path.write_bytes((2051).to_bytes(4, "big") + path.read_bytes()[4:])
    with pytest.raises(XncostError, match=r"t10k-labels-idx1-ubyte: bad magic number 2051.*2049"):
        D.load_mnist_split(tmp_path, "test")


@pytest.mark.parametrize("gz", [False, True])
def test_mnist_truncated(tmp_path: Path, gz: bool) -> None:
    _write_mnist(tmp_path)
    path = tmp_path / "train-images-idx3-ubyte"
    raw = path.read_bytes()[:-100]
    path.unlink()
    if gz:
        path = tmp_path / "train-images-idx3-ubyte.gz"
        path.write_bytes(gzip.compress(raw))
    else:
        path.write_bytes(raw)
    with pytest.raises(XncostError, match=r"train-images-idx3-ubyte.*truncated"):
        D.load_mnist_split(tmp_path, "train")


def test_mnist_truncated_header_and_corrupt_gzip(tmp_path: Path) -> None:
    _write_mnist(tmp_path)
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:10])
    with pytest.raises(XncostError, match="train-images-idx3-ubyte: truncated header"):
        D.load_mnist_split(tmp_path, "train")
    path.unlink()
    gz = tmp_path / "train-images-idx3-ubyte.gz"
    whole = gzip.compress(_idx_bytes(2051, (5, 28, 28), bytes(range(256)) * 16))
    gz.write_bytes(whole[: len(whole) // 2])  # the header decompresses, the body does not
    with pytest.raises(XncostError, match=r"train-images-idx3-ubyte\.gz: corrupt gzip"):
        D.load_mnist_split(tmp_path, "train")


def test_mnist_wrong_dims(tmp_path: Path) -> None:
    _write_mnist(tmp_path)
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(_idx_bytes(2051, (5, 27, 28), bytes(5 * 27 * 28)))
    with pytest.raises(XncostError, match=r"train-images-idx3-ubyte: images are 27x28.*28x28"):
        D.load_mnist_split(tmp_path, "train")


def test_mnist_label_count_mismatch(tmp_path: Path) -> None:
    _write_mnist(tmp_path)
    path = tmp_path / "train-labels-idx1-ubyte"
    path.write_bytes(_idx_bytes(2049, (4,), bytes(4)))
    with pytest.raises(XncostError, match=r"train-labels-idx1-ubyte: 4 labels, expected 5"):
        D.load_mnist_split(tmp_path, "train")


def test_mnist_missing_file(tmp_path: Path) -> None:
    _write_mnist(tmp_path)
    (tmp_path / "t10k-images-idx3-ubyte").unlink()
    with pytest.raises(XncostError, match=r"t10k-images-idx3-ubyte: missing"):
        D.load_mnist_split(tmp_path, "test")


def _write_cifar(folder: Path, n: int = 4, protocol: int = 2) -> dict[str, tuple]:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(2)
    written = {}
    for name in (*D.CIFAR_TRAIN, D.CIFAR_TEST):
        data = rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)
        labels = [int(v) for v in rng.integers(0, 10, size=n)]
        batch = {b"batch_label": name.encode(), b"data": data, b"labels": labels}
        (folder / name).write_bytes(pickle.dumps(batch, protocol=protocol))
        written[name] = (data, labels)
    return written


@pytest.mark.parametrize("protocol", [2, 5])
def test_cifar_round_trip(tmp_path: Path, protocol: int) -> None:
    written = _write_cifar(tmp_path / "cifar-10-batches-py", protocol=protocol)
    train = D.load_cifar10_split(tmp_path, "train")
    test = D.load_cifar10_split(tmp_path, "test")
    assert train.images.shape == (20, 3, 32, 32) and test.images.shape == (4, 3, 32, 32)
    data, labels = written["data_batch_2"]
    np.testing.assert_array_equal(train.images[4:8].reshape(4, -1), data)
    # channel-major rows: the first 1024 bytes are the red plane
    np.testing.assert_array_equal(train.images[4, 0].ravel(), data[0, :1024])
    assert train.targets[4:8].tolist() == labels
    assert test.targets.tolist() == written["test_batch"][1]


def test_cifar_corrupt_files(tmp_path: Path) -> None:
    folder = tmp_path / "cifar-10-batches-py"
    _write_cifar(folder)
    (folder / "test_batch").unlink()
    with pytest.raises(XncostError, match=r"test_batch: missing"):
        D.load_cifar10_split(tmp_path, "test")
    (folder / "test_batch").write_bytes(b"\x80\x02garbage")
    with pytest.raises(XncostError, match=r"test_batch: not a CIFAR-10 python batch"):
        D.load_cifar10_split(tmp_path, "test")
    bad = {b"data": np.zeros((2, 100), dtype=np.uint8), b"labels": [0, 1]}
    (folder / "data_batch_3").write_bytes(pickle.dumps(bad, protocol=2))
    with pytest.raises(XncostError, match=r"data_batch_3: b'data' is uint8 \[2, 100\]"):
        D.load_cifar10_split(tmp_path, "train")
    bad = {b"data": np.zeros((2, 3072), dtype=np.uint8), b"labels": [0, 1, 2]}
    (folder / "data_batch_3").write_bytes(pickle.dumps(bad, protocol=2))
    with pytest.raises(XncostError, match=r"data_batch_3: 3 labels, expected 2"):
        D.load_cifar10_split(tmp_path, "train")


def test_cifar_refuses_arbitrary_pickles(tmp_path: Path) -> None:
    folder = tmp_path / "cifar-10-batches-py"
    _write_cifar(folder)
    (folder / "test_batch").write_bytes(pickle.dumps(Path("x")))
    with pytest.raises(XncostError, match=r"test_batch: not a CIFAR-10 python batch.*refusing"):
        D.load_cifar10_split(tmp_path, "test")


def test_load_dataset_needs_data_dir(tmp_path: Path) -> None:
    with pytest.raises(XncostError, match="--data-dir"):
        D.load_dataset("mnist")
    with pytest.raises(XncostError, match="not found"):
        D.load_dataset("cifar10", tmp_path / "nope")
    with pytest.raises(XncostError, match="unknown dataset"):
        D.load_dataset("imagenet")


def test_multimnist_from_idx_files(tmp_path: Path) -> None:
    _write_mnist(tmp_path, n_train=12, n_test=6, gz=True)
    bundle = D.load_dataset("multimnist", tmp_path, per_image=2)
    assert bundle.multi_label and bundle.image_side == 36 and bundle.in_channels == 1
    assert len(bundle.train) == 24 and len(bundle.test) == 12


def test_digits_split_is_fixed_and_stratified_enough() -> None:
    train, test = D.load_digits_split()
    again_train, again_test = D.load_digits_split()
    assert len(train) + len(test) == 1797 and len(test) == 359
    np.testing.assert_array_equal(train.targets, again_train.targets)
    np.testing.assert_array_equal(test.images, again_test.images)
    assert train.images.shape[1:] == (1, 8, 8) and int(train.images.max()) == 16
    assert set(test.targets.tolist()) == set(range(10))


def test_digits_without_sklearn(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    with pytest.raises(XncostError, match=r"pip install xncost\[digits\]"):
        D.load_digits_split()


def test_multi_pad_rule() -> None:
    assert D.multi_pad(28) == 4  # the paper: 28 -> 36
    assert D.multi_pad(8) == 1


def _impulses(side: int, n_per_class: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Digits of class k: a single pixel of value k + 1 at the centre."""
    labels = np.repeat(np.arange(10), n_per_class)
    images = np.zeros((len(labels), 1, side, side), dtype=np.uint8)
    images[:, 0, side // 2, side // 2] = labels + 1
    return images, labels


@pytest.mark.parametrize("side", [8, 28])
def test_multi_procedure_labels_and_shifts(side: int) -> None:
    images, labels = _impulses(side)
    p = D.multi_pad(side)
    out = D.make_multi(images, labels, scale=255, per_image=3, rng=np.random.default_rng(5))
    assert out.images.shape == (len(labels) * 3, 1, side + 2 * p, side + 2 * p)
    assert out.targets.shape == (len(labels) * 3, 10)
    assert np.all(out.targets.sum(axis=1) == 2)  # two DIFFERENT classes
    first_classes = np.repeat(labels, 3)
    assert np.all(out.targets[np.arange(len(first_classes)), first_classes] == 1)
    centre = p + side // 2
    seen_offsets = set()
    for img, t in zip(out.images[:, 0], out.targets, strict=True):
        ys, xs = np.nonzero(img)
        classes = sorted(np.flatnonzero(t).tolist())
        values = sorted(img[ys, xs].tolist())
        if len(ys) == 2:
            assert values == [classes[0] + 1, classes[1] + 1]
        else:  # both impulses landed on the same pixel
            assert values == [classes[0] + classes[1] + 2]
        assert np.all(np.abs(ys - centre) <= p) and np.all(np.abs(xs - centre) <= p)
        seen_offsets.update((ys - centre).tolist())
    assert min(seen_offsets) == -p and max(seen_offsets) == p


def test_multi_procedure_keeps_whole_digits_and_clips() -> None:
    labels = np.arange(10)
    full = np.full((10, 1, 8, 8), 16, dtype=np.uint8)
    out = D.make_multi(full, labels, scale=16, per_image=4, rng=np.random.default_rng(0))
    assert int(out.images.max()) == 16  # the sum 32 is clipped to the maximum
    ones = np.ones((10, 1, 8, 8), dtype=np.uint8)
    out = D.make_multi(ones, labels, scale=16, per_image=4, rng=np.random.default_rng(0))
    assert np.all(out.images.reshape(len(out), -1).sum(axis=1) == 2 * 64)  # nothing cropped


def test_multidigits_bundle() -> None:
    bundle = D.load_dataset("multidigits", per_image=1)
    assert bundle.image_side == 10 and bundle.multi_label and bundle.scale == 16
    assert len(bundle.train) == 1438 and len(bundle.test) == 359
    assert np.all(bundle.test.targets.sum(axis=1) == 2)


# ----------------------------------------------------------------------------- hostile files


def test_idx_dims_beyond_int64_are_refused(tmp_path: Path) -> None:
    """Dimensions whose product wraps to 784 in int64: the old size check accepted a file of
    784 bytes and failed later with a traceback. Python ints refuse the header."""
    dims = (566257200, 3619623479, 4294967293)
    assert int(np.prod(dims, dtype=np.int64)) == 784
    _write_mnist(tmp_path)
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(_idx_bytes(2051, dims, bytes(784)))
    with pytest.raises(XncostError, match=r"header promises 566257200x.* more than") as e:
        D.load_mnist_split(tmp_path, "train")
    assert str(path) in str(e.value) and "\n" not in str(e.value)


def test_gzip_bomb_is_read_only_as_far_as_the_header_promises(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 5-image header followed by 16 MB of zeros (a gzip of a few KB): at most what the
    header promises plus one byte is decompressed, then the file is refused."""
    _write_mnist(tmp_path)
    (tmp_path / "train-images-idx3-ubyte").unlink()
    bomb = _idx_bytes(2051, (5, 28, 28), bytes(16 << 20))
    (tmp_path / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(bomb, 9))
    read = []
    real = gzip.GzipFile.read
    monkeypatch.setattr(gzip.GzipFile, "read", lambda self, n=-1: read.append(n) or real(self, n))
    with pytest.raises(XncostError, match="more than 3936 bytes, expected 3936 for 5x28x28"):
        D.load_mnist_split(tmp_path, "train")
    assert all(0 <= n for n in read) and sum(read) <= 16 + 5 * 28 * 28 + 1


def test_raw_idx_longer_than_promised_is_not_read(tmp_path: Path) -> None:
    _write_mnist(tmp_path)
    path = tmp_path / "train-labels-idx1-ubyte"
    path.write_bytes(_idx_bytes(2049, (5,), bytes(5 + 3)))
    with pytest.raises(XncostError, match=r": 16 bytes, expected 13 for 5 .IDX1"):
        D.load_mnist_split(tmp_path, "train")


def _batch_bytes(labels: object, protocol: int = 2, **extra: object) -> bytes:
    data = np.zeros((2, 3072), dtype=np.uint8)
    return pickle.dumps({b"data": data, b"labels": labels, **extra}, protocol=protocol)


@pytest.mark.parametrize(
    "labels,message",
    [
        (None, r"b'labels' is None, expected a list"),
        ({0: 1}, r"b'labels' is a dict"),
        ("01", r"b'labels' is text"),
        ([0, "1"], r"label 1 is text"),
        ([0, b"1"], r"label 1 is bytes"),
        ([0, None], r"label 1 is None"),
        ([1.0, 2.0], r"label 0 is the float 1.0"),
        ([0, 2.5], r"label 1 is the float 2.5"),
        ([0, True], r"label 1 is the boolean True"),
        ([0, 2**70], r"label 1 is a 71-bit integer, out of range"),
        ([0, -(2**5000)], r"label 1 is a 5001-bit integer, out of range"),
        ([0, [1, 2]], r"label 1 is a list"),
        ([0, {}], r"label 1 is a dict"),
        ([0, 10], r"label 1 is 10, out of range 0..9"),
        ([-1, 0], r"label 0 is -1, out of range"),
        ([0, 1, 2], r"3 labels, expected 2"),
    ],
)
@pytest.mark.parametrize("protocol", [2, 5])
def test_cifar_bad_labels_one_line(tmp_path: Path, labels, message, protocol) -> None:
    path = tmp_path / "data_batch_1"
    path.write_bytes(_batch_bytes(labels, protocol))
    with pytest.raises(XncostError, match=message) as e:
        D.read_cifar_batch(path)
    assert str(e.value).startswith(f"{path}: ") and "\n" not in str(e.value)


@pytest.mark.parametrize(
    "batch,message",
    [
        ([1, 2], r"holds a list, expected a dict"),
        ({b"data": np.zeros((2, 3072), np.uint8)}, r"keys b'data' and b'labels'"),
        ({b"data": np.zeros((1, 3072), np.uint8), b"labels": [0], b"x": 1}, r"unexpected key"),
        ({b"data": np.zeros((1, 3072), np.int64), b"labels": [0]}, r"dtype 'i8', not uint8"),
        ({b"data": np.zeros((1, 3072), object), b"labels": [0]}, r"not uint8"),
        ({b"data": np.zeros((1, 3, 1024), np.uint8), b"labels": [0]}, r"2 sizes or fewer"),
        ({b"data": np.asfortranarray(np.zeros((2, 3072), np.uint8)), b"labels": [0, 1]}, "Fortran"),
        ({b"data": [[0] * 3072], b"labels": [0]}, r"b'data' is a list"),
        ({b"data": np.zeros((1, 3072), np.uint8), b"labels": [0], b"batch_label": 3}, "text"),
        ({b"data": np.zeros((1, 3072), np.uint8), b"labels": [0], b"filenames": [1]}, "names"),
        (Path("x"), r"refusing to load pathlib"),
    ],
)
def test_cifar_bad_structures_one_line(tmp_path: Path, batch, message) -> None:
    path = tmp_path / "test_batch"
    path.write_bytes(pickle.dumps(batch, protocol=2))
    with pytest.raises(XncostError, match=message) as e:
        D.read_cifar_batch(path)
    assert str(e.value).startswith(f"{path}: ") and "\n" not in str(e.value)


def _g(module: str, name: str) -> bytes:
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n"


def _text(t: str) -> bytes:
    return b"X" + len(t.encode()).to_bytes(4, "little") + t.encode()


def _int(v: int) -> bytes:
    return b"J" + v.to_bytes(4, "little", signed=True)


def _bytes(b: bytes) -> bytes:
    return b"B" + len(b).to_bytes(4, "little") + b


def _tuple(*parts: bytes) -> bytes:
    return b"(" + b"".join(parts) + b"t"


def _dtype(spec: str, state: bytes) -> bytes:
    return _g("numpy", "dtype") + b"(" + _text(spec) + b"\x89\x88tR" + state + b"b"


def _array(shape: tuple[int, ...], dtype: bytes, raw: bytes) -> bytes:
    core = "numpy._core" if hasattr(np, "_core") else "numpy.core"
    return (
        _g(f"{core}.multiarray", "_reconstruct") + _g("numpy", "ndarray") + _tuple(_int(0))
        + _bytes(b"b") + b"\x87R"
        + _tuple(_int(1), _tuple(*(_int(d) for d in shape)), dtype, b"\x89", _bytes(raw)) + b"b"
    )  # fmt: skip


U1 = _dtype("u1", _tuple(_int(3), _text("|"), b"NNN", _int(-1), _int(-1), _int(0)))
OBJECT = _dtype("O", _tuple(_int(3), _text("|"), b"NNN", _int(-1), _int(-1), _int(63)))
# a structured dtype whose one field holds objects, with flags claiming it holds none: the
# allowlisted unpickler built it from 8 file bytes used as a pointer (SIGSEGV)
LYING = _dtype(
    "V8",
    _tuple(_int(3), _text("|"), b"N", _tuple(_text("a")),
           b"}(" + _text("a") + _tuple(OBJECT, _int(0)) + b"u", _int(8), _int(1), _int(0)),
)  # fmt: skip


def _crafted_batch(labels: bytes) -> bytes:
    data = _array((1, 3072), U1, bytes(3072))
    return b"\x80\x03}(" + _bytes(b"data") + data + _bytes(b"labels") + labels + b"u."


def test_crafted_object_array_cannot_crash_the_interpreter(tmp_path: Path) -> None:
    """The object-array attack, in a subprocess: a clean exit 2 with one line, no signal."""
    import subprocess

    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    evil = _crafted_batch(_array((1,), LYING, (0x4141414141414141).to_bytes(8, "little")))
    for name in (*D.CIFAR_TRAIN, D.CIFAR_TEST):
        (folder / name).write_bytes(evil)
    code = (
        "import sys\nfrom pathlib import Path\nfrom xncost.errors import XncostError\n"
        "from xncost.train.data import load_dataset\n"
        "try:\n    load_dataset('cifar10', Path(sys.argv[1]))\n"
        "except XncostError as e:\n    sys.exit(f'xncost: error: {e}')\n"
    )
    r = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True)
    assert r.returncode == 1, (r.returncode, r.stderr)  # sys.exit(text): 1; a signal is < 0
    assert r.stderr.count("\n") == 1 and "data_batch_1: not a CIFAR-10 python batch" in r.stderr
    assert "dtype 'V8', not uint8" in r.stderr


@pytest.mark.parametrize(
    "labels,message",
    [
        (_array((2,), OBJECT, bytes(16)), r"dtype 'O', not uint8"),
        (_g("os", "system") + _tuple(_text("true")) + b"R", r"refusing to load os.system"),
        (b"h\x09", r"a reference to nothing"),
        (b"\x97", r"unsupported pickle opcode"),  # NEXT_BUFFER: out-of-band data
        (b"t", r"a missing mark"),
        (_bytes(b"x")[:3], r"truncated"),
    ],
)
def test_crafted_opcodes_are_refused(tmp_path: Path, labels: bytes, message: str) -> None:
    path = tmp_path / "data_batch_1"
    path.write_bytes(_crafted_batch(labels))
    with pytest.raises(XncostError, match=message):
        D.read_cifar_batch(path)


def test_python2_cifar_batch_layout(tmp_path: Path) -> None:
    """The layout of Krizhevsky's files (Python 2 cPickle, protocol 2): str keys and data as
    SHORT_BINSTRING/BINSTRING, dtype arguments 0 and 1, memo puts."""
    raw = bytes(range(256)) * 24  # 2 images
    blob = (
        b"\x80\x02}q\x01(U\x04dataq\x02cnumpy.core.multiarray\n_reconstruct\nq\x03"
        b"cnumpy\nndarray\nq\x04K\x00\x85U\x01b\x87Rq\x05(K\x01K\x02M\x00\x0c\x86"
        b"cnumpy\ndtype\nq\x06U\x02u1K\x00K\x01\x87Rq\x07(K\x03U\x01|NNNJ\xff\xff\xff\xff"
        b"J\xff\xff\xff\xffK\x00tb\x89T" + len(raw).to_bytes(4, "little") + raw + b"tb"
        b"U\x06labelsq\x08]q\t(K\x07K\x02eU\x0bbatch_labelq\nU\x04testq\x0b"
        b"U\tfilenamesq\x0c]q\r(U\x05a.pngU\x05b.pngeu."
    )
    path = tmp_path / "test_batch"
    path.write_bytes(blob)
    split = D.read_cifar_batch(path)
    assert split.targets.tolist() == [7, 2]
    np.testing.assert_array_equal(split.images.reshape(2, -1).ravel(), np.frombuffer(raw, np.uint8))


def test_cifar_binary_batches(tmp_path: Path) -> None:
    folder = tmp_path / "cifar-10-batches-bin"
    folder.mkdir()
    rng = np.random.default_rng(3)
    for name in (*D.CIFAR_TRAIN, D.CIFAR_TEST):
        rows = rng.integers(0, 256, size=(3, 3073), dtype=np.uint8)
        rows[:, 0] = [0, 9, 4]
        (folder / f"{name}.bin").write_bytes(rows.tobytes())
    bundle = D.load_dataset("cifar10", tmp_path)
    assert bundle.train.images.shape == (15, 3, 32, 32) and len(bundle.test) == 3
    assert bundle.test.targets.tolist() == [0, 9, 4]
    np.testing.assert_array_equal(bundle.test.images[1].ravel(), rows[1, 1:])
    (folder / "test_batch.bin").write_bytes(rows.tobytes()[:-1])
    with pytest.raises(XncostError, match=r"test_batch.bin: 9218 bytes, not a whole number"):
        D.load_cifar10_split(tmp_path, "test")
    rows[2, 0] = 10
    (folder / "test_batch.bin").write_bytes(rows.tobytes())
    with pytest.raises(XncostError, match=r"test_batch.bin: label 2 is 10, out of range"):
        D.load_cifar10_split(tmp_path, "test")


@settings(max_examples=200 if os.environ.get("HYPOTHESIS_PROFILE") == "ci" else 40)
@given(st.data())
def test_mutated_batches_load_or_fail_in_one_line(tmp_path_factory, data) -> None:
    """Any byte of a valid batch changed, cut or inserted: a Split or one XncostError."""
    blob = bytearray(_batch_bytes([3, 4], data.draw(st.sampled_from([2, 3, 4, 5]))))
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(blob) - 1))
        how = data.draw(st.sampled_from(["set", "cut", "insert"]))
        byte = data.draw(st.integers(0, 255))
        if how == "set":
            blob[at] = byte
        elif how == "cut":
            del blob[at:]
        else:
            blob.insert(at, byte)
        if not blob:
            blob = bytearray(b"\x80")
    path = tmp_path_factory.mktemp("m") / "data_batch_1"
    path.write_bytes(bytes(blob))
    try:
        split = D.read_cifar_batch(path)
    except XncostError as e:
        assert "\n" not in str(e) and str(e).startswith(str(path))
    else:
        assert split.images.dtype == np.uint8 and split.targets.dtype == np.int64


# ----------------------------------------------------------------------------- bounded memory


def test_a_pickle_of_cheap_opcodes_is_refused_by_count() -> None:
    """`]` is one byte that makes a 56-byte list: a file of them grew ~80-fold in memory."""
    from xncost.train.pickle_reader import MAX_VALUES, PickleRefused, read_pickle

    for op in (b"]", b"}", b"(", b"N", b"]q\x00"):
        raw = b"\x80\x02" + op * (MAX_VALUES + 10) + b"."
        with pytest.raises(PickleRefused, match="more than"):
            read_pickle(raw)


def test_a_pickled_dimension_beyond_int64_is_one_line(tmp_path: Path) -> None:
    raw = pickle.dumps({"data": np.zeros((0, 3072), np.uint8), "labels": []}, protocol=3)
    shape = b"K\x00M\x00\x0c\x86"
    assert raw.count(shape) == 1
    huge = b"\x8a\x09" + (2**63).to_bytes(9, "little", signed=True) + b"K\x00\x86"
    path = tmp_path / "data_batch_1"
    path.write_bytes(raw.replace(shape, huge))
    with pytest.raises(XncostError, match="2 sizes or fewer, each 0..") as info:
        D.read_cifar_batch(path)
    assert str(path) in str(info.value)


def test_mnist_inner_size_is_checked_before_the_body_is_read(tmp_path: Path) -> None:
    """A header promising 1 x 46000 x 46000 bytes (2.1 GB, under the size bound) in a small
    .gz: refused from the header, before anything is inflated."""
    _write_mnist(tmp_path)
    path = tmp_path / "train-images-idx3-ubyte"
    path.unlink()
    with gzip.open(tmp_path / "train-images-idx3-ubyte.gz", "wb") as f:
        f.write(_idx_bytes(2051, (1, 46000, 46000), bytes(1 << 20)))  # far shorter than promised
    with pytest.raises(XncostError, match="images are 46000x46000, expected 28x28"):
        D.load_mnist_split(tmp_path, "train")
