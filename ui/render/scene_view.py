"""The 3D view: the three MPR planes of the volume placed in LPS, an outline, and an orientation cube.

Rotate with the left button, zoom with the right button or wheel, pan with the
middle button (VTK trackball camera). The L5-S1 disc of the context's disc
model shows as a surface coloured by its displacement d(theta), with a colour
bar; the plan's needles as lines from skin entry to target (green, or red with
a safety warning); other surfaces are added by :meth:`SceneView.add_surface`.
"""

from __future__ import annotations

import numpy as np
import vtkmodules.vtkRenderingFreeType  # noqa: F401
import vtkmodules.vtkRenderingOpenGL2  # noqa: F401
from vtkmodules.qt.QVTKRenderWindowInteractor import QVTKRenderWindowInteractor
from vtkmodules.vtkCommonCore import vtkPoints
from vtkmodules.vtkCommonDataModel import vtkCellArray, vtkPlane, vtkPolyData
from vtkmodules.vtkFiltersModeling import vtkOutlineFilter
from vtkmodules.vtkInteractionStyle import vtkInteractorStyleTrackballCamera
from vtkmodules.vtkInteractionWidgets import vtkOrientationMarkerWidget
from vtkmodules.vtkRenderingAnnotation import vtkAnnotatedCubeActor
from vtkmodules.vtkRenderingCore import vtkActor, vtkImageSlice, vtkPolyDataMapper, vtkRenderer
from vtkmodules.vtkRenderingImage import vtkImageResliceMapper

from planner.viewing.display import WindowLevel
from planner.viewing.mpr import View
from ui.context import ViewerContext
from ui.render.disc_layers import DiscSurface
from ui.render.vtk_image import VtkVolume


