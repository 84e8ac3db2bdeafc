"""lava-vision: LAVA adapters for fine-tuning large vision models."""
__version__ = "0.1.0"
