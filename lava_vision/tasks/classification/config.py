"""The classification task's config sections (data only: they are written to JSON and rebuilt)."""
from __future__ import annotations

from dataclasses import dataclass

from ...train.recipe import RecipeError
from ...train.validate import check_image_side, check_int, check_model_id

MAX_CLASSES, MAX_SAMPLES = 1_000_000, 100_000_000  # sane bounds for a config from elsewhere
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass
class ClassificationModelConfig:
    """Which network, with which weights.

    library: ``timm`` (any ``timm.create_model`` name), ``torchvision`` (``alexnet``, ``vgg11``,
        ``googlenet``, ``resnet18``, ``resnet34``, ``convnext_tiny`` ...) or ``lava_vision``
        (``quicknet``, the small CNN of the offline quickstart; ``cifar_resnet20`` / ``32`` / ``44`` /
        ``56``, He et al.'s CIFAR ResNets, see ``cifar_resnet.py``).
    pretrained: ``"hub"`` (the library's default weights: timm / torchvision download them, for
        QuickNet it is the committed ``lava_vision/assets/quicknet_shapes.safetensors``),
        a local file path (timm: its own checkpoint format via ``pretrained_cfg_overlay``;
        torchvision: an official state dict, ``.pth`` read with ``weights_only=True`` or
        ``.safetensors``; quicknet: a safetensors file; cifar_resnet*: the published ``.th``
        format, ``{"state_dict": {"module.<key>": ...}}``, or safetensors, loaded strictly) or
        ``"none"``. ``"none"`` builds a randomly initialised network and is meant only for explicit
        toy runs and tests: it is never chosen for you, and a missing file is an error, never a silent random init.
    num_classes: classes of the task. When it differs from the checkpoint's, the classifier is
        replaced by a new, randomly initialised one (name it in ``adapter.modules_to_save``).
    input_size: images are resized to ``input_size x input_size``.
    mean / std: normalisation the weights expect (0..1 scale).
    """

    name: str = "resnet18"
    library: str = "torchvision"
    pretrained: str = "hub"
    num_classes: int = 10
    input_size: int = 224
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD

    def validate(self) -> None:
        """Ranges (``train.validate.check_config`` calls it, for recipes and stored configs alike)."""
        check_model_id("model.name", self.name)
        check_int("model.num_classes", self.num_classes, 1, MAX_CLASSES)
        check_image_side("model.input_size", self.input_size)


@dataclass
class ClassificationDataConfig:
    """Where images come from.

    source: ``cifar10`` / ``cifar100`` (official python layout under ``root``), ``imagefolder``
        (``root/<split>/<class>/<image>``; or one folder ``root/<class>/<image>`` with
        ``split_sizes``) or ``procedural`` (shapes drawn by ``lava_vision.data.procedural``; no files).
    split_sizes: ``imagefolder`` from ONE class folder: ``(train, val, test)`` image counts, or
        fractions of the folder (``(0.5, 0.1, 0.4)``: they scale to any folder; see
        ``lava_vision.data.class_folders.part_sizes``), of fixed, disjoint, stratified parts
        (``lava_vision.data.class_folders.stratified_parts``, seeded by ``split_seed``, never by the
        run's seed: the parts stay put across runs and seeds; test and val are cut first, so a
        smaller train part leaves them unchanged). Empty: the ``root/<split>/<class>`` layout.
    corruption / severity / corruption_seed: ``imagefolder`` photos corrupted by a CIFAR-10-C
        corruption (``lava_vision.data.corruptions.CORRUPTIONS``, severity 1..5) before the
        transform, each photo's randomness seeded by (corruption_seed, its index in the folder).
        Empty: clean photos.
    cache_images: ``imagefolder`` keeps each decoded (and corrupted) photo in memory after its first
        read (per dataset and worker process): for small photos (a CIFAR JPEG is 3 KB decoded), not
        for folders of camera photos.
    domain / train_size / val_size / seed / image_size: the procedural distribution only
        (``domain`` is one of ``procedural.DOMAINS``: ``source`` or ``target``).
    hflip: random horizontal flips for training.
    cifar_val_size: CIFAR has no validation split: "val" is a fixed (seed 0) ``cifar_val_size`` of
        the official training images and "train" the rest; "test" is the test batch.
    """

    source: str = "cifar10"
    root: str = "datasets/cifar"
    hflip: bool = True
    domain: str = "source"
    train_size: int = 2000
    val_size: int = 500
    seed: int = 0
    image_size: int = 32
    cifar_val_size: int = 5000
    split_sizes: tuple[int | float, ...] = ()
    split_seed: int = 0
    corruption: str = ""
    severity: int = 5
    corruption_seed: int = 0
    cache_images: bool = False

    def validate(self) -> None:
        """Ranges (``train.validate.check_config`` calls it, for recipes and stored configs alike)."""
        check_image_side("data.image_size", self.image_size)
        for key in ("train_size", "val_size"):
            check_int(f"data.{key}", getattr(self, key), 1, MAX_SAMPLES)
        check_int("data.cifar_val_size", self.cifar_val_size, 0, MAX_SAMPLES)
        for i, n in enumerate(self.split_sizes):
            if isinstance(n, float):  # a fraction of the folder (class_folders.part_sizes)
                if not 0 < n < 1:
                    raise RecipeError(f"data.split_sizes[{i}]={n!r}: a fraction of the folder must lie in (0, 1); "
                                      "image counts are integers")
            else:
                check_int(f"data.split_sizes[{i}]", n, 0, MAX_SAMPLES)


@dataclass
class ClassificationLossConfig:
    label_smoothing: float = 0.0
