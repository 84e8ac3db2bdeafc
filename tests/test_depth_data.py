"""NYU readers (sync layout, labeled .mat), paired transforms and the synthetic renderer."""
import cv2
import h5py
import numpy as np
import pytest
from scipy.io import savemat

from lava_vision.data.depth_transforms import multiple_size, train_transform
from lava_vision.data.nyu import NYUDataError, NYULabeledDataset, NYUSyncDataset, read_split_indices
from lava_vision.data.synthetic_depth import DISTRIBUTIONS, SyntheticDepthDataset, raycast, render_scene


def write_sync(root, name="kitchen_0028b", idx=45, hw=(6, 8), depth_dtype=np.uint16):
    (root / name).mkdir(parents=True, exist_ok=True)
    rgb = np.zeros((*hw, 3), np.uint8)
    rgb[..., 0] = 200  # red in RGB
    cv2.imwrite(str(root / name / f"rgb_{idx:05d}.jpg"), rgb[..., ::-1])
    depth = (np.arange(hw[0] * hw[1]).reshape(hw) * 100).astype(depth_dtype)
    cv2.imwrite(str(root / name / f"sync_depth_{idx:05d}.png"), depth)
    return f"/{name}/rgb_{idx:05d}.jpg /{name}/sync_depth_{idx:05d}.png 518.8579\n", depth


def test_sync_layout_reads_rgb_and_millimetre_depth(tmp_path):
    line, depth = write_sync(tmp_path)
    (tmp_path / "split.txt").write_text(line + "\n")
    item = NYUSyncDataset(tmp_path, tmp_path / "split.txt")[0]
    assert item["rgb"].shape == (6, 8, 3) and abs(int(item["rgb"][0, 0, 0]) - 200) <= 2  # RGB order
    np.testing.assert_allclose(item["depth"], depth.astype(np.float64) / 1000.0, rtol=1e-6, atol=0)
    assert item["depth"][0, 1] == pytest.approx(0.1)
    assert item["id"] == "kitchen_0028b_rgb_00045"


def test_sync_layout_errors_name_the_file(tmp_path):
    line, _ = write_sync(tmp_path)
    (tmp_path / "split.txt").write_text(line.replace("sync_depth_00045", "sync_depth_00099"))
    with pytest.raises(FileNotFoundError, match="sync_depth_00099.png"):
        NYUSyncDataset(tmp_path, tmp_path / "split.txt")[0]
    line8, _ = write_sync(tmp_path, "bad_dtype", 1, depth_dtype=np.uint8)
    (tmp_path / "s8.txt").write_text(line8)
    with pytest.raises(NYUDataError, match="bad_dtype/sync_depth_00001.png.*uint8"):
        NYUSyncDataset(tmp_path, tmp_path / "s8.txt")[0]
    write_sync(tmp_path, "mismatch", 2)
    cv2.imwrite(str(tmp_path / "mismatch" / "sync_depth_00002.png"), np.ones((5, 8), np.uint16))
    (tmp_path / "sm.txt").write_text("/mismatch/rgb_00002.jpg /mismatch/sync_depth_00002.png 518.8\n")
    with pytest.raises(NYUDataError, match="mismatch/rgb_00002.jpg"):
        NYUSyncDataset(tmp_path, tmp_path / "sm.txt")[0]
    (tmp_path / "bad.txt").write_text("only_two fields\n")
    with pytest.raises(NYUDataError, match="bad.txt:1"):
        NYUSyncDataset(tmp_path, tmp_path / "bad.txt")


def test_labeled_mat_is_transposed_and_split_indices_are_one_based(tmp_path):
    # MATLAB v7.3 stores images N x 3 x W x H; our reader must return H x W x 3
    rng = np.random.default_rng(0)
    images_hwc = rng.integers(0, 255, (3, 4, 5, 3), dtype=np.uint8)  # N x H x W x 3
    depths_hw = rng.uniform(0.5, 9, (3, 4, 5)).astype(np.float32)
    with h5py.File(tmp_path / "labeled.mat", "w") as f:
        f["images"] = images_hwc.transpose(0, 3, 2, 1)
        f["depths"] = depths_hw.transpose(0, 2, 1)
    savemat(tmp_path / "splits.mat", {"trainNdxs": np.array([[1], [2]]), "testNdxs": np.array([[3]])})
    test_idx = read_split_indices(tmp_path / "splits.mat", "test")
    assert test_idx.tolist() == [2]
    ds = NYULabeledDataset(tmp_path / "labeled.mat", test_idx)
    item = ds[0]
    np.testing.assert_array_equal(item["rgb"], images_hwc[2])
    np.testing.assert_array_equal(item["depth"], depths_hw[2])
    with pytest.raises(FileNotFoundError, match="missing.mat"):
        NYULabeledDataset(tmp_path / "missing.mat")