class SceneView(QVTKRenderWindowInteractor):
    """Slice planes in 3D, following the shared crosshair and rotation."""

    def __init__(self, context: ViewerContext, parent=None) -> None:
        super().__init__(parent)
        self.context = context
        self.layer: VtkVolume | None = None
        self.window_level: WindowLevel | None = None
        self.setMinimumSize(160, 160)
        self.renderer = vtkRenderer()
        self.renderer.SetBackground(0.06, 0.07, 0.09)
        self.renderer.SetBackground2(0.18, 0.2, 0.25)
        self.renderer.GradientBackgroundOn()
        self.GetRenderWindow().AddRenderer(self.renderer)
        self.GetRenderWindow().GetInteractor().SetInteractorStyle(vtkInteractorStyleTrackballCamera())

        self.planes: dict[View, tuple[vtkPlane, vtkImageSlice]] = {}
        for view in View:
            plane = vtkPlane()
            mapper = vtkImageResliceMapper()
            mapper.SetSlicePlane(plane)
            actor = vtkImageSlice()
            actor.SetMapper(mapper)
            actor.SetVisibility(False)
            self.renderer.AddViewProp(actor)
            self.planes[view] = (plane, actor)

        self.outline = vtkOutlineFilter()
        outline_mapper = vtkPolyDataMapper()
        outline_mapper.SetInputConnection(self.outline.GetOutputPort())
        self.outline_actor = vtkActor()
        self.outline_actor.SetMapper(outline_mapper)
        self.outline_actor.GetProperty().SetColor(0.6, 0.6, 0.6)
        self.outline_actor.SetVisibility(False)
        self.renderer.AddViewProp(self.outline_actor)
        self.surfaces: list[vtkActor] = []

        cube = vtkAnnotatedCubeActor()
        # LPS: +x is the patient's left, +y posterior, +z superior.
        cube.SetXPlusFaceText("L")
        cube.SetXMinusFaceText("R")
        cube.SetYPlusFaceText("P")
        cube.SetYMinusFaceText("A")
        cube.SetZPlusFaceText("S")
        cube.SetZMinusFaceText("I")
        cube.GetCubeProperty().SetColor(0.25, 0.3, 0.4)
        self.marker = vtkOrientationMarkerWidget()
        self.marker.SetOrientationMarker(cube)
        self.marker.SetInteractor(self.GetRenderWindow().GetInteractor())
        self.marker.SetViewport(0.0, 0.0, 0.22, 0.22)
        self.marker.SetEnabled(1)
        self.marker.InteractiveOff()

        self.disc_surface: DiscSurface | None = None
        self.needles = {}  # "safe"/"warn" -> (points, lines, polydata, actor)
        for key, color in (("safe", (0.3, 1.0, 0.45)), ("warn", (1.0, 0.35, 0.3))):
            points, lines, data = vtkPoints(), vtkCellArray(), vtkPolyData()
            data.SetPoints(points)
            data.SetLines(lines)
            data.SetVerts(vtkCellArray())
            mapper = vtkPolyDataMapper()
            mapper.SetInputData(data)
            actor = vtkActor()
            actor.SetMapper(mapper)
            actor.GetProperty().SetColor(*color)
            actor.GetProperty().SetLineWidth(4.0)
            actor.GetProperty().SetPointSize(12.0)
            actor.GetProperty().SetRenderPointsAsSpheres(True)
            actor.GetProperty().SetRenderLinesAsTubes(True)
            self.renderer.AddViewProp(actor)
            self.needles[key] = (points, lines, data, actor)
        context.plan_changed.connect(self._update_needles)
        context.plan_edited.connect(self._on_plan_edited)
        context.mpr.subscribe(self._on_mpr)
        context.disc_changed.connect(self._on_disc_changed)
        context.disc_edited.connect(self._on_disc_edited)

    def _on_disc_changed(self) -> None:
        if self.disc_surface is not None:
            self.renderer.RemoveViewProp(self.disc_surface.actor)
            self.renderer.RemoveViewProp(self.disc_surface.scalar_bar)
            self.disc_surface = None
        model = self.context.disc
        if model is not None:
            self.disc_surface = DiscSurface(model, VtkVolume(model.label_volume()))
            self.renderer.AddViewProp(self.disc_surface.actor)
            self.renderer.AddViewProp(self.disc_surface.scalar_bar)
            self.look_at_disc()
        # with a disc shown, only the sagittal plane stays: the axial and coronal ones would cut through it
        for view, (_, actor) in self.planes.items():
            actor.SetVisibility(self.layer is not None and (model is None or view == View.SAGITTAL))
        self._render()

    def look_at_disc(self) -> None:
        """Close up of the disc from behind and above, on the side of the displaced material."""
        model = self.context.disc
        if model is None:
            return
        frame = model.segmentation.frame
        side = -1.0 if model.finding.side == "right" else 1.0  # LPS +x is the patient's left
        direction = 0.8 * side * frame.lateral + 0.6 * frame.posterior + 0.35 * frame.normal
        camera = self.renderer.GetActiveCamera()
        camera.SetFocalPoint(*frame.center_lps)
        camera.SetPosition(*(frame.center_lps + 240.0 * direction / np.linalg.norm(direction)))
        camera.SetViewUp(0.0, 0.0, 1.0)
        camera.SetViewAngle(30.0)
        self.renderer.ResetCameraClippingRange()

    def _on_disc_edited(self, what: str) -> None:
        # the surface follows the finding (the end of a stroke, an undo), not every dab of a stroke
        if what == "finding" and self.disc_surface is not None:
            self.disc_surface.update()
            self._render()

    def set_volume(self, layer: VtkVolume, window: WindowLevel) -> None:
        self.layer = layer
        if self.window_level is not None:
            self.window_level.unsubscribe(self._on_window)
        self.window_level = window
        window.subscribe(self._on_window)
        for _, actor in self.planes.values():
            actor.GetMapper().SetInputData(layer.image)
            actor.SetUserMatrix(layer.matrix)
            actor.SetVisibility(True)
        self.outline.SetInputData(layer.image)
        self.outline_actor.SetUserMatrix(layer.matrix)
        self.outline_actor.SetVisibility(True)
        self._on_window()
        self.reset_view()

    def reset_view(self) -> None:
        """Look at the patient from the front-left, head up."""
        self._update_planes()
        camera = self.renderer.GetActiveCamera()
        camera.SetFocalPoint(0, 0, 0)
        camera.SetPosition(*(np.array([0.6, -1.0, 0.35]) * 500.0))  # anterior-left, a little above
        camera.SetViewUp(0, 0, 1)
        self.renderer.ResetCamera()
        self._render()

    def add_surface(self, actor: vtkActor) -> None:
        self.surfaces.append(actor)
        self.renderer.AddViewProp(actor)
        self._render()

    def _on_window(self) -> None:
        if self.window_level is None:
            return
        for _, actor in self.planes.values():
            actor.GetProperty().SetColorWindow(self.window_level.width)
            actor.GetProperty().SetColorLevel(self.window_level.center)
        self._render()

    def _on_mpr(self, _what: str) -> None:
        self._update_planes()
        self._render()

    def _update_planes(self) -> None:
        if self.layer is None:
            return
        for view, (plane, _) in self.planes.items():
            geometry = self.context.mpr.plane(view)
            plane.SetOrigin(*geometry.origin)
            plane.SetNormal(*geometry.normal)

    def _on_plan_edited(self) -> None:
        """The 3D view (the slowest to draw) follows a needle drag when the mouse is released."""
        if self.context.dragging_view is None:
            self._update_needles()

    def _update_needles(self) -> None:
        session = self.context.plan
        for key, (points, lines, data, _actor) in self.needles.items():
            points.Reset()
            lines.Reset()
            verts = data.GetVerts()
            verts.Reset()
            for t in session.plan.trajectories if session is not None else ():
                metrics = session.metrics(t.id)
                if ("warn" if metrics is not None and metrics.warnings else "safe") != key:
                    continue
                a = points.InsertNextPoint(*t.entry_lps)
                b = points.InsertNextPoint(*t.target_lps)
                lines.InsertNextCell(2)
                lines.InsertCellPoint(a)
                lines.InsertCellPoint(b)
                verts.InsertNextCell(1)
                verts.InsertCellPoint(b)
            points.Modified()
            data.Modified()
        self._render()

    def _render(self) -> None:
        if self.isVisible():
            self.GetRenderWindow().Render()

    def detach(self) -> None:
        self.context.mpr.unsubscribe(self._on_mpr)
