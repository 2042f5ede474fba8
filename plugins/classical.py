"""The built-in classical disc segmenter (SimpleITK; see planner/disc/segmentation/)."""

from planner.disc.segmentation import segment_disc as segment

__all__ = ["segment"]