def test_train_transform_never_interpolates_depth():
    rng = np.random.default_rng(1)
    rgb = rng.integers(0, 255, (30, 40, 3), dtype=np.uint8)
    depth = rng.choice([0.0, 1.5, 7.25], size=(30, 40)).astype(np.float32)
    out_rgb, out_d = train_transform(size=28)(rgb, depth)
    assert out_rgb.shape == (28, 28, 3) and out_d.shape == (28, 28)
    assert set(np.unique(out_d)) <= {0.0, 1.5, 7.25}  # nearest only: no blended values


def test_multiple_size_matches_depth_anything_resize():
    assert multiple_size(480, 640, 518) == (518, 686)
    assert multiple_size(84, 112, 84) == (84, 112)


def test_raycast_depth_matches_closed_form_geometry():
    # Camera at (1, 1.5, 0.5) looking down +z in a 2 x 3 x 4 m room, focal 10 px, 4 x 4 image.
    cam, room, f = np.array([1.0, 1.5, 0.5]), np.array([2.0, 3.0, 4.0]), 10.0
    depth, surface, _, _ = raycast(cam, 0.0, 0.0, f, room, [], 4, 4)
    depth, surface = depth.reshape(4, 4), surface.reshape(4, 4)
    # pixel (row 1, col 1): ray (-0.05, 0.05, 1) * t reaches the far wall z = 4 first -> z-depth 3.5
    assert depth[1, 1] == pytest.approx(4.0 - 0.5) and surface[1, 1] == 3
    # a box whose front face is at z = 2 covering the centre: z-depth 1.5 exactly
    box = (np.array([0.5, 0.0, 2.0]), np.array([1.5, 2.5, 2.5]))
    depth_b, surface_b, _, _ = raycast(cam, 0.0, 0.0, f, room, [box], 4, 4)
    assert depth_b.reshape(4, 4)[1, 1] == pytest.approx(1.5) and surface_b.reshape(4, 4)[1, 1] == 4
    # a wide lens (f = 1): pixel (row 3, col 1) has ray (-0.5, -1.5, 1) -> floor y = 0 at t = 1.5 / 1.5
    # (before the side wall x = 0 at t = 1 / 0.5)
    depth_w, surface_w, _, _ = raycast(cam, 0.0, 0.0, 1.0, room, [], 4, 4)
    assert depth_w.reshape(4, 4)[3, 1] == pytest.approx(1.0) and surface_w.reshape(4, 4)[3, 1] == 0


def test_synthetic_dataset_is_deterministic_and_metric():
    rgb, depth, focal = render_scene(np.random.default_rng(3), DISTRIBUTIONS["A"], 28, 36)
    assert rgb.dtype == np.uint8 and depth.dtype == np.float32 and depth.shape == (28, 36)
    assert np.all(depth > 0) and np.all(depth < 10) and 0.8 * 36 <= focal <= 36
    ds = SyntheticDepthDataset(2, "B", 28, 36, seed=5)
    np.testing.assert_array_equal(ds[1]["depth"], SyntheticDepthDataset(2, "B", 28, 36, seed=5)[1]["depth"])
    assert not np.array_equal(ds[0]["depth"], ds[1]["depth"])


def test_prepare_script_writes_the_labeled_test_split_in_sync_layout(tmp_path):
    import importlib.util

    spec = importlib.util.spec_from_file_location("nyu_prepare", "datasets/nyu_depth_v2/prepare.py")
    prepare = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(prepare)
    rng = np.random.default_rng(2)
    depths = rng.uniform(0.5, 9, (2, 4, 5)).astype(np.float32)
    with h5py.File(tmp_path / "labeled.mat", "w") as f:
        f["images"] = rng.integers(0, 255, (2, 3, 5, 4), dtype=np.uint8)
        f["depths"] = depths.transpose(0, 2, 1)
    savemat(tmp_path / "splits.mat", {"trainNdxs": np.array([[1]]), "testNdxs": np.array([[2]])})
    n = prepare.extract_test(tmp_path / "labeled.mat", tmp_path / "splits.mat", tmp_path / "test",
                             tmp_path / "test.txt")
    assert n == 1 and (tmp_path / "test.txt").read_text().split()[:2] == ["/rgb_00002.jpg", "/sync_depth_00002.png"]
    item = NYUSyncDataset(tmp_path / "test", tmp_path / "test.txt")[0]
    np.testing.assert_allclose(item["depth"], depths[1], atol=5e-4)  # millimetre quantisation
    assert prepare.check(tmp_path / "test", tmp_path / "test.txt") == 1
