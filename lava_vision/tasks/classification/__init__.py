"""Image classification: timm / torchvision / QuickNet models on CIFAR, ImageFolder or
procedurally drawn data (see ``task.ClassificationTask``)."""
