"""PEFT export: a LAVA model's LoRA-form linears load into PEFT and compute the same outputs."""
import copy

import peft
import torch
from torch import nn

from lava_vision.adapters import AdapterConfig, export_peft_lora, inject



class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.blocks = nn.ModuleList([nn.Linear(4, 6), nn.Linear(6, 4)])
        self.fc = nn.Linear(4, 2)  # a suffix of no target: must stay untouched by PEFT

    def forward(self, x):
        h = self.conv(x).mean((2, 3))
        for b in self.blocks:
            h = torch.tanh(b(h))
        return self.fc(h)


def test_peft_loads_the_export_and_matches(tmp_path):
    torch.manual_seed(0)
    base = Net().eval()
    model = copy.deepcopy(base)
    cfg = AdapterConfig(rank=2, alpha=3.0, targets=["conv", "blocks.*"], overrides={"blocks.1": {"rank": 1, "alpha": 5.0}})
    inject(model, cfg)
    for n, p in model.named_parameters():
        if p.requires_grad and not n.startswith("conv"):
            p.data.normal_()
    skipped = export_peft_lora(model, tmp_path / "peft")
    assert skipped == ["conv (CPConv)"]
    peft_model = peft.PeftModel.from_pretrained(copy.deepcopy(base), tmp_path / "peft").eval()
    assert {n for n, _ in peft_model.named_modules() if n.endswith("lora_A")} == {
        "base_model.model.blocks.0.lora_A", "base_model.model.blocks.1.lora_A"}
    model.conv.disabled = True  # the CP conv update is not exported; compare the linear part only
    x = torch.randn(3, 3, 8, 8)
    with torch.no_grad():
        assert torch.allclose(peft_model(x), model(x), atol=1e-6)
