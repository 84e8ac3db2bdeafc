"""SDXL exports checked by the real loaders, on the tiny SDXL pipeline (float32, CPU):

* diffusers ``StableDiffusionXLPipeline.load_lora_weights`` reads the kohya file in both namings,
  adapts exactly the adapted layers (UNet CP convs + attention / MLP linears, both text encoders)
  and reproduces the adapted UNet and text encoders; in float64 to 1e-10;
* ``fuse_lora`` gives the merged export's weights;
* LyCORIS' own kohya loader (``create_network_from_weights`` + ``merge_to``) gives the same merged
  weights, for the LoCon pairs and for the Tucker (``lora_mid``) option;
* the text-encoder keys are the names ComfyUI's key map builds for SDXL's clip_l / clip_g, on
  transformers 5's flat ``CLIPTextModel`` and on transformers 4's nested one (simulated);
* ``strict=True`` refuses a model with a left-out layer before writing anything."""
import copy
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from torch import nn

from lava_vision.adapters import AdapterConfig, adapter_layers, inject
from lava_vision.export import export_kohya, export_merged, kohya_state_dict

sys.path.insert(0, str(Path(__file__).parent))
from tiny_models import unet_inputs  # noqa: E402

torch.set_num_threads(1)

TARGETS = ["unet.*.proj_in", "unet.*.ff.net.2", "text_encoder.*.layers.0.self_attn.*_proj",
           "text_encoder_2.*.layers.1.mlp.fc1"]


class Parts(nn.Module):
    """The adapted networks under SDXLDiffusion's attribute names."""

    def __init__(self, pipe):
        super().__init__()
        self.unet = copy.deepcopy(pipe.unet)
        self.text_encoder = copy.deepcopy(pipe.text_encoder)
        self.text_encoder_2 = copy.deepcopy(pipe.text_encoder_2)


@pytest.fixture(scope="module")
def base_pipe():
    from lava_vision.tasks.text2image.tiny import tiny_sdxl_pipeline

    return tiny_sdxl_pipeline()


class NestedCLIP(nn.Module):
    """transformers 4's ``CLIPTextModel`` layout: the CLIP transformer under ``text_model``."""

    def __init__(self, transformer: nn.Module):
        super().__init__()
        self.text_model = transformer


def with_tree(parts: Parts, tree: str) -> Parts:
    """Give ``parts.text_encoder`` transformers 4's nested layout (``text_model.encoder...``) or
    transformers 5's flat one (``encoder...``), whichever transformers is installed."""
    te = parts.text_encoder
    transformer = te.text_model if isinstance(getattr(te, "text_model", None), nn.Module) else te
    parts.text_encoder = NestedCLIP(transformer) if tree == "transformers4" else transformer
    return parts


def adapt(pipe, dtype=torch.float32, targets=TARGETS, tree: str | None = None, preset: str | None = "sdxl_unet",
          **options) -> Parts:
    parts = Parts(pipe).to(dtype)
    if tree is not None:
        with_tree(parts, tree)
    inject(parts, AdapterConfig(method="lava", rank=2, alpha=4.0, lam=0.0, preset=preset, targets=targets,
                                **options))
    g = torch.Generator().manual_seed(0)
    for _, layer in adapter_layers(parts):  # a trained-like update: about 10% of the output
        for n in layer.factor_names:
            p = getattr(layer, n)
            p.data = 0.1 * torch.randn(p.shape, generator=g, dtype=dtype)
    return parts.eval()


@pytest.fixture(scope="module")
def parts(base_pipe):
    return adapt(base_pipe)


@pytest.fixture(scope="module")
def files(parts, tmp_path_factory) -> Path:
    """The kohya file in both namings and as Tucker, and the merged export, written once."""
    root = tmp_path_factory.mktemp("sdxl_export")
    for naming in ("sgm", "diffusers"):
        report = export_kohya(parts, root / naming, naming=naming)
        assert report.not_exported == {} and len(report.exported) == len(list(adapter_layers(parts)))
    export_kohya(parts, root / "tucker", naming="diffusers", tucker=True)
    export_kohya(parts, root / "lycoris", naming="diffusers", clip_paths="installed")
    report = export_merged(parts, root / "merged")
    assert {"unet/config.json", "unet/diffusion_pytorch_model.safetensors"} <= set(report.files)
    return root


