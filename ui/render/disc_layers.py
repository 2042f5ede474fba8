"""How the L5-S1 disc model is drawn: label overlay in a slice view, coloured surface in the 3D view.

Both adapters take a :class:`~planner.disc.model.DiscModel` and its labels as a
:class:`~ui.render.vtk_image.VtkVolume` (sharing the model's label buffer), and
are told to ``update()`` when the model reports an edit.
"""

from __future__ import annotations

import numpy as np
from vtkmodules.util.numpy_support import numpy_to_vtk, vtk_to_numpy
from vtkmodules.vtkCommonCore import vtkLookupTable
from vtkmodules.vtkCommonDataModel import vtkPolyData
from vtkmodules.vtkFiltersCore import vtkFlyingEdges3D, vtkPolyDataNormals, vtkWindowedSincPolyDataFilter
from vtkmodules.vtkImagingCore import vtkImageBinaryThreshold
from vtkmodules.vtkImagingGeneral import vtkImageGaussianSmooth
from vtkmodules.vtkRenderingAnnotation import vtkScalarBarActor
from vtkmodules.vtkRenderingCore import vtkActor, vtkColorTransferFunction, vtkImageSlice, vtkPolyDataMapper
from vtkmodules.vtkRenderingImage import vtkImageResliceMapper

from planner.disc.model import LABELS, DiscModel
from planner.viewing.display import DISPLACEMENT_COLOR_STOPS
from ui.render.vtk_image import VtkVolume

#: RGBA of each label over the image: the disc green, displaced material orange, the bodies faint.
LABEL_COLORS = {
    LABELS["disc"]: (0.25, 0.9, 0.55, 0.45),
    LABELS["displaced"]: (1.0, 0.45, 0.1, 0.7),
    LABELS["L5 body"]: (0.35, 0.55, 1.0, 0.10),
    LABELS["S1 body"]: (0.7, 0.45, 1.0, 0.10),
}


def label_lookup_table() -> vtkLookupTable:
    table = vtkLookupTable()
    count = max(LABEL_COLORS) + 1
    table.SetNumberOfTableValues(count)
    table.SetTableRange(0, count - 1)
    table.SetTableValue(0, 0.0, 0.0, 0.0, 0.0)
    for value, rgba in LABEL_COLORS.items():
        table.SetTableValue(value, *rgba)
    table.Build()
    return table


class LabelSlice:
    """The labels resliced in the plane of one slice view, drawn above its image (nearest neighbour)."""

    def __init__(self) -> None:
        self.mapper = vtkImageResliceMapper()
        self.mapper.SliceFacesCameraOn()
        self.mapper.SliceAtFocalPointOn()
        self.mapper.BorderOff()
        self.mapper.ResampleToScreenPixelsOff()
        self.actor = vtkImageSlice()
        self.actor.SetMapper(self.mapper)
        prop = self.actor.GetProperty()
        prop.SetLookupTable(label_lookup_table())
        prop.UseLookupTableScalarRangeOn()
        prop.SetInterpolationTypeToNearest()
        prop.SetLayerNumber(1)
        self.actor.SetVisibility(False)
        self.layer: VtkVolume | None = None

    def set_layer(self, layer: VtkVolume | None) -> None:
        self.layer = layer
        if layer is None:
            self.actor.SetVisibility(False)
            return
        self.mapper.SetInputData(layer.image)
        self.actor.SetUserMatrix(layer.matrix)
        self.actor.SetVisibility(True)

    def update(self) -> None:
        """The label buffer was edited in place: make VTK read it again."""
        if self.layer is not None:
            self.layer.image.GetPointData().GetScalars().Modified()
            self.layer.image.Modified()


def displacement_transfer_function() -> vtkColorTransferFunction:
    colours = vtkColorTransferFunction()
    for mm, rgb in DISPLACEMENT_COLOR_STOPS:
        colours.AddRGBPoint(mm, *rgb)
    colours.ClampingOn()
    return colours


class DiscSurface:
    """The disc (with its displaced part) as a smooth surface in LPS, coloured by d(theta)."""

    def __init__(self, model: DiscModel, layer: VtkVolume) -> None:
        self.model = model
        self.layer = layer
        self.threshold = vtkImageBinaryThreshold()
        self.threshold.SetInputData(layer.image)
        self.threshold.SetThresholdFunction(vtkImageBinaryThreshold.THRESHOLD_BETWEEN)
        self.threshold.SetLowerThreshold(LABELS["disc"])
        self.threshold.SetUpperThreshold(LABELS["displaced"])
        self.threshold.SetInValue(1.0)
        self.threshold.SetOutValue(0.0)
        self.threshold.SetOutputScalarTypeToFloat()
        smooth = vtkImageGaussianSmooth()
        smooth.SetInputConnection(self.threshold.GetOutputPort())
        smooth.SetStandardDeviations(1.2, 1.2, 1.2)  # voxels of 0.5 mm: softens the voxel steps
        contour = vtkFlyingEdges3D()
        contour.SetInputConnection(smooth.GetOutputPort())
        contour.SetValue(0, 0.5)
        sinc = vtkWindowedSincPolyDataFilter()
        sinc.SetInputConnection(contour.GetOutputPort())
        sinc.SetNumberOfIterations(12)
        sinc.SetPassBand(0.1)
        sinc.NormalizeCoordinatesOn()
        self.normals = vtkPolyDataNormals()
        self.normals.SetInputConnection(sinc.GetOutputPort())
        self.mapper = vtkPolyDataMapper()
        self.mapper.SetLookupTable(displacement_transfer_function())
        self.mapper.SetScalarRange(DISPLACEMENT_COLOR_STOPS[0][0], DISPLACEMENT_COLOR_STOPS[-1][0])
        self.mapper.SetColorModeToMapScalars()
        self.mapper.ScalarVisibilityOn()
        self.actor = vtkActor()
        self.actor.SetMapper(self.mapper)
        self.actor.SetUserMatrix(layer.matrix)
        self.actor.GetProperty().SetSpecular(0.2)
        self.scalar_bar = vtkScalarBarActor()
        self.scalar_bar.SetLookupTable(self.mapper.GetLookupTable())
        self.scalar_bar.SetTitle("mm")
        self.scalar_bar.SetNumberOfLabels(5)
        self.scalar_bar.SetMaximumWidthInPixels(70)
        self.scalar_bar.SetMaximumHeightInPixels(220)
        self.scalar_bar.SetPosition(0.84, 0.05)
        self.update()

    def update(self) -> None:
        """Rebuild the surface from the labels and colour each vertex by d(theta) of its direction."""
        self.layer.image.GetPointData().GetScalars().Modified()
        self.layer.image.Modified()
        self.threshold.Modified()
        self.normals.Update()
        surface = self.normals.GetOutput()
        if surface.GetNumberOfPoints():
            points = vtk_to_numpy(surface.GetPoints().GetData()).astype(float)
            affine = self.model.label_volume().image_to_lps
            # the VTK image has the label grid's spacing and no rotation: undo the spacing, then place in LPS
            ijk = points / np.asarray(self.layer.image.GetSpacing())
            lps = ijk @ affine[:3, :3].T + affine[:3, 3]
            values = numpy_to_vtk(self.model.displacement_at(lps).astype(np.float32), deep=True)
            values.SetName("displacement_mm")
            surface.GetPointData().SetScalars(values)
        shown = vtkPolyData()
        shown.ShallowCopy(surface)  # the next update re-executes the pipeline into its own output
        self.mapper.SetInputData(shown)
