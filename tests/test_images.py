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


# -- one colour rule for every reader: each kind of file against numpy on the pixels written --

def readers(path):
    """The pixels every entry point gets from one file: the datasets' / tools/predict.py's
    ``read_rgb``, the predictor's path input, the app's upload check and a PIL image given to the
    predictor (for files Pillow holds at full depth)."""
    from lava_vision.app.uploads import read_upload
    from lava_vision.inference.predictor import as_rgb

    got = [read_rgb(path), as_rgb(path), as_rgb(str(path)), read_upload(path)]
    for arr in got:
        assert arr.dtype == np.uint8 and arr.ndim == 3 and arr.shape[2] == 3
    for arr in got[1:]:
        np.testing.assert_array_equal(arr, got[0])
    return got[0]


def refused(path, *said):
    """Every entry point refuses ``path``, naming it (the app: the reason, without its temporary path)."""
    from lava_vision.app.uploads import UploadError, read_upload
    from lava_vision.inference.predictor import as_rgb

    for read in (read_rgb, as_rgb):
        with pytest.raises(ImageReadError) as e:
            read(path)
        assert path.name in str(e.value) and all(s in str(e.value) for s in said), str(e.value)
    with pytest.raises(UploadError) as e:
        read_upload(path)
    assert all(s in str(e.value) for s in said), str(e.value)


U16 = np.array([0, 1, 128, 129, 385, 32767, 32768, 65406, 65407, 65535], np.uint16)  # around rounding edges


def test_16_bit_images_scale_by_the_full_range(tmp_path):
    rng = np.random.default_rng(0)
    grey = np.concatenate([U16, rng.integers(0, 65536, 30, dtype=np.uint16)]).reshape(4, 10)
    cv2.imwrite(str(tmp_path / "g16.png"), grey)
    want = np.round(grey / 257.0).astype(np.uint8)  # v * 255 / 65535
    assert not np.array_equal(want, (grey >> 8).astype(np.uint8))  # not the high byte alone
    np.testing.assert_array_equal(readers(tmp_path / "g16.png"), np.repeat(want[..., None], 3, 2))
    rgb = rng.integers(0, 65536, (5, 7, 3), dtype=np.uint16)
    rgb[0, :3] = U16[:9].reshape(3, 3)
    for ext in ("png", "tif"):
        cv2.imwrite(str(tmp_path / f"c16.{ext}"), rgb[..., ::-1])  # OpenCV writes BGR
        np.testing.assert_array_equal(readers(tmp_path / f"c16.{ext}"), np.round(rgb / 257.0).astype(np.uint8))
    rgba = np.concatenate([rgb, np.full((5, 7, 1), 65535, np.uint16)], axis=2)
    cv2.imwrite(str(tmp_path / "opaque16.png"), rgba[..., [2, 1, 0, 3]])
    np.testing.assert_array_equal(readers(tmp_path / "opaque16.png"), np.round(rgb / 257.0).astype(np.uint8))
    rgba[2, 3, 3] = 65534
    cv2.imwrite(str(tmp_path / "clear16.png"), rgba[..., [2, 1, 0, 3]])
    refused(tmp_path / "clear16.png", "transparency", "1 pixel(s)")


def test_float_images_in_0_1_are_intensities_and_others_are_refused(tmp_path):
    v = np.random.default_rng(1).random((6, 9)).astype(np.float32)
    v[0, :3] = [0.0, 1.0, 0.5 / 255]
    Image.fromarray(v, "F").save(tmp_path / "f.tif")
    want = np.round(v.astype(np.float64) * 255).astype(np.uint8)
    assert want.max() > 200  # not read as black
    np.testing.assert_array_equal(readers(tmp_path / "f.tif"), np.repeat(want[..., None], 3, 2))
    for name, bad, said in (("over.tif", 1.5, "outside [0, 1]"), ("nan.tif", np.nan, "not finite"),
                            ("neg.tif", -0.25, "outside [0, 1]")):
        w = v.copy()
        w[3, 4] = bad
        Image.fromarray(w, "F").save(tmp_path / name)
        refused(tmp_path / name, "float32", said)
    Image.fromarray((v * 70000).astype(np.int32), "I").save(tmp_path / "i32.tif")
    refused(tmp_path / "i32.tif", "mode 'I'", "int32")


def test_palette_cmyk_grey_and_alpha_images(tmp_path):
    rng = np.random.default_rng(2)
    palette = rng.integers(0, 256, (256, 3), dtype=np.uint8)
    index = rng.integers(0, 256, (8, 11), dtype=np.uint8)
    p = Image.fromarray(index, "P")
    p.putpalette(palette.ravel().tolist())
    p.save(tmp_path / "p.png")
    np.testing.assert_array_equal(readers(tmp_path / "p.png"), palette[index])
    p.save(tmp_path / "p_clear.png", transparency=int(index[0, 0]))
    refused(tmp_path / "p_clear.png", "a palette with transparency")

    cmyk = rng.integers(0, 256, (8, 11, 4), dtype=np.uint8)
    Image.fromarray(cmyk, "CMYK").save(tmp_path / "cmyk.tif")  # uncompressed: the values as written
    c = cmyk.astype(np.int64)
    want = np.round((255 - c[..., :3]) * (255 - c[..., 3:]) / 255).astype(np.uint8)
    np.testing.assert_array_equal(readers(tmp_path / "cmyk.tif"), want)

    grey = rng.integers(0, 256, (8, 11), dtype=np.uint8)
    Image.fromarray(grey, "L").save(tmp_path / "l.png")
    np.testing.assert_array_equal(readers(tmp_path / "l.png"), np.repeat(grey[..., None], 3, 2))
    rgb = rng.integers(0, 256, (8, 11, 3), dtype=np.uint8)
    full = np.full((8, 11, 1), 255, np.uint8)
    Image.fromarray(np.concatenate([rgb, full], 2), "RGBA").save(tmp_path / "rgba.png")
    np.testing.assert_array_equal(readers(tmp_path / "rgba.png"), rgb)  # opaque: alpha dropped
    Image.fromarray(np.concatenate([grey[..., None], full], 2), "LA").save(tmp_path / "la.png")
    np.testing.assert_array_equal(readers(tmp_path / "la.png"), np.repeat(grey[..., None], 3, 2))
    clear = np.concatenate([rgb, full], 2)
    clear[1, 2, 3], clear[4, 5, 3] = 0, 254
    Image.fromarray(clear, "RGBA").save(tmp_path / "clear.png")
    refused(tmp_path / "clear.png", "RGBA with transparency", "2 pixel(s)")
    Image.fromarray(rgb, "RGB").convert("LAB").save(tmp_path / "lab.tif")
    refused(tmp_path / "lab.tif", "mode 'LAB'")


def test_a_pil_image_given_to_the_predictor_follows_the_rule():
    from lava_vision.data.images import ImageFormatError
    from lava_vision.inference.predictor import as_rgb

    v = np.random.default_rng(3).random((4, 5)).astype(np.float32)
    want = np.round(v.astype(np.float64) * 255).astype(np.uint8)
    np.testing.assert_array_equal(as_rgb(Image.fromarray(v, "F")), np.repeat(want[..., None], 3, 2))
    with pytest.raises(ImageFormatError, match=r"the given Image \(mode F\).*outside \[0, 1\]"):
        as_rgb(Image.fromarray(v * 2, "F"))
