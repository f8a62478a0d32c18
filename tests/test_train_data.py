"""Data loaders (MNIST IDX, CIFAR-10 batches, sklearn digits) and the MultiMNIST procedure."""

from __future__ import annotations

import gzip
import pickle
import sys
from pathlib import Path

import numpy as np
import pytest

from xncost.errors import XncostError
from xncost.train import data as D


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
