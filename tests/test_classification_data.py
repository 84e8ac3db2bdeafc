"""CIFAR safe reader, procedural shapes and the classification datasets/transforms."""
import os
import pickle

import numpy as np
import pytest
import torch

from lava_vision.data.cifar import SafeUnpickler, holdout_indices, read_cifar, safe_load_pickle
from lava_vision.data.procedural import DOMAINS, SHAPE_CLASSES, render_shapes
from lava_vision.tasks.classification.config import ClassificationDataConfig, ClassificationModelConfig
from lava_vision.tasks.classification.data import build_dataset, collate


def _write_cifar10(root, n_per_batch=4):
    """Official layout: data_batch_1..5, test_batch, batches.meta, protocol-2 pickles with
    bytes keys, as the python-2 era archive has them."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    batches = {}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        data = rng.integers(0, 256, size=(n_per_batch, 3072), dtype=np.uint8)
        labels = rng.integers(0, 10, size=n_per_batch).tolist()
        batches[name] = (data, labels)
        with open(folder / name, "wb") as f:
            pickle.dump({b"batch_label": name.encode(), b"labels": labels, b"data": data,
                         b"filenames": [b"x.png"] * n_per_batch}, f, protocol=2)
    names = [b"airplane", b"automobile", b"bird", b"cat", b"deer", b"dog", b"frog", b"horse", b"ship", b"truck"]
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({b"label_names": names, b"num_vis": 3072}, f, protocol=2)
    return batches


def test_cifar10_reader_matches_official_layout(tmp_path):
    batches = _write_cifar10(tmp_path)
    train_images, train_labels, names = read_cifar(tmp_path, "cifar10", "train", val_size=3)
    val_images, val_labels, _ = read_cifar(tmp_path, "cifar10", "val", val_size=3)
    assert train_images.shape == (17, 32, 32, 3) and train_images.dtype == np.uint8 and len(val_labels) == 3
    # train and val partition the official training set: put it back together in file order
    tr, va = holdout_indices(20, 3)
    images = np.zeros((20, 32, 32, 3), np.uint8)
    labels = np.zeros(20, np.int64)
    images[tr], labels[tr], images[va], labels[va] = train_images, train_labels, val_images, val_labels
    assert names[0] == "airplane" and names[9] == "truck"
    # the official row layout is 1024 R, then 1024 G, then 1024 B values, row-major 32 x 32
    data, lab = batches["data_batch_2"]
    row = data[1]
    assert images[5, 7, 11, 0] == row[7 * 32 + 11]
    assert images[5, 7, 11, 1] == row[1024 + 7 * 32 + 11]
    assert images[5, 7, 11, 2] == row[2048 + 7 * 32 + 11]
    assert labels[4:8].tolist() == lab
    test_images, test_labels, _ = read_cifar(tmp_path, "cifar10", "test")
    assert test_labels.tolist() == batches["test_batch"][1]
    with pytest.raises(ValueError, match="cannot hold out 20 validation images of 20"):
        read_cifar(tmp_path, "cifar10", "val", val_size=20)


def test_cifar_validation_is_a_fixed_5000_of_train_disjoint_from_it():
    train, val = holdout_indices(50_000)
    assert len(val) == 5000 and len(train) == 45_000
    assert np.intersect1d(train, val).size == 0 and np.union1d(train, val).size == 50_000
    again_train, again_val = holdout_indices(50_000)  # fixed: the same images on every call
    assert np.array_equal(val, again_val) and np.array_equal(train, again_train)


def test_cifar100_fine_labels(tmp_path):
    folder = tmp_path / "cifar-100-python"
    folder.mkdir()
    data = np.arange(2 * 3072, dtype=np.int64).astype(np.uint8).reshape(2, 3072)
    with open(folder / "test", "wb") as f:
        pickle.dump({b"data": data, b"fine_labels": [99, 3], b"coarse_labels": [1, 2]}, f, protocol=2)
    images, labels, names = read_cifar(tmp_path, "cifar100", "test")
    assert labels.tolist() == [99, 3] and len(names) == 100
    assert images[1, 0, 1, 2] == (3072 + 2048 + 1) % 256


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned > /dev/null",))


def test_malicious_pickle_is_refused(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    path = folder / "data_batch_1"
    with open(path, "wb") as f:
        pickle.dump({b"data": _Evil(), b"labels": [0]}, f, protocol=2)
    with pytest.raises(pickle.UnpicklingError, match="refusing to load global .*system"):
        read_cifar(tmp_path, "cifar10", "train")
    # any global outside numpy array reconstruction is refused, also plain builtins
    payload = pickle.dumps(print, protocol=2)
    with pytest.raises(pickle.UnpicklingError, match=r"builtin\w*\.print"):
        (tmp_path / "p").write_bytes(payload)
        safe_load_pickle(tmp_path / "p")
    # _codecs.encode is only allowed as the latin-1 bytes shim
    import io
    evil_codec = b"\x80\x02c_codecs\nencode\nq\x00X\x01\x00\x00\x00aX\x04\x00\x00\x00zlibq\x01\x86R."
    with pytest.raises(pickle.UnpicklingError, match="encoding"):
        SafeUnpickler(io.BytesIO(evil_codec), encoding="bytes").load()


def test_missing_cifar_root_names_the_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="cifar-10-batches-py"):
        read_cifar(tmp_path / "nowhere", "cifar10", "train")


def test_procedural_is_deterministic_balanced_and_domains_differ():
    a, la = render_shapes(40, "source", "train", seed=3)
    b, lb = render_shapes(40, "source", "train", seed=3)
    assert np.array_equal(a, b) and np.array_equal(la, lb)
    assert np.bincount(la, minlength=10).tolist() == [4] * 10
    c, _ = render_shapes(40, "source", "val", seed=3)
    assert not np.array_equal(a, c)
    t, _ = render_shapes(200, "target", "train", seed=3)
    s, _ = render_shapes(200, "source", "train", seed=3)
    # style ranges from DOMAINS: source backgrounds are dark, target backgrounds bright
    assert np.median(s) < DOMAINS["source"].bg[1] + 10 < np.median(t)
    with pytest.raises(ValueError, match="data.domain='nope'"):
        render_shapes(4, "nope")


def test_procedural_shapes_are_where_drawn():
    """A disk drawn in the clean source style: the shape pixels are bright, the rest dark."""
    imgs, labels = render_shapes(30, "source", seed=0)
    disk = imgs[labels == SHAPE_CLASSES.index("disk")][0].astype(float).mean(axis=2)
    bright = disk > 100
    assert 0.05 < bright.mean() < 0.6  # a disk of radius 0.22..0.36 of the side covers 15..41%


def test_dataset_transform_normalises_and_resizes():
    model = ClassificationModelConfig(name="quicknet", library="lava_vision", pretrained="none",
                                      input_size=48, mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))
    data = ClassificationDataConfig(source="procedural", domain="source", val_size=10, seed=1)
    ds = build_dataset(data, model, "val")
    raw, labels = render_shapes(10, "source", "val", seed=1)
    batch = collate([ds[i] for i in range(3)])
    assert batch["image"].shape == (3, 3, 48, 48) and batch["label"].tolist() == labels[:3].tolist()
    # mean over the image is preserved by bilinear resizing up to interpolation error
    expected = (raw[0].astype(np.float64).mean(axis=(0, 1)) / 255 - 0.5) / 0.25
    assert torch.allclose(batch["image"][0].double().mean(dim=(1, 2)), torch.tensor(expected), atol=0.05)


def test_imagefolder_missing_root(tmp_path):
    model = ClassificationModelConfig(pretrained="none", input_size=32)
    data = ClassificationDataConfig(source="imagefolder", root=str(tmp_path / "ds"))
    with pytest.raises(FileNotFoundError, match="ds/train"):
        build_dataset(data, model, "train")


def test_imagefolder_reads_classes(tmp_path):
    import cv2

    for cls, color in (("cat", (0, 0, 255)), ("dog", (255, 0, 0))):
        (tmp_path / "val" / cls).mkdir(parents=True)
        img = np.zeros((20, 30, 3), np.uint8)
        img[:] = color  # BGR on disk
        cv2.imwrite(str(tmp_path / "val" / cls / "a.png"), img)
    model = ClassificationModelConfig(pretrained="none", input_size=16, mean=(0, 0, 0), std=(1, 1, 1))
    ds = build_dataset(ClassificationDataConfig(source="imagefolder", root=str(tmp_path)), model, "val")
    assert ds.classes == ["cat", "dog"]
    cat = ds[0]
    assert cat["label"] == 0 and cat["id"] == "cat/a"
    assert torch.allclose(cat["image"][:, 0, 0], torch.tensor([1.0, 0.0, 0.0]), rtol=0, atol=1e-6)  # red in RGB
