"""Update spectra on planted updates: factors set by hand, checked against independent numpy SVDs
of the known matrices (built here with numpy from the stored factors, not with the library)."""
import math

import numpy as np
import pytest
import torch
from torch import nn

from lava_vision.adapters import AdapterConfig, inject
from lava_vision.analysis.plots import plot_block_spectra, plot_summary
from lava_vision.analysis.report import write_spectra_csv
from lava_vision.analysis.spectra import block_of, energy_rank, model_spectra, numerical_rank

EPS = np.finfo(np.float64).eps


class Tiny(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(4, 5, 3)  # weight 5 x 4 x 3 x 3
        self.up = nn.ConvTranspose2d(5, 6, 2)  # weight 5 x 6 x 2 x 2 (in x out x k x k)
        self.blocks = nn.ModuleList([nn.Sequential(nn.Linear(6, 7))])


def planted(method: str, rank: int = 2, alpha: float = 3.0):
    torch.manual_seed(0)
    model = Tiny()
    cfg = AdapterConfig(method=method, rank=rank, alpha=alpha, lam=0.1 if method == "lava" else 0.0,
                        targets=["conv", "up", "blocks.0.0"])
    inject(model, cfg)
    return model, alpha / rank


def set_(param: torch.Tensor, value: np.ndarray) -> np.ndarray:
    """Store ``value`` in the parameter and return what it holds, in float64 (float32 rounding included)."""
    with torch.no_grad():
        param.copy_(torch.from_numpy(value))
    return param.detach().double().numpy()


def views_of(spectra, layer):
    return {s.view: s for s in spectra if s.layer == layer}


def np_svals(m: np.ndarray) -> np.ndarray:
    return np.linalg.svd(m, compute_uv=False)


def test_cp_conv_rank2_every_unfolding_has_rank_2():
    model, s = planted("lava")
    rng = np.random.default_rng(1)
    layer = model.conv
    u, v = set_(layer.U, rng.normal(size=(5, 2))), set_(layer.V, rng.normal(size=(4, 2)))
    k1, k2 = set_(layer.K1, rng.normal(size=(3, 2))), set_(layer.K2, rng.normal(size=(3, 2)))
    dw = s * sum(np.multiply.outer(np.multiply.outer(np.multiply.outer(u[:, r], v[:, r]), k1[:, r]), k2[:, r])
                 for r in range(2))  # 5 x 4 x 3 x 3
    got = views_of(model_spectra(model), "conv")
    want = {"flat": dw.reshape(5, 36), "mode0:out": dw.reshape(5, 36),
            "mode1:in": dw.transpose(1, 0, 2, 3).reshape(4, 45),
            "mode2:k1": dw.transpose(2, 0, 1, 3).reshape(3, 60), "mode3:k2": dw.transpose(3, 0, 1, 2).reshape(3, 60)}
    assert set(got) == set(want)
    for view, m in want.items():
        sv = np_svals(m)
        np.testing.assert_allclose(got[view].singular_values, sv, rtol=0, atol=1e-12 * sv[0])
        assert np.linalg.matrix_rank(m) == 2 and got[view].rank_tol == 2, view
        assert got[view].tol == pytest.approx(sv[0] * max(m.shape) * EPS)
        assert got[view].cond == pytest.approx(sv[0] / sv[1], rel=1e-10)
    w = model.conv.base_layer.weight.detach().double().numpy()
    assert got["flat"].rel_update == pytest.approx(np.linalg.norm(dw) / np.linalg.norm(w), rel=1e-10)
    # U is the regularised factor: ||U^T U - I||_F of the planted U
    assert got["flat"].orth_error == pytest.approx(np.linalg.norm(u.T @ u - np.eye(2)), rel=1e-10)
    assert got["flat"].orth_factors == "U"


def test_lora_linear_with_known_singular_values():
    model, s = planted("lava", rank=4, alpha=8.0)
    layer = model.blocks[0][0]
    rng = np.random.default_rng(2)
    q_out, _ = np.linalg.qr(rng.normal(size=(7, 4)))
    q_in, _ = np.linalg.qr(rng.normal(size=(6, 4)))
    a = set_(layer.A, q_in.T)  # orthonormal rows: the regularised A^T has orthonormal columns
    b = set_(layer.B, q_out * np.array([3.0, 1.0, 0.0, 0.0]))  # a rank-2 update, sigma = s * (3, 1)
    (spec,) = views_of(model_spectra(model), "blocks.0.0").values()
    assert spec.view == "matrix" and spec.shape == (7, 6) and spec.block == "blocks.0"
    np.testing.assert_allclose(spec.singular_values, np_svals(s * b @ a), rtol=0, atol=1e-12)
    np.testing.assert_allclose(spec.singular_values[:2], [3 * s, s], rtol=1e-6, atol=0)  # float32-stored factors
    assert spec.rank_tol == 2 and spec.cond == pytest.approx(3.0, rel=1e-6)
    assert spec.rank_energy == 2  # 9 / 10 of the energy in the first value < 0.99
    assert spec.orth_error == pytest.approx(np.linalg.norm(a @ a.T - np.eye(4)), abs=1e-6) and spec.orth_error < 1e-6
    (spec85,) = views_of(model_spectra(model, energy=0.85), "blocks.0.0").values()
    assert spec85.rank_energy == 1


def test_transposed_conv_views_name_the_channel_modes():
    model, s = planted("lava")
    layer = model.up  # U over the output mode (axis 1 of the 5 x 6 x 2 x 2 weight)
    rng = np.random.default_rng(3)
    u, v = set_(layer.U, rng.normal(size=(6, 2))), set_(layer.V, rng.normal(size=(5, 2)))
    k1, k2 = set_(layer.K1, rng.normal(size=(2, 2))), set_(layer.K2, rng.normal(size=(2, 2)))
    dw = s * np.einsum("ir,or,ar,br->ioab", v, u, k1, k2)
    got = views_of(model_spectra(model), "up")
    assert set(got) == {"flat", "mode0:in", "mode1:out", "mode2:k1", "mode3:k2"}
    np.testing.assert_allclose(got["mode1:out"].singular_values, np_svals(dw.transpose(1, 0, 2, 3).reshape(6, 20)),
                               rtol=0, atol=1e-12 * np.abs(dw).max())
    assert got["mode1:out"].rank_tol == 2 and got["flat"].shape == (5, 24)


def test_flat_lora_conv_is_low_rank_only_in_its_flat_view():
    model, s = planted("lora")
    layer = model.conv  # FlatLoRAConv: dW = s * B A reshaped, B 5 x 2, A 2 x 36
    rng = np.random.default_rng(4)
    b, a = set_(layer.B, rng.normal(size=(5, 2))), set_(layer.A, rng.normal(size=(2, 36)))
    dw = (s * b @ a).reshape(5, 4, 3, 3)
    got = views_of(model_spectra(model), "conv")
    mode1 = dw.transpose(1, 0, 2, 3).reshape(4, 45)
    assert got["flat"].rank_tol == 2 == np.linalg.matrix_rank(dw.reshape(5, 36))
    assert got["mode1:in"].rank_tol == np.linalg.matrix_rank(mode1) == 4  # the input mode is not low-rank
    np.testing.assert_allclose(got["mode1:in"].singular_values, np_svals(mode1), rtol=0, atol=1e-12 * np.abs(dw).max())
    # unregularised: reports the factor LAVA would regularise on a matrix, A (rows as columns of A^T)
    assert got["flat"].orth_factors == "A"
    assert got["flat"].orth_error == pytest.approx(np.linalg.norm(a @ a.T - np.eye(2)), rel=1e-9)


def test_analysis_restores_dtype_and_leaves_forward_unchanged():
    model, _ = planted("lava")
    with torch.no_grad():
        model.conv.U.normal_()
    x = torch.randn(1, 4, 6, 6)
    before = model.conv(x)
    model_spectra(model)
    assert all(p.dtype == torch.float32 for p in model.parameters())
    assert torch.equal(model.conv(x), before)


def test_zero_update_and_rank_rules_match_numpy():
    model, _ = planted("lava")  # fresh injection: dW = 0 everywhere
    spectra = model_spectra(model, layers="^conv$")
    assert {s.layer for s in spectra} == {"conv"}
    assert all(s.rank_tol == 0 and s.rank_energy == 0 and math.isnan(s.cond) for s in spectra)
    rng = np.random.default_rng(5)
    for r in (1, 3, 5):
        m = rng.normal(size=(9, r)) @ rng.normal(size=(r, 12))
        sv = np_svals(m)
        assert numerical_rank(sv, m.shape)[0] == np.linalg.matrix_rank(m) == r
    assert energy_rank(np.array([3.0, 1.0, 0.0])) == 2 and energy_rank(np.array([3.0, 1.0]), 0.9) == 1
    assert energy_rank(np.array([1.0, 1.0, 1.0, 1.0]), 1.0) == 4
    with pytest.raises(ValueError, match="no adapter layers matching"):
        model_spectra(model, layers="nothing")


def test_block_grouping():
    assert block_of("layer1.0.conv1") == "layer1.0"
    assert block_of("blocks.3.attn.qkv") == "blocks.3"
    assert block_of("head.conv3") == "head"
    assert block_of("fc1") == "top"


def test_report_files(tmp_path):
    model, _ = planted("lava")
    with torch.no_grad():
        for layer in (model.conv, model.up):
            layer.U.normal_()
        model.blocks[0][0].B.normal_()
    spectra = model_spectra(model)
    csv_text = write_spectra_csv(spectra, tmp_path / "spectra.csv").read_text().splitlines()
    assert len(csv_text) == 1 + len(spectra) == 1 + 5 + 5 + 1
    assert csv_text[0].startswith("layer,block,adapter,rank,view,shape,sigma_max,tol,rank_tol,rank_energy,cond")
    paths = plot_block_spectra(spectra, tmp_path) + [plot_summary(spectra, tmp_path / "summary.png")]
    assert sorted(p.name for p in paths) == ["spectra_blocks.0.png", "spectra_top.png", "summary.png"]
    assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in paths)
