"""Build a classifier from timm, torchvision or QuickNet, with its pretrained weights and a head
for the task's number of classes. A missing weights file is an error, never a random init."""
from __future__ import annotations

from pathlib import Path

from torch import nn

from .config import ClassificationModelConfig
from .weights import read_state_dict

LIBRARIES = ("timm", "torchvision", "lava_vision")


def head_name(model: nn.Module) -> str:
    """Qualified name of the classifier layer: timm's ``pretrained_cfg["classifier"]``, else the
    last ``nn.Linear`` (torchvision: ``fc`` for ResNet/GoogLeNet, ``classifier.6`` for
    AlexNet/VGG, ``classifier.2`` for ConvNeXt; QuickNet: ``fc``)."""
    cfg = getattr(model, "pretrained_cfg", None)
    if isinstance(cfg, dict) and cfg.get("classifier"):
        return cfg["classifier"]
    linears = [n for n, m in model.named_modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise ValueError(f"{type(model).__name__} has no nn.Linear classifier")
    return linears[-1]


def replace_head(model: nn.Module, num_classes: int) -> None:
    """Swap the classifier for a new ``nn.Linear`` with ``num_classes`` outputs (PyTorch init)."""
    if hasattr(model, "reset_classifier") and hasattr(model, "pretrained_cfg"):  # timm
        model.reset_classifier(num_classes)
        return
    name = head_name(model)
    old = model.get_submodule(name)
    new = nn.Linear(old.in_features, num_classes, bias=old.bias is not None)
    parent, _, child = name.rpartition(".")
    setattr(model.get_submodule(parent) if parent else model, child, new)


def _one_line(e: BaseException) -> str:
    """``Type: message`` on one line (library messages often span several)."""
    return f"{type(e).__name__}: {' '.join(str(e).split())}"


def _torchvision(cfg: ClassificationModelConfig) -> nn.Module:
    from torchvision import models as tvm

    if cfg.name not in tvm.list_models():
        raise ValueError(f"model.name={cfg.name!r}: not a torchvision model")
    # torchvision's GoogLeNet: no auxiliary heads for fine-tuning
    kwargs = dict(aux_logits=False, init_weights=True) if cfg.name == "googlenet" else {}
    if cfg.pretrained == "none":
        return tvm.get_model(cfg.name, weights=None, num_classes=cfg.num_classes, **kwargs)
    if cfg.pretrained == "hub":
        try:
            model = tvm.get_model(cfg.name, weights="DEFAULT", **kwargs)
        except OSError as e:  # URLError and other connection errors: offline, nothing cached
            import torch.hub

            weights = tvm.get_model_weights(cfg.name).DEFAULT
            cache = Path(torch.hub.get_dir()) / "checkpoints"
            raise FileNotFoundError(
                f"model.pretrained='hub': cannot download torchvision {cfg.name}'s weights {weights} from "
                f"{weights.url} and {cache} holds no copy ({_one_line(e)}). Download that file while online "
                f"into {cache}, or set model.pretrained=/path/to/{Path(weights.url).name}; model.pretrained=none "
                "trains from random weights (toy runs only).") from e
    else:
        path = Path(cfg.pretrained)
        state = read_state_dict(path)
        if cfg.name == "googlenet":  # official files hold aux heads and expect transform_input
            state = {k: v for k, v in state.items() if not k.startswith(("aux1.", "aux2."))}
            kwargs["transform_input"] = True
        model = tvm.get_model(cfg.name, weights=None, **kwargs)
        head = model.get_submodule(head_name(model))
        n_ckpt = state.get(f"{head_name(model)}.weight", head.weight).shape[0]
        if n_ckpt != head.out_features:
            replace_head(model, n_ckpt)
        missing, unexpected = model.load_state_dict(state, strict=False)
        if missing or unexpected:
            raise ValueError(f"{path}: does not fit torchvision {cfg.name}: missing keys {missing[:3]}"
                             f"{'...' if len(missing) > 3 else ''}, unexpected keys {unexpected[:3]}")
    if model.get_submodule(head_name(model)).out_features != cfg.num_classes:
        replace_head(model, cfg.num_classes)
    return model


def _timm(cfg: ClassificationModelConfig) -> nn.Module:
    import timm

    if cfg.pretrained == "none":
        return timm.create_model(cfg.name, pretrained=False, num_classes=cfg.num_classes)
    if cfg.pretrained == "hub":
        try:
            return timm.create_model(cfg.name, pretrained=True, num_classes=cfg.num_classes)
        except OSError as e:  # hub / URL unreachable and nothing cached
            source = timm.models.get_pretrained_cfg(cfg.name)
            hub_id = getattr(source, "hf_hub_id", None)
            how = f"`hf download {hub_id}`" if hub_id else f"download {getattr(source, 'url', None) or 'them'}"
            raise FileNotFoundError(
                f"model.pretrained='hub': cannot fetch the pretrained weights of timm model {cfg.name!r}"
                f"{f' ({hub_id} on the Hugging Face hub)' if hub_id else ''} ({_one_line(e)}). Get them while "
                f"online ({how}) or set model.pretrained to a local weights file; model.pretrained=none trains "
                "from random weights (toy runs only).") from e
    path = Path(cfg.pretrained)
    if not path.is_file():
        raise FileNotFoundError(f"model.pretrained: weights file {path} does not exist")
    # the file wins over URL/hub; timm reads it with weights_only=True (or safetensors) and
    # drops the classifier when num_classes differs
    return timm.create_model(cfg.name, pretrained=True, num_classes=cfg.num_classes,
                             pretrained_cfg_overlay=dict(file=str(path)))


def packaged_weights(cfg: ClassificationModelConfig) -> Path | None:
    """The weights file inside the package that ``model.pretrained='hub'`` loads for the
    lava_vision library's networks (nothing is downloaded); None for any other model or source."""
    from .cifar_resnet import ASSETS
    from .quicknet import ASSET

    if cfg.library != "lava_vision" or cfg.pretrained != "hub":
        return None
    return {**ASSETS, "quicknet": ASSET}.get(cfg.name)


def pretrained_class_names(cfg: ClassificationModelConfig) -> list[str] | None:
    """The classes the head of the packaged weights (``packaged_weights``) predicts: CIFAR-10's for
    the CIFAR ResNets, the procedural shapes for QuickNet, when ``cfg`` keeps that head
    (``num_classes`` equal); None otherwise."""
    if packaged_weights(cfg) is None:
        return None
    from ...data.procedural import SHAPE_CLASSES
    from .cifar_resnet import CIFAR10_CLASSES

    names = SHAPE_CLASSES if cfg.name == "quicknet" else CIFAR10_CLASSES
    return list(names) if len(names) == cfg.num_classes else None


def _lava_vision(cfg: ClassificationModelConfig) -> nn.Module:
    from .cifar_resnet import ASSETS, DEPTHS, build_cifar_resnet, load_cifar_resnet
    from .quicknet import QuickNet, load_quicknet

    if cfg.name in DEPTHS:
        if cfg.pretrained == "none":
            return build_cifar_resnet(cfg.name, cfg.num_classes)
        if cfg.pretrained == "hub" and cfg.name not in ASSETS:
            raise FileNotFoundError(f"model.pretrained='hub': the package ships weights only for {sorted(ASSETS)}; "
                                    f"set model.pretrained to a {cfg.name} checkpoint file (.th or .safetensors)")
        model = load_cifar_resnet(cfg.name, packaged_weights(cfg) or cfg.pretrained)
    elif cfg.name == "quicknet":
        if cfg.pretrained == "none":
            return QuickNet(num_classes=cfg.num_classes)
        model = load_quicknet(packaged_weights(cfg) or cfg.pretrained)
    else:
        raise ValueError(f"model.name={cfg.name!r}: library lava_vision has 'quicknet' and {sorted(DEPTHS)}")
    if model.get_submodule(head_name(model)).out_features != cfg.num_classes:
        replace_head(model, cfg.num_classes)
    return model


def build_classifier(cfg: ClassificationModelConfig) -> nn.Module:
    """The network ``cfg`` names, with its weights and a ``cfg.num_classes``-way head."""
    builders = {"timm": _timm, "torchvision": _torchvision, "lava_vision": _lava_vision}
    if cfg.library not in builders:
        raise ValueError(f"model.library={cfg.library!r}: expected one of {LIBRARIES}")
    if not cfg.pretrained:
        raise ValueError("model.pretrained is empty: use 'hub', a weights file path, or 'none' "
                         "(random init, for toy runs only)")
    return builders[cfg.library](cfg)
