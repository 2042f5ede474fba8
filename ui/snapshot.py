"""Images of views and of the whole window, including what VTK draws (Qt's grab() sees it as black)."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPoint
from PySide6.QtGui import QImage, QPainter
from PySide6.QtWidgets import QWidget
from vtkmodules.qt.QVTKRenderWindowInteractor import QVTKRenderWindowInteractor
from vtkmodules.util.numpy_support import vtk_to_numpy
from vtkmodules.vtkRenderingCore import vtkWindowToImageFilter


def vtk_widget_image(widget: QVTKRenderWindowInteractor) -> QImage:
    """What ``widget``'s render window shows now, as an RGB QImage (rendered first)."""
    window = widget.GetRenderWindow()
    window.Render()
    capture = vtkWindowToImageFilter()
    capture.SetInput(window)
    capture.SetInputBufferTypeToRGB()
    capture.ReadFrontBufferOff()
    capture.Update()
    output = capture.GetOutput()
    width, height, _ = output.GetDimensions()
    pixels = vtk_to_numpy(output.GetPointData().GetScalars()).reshape(height, width, 3)[::-1]
    pixels = np.ascontiguousarray(pixels)
    image = QImage(pixels.data, width, height, pixels.strides[0], QImage.Format_RGB888).copy()
    ratio = widget.devicePixelRatioF()
    image.setDevicePixelRatio(ratio)
    return image


def widget_image(widget: QWidget) -> QImage:
    """``widget`` as an image, with every visible VTK view inside it composited from its render window."""
    image = widget.grab().toImage()
    painter = QPainter(image)
    views = [widget] if isinstance(widget, QVTKRenderWindowInteractor) else []
    views += [v for v in widget.findChildren(QVTKRenderWindowInteractor) if v.isVisible()]
    for view in views:
        offset = view.mapTo(widget, QPoint(0, 0)) if view is not widget else QPoint(0, 0)
        painter.drawImage(offset, vtk_widget_image(view))
    painter.end()
    return image
