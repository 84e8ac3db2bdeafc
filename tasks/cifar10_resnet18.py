"""Paper section 3 / appendix A.4 toy experiment: fine-tune an ImageNet ResNet18 on CIFAR-10 with
adapters on every convolution (no orthogonal regulariser, lam = 0), AdamW lr 1e-3,
betas (0.9, 0.999), weight decay 0.

Method (the three rows of the paper's Table 5), the same recipe:
    python tools/train.py tasks/cifar10_resnet18.py                           # LAVA (reshape-free CP)
    python tools/train.py tasks/cifar10_resnet18.py --set adapter.method=lora # reshape-involved LoRA
    python tools/train.py tasks/cifar10_resnet18.py --set adapter.method=full # full fine-tuning
Offline: ``--set model.pretrained=/path/resnet18-f37072fd.pth`` (torchvision's official file) and
CIFAR-10's python archive unpacked under ``datasets/cifar`` (see datasets/cifar/README.md).

The paper gives neither the rank, the epochs nor the input size of this experiment. Rank 3 (for
both LAVA and LoRA) is the rank whose trainable-parameter counts come closest to its Table 1;
epochs, batch size and the 224 x 224 input (CIFAR upsampled, as ImageNet weights expect) are our
choices. The new 10-way head is trained in full (``modules_to_save``) in every method.

    python tasks/cifar10_resnet18.py      # print the LAVA and LoRA plans' parameter counts
"""
from lava_vision.adapters import AdapterConfig
from lava_vision.tasks.classification.config import ClassificationDataConfig, ClassificationModelConfig
from lava_vision.train.config import EvalConfig, OptimConfig, RunConfig, ScheduleConfig, TrainConfig

config = RunConfig(
    task="classification",
    model=ClassificationModelConfig(name="resnet18", library="torchvision", pretrained="hub", num_classes=10,
                                    input_size=224),
    data=ClassificationDataConfig(source="cifar10", root="datasets/cifar", hflip=True),
    adapter=AdapterConfig(method="lava", preset="cnn", rank=3, alpha=3.0, lam=0.0, modules_to_save=["fc"]),
    optim=OptimConfig(name="adamw", lr=1e-3, betas=(0.9, 0.999), weight_decay=0.0),
    schedule=ScheduleConfig(name="constant"),
    train=TrainConfig(epochs=10, batch_size=128, num_workers=4, log_every=50),
    eval=EvalConfig(split="val", every=1, batch_size=256, main_metric="top1", mode="max", num_visualize=8),
)

if __name__ == "__main__":
    from lava_vision.tasks.classification.params import compare_plans

    print(compare_plans(config))
