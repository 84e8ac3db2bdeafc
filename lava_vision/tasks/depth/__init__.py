"""Metric depth estimation with Depth-Anything: model loading, loss, data wiring, pictures."""
