"""Prediction on a user's own inputs: ``Predictor`` (one image or prompt at a time, output at the
image's size), ``load_run`` (a trained run as a Predictor), the result types, input readers and the
per-task output files that ``tools/predict.py`` writes. ``zoo.load(name).predict(...)`` uses it too."""
from ..data.images import read_rgb
from .inputs import list_images, read_prompts
from .outputs import CsvRows, classification_csv, classification_row, write_depth, write_generated, write_mask
from .predictor import PREDICTORS, Predictor, load_run
from .results import BinaryMask, ClassProbabilities, DepthMap, GeneratedImage

__all__ = ["BinaryMask", "ClassProbabilities", "CsvRows", "DepthMap", "GeneratedImage", "PREDICTORS", "Predictor",
           "classification_csv", "classification_row", "list_images", "load_run", "read_prompts", "read_rgb",
           "write_depth", "write_generated", "write_mask"]
