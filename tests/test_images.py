"""Strict image reading: intact files decode exactly as cv2.imread does (the oracle), truncated
JPEGs (which cv2 fills with grey) are errors naming the file in every reader of the data code."""
import cv2
import numpy as np
import pytest
from PIL import Image

from lava_vision.data.captions import CaptionedImages, PromptSeeds
from lava_vision.data.images import ImageReadError, read_gray, read_rgb
from lava_vision.data.nyu import NYUDataError, NYUSyncDataset
from lava_vision.data.segmentation import read_pair
from lava_vision.tasks.classification.config import ClassificationDataConfig, ClassificationModelConfig
from lava_vision.tasks.classification.data import build_dataset


def smooth_image(h=40, w=56, seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return cv2.GaussianBlur((rng.random((h, w, 3)) * 255).astype(np.uint8), (5, 5), 2)  # BGR


def noise_image(h=40, w=56, seed=0) -> np.ndarray:
    """High-frequency colour noise: decoders that round or subsample differently disagree on it."""
    return (np.random.default_rng(seed).random((h, w, 3)) * 255).astype(np.uint8)


def truncated_copy(src, dst):
    data = src.read_bytes()
    dst.write_bytes(data[: len(data) // 2])
    return dst


@pytest.mark.parametrize("ext", ["jpg", "png"])
def test_intact_images_decode_as_cv2(tmp_path, ext):
    bgr = noise_image()
    path = tmp_path / f"a.{ext}"
    cv2.imwrite(str(path), bgr)
    np.testing.assert_array_equal(read_rgb(path), cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB))
    np.testing.assert_array_equal(read_gray(path), cv2.imread(str(path), cv2.IMREAD_GRAYSCALE))
    gray = tmp_path / f"g.{ext}"
    cv2.imwrite(str(gray), bgr[..., 1])
    np.testing.assert_array_equal(read_gray(gray), cv2.imread(str(gray), cv2.IMREAD_GRAYSCALE))


def test_exif_orientation_is_applied_as_cv2_does(tmp_path):
    path = tmp_path / "rot.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    Image.fromarray(smooth_image()[..., ::-1].copy()).save(path, quality=95, exif=exif)
    want = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
    assert want.shape[:2] == (56, 40)
    np.testing.assert_array_equal(read_rgb(path), want)


def test_truncated_jpeg_is_an_error_naming_the_file_in_every_reader(tmp_path):
    good = tmp_path / "good.jpg"
    cv2.imwrite(str(good), smooth_image())
    bad = truncated_copy(good, tmp_path / "bad.jpg")
    assert cv2.imread(str(bad)) is not None  # the hazard: cv2 decodes it, grey-filled
    with pytest.raises(ImageReadError, match="bad.jpg.*truncated"):
        read_rgb(bad)
    gray_bad = truncated_copy(good, tmp_path / "mask_bad.jpg")
    with pytest.raises(ImageReadError, match="mask_bad.jpg"):
        read_gray(gray_bad)

    # NYU sync layout
    cv2.imwrite(str(tmp_path / "d.png"), np.ones((40, 56), np.uint16))
    (tmp_path / "split.txt").write_text("/bad.jpg /d.png 518.8\n")
    with pytest.raises(NYUDataError, match="bad.jpg"):
        NYUSyncDataset(tmp_path, tmp_path / "split.txt")[0]
    # segmentation image and (JPEG) mask
    cv2.imwrite(str(tmp_path / "m.png"), np.zeros((40, 56), np.uint8))
    with pytest.raises(ValueError, match="bad.jpg"):
        read_pair(bad, tmp_path / "m.png")
    with pytest.raises(ValueError, match="mask_bad.jpg"):
        read_pair(good, gray_bad)
    # classification ImageFolder
    (tmp_path / "cls" / "val" / "a").mkdir(parents=True)
    bad.rename(tmp_path / "cls" / "val" / "a" / "x.jpg")
    model = ClassificationModelConfig(pretrained="none", input_size=16)
    ds = build_dataset(ClassificationDataConfig(source="imagefolder", root=str(tmp_path / "cls")), model, "val")
    with pytest.raises(ValueError, match="x.jpg"):
        ds[0]
    # text-to-image captioned images and validation prompts with images
    cap = truncated_copy(good, tmp_path / "cap.jpg")
    with pytest.raises(ValueError, match="cap.jpg"):
        CaptionedImages([(cap, "a photo")], resolution=16)[0]
    with pytest.raises(ValueError, match="cap.jpg"):
        PromptSeeds([(cap, "a photo")], seeds=[0], resolution=16)[0]


def test_nyu_missing_listed_files_fail_when_the_dataset_is_built(tmp_path):
    cv2.imwrite(str(tmp_path / "rgb_1.jpg"), smooth_image())
    cv2.imwrite(str(tmp_path / "d_1.png"), np.ones((40, 56), np.uint16))
    lines = ["/rgb_1.jpg /d_1.png 518.8"] + [f"/rgb_{i}.jpg /d_{i}.png 518.8" for i in (2, 3)]
    (tmp_path / "split.txt").write_text("\n".join(lines) + "\n")
    with pytest.raises(FileNotFoundError, match=r"split.txt.*4 listed file\(s\) missing.*rgb_2.jpg, .*d_2.png, "
                                                r".*rgb_3.jpg"):
        NYUSyncDataset(tmp_path, tmp_path / "split.txt")  # before any item is read
    (tmp_path / "split.txt").write_text(lines[0] + "\n")
    assert len(NYUSyncDataset(tmp_path, tmp_path / "split.txt")) == 1
