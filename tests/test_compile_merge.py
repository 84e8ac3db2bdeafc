"""torch.compile sees LAVA models without graph breaks and computes what eager does; merge puts
the base layers back on the hot path (no adapter wrappers) and unmerge restores the adapters."""
import copy

import pytest
import torch
from torch import nn

import tiny_models as tm
from lava_vision.adapters import AdapterConfig, AdapterLayer, adapter_layers, inject, merge, orthogonal_penalty, unmerge

DT = torch.float64


def lava_model(name: str) -> tuple[nn.Module, torch.Tensor]:
    if name == "resnet":
        m, preset = tm.timm_model("resnet10t", num_classes=3), "cnn"
    else:
        m, preset = tm.timm_model("vit_tiny_patch16_224", num_classes=3, img_size=32, depth=2), "timm_vit"
    m = m.double().eval()
    inject(m, AdapterConfig(rank=2, alpha=2.0, lam=0.1, preset=preset))
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():  # nonzero updates on every path
        for _, layer in adapter_layers(m):
            for n in layer.factor_names:
                p = getattr(layer, n)
                p.copy_(torch.randn(p.shape, generator=g, dtype=DT) * 0.3)
    return m, torch.randn(2, 3, 32, 32, generator=g, dtype=DT)


@pytest.mark.parametrize("name", ["resnet", "vit"])
def test_compile_has_no_graph_breaks_and_matches_eager(name):
    """Breaks are counted by dynamo.explain (tracing only). The numeric check compiles with
    ``aot_eager`` (dynamo + AOTAutograd, forward and backward graphs), not inductor: inductor's
    C++ codegen takes minutes on a 2-core CI machine and is not what graph breaks depend on."""
    m, x = lava_model(name)
    torch._dynamo.reset()
    explained = torch._dynamo.explain(m)(x)
    assert explained.graph_break_count == 0, explained.break_reasons
    assert explained.graph_count == 1
    explained = torch._dynamo.explain(lambda: orthogonal_penalty(m))()
    assert explained.graph_break_count == 0, explained.break_reasons

    def loss(model, inp):
        return model(inp).square().mean() + orthogonal_penalty(model)
    params = [p for p in m.parameters() if p.requires_grad]
    ref = loss(m, x)
    ref_grads = torch.autograd.grad(ref, params)
    torch._dynamo.reset()
    compiled = torch.compile(loss, backend="aot_eager", fullgraph=True)
    out = compiled(m, x)
    grads = torch.autograd.grad(out, params)
    assert torch.allclose(out, ref, rtol=1e-10, atol=1e-12)
    for g, r in zip(grads, ref_grads):
        assert torch.allclose(g, r, rtol=1e-9, atol=1e-12)
    torch._dynamo.reset()


def test_merge_swaps_base_layers_in_and_unmerge_restores_adapters():
    m, x = lava_model("resnet")
    base = tm.timm_model("resnet10t", num_classes=3).double().eval()
    adapters = dict(adapter_layers(m))
    # float64 dense reference: base weight + the update written out per layer by einsum
    dense = copy.deepcopy(base)
    with torch.no_grad():
        for name, a in adapters.items():
            dw = torch.einsum("or,ir,hr,wr->oihw", a.U, a.V, a.K1, a.K2) * a.scale
            dense.get_submodule(name).weight.add_(dw)
        y_dense = dense(x)
        y_adapted = m(x)
    assert torch.allclose(y_adapted, y_dense, rtol=1e-9, atol=1e-10)

    merge(m)
    assert not any(isinstance(mod, AdapterLayer) for mod in m.modules())
    for name, a in adapters.items():
        assert m.get_submodule(name) is a.base_layer
    called = []
    hook = torch.nn.modules.module.register_module_forward_pre_hook(lambda mod, args: called.append(type(mod)))
    try:
        with torch.no_grad():
            y_merged = m(x)
    finally:
        hook.remove()
    assert called and not any(issubclass(t, AdapterLayer) for t in called)
    assert torch.allclose(y_merged, y_dense, rtol=1e-9, atol=1e-10)
    assert dict(adapter_layers(m)) == adapters  # save_adapter etc. still find the merged adapters

    unmerge(m)
    for name, a in adapters.items():
        assert m.get_submodule(name) is a
        assert torch.allclose(a.base_layer.weight, base.get_submodule(name).weight, rtol=0, atol=1e-12)
    with torch.no_grad():
        assert torch.allclose(m(x), y_adapted, rtol=1e-9, atol=1e-10)
