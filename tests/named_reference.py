"""Independent float64 references for named-adapter tests: each layer's dW rebuilt densely from its
factors (einsum / matmul, not the adapter's own ``delta_weight``), and a plain copy of the base
whose adapted weights are replaced by ``W + sum_i w_i dW_i``."""
import copy

import torch
from torch import nn

from lava_vision.adapters import CPConv, FlatLoRAConv, LoRALinear, adapter_layers

LETTERS = "hwd"


def dense_delta(layer) -> torch.Tensor:
    """dW of one adapter layer in the base weight's layout, from the factors alone."""
    w = layer.base_layer.weight
    if isinstance(layer, CPConv):
        ks = [getattr(layer, f"K{i + 1}") for i in range(w.dim() - 2)]
        sp = LETTERS[:len(ks)]
        first, second = (layer.V, layer.U) if layer.transposed else (layer.U, layer.V)
        spec = f"ar,br,{','.join(c + 'r' for c in sp)}->ab{sp}"
        return layer.scale * torch.einsum(spec, first, second, *ks)
    if isinstance(layer, FlatLoRAConv):
        return layer.scale * (layer.B @ layer.A).reshape(w.shape)
    assert isinstance(layer, LoRALinear)
    out = torch.zeros_like(w)
    r, c = layer.rank, layer.chunk
    for j, chunk in enumerate(layer.selected):
        out[chunk * c:(chunk + 1) * c] = layer.scale * layer.B[j * c:(j + 1) * c] @ layer.A[j * r:(j + 1) * r]
    return out


def reference_model(base: nn.Module, model: nn.Module, mix: dict[str, float]) -> nn.Module:
    """A copy of the plain ``base`` with ``W + sum_i w_i dW_i`` at every layer the mix adapts."""
    ref = copy.deepcopy(base)
    with torch.no_grad():
        for name, layer in adapter_layers(model, list(mix)):
            ref.get_submodule(name).weight.add_(mix[layer.adapter_name] * dense_delta(layer))
    return ref


def randomise(model: nn.Module, names: list[str], seed: int = 0, std: float = 0.3) -> None:
    """Trained-like (non-zero) factors for the adapters ``names``."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for _, layer in adapter_layers(model, names):
            for n in layer.factor_names:
                p = getattr(layer, n)
                p.copy_(std * torch.randn(p.shape, generator=g, dtype=torch.float64))


def factor_snapshot(model: nn.Module, names: list[str]) -> dict:
    return {(n, layer.adapter_name, p): getattr(layer, p).detach().clone()
            for n, layer in adapter_layers(model, names) for p in layer.factor_names}
