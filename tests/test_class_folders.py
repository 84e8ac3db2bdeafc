"""One class folder (``root/<class>/<image>``) split into fixed, stratified, disjoint parts, and the
classification dataset that reads it (optionally corrupted)."""
import numpy as np
import pytest
import torch
from PIL import Image

from lava_vision.data.class_folders import list_class_folder, stratified_parts
from lava_vision.data.corruptions import corrupt
from lava_vision.tasks.classification.config import ClassificationDataConfig, ClassificationModelConfig
from lava_vision.tasks.classification.data import build_dataset, class_names


def test_parts_are_disjoint_stratified_and_fixed():
    labels = np.repeat(np.arange(4), [30, 30, 60, 120])  # unbalanced: shares 1/8, 1/8, 1/4, 1/2
    parts = stratified_parts(labels, {"train": 80, "val": 40, "test": 40}, seed=0)
    assert {k: len(v) for k, v in parts.items()} == {"train": 80, "val": 40, "test": 40}
    every = np.concatenate(list(parts.values()))
    assert len(np.unique(every)) == len(every)  # disjoint
    for name, n in (("train", 80), ("val", 40), ("test", 40)):
        counts = np.bincount(labels[parts[name]], minlength=4)
        assert np.all(np.abs(counts - n * np.array([1, 1, 2, 4]) / 8) <= 1), (name, counts)
    again = stratified_parts(labels, {"train": 80, "val": 40, "test": 40}, seed=0)
    assert all(np.array_equal(parts[k], again[k]) for k in parts)
    smaller = stratified_parts(labels, {"train": 20, "val": 40, "test": 40}, seed=0)
    # a smaller adaptation part leaves the selection and report parts where they were
    assert np.array_equal(smaller["test"], parts["test"]) and np.array_equal(smaller["val"], parts["val"])
    assert set(smaller["train"]) <= set(parts["train"])
    other = stratified_parts(labels, {"train": 80, "val": 40, "test": 40}, seed=1)
    assert not np.array_equal(other["test"], parts["test"])
    with pytest.raises(ValueError, match="need 241 images; the folder holds 240"):
        stratified_parts(labels, {"train": 161, "val": 40, "test": 40})
    with pytest.raises(ValueError, match="positive"):
        stratified_parts(labels, {"train": 0, "test": 4})


def _folder(root, per_class=(6, 4)):
    rng = np.random.default_rng(0)
    pixels = {}
    for name, n in zip(("cat", "dog"), per_class):
        (root / name).mkdir(parents=True)
        for i in range(n):
            img = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
            Image.fromarray(img).save(root / name / f"{i:02d}.png")
            pixels[f"{name}/{i:02d}"] = img
    (root / "dog" / "notes.txt").write_text("not an image")
    (root / ".cache").mkdir()
    return pixels


def test_dataset_reads_the_parts_of_one_folder(tmp_path):
    pixels = _folder(tmp_path)
    paths, labels, classes = list_class_folder(tmp_path)
    assert classes == ["cat", "dog"] and len(paths) == 10 and labels.tolist() == [0] * 6 + [1] * 4
    model = ClassificationModelConfig(name="quicknet", library="lava_vision", pretrained="none", input_size=8,
                                      mean=(0, 0, 0), std=(1, 1, 1))
    cfg = ClassificationDataConfig(source="imagefolder", root=str(tmp_path), split_sizes=(5, 2, 3), hflip=False)
    seen = {}
    for split, n in (("train", 5), ("val", 2), ("test", 3)):
        ds = build_dataset(cfg, model, split)
        assert len(ds) == n and ds.classes == ["cat", "dog"]
        for i in range(n):
            s = ds[i]
            assert s["id"] not in seen
            seen[s["id"]] = split
            assert s["label"] == (0 if s["id"].startswith("cat") else 1)
            assert torch.allclose(s["image"], torch.from_numpy(pixels[s["id"]] / 255.0).permute(2, 0, 1).float())
    assert class_names(cfg, 2) == ["cat", "dog"]
    with pytest.raises(ValueError, match="split 'extra'"):
        build_dataset(cfg, model, "extra")
    with pytest.raises(FileNotFoundError, match="nowhere"):
        build_dataset(ClassificationDataConfig(source="imagefolder", root=str(tmp_path / "nowhere"),
                                               split_sizes=(1, 1, 1)), model, "train")


