"""An adapted model keeps its frozen norm layers in eval mode by itself: plain ``model.train()``
(the Python API) never lets the base's running statistics drift, while norms that train
(``modules_to_save``, ``method="full"``) update them by PyTorch's documented rule."""
import torch
from torch import nn

from lava_vision.adapters import AdapterConfig, inject, load_adapter, save_adapter, train_mode, unload


class Net(nn.Module):
    """conv-BN body (frozen), head with a non-affine BN (no parameters: only modules_to_save makes it train)."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 6, 3, padding=1)
        self.bn = nn.BatchNorm2d(6)
        self.head = nn.Sequential(nn.Linear(6, 4), nn.BatchNorm1d(4, affine=False))

    def forward(self, x):
        return self.head(self.bn(self.conv(x)).relu().mean(dim=(2, 3)))


class ESPNetLike(Net):
    """ESPNet keeps its encoder's children in a plain list named ``modules``, hiding nn.Module.modules()."""

    def __init__(self):
        super().__init__()
        self.modules = [self.conv, self.bn]


def base(cls=Net) -> nn.Module:
    torch.manual_seed(0)
    m = cls()
    with torch.no_grad():  # non-trivial base statistics
        m.bn.running_mean.uniform_(-1, 1)
        m.bn.running_var.uniform_(0.5, 2.0)
    return m


def stats(bn: nn.Module) -> list[torch.Tensor]:
    return [bn.running_mean.clone(), bn.running_var.clone(), bn.num_batches_tracked.clone()]


CFG = AdapterConfig(method="lava", rank=2, alpha=2.0, lam=0.1, targets=["conv"], modules_to_save=["head"])


def test_model_train_keeps_frozen_bn_statistics_and_saved_bn_trains():
    m = base()
    inject(m, CFG)
    before = stats(m.bn)
    saved_bn = m.head[1]
    m.train()  # plain nn.Module.train, not train_mode
    torch.manual_seed(1)
    for _ in range(3):
        x = torch.randn(5, 3, 8, 8)
        with torch.no_grad():
            feat = m.head[0](m.bn(m.conv(x)).relu().mean(dim=(2, 3))).double()
        old_mean, old_var = saved_bn.running_mean.double().clone(), saved_bn.running_var.double().clone()
        m(x).sum().backward()
        # the frozen BN: statistics untouched, bit for bit
        for a, b in zip(before, stats(m.bn)):
            assert torch.equal(a, b)
        # the saved BN: PyTorch's documented update, momentum 0.1, unbiased batch variance
        mom = saved_bn.momentum
        assert torch.allclose(saved_bn.running_mean.double(), (1 - mom) * old_mean + mom * feat.mean(0), atol=1e-6)
        assert torch.allclose(saved_bn.running_var.double(), (1 - mom) * old_var + mom * feat.var(0, unbiased=True),
                              atol=1e-6)
    assert not m.bn.training and saved_bn.training and m.training


def test_reloaded_adapter_gives_the_trained_outputs_after_model_train():
    """The issue's symptom: outputs of a model trained with model.train() differed after reloading."""
    m = base()
    inject(m, CFG)
    m.train()
    opt = torch.optim.SGD([p for p in m.parameters() if p.requires_grad], lr=0.1)
    torch.manual_seed(2)
    for _ in range(3):
        opt.zero_grad()
        m(torch.randn(5, 3, 8, 8)).square().mean().backward()
        opt.step()
    m.eval()
    x = torch.randn(4, 3, 8, 8)
    with torch.no_grad():
        y = m(x)
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        save_adapter(m, d)
        fresh = load_adapter(base(), d).eval()
    with torch.no_grad():
        assert torch.allclose(fresh(x), y, atol=1e-6)


def test_full_method_and_unload_let_bn_train():
    m = base()
    inject(m, AdapterConfig(method="full"))
    m.train()
    before = m.bn.running_mean.clone()
    m(torch.randn(5, 3, 8, 8))
    assert not torch.equal(before, m.bn.running_mean)

    m = base().train()
    inject(m, CFG)
    assert not m.bn.training
    unload(m)  # a plain model again: its norms follow the model's mode
    assert m.bn.training
    m.train()
    before = m.bn.running_mean.clone()
    m(torch.randn(5, 3, 8, 8))
    assert m.bn.training and not torch.equal(before, m.bn.running_mean)


def test_train_mode_on_a_model_with_an_attribute_named_modules():
    m = base(ESPNetLike)
    inject(m, CFG)
    before = stats(m.bn)
    assert train_mode(m) is m
    assert m.training and not m.bn.training and m.head[1].training  # flags right before any forward
    m(torch.randn(5, 3, 8, 8))
    for a, b in zip(before, stats(m.bn)):
        assert torch.equal(a, b)
    train_mode(m, False)
    assert not m.training and not m.head[1].training
