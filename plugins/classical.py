"""The built-in classical disc segmenter (SimpleITK; see planner/segmentation/)."""

from planner.segmentation import segment_disc as segment

__all__ = ["segment"]