def test_corrupted_photos_depend_on_the_photo_not_the_split(tmp_path):
    pixels = _folder(tmp_path)
    model = ClassificationModelConfig(name="quicknet", library="lava_vision", pretrained="none", input_size=8,
                                      mean=(0, 0, 0), std=(1, 1, 1))
    paths, _, _ = list_class_folder(tmp_path)
    order = [str(p.relative_to(tmp_path).with_suffix("")) for p in paths]
    for sizes in ((5, 2, 3), (3, 2, 3)):
        cfg = ClassificationDataConfig(source="imagefolder", root=str(tmp_path), split_sizes=sizes, hflip=False,
                                       corruption="gaussian_noise", severity=5, corruption_seed=3, cache_images=True)
        for split in ("train", "test"):
            ds = build_dataset(cfg, model, split)
            for i in range(len(ds)):
                s = ds[i]
                # photo k of the folder's sorted listing gets the noise seeded by (3, k), in any part
                expected = corrupt(pixels[s["id"]], "gaussian_noise", 5, 3, order.index(s["id"]))
                assert torch.allclose(s["image"], torch.from_numpy(expected / 255.0).permute(2, 0, 1).float())
                assert torch.equal(ds[i]["image"], s["image"])  # the cached copy
    with pytest.raises(ValueError, match="corruption 'snow'"):
        build_dataset(ClassificationDataConfig(source="imagefolder", root=str(tmp_path), split_sizes=(5, 2, 3),
                                               corruption="snow"), model, "train")


def test_split_fractions_scale_to_the_folder():
    from lava_vision.data.class_folders import part_sizes

    labels = np.repeat(np.arange(10), 1000)  # the real-network folder: 10 x 1,000 photos
    # (0.5, 0.1, 0.4) of 10,000 photos are the recipe's old counts, so the very same parts
    counts = part_sizes({"train": 0.5, "val": 0.1, "test": 0.4}, len(labels))
    old = stratified_parts(labels, {"train": 5000, "val": 1000, "test": 4000}, seed=0)
    new = stratified_parts(labels, counts, seed=0)
    assert all(np.array_equal(old[k], new[k]) for k in old)
    # round(f x N) for test and val, the rest to train when the fractions sum to 1 (nothing dropped)
    for n in (300, 301, 37):
        got = part_sizes({"train": 0.5, "val": 0.1, "test": 0.4}, n)
        assert got["test"] == round(0.4 * n) and got["val"] == round(0.1 * n)
        assert got["train"] == n - round(0.4 * n) - round(0.1 * n)
    assert part_sizes({"train": 0.25, "val": 0.1, "test": 0.4}, 300) == {"train": 75, "val": 30, "test": 120}
    assert part_sizes({"train": 5, "val": 2, "test": 3}, 300) == {"train": 5, "val": 2, "test": 3}  # counts as given
    with pytest.raises(ValueError, match="not a mix"):
        part_sizes({"train": 100, "val": 0.1, "test": 0.4}, 300)
    with pytest.raises(ValueError, match="sum to 1.2"):
        part_sizes({"train": 0.7, "val": 0.1, "test": 0.4}, 300)
    with pytest.raises(ValueError, match="val part of 3 images would be empty"):
        part_sizes({"train": 0.5, "val": 0.1, "test": 0.4}, 3)


def test_a_folder_smaller_than_the_counts_names_the_key_and_suggests_fractions(tmp_path):
    _folder(tmp_path)  # 10 photos
    model = ClassificationModelConfig(name="quicknet", library="lava_vision", pretrained="none", input_size=8,
                                      mean=(0, 0, 0), std=(1, 1, 1))
    too_many = ClassificationDataConfig(source="imagefolder", root=str(tmp_path), split_sizes=(8, 2, 3))
    with pytest.raises(ValueError, match=r"data.split_sizes=\(8, 2, 3\) on .* \(10 images\): they need 13 images; "
                                         r"give the parts as fractions .*data.split_sizes=\(0.5,0.1,0.4\)"):
        build_dataset(too_many, model, "train")
    fractions = ClassificationDataConfig(source="imagefolder", root=str(tmp_path), split_sizes=(0.5, 0.2, 0.3),
                                         hflip=False)
    sizes = {split: len(build_dataset(fractions, model, split)) for split in ("train", "val", "test")}
    assert sizes == {"train": 5, "val": 2, "test": 3}
    missing = ClassificationDataConfig(source="imagefolder", root=str(tmp_path / "nowhere"),
                                       split_sizes=(0.5, 0.1, 0.4))
    with pytest.raises(FileNotFoundError, match=r"data.root=.*nowhere does not exist .*--set data.root=PATH"):
        build_dataset(missing, model, "train")


def test_split_sizes_are_counts_or_fractions_within_range():
    from lava_vision.train import RecipeError

    ClassificationDataConfig(source="imagefolder", split_sizes=(0.5, 0.1, 0.4)).validate()
    ClassificationDataConfig(source="imagefolder", split_sizes=(5000, 1000, 4000)).validate()
    with pytest.raises(RecipeError, match=r"data.split_sizes\[2\]=1.4: a fraction of the folder must lie in \(0, 1\)"):
        ClassificationDataConfig(source="imagefolder", split_sizes=(0.5, 0.1, 1.4)).validate()
    with pytest.raises(RecipeError, match=r"data.split_sizes\[0\]=-3"):
        ClassificationDataConfig(source="imagefolder", split_sizes=(-3, 1, 1)).validate()