def outputs(unet, te1, te2, dtype=torch.float32) -> list[torch.Tensor]:
    ids = torch.arange(3, 13).unsqueeze(0)
    inp = unet_inputs(dtype=dtype)
    with torch.no_grad():
        return [unet(**inp).sample, te1(ids).last_hidden_state, te2(ids).text_embeds]


@pytest.fixture(scope="module")
def expected(base_pipe, parts) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """(adapted outputs, base outputs) of the UNet and both text encoders."""
    return (outputs(parts.unet, parts.text_encoder, parts.text_encoder_2),
            outputs(base_pipe.unet, base_pipe.text_encoder, base_pipe.text_encoder_2))


def lora_modules(module: nn.Module) -> set[str]:
    from peft.tuners.lora import LoraLayer

    return {n for n, m in module.named_modules() if isinstance(m, LoraLayer)}


def rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a - b).abs().max() / b.abs().max()).item()


@pytest.mark.parametrize("naming", ["sgm", "diffusers"])
def test_diffusers_loads_the_kohya_file_and_reproduces_the_adapter(base_pipe, parts, files, expected, naming):
    keys = load_file(str(files / naming / "lora.safetensors"))
    assert not any("lora_mid" in k for k in keys)
    # the conventional text-encoder names, text_model included, whatever transformers is installed
    assert "lora_te1_text_model_encoder_layers_0_self_attn_q_proj.lora_down.weight" in keys
    assert "lora_te2_text_model_encoder_layers_1_mlp_fc1.lora_down.weight" in keys
    if naming == "sgm":
        assert "lora_unet_input_blocks_4_1_transformer_blocks_0_attn1_to_q.lora_down.weight" in keys
        assert "lora_unet_input_blocks_3_0_op.lora_down.weight" in keys  # the downsampler conv
        assert "lora_unet_middle_block_2_out_layers_3.lora_down.weight" in keys
    pipe = copy.deepcopy(base_pipe)
    pipe.load_lora_weights(str(files / naming / "lora.safetensors"))
    adapted = {n for n, _ in adapter_layers(parts)}
    for sub in ("unet", "text_encoder", "text_encoder_2"):  # every key loaded, nothing else adapted
        assert lora_modules(getattr(pipe, sub)) == {n[len(sub) + 1:] for n in adapted if n.split(".")[0] == sub}
    got = outputs(pipe.unet, pipe.text_encoder, pipe.text_encoder_2)
    for g, w, b in zip(got, *expected):
        assert rel(w, b) > 1e-2  # the adapter changes each output
        assert rel(g, w) < 1e-5


def test_float64_round_trip_is_exact(base_pipe, tmp_path):
    parts = adapt(base_pipe, torch.float64)
    export_kohya(parts, tmp_path)
    pipe = copy.deepcopy(base_pipe).to(torch.float64)
    pipe.load_lora_weights(str(tmp_path / "lora.safetensors"))
    for g, w in zip(outputs(pipe.unet, pipe.text_encoder, pipe.text_encoder_2, torch.float64),
                    outputs(parts.unet, parts.text_encoder, parts.text_encoder_2, torch.float64)):
        assert rel(g, w) < 1e-10


def merged(files: Path, sub: str) -> dict[str, torch.Tensor]:
    name = "diffusion_pytorch_model.safetensors" if sub == "unet" else "model.safetensors"
    return load_file(str(files / "merged" / sub / name))


