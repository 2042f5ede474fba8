"""Disc segmenters as plugins (entry-point group ``spine_planner.segmenters``).

A segmenter is a callable ``segment(volume, center_lps, normal_lps, seed_lps=None)``
returning a :class:`planner.segmentation.DiscSegmentation`. The classical one
(SimpleITK, no learned weights) is the built-in plugin ``plugins.classical``,
registered in pyproject.toml exactly as a third-party package would register
one that ships its own model::

    [project.entry-points."spine_planner.segmenters"]
    my-onnx = "my_package.segmenter:segment"
"""

from __future__ import annotations

from importlib.metadata import entry_points
from typing import Callable

GROUP = "spine_planner.segmenters"
DEFAULT = "classical"


class SegmenterNotFound(LookupError):
    pass


def available() -> dict[str, object]:
    """Installed segmenters by name (entry points, not yet loaded)."""
    return {ep.name: ep for ep in entry_points(group=GROUP)}


def load(name: str = DEFAULT) -> Callable:
    found = available()
    if name not in found:
        names = ", ".join(sorted(found)) or "none"
        raise SegmenterNotFound(f"no segmenter {name!r} installed in entry-point group {GROUP} (installed: {names})")
    return found[name].load()
