"""Disc segmenters as plugins (entry-point group ``spine_planner.segmenters``).

A segmenter finds the lumbar levels of a sagittal series and segments the
L5-S1 disc there; it is an object with two methods::

    class MySegmenter:
        name = "my-onnx"
        def find_levels(self, volume, level_shift=0, progress=None, cancel=None) -> LevelResult: ...
        def segment(self, volume, levels, seed_lps=None) -> DiscSegmentation: ...

and optionally a third, for a series whose levels the user names by marking the
L5-S1 disc (without it, the classical disc chain names them from the mark,
:func:`planner.disc.levels.levels_at_mark`)::

        def levels_at_mark(self, volume, mark_lps, level_shift=0, progress=None, cancel=None) -> LevelResult: ...

registered in a package's pyproject.toml exactly as the built-in ones are::

    [project.entry-points."spine_planner.segmenters"]
    my-onnx = "my_package.segmenter:SEGMENTER"

A plain callable ``segment(volume, center_lps, normal_lps, seed_lps=None)``
registered there is a segmenter too: its levels come from the classical disc
chain (:func:`planner.disc.levels.find_levels`). Built in: ``learned`` (the spine
model, :mod:`plugins.learned`, the default) and ``classical``
(:mod:`plugins.classical`, SimpleITK rules, no weights).
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Callable, Protocol

from planner.errors import SegmenterNotFound

GROUP = "spine_planner.segmenters"
DEFAULT = "learned"


class Segmenter(Protocol):
    name: str

    def find_levels(self, volume, level_shift: int = 0, progress=None, cancel=None): ...

    def segment(self, volume, levels, seed_lps=None): ...


@dataclass
class FunctionSegmenter:
    """A plugin that only segments: the levels are the classical disc chain's."""

    name: str
    function: Callable

    def find_levels(self, volume, level_shift: int = 0, progress=None, cancel=None):
        from planner.disc.levels import find_levels

        return find_levels(volume, level_shift=level_shift)

    def levels_at_mark(self, volume, mark_lps, level_shift: int = 0, progress=None, cancel=None):
        from planner.disc.levels import levels_at_mark

        return levels_at_mark(volume, mark_lps, level_shift=level_shift)

    def segment(self, volume, levels, seed_lps=None):
        l5s1 = levels.level("L5-S1")
        return self.function(volume, l5s1.center_lps, l5s1.normal_lps, seed_lps=seed_lps)


def available() -> dict[str, object]:
    """Installed segmenters by name (entry points, not yet loaded)."""
    return {ep.name: ep for ep in entry_points(group=GROUP)}


def load(name: str = DEFAULT) -> Segmenter:
    """The segmenter ``name``; :class:`SegmenterNotFound` names the installed ones when it is missing."""
    found = available()
    if name not in found:
        names = ", ".join(sorted(found)) or "none"
        raise SegmenterNotFound(f"no segmenter {name!r} installed in entry-point group {GROUP} (installed: {names})")
    plugin = found[name].load()
    if hasattr(plugin, "find_levels") and hasattr(plugin, "segment"):
        return plugin
    if callable(plugin):
        return FunctionSegmenter(name, plugin)
    raise SegmenterNotFound(f"the segmenter {name!r} ({found[name].value}) has neither find_levels/segment nor is callable")