def test_fuse_lora_equals_the_merged_export(base_pipe, parts, files, expected):
    from diffusers import UNet2DConditionModel

    ours = merged(files, "unet")
    pipe = copy.deepcopy(base_pipe)
    pipe.load_lora_weights(str(files / "sgm" / "lora.safetensors"))
    pipe.fuse_lora()
    pipe.unload_lora_weights()
    fused, base = pipe.unet.state_dict(), base_pipe.unet.state_dict()
    assert set(fused) == set(ours)
    changed = 0
    for k, v in fused.items():
        assert torch.allclose(ours[k], v, rtol=0, atol=2e-6), k
        changed += not torch.equal(v, base[k])
    assert changed == len([n for n, _ in adapter_layers(parts.unet)])
    plain = UNet2DConditionModel.from_pretrained(files / "merged" / "unet")  # the diffusers folder itself
    assert rel(outputs(plain, parts.text_encoder, parts.text_encoder_2)[0], expected[0][0]) < 1e-5


@pytest.mark.parametrize("tucker", [False, True])
def test_lycoris_loader_merges_to_our_weights(base_pipe, parts, files, tucker, monkeypatch):
    """LyCORIS' weight-file loader (``create_lycoris_from_weights``, prefix set to kohya's) on the
    diffusers UNet and text encoders. Its SDXL wrapper ``lycoris.kohya.create_network_from_weights``
    cannot be used: it fails on a diffusers SDXL UNet before reading the file ("duplicated lora
    name: lora_unet_time_embedding_linear_1")."""
    from lycoris.wrapper import LycorisNetwork, create_lycoris_from_weights

    file = files / ("tucker" if tucker else "diffusers") / "lora.safetensors"
    assert any("lora_mid" in k for k in load_file(str(file))) == tucker
    loaded = 0
    for sub, prefix in (("unet", "lora_unet"), ("text_encoder", "lora_te1"), ("text_encoder_2", "lora_te2")):
        module = copy.deepcopy(getattr(base_pipe, sub))
        flat = sub == "text_encoder" and not hasattr(module, "text_model")
        if flat:  # LyCORIS names keys from the module tree: show it the conventional (transformers 4) one
            module = NestedCLIP(module)
        monkeypatch.setattr(LycorisNetwork, "LORA_PREFIX", prefix)
        network, _ = create_lycoris_from_weights(1.0, str(file), module)
        loaded += len(network.loras)
        network.merge_to(1.0)
        ours = merged(files, sub)
        for k, v in module.state_dict().items():
            k = k.removeprefix("text_model.") if flat else k
            assert torch.allclose(ours[k], v, rtol=0, atol=2e-6), (sub, k)
    assert loaded == len(list(adapter_layers(parts)))


def test_lycoris_matches_every_key_of_the_installed_clip_paths_file(base_pipe, parts, files, monkeypatch):
    """LyCORIS names a module ``<prefix>_<its path in the module given>`` (lycoris/wrapper.py,
    ``create_lycoris_from_weights``). On transformers 5 ``CLIPTextModel`` has no ``text_model`` level,
    so on the real text encoder it matches none of the conventional te1 keys and drops them without a
    word; ``clip_paths="installed"`` writes the names it matches: every key loads (counted against
    our adapted layers), and it merges to our merged export's weights."""
    import transformers
    from lycoris.wrapper import LycorisNetwork, create_lycoris_from_weights

    adapted = {sub: len([n for n, _ in adapter_layers(parts) if n.split(".")[0] == sub])
               for sub in ("unet", "text_encoder", "text_encoder_2")}
    assert min(adapted.values()) > 0
    loaded = {}
    for variant in ("diffusers", "lycoris"):
        for sub, prefix in (("unet", "lora_unet"), ("text_encoder", "lora_te1"), ("text_encoder_2", "lora_te2")):
            module = copy.deepcopy(getattr(base_pipe, sub))  # the installed transformers' own tree
            monkeypatch.setattr(LycorisNetwork, "LORA_PREFIX", prefix)
            network, _ = create_lycoris_from_weights(1.0, str(files / variant / "lora.safetensors"), module)
            loaded[variant, sub] = len(network.loras)
            if variant == "lycoris":
                network.merge_to(1.0)
                ours = merged(files, sub)
                for k, v in module.state_dict().items():
                    assert torch.allclose(ours[k], v, rtol=0, atol=2e-6), (sub, k)
    assert {sub: loaded["lycoris", sub] for sub in adapted} == adapted
    flat = not isinstance(getattr(base_pipe.text_encoder, "text_model", None), nn.Module)
    assert flat == (int(transformers.__version__.split(".")[0]) >= 5)
    # the default (ComfyUI / diffusers) file: LyCORIS drops every te1 key on transformers 5 only
    assert loaded["diffusers", "text_encoder"] == (0 if flat else adapted["text_encoder"])
    assert loaded["diffusers", "unet"] == adapted["unet"] and loaded["diffusers", "text_encoder_2"] == adapted[
        "text_encoder_2"]


