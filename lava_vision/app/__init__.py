"""A browser app over the zoo and finished runs (``python tools/app.py``): base | adapted side by
side in each task's view, downloads in ``tools/predict.py``'s formats. The top layer beside
``inference``: it imports ``inference``, ``zoo`` and ``train``, nothing imports it.

Gradio is imported only by ``ui`` and ``server`` (the ``app`` extra); ``sources``, ``uploads`` and
``views`` are plain Python."""
from .server import serve

__all__ = ["serve"]
