"""A plain 2D view of a Volume slice or an ultrasound frame (issue 3 brings VTK MPR)."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import QLabel, QSizePolicy, QSlider, QVBoxLayout, QWidget

from planner.display import to_display_uint8


class ImageView(QWidget):
    """Shows one 2D array; a slider steps through slices or frames."""

    def __init__(self, title: str = "", parent=None) -> None:
        super().__init__(parent)
        self._title = QLabel(title)
        self._title.setStyleSheet("color: #ddd; font-weight: bold; padding: 2px;")
        self._image = QLabel()
        self._image.setAlignment(Qt.AlignCenter)
        self._image.setMinimumSize(200, 200)
        self._image.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Ignored)
        self._image.setStyleSheet("background: black;")
        self.slider = QSlider(Qt.Horizontal)
        self.slider.valueChanged.connect(self._show)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(self._title)
        layout.addWidget(self._image, 1)
        layout.addWidget(self.slider)
        self._get_frame = None
        self._pixmap: QPixmap | None = None

    def set_source(self, title: str, n: int, get_frame, start: int | None = None) -> None:
        """``get_frame(i)`` returns a 2D grey or (rows, columns, 3) RGB array."""
        self._title.setText(title)
        self._get_frame = get_frame
        self.slider.blockSignals(True)
        self.slider.setRange(0, max(n - 1, 0))
        self.slider.setValue(n // 2 if start is None else start)
        self.slider.blockSignals(False)
        self._show(self.slider.value())

    def _show(self, index: int) -> None:
        if self._get_frame is None:
            return
        pixels = np.ascontiguousarray(to_display_uint8(self._get_frame(index)))
        if pixels.ndim == 2:
            image = QImage(pixels.data, pixels.shape[1], pixels.shape[0], pixels.strides[0], QImage.Format_Grayscale8)
        else:
            image = QImage(pixels.data, pixels.shape[1], pixels.shape[0], pixels.strides[0], QImage.Format_RGB888)
        self._pixmap = QPixmap.fromImage(image.copy())
        self._rescale()

    def _rescale(self) -> None:
        if self._pixmap is not None:
            self._image.setPixmap(self._pixmap.scaled(self._image.size(), Qt.KeepAspectRatio, Qt.SmoothTransformation))

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt API
        super().resizeEvent(event)
        self._rescale()