# Every linear of both text encoders, and the OpenCLIP projection.
TEXT_ALL = ["text_encoder.*.self_attn.*_proj", "text_encoder.*.mlp.fc*", "text_encoder_2.*.self_attn.*_proj",
            "text_encoder_2.*.mlp.fc*", "text_encoder_2.text_projection"]


def comfyui_sdxl_clip_keys(layers_l: int, layers_g: int) -> set[str]:
    """The kohya key stems ComfyUI's ``model_lora_keys_clip`` (comfy/lora.py) maps onto an SDXL
    checkpoint, where clip_l and clip_g are both present: per encoder layer b the six linears
    ``mlp_fc1``, ``mlp_fc2``, ``self_attn_{q,k,v,out}_proj`` under ``lora_te1_text_model_encoder_layers_{b}_``
    (clip_l) and ``lora_te2_text_model_encoder_layers_{b}_`` (clip_g), and clip_g's projection as
    ``lora_te2_text_projection``. Any other key is "lora key not loaded"."""
    linears = ["mlp_fc1", "mlp_fc2"] + [f"self_attn_{p}_proj" for p in ("q", "k", "v", "out")]
    keys = {"lora_te2_text_projection"}
    for te, layers in (("lora_te1", layers_l), ("lora_te2", layers_g)):
        keys |= {f"{te}_text_model_encoder_layers_{b}_{c}" for b in range(layers) for c in linears}
    return keys


def test_text_encoder_keys_are_comfyuis_on_transformers_4_and_5_trees(base_pipe):
    files = {}
    for tree in ("transformers5", "transformers4"):
        parts = adapt(base_pipe, targets=TEXT_ALL, tree=tree, preset=None)
        assert hasattr(parts.text_encoder, "text_model") == (tree == "transformers4")
        tensors, report = kohya_state_dict(parts)
        assert report.not_exported == {}
        stems = {k.split(".")[0] for k in tensors}
        want = comfyui_sdxl_clip_keys(base_pipe.text_encoder.config.num_hidden_layers,
                                      base_pipe.text_encoder_2.config.num_hidden_layers)
        assert stems == want  # every adapted layer under the name ComfyUI loads, nothing else
        assert len(stems) == len(list(adapter_layers(parts)))
        files[tree] = tensors
    # the same adapter (same seeded factors) gives the same file on either tree, so diffusers'
    # exact loading of the transformers-5 file (tests above) holds for the transformers-4 one
    assert files["transformers5"].keys() == files["transformers4"].keys()
    assert all(torch.equal(v, files["transformers4"][k]) for k, v in files["transformers5"].items())


def test_strict_kohya_export_refuses_before_writing(base_pipe, tmp_path):
    parts = adapt(base_pipe, modules_to_save=["text_encoder_2.text_projection"])
    existing = tmp_path / "existing"
    existing.mkdir()
    (existing / "keep.txt").write_text("mine")
    for target in (tmp_path / "new", existing):
        with pytest.raises(ValueError, match=r"strict kohya export: 1 layer\(s\).*nothing written: "
                                             r"text_encoder_2\.text_projection \(modules_to_save"):
            export_kohya(parts, target, strict=True)
    assert not (tmp_path / "new").exists()
    assert [p.name for p in existing.iterdir()] == ["keep.txt"] and (existing / "keep.txt").read_text() == "mine"
    report = export_kohya(parts, tmp_path / "lenient")  # strict=False: written, the left-out layer reported
    assert set(report.not_exported) == {"text_encoder_2.text_projection"}
    assert len(load_file(str(tmp_path / "lenient" / "lora.safetensors"))) == 3 * len(report.exported)
