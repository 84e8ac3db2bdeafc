"""Metrics of every task, as torchmetrics.Metric subclasses where state is summed across processes."""
