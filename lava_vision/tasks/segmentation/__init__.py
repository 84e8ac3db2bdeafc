"""Prompt-free binary segmentation with Segment Anything (SegmentationTask in task.py)."""
