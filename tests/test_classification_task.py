"""ClassificationTask: metrics against hand-computed values, a few real training steps, pictures."""
import numpy as np
import pytest
import torch

from lava_vision.adapters import AdapterConfig, inject, orthogonal_penalty, train_mode
from lava_vision.tasks import get_task
from lava_vision.tasks.classification.config import (
    ClassificationDataConfig,
    ClassificationLossConfig,
    ClassificationModelConfig,
)
from lava_vision.tasks.classification.metrics import build_classification_metrics
from lava_vision.train.config import RunConfig


def _task(num_classes=10, pretrained="none", **data):
    model = ClassificationModelConfig(name="quicknet", library="lava_vision", pretrained=pretrained,
                                      num_classes=num_classes, input_size=32, mean=(0.5,) * 3, std=(0.25,) * 3)
    data = ClassificationDataConfig(**{"source": "procedural", "domain": "target", "train_size": 64,
                                       "val_size": 20, **data})
    cfg = RunConfig(task="classification", model=model, data=data, loss=ClassificationLossConfig())
    return get_task("classification")(cfg)


def test_metrics_match_hand_computation():
    rng = np.random.default_rng(0)
    n, c = 40, 7
    logits = rng.normal(size=(n, c))
    labels = rng.integers(0, c, size=n)
    labels[:c] = np.arange(c)  # every class present
    metrics = build_classification_metrics([f"k{i}" for i in range(c)])
    probs = torch.tensor(logits).softmax(1).float()
    metrics.update(probs[:25], torch.tensor(labels[:25]))  # two updates: states must accumulate
    metrics.update(probs[25:], torch.tensor(labels[25:]))
    out = {k: float(v) for k, v in metrics.compute().items()}

    order = np.argsort(-logits, axis=1)
    assert out["top1"] == pytest.approx(np.mean(order[:, 0] == labels))
    assert out["top5"] == pytest.approx(np.mean([labels[i] in order[i, :5] for i in range(n)]))
    pred = order[:, 0]
    per_class = [np.mean(pred[labels == k] == k) for k in range(c)]
    for k in range(c):
        assert out[f"acc_class/k{k}"] == pytest.approx(per_class[k])
    assert out["mean_class_acc"] == pytest.approx(np.mean(per_class))
    counts = np.zeros((c, c), int)
    np.add.at(counts, (labels, pred), 1)
    assert np.array_equal(metrics["confusion"].matrix.numpy(), counts)


def test_mean_class_acc_is_balanced_accuracy_when_a_class_is_absent():
    """Classes 0, 1 in the targets, class 2 only predicted: balanced accuracy (sklearn's
    definition, mean recall over the classes in the targets) is (1/2 + 1/2) / 2; torchmetrics'
    macro average would also count class 2 with recall 0 (1/3)."""
    metrics = build_classification_metrics(["a", "b", "c", "d"])
    labels = torch.tensor([0, 0, 1, 1])
    pred = torch.tensor([0, 2, 1, 0])
    metrics.update(torch.nn.functional.one_hot(pred, 4).float(), labels)
    out = metrics.compute()
    want = np.mean([np.mean(pred.numpy()[labels.numpy() == k] == k) for k in (0, 1)])
    assert float(out["mean_class_acc"]) == pytest.approx(want, abs=1e-7) and want == 0.5


def test_training_steps_with_lava_lower_the_loss():
    """The bundled base on the shifted domain: LAVA on its convs (+ head) fits a batch."""
    torch.manual_seed(0)
    task = _task(pretrained="hub")
    model = task.build_model()
    p = inject(model, AdapterConfig(method="lava", preset="cnn", rank=2, alpha=2.0, lam=0.1, modules_to_save=["fc"]))
    trainable = [q for q in model.parameters() if q.requires_grad]
    assert sum(q.numel() for q in trainable) == p.trainable_params
    ds = task.build_dataset("train")
    batch = task.collate([ds[i] for i in range(32)])
    opt = torch.optim.AdamW(trainable, lr=1e-2)
    train_mode(model)
    losses = []
    for _ in range(25):
        out = task.training_step(model, batch)
        loss = out["loss"] + orthogonal_penalty(model)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(out["loss"].item())
    assert losses[0] > 2.3 and losses[-1] < 0.5 * losses[0], losses


def test_predict_per_sample_and_pictures(tmp_path):
    torch.manual_seed(0)
    task = _task()
    model = task.build_model().eval()
    ds = task.build_dataset("val")
    batch = task.collate([ds[i] for i in range(4)])
    preds = task.predict(model, batch)
    rows = task.per_sample_metrics(preds, batch)
    logits = preds["logits"].double()
    for i, row in enumerate(rows):
        y = int(batch["label"][i])
        log_p = logits[i, y] - torch.logsumexp(logits[i], 0)
        assert row["nll"] == pytest.approx(float(-log_p), rel=1e-4)
        assert row["top1"] == float(int(logits[i].argmax()) == y) and row["id"] == batch["id"][i]
    paths = task.visualize(batch, preds, tmp_path / "pics", start_index=10)
    assert [p.name[:5] for p in paths] == ["00010", "00011", "00012", "00013"]
    metrics = task.build_metrics()
    task.update_metrics(metrics, preds, batch)
    metrics.compute()
    [cm] = task.summarize(metrics, tmp_path)
    for p in paths + [cm]:
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_class_count_mismatch_is_named():
    task = _task(num_classes=5)
    with pytest.raises(ValueError, match="model.num_classes=5 .* has 10 classes"):
        task.build_dataset("val")
