"""The L5-S1 findings panel: class, measurements, d(theta) plot, level shift and the correction tools.

It observes the context's :class:`~planner.disc.model.DiscModel` and asks the
main window (signals) to run the analysis; the values all come from
:class:`~planner.disc.bulge.BulgeFinding`.
"""

from __future__ import annotations

from html import escape

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QConicalGradient, QFont, QPainter, QPainterPath, QPen
from PySide6.QtWidgets import (
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from planner.disc.finding_text import describe
from planner.viewing.display import DISPLACEMENT_COLOR_STOPS, displacement_color
from ui.context import ViewerContext

EDIT_TOOLS = {"seed": "Seed", "brush": "Brush", "eraser": "Eraser"}


def _qcolor(rgb) -> QColor:
    return QColor.fromRgbF(*(float(v) for v in rgb))


class DisplacementPlot(QWidget):
    """d(theta) around the disc, seen as an axial image (anterior up, the patient's right on the left).

    The circle is the endplate outline; each degree is a wedge reaching out by its
    displacement and coloured like the 3D surface.
    """

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.profile_mm: np.ndarray | None = None
        self.setMinimumSize(200, 200)
        self.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Preferred)

    def set_profile(self, profile_mm) -> None:
        self.profile_mm = None if profile_mm is None else np.asarray(profile_mm, float)
        self.update()

    def heightForWidth(self, width: int) -> int:  # noqa: N802 - Qt API
        return width

    def paintEvent(self, event) -> None:  # noqa: N802 - Qt API
        painter = QPainter(self)
        painter.setRenderHint(QPainter.Antialiasing)
        painter.fillRect(self.rect(), QColor(24, 26, 30))
        side = min(self.width(), self.height())
        cx, cy = self.width() / 2, self.height() / 2
        radius = side * 0.28
        scale = (side * 0.44 - radius) / DISPLACEMENT_COLOR_STOPS[-1][0]  # px per mm: 6 mm reaches the edge
        painter.setPen(QPen(QColor(110, 110, 120), 1, Qt.DashLine))
        for mm in (3.0, 6.0):
            r = radius + mm * scale
            painter.drawEllipse(QPointF(cx, cy), r, r)
        if self.profile_mm is not None and len(self.profile_mm) == 360:
            # theta 0 is posterior (screen down), +90 the patient's left (screen right): on screen the
            # direction of theta is (sin, cos) with y down, i.e. theta - 90 degrees counter-clockwise from +x
            theta = np.radians(np.arange(361))
            reach = radius + np.minimum(self.profile_mm[np.arange(361) % 360], 1.2 * DISPLACEMENT_COLOR_STOPS[-1][0]) * scale
            shape = QPainterPath()
            shape.moveTo(cx + reach[0] * np.sin(theta[0]), cy + reach[0] * np.cos(theta[0]))
            for r, t in zip(reach[1:], theta[1:]):
                shape.lineTo(cx + r * np.sin(t), cy + r * np.cos(t))
            shape.closeSubpath()
            inner = QPainterPath()
            inner.addEllipse(QPointF(cx, cy), radius * 0.62, radius * 0.62)
            gradient = QConicalGradient(QPointF(cx, cy), 0.0)
            for degree, rgb in enumerate(displacement_color(self.profile_mm)):
                gradient.setColorAt(((degree - 90) % 360) / 360.0, _qcolor(rgb))
            painter.setPen(Qt.NoPen)
            painter.setBrush(gradient)
            painter.drawPath(shape.subtracted(inner))
        painter.setPen(QPen(QColor(235, 235, 235), 1.5))
        painter.setBrush(Qt.NoBrush)
        painter.drawEllipse(QPointF(cx, cy), radius, radius)
        painter.setPen(QColor(255, 215, 90))
        font = QFont(painter.font())
        font.setBold(True)
        painter.setFont(font)
        for text, (x, y) in {"A": (0, -1), "P": (0, 1), "R": (-1, 0), "L": (1, 0)}.items():
            r = side * 0.47
            painter.drawText(QRectF(cx + x * r - 10, cy + y * r - 10, 20, 20), Qt.AlignCenter, text)
        painter.setPen(QColor(170, 170, 180))
        painter.setFont(QFont(self.font().family(), 8))
        painter.drawText(QRectF(4, self.height() - 18, self.width() - 8, 16), Qt.AlignLeft, "rings: 3 and 6 mm beyond the outline")
        painter.end()


class FindingsWidget(QWidget):
    """What the analysis found at L5-S1, the values a radiologist writes, and the tools to correct it."""

    analyse_requested = Signal(int)  # level shift to analyse with (the levels counted again)
    shift_requested = Signal(int)  # Higher / Lower: the level shift, L5-S1 still where the user marked it, if so
    confirm_requested = Signal()

    VALUES = (
        ("classification", "Classification"),
        ("side", "Side"),
        ("zone", "Zone"),
        ("max_displacement", "Max displacement"),
        ("arc", "Displaced arc"),
        ("widths", "Base / dome width"),
        ("migration", "Migration"),
        ("heights", "Disc height"),
        ("canal", "Canal at L5–S1"),
        ("roots", "S1 root reached"),
        ("volume", "Disc volume"),
        ("measured_on", "Displacement on"),
        ("levels", "Levels"),
    )

    def __init__(self, context: ViewerContext, parent=None) -> None:
        super().__init__(parent)
        self.context = context
        self.mark_offered = False  # an analysis failed: the Seed tool may mark L5-S1
        self.title = QLabel("No analysis yet")
        font = self.title.font()
        font.setPointSizeF(font.pointSizeF() * 1.3)
        font.setBold(True)
        self.title.setFont(font)
        self.title.setWordWrap(True)
        self.message = QLabel("")
        self.message.setWordWrap(True)
        self.message.setObjectName("findings-message")
        self.level_banner = QLabel("")
        self.level_banner.setWordWrap(True)
        self.level_banner.setObjectName("levelBanner")
        self.level_banner.setStyleSheet(
            "QLabel#levelBanner { background: #4a3410; color: #ffd089; border: 1px solid #ffb347; "
            "border-radius: 4px; padding: 6px; }"
        )
        self.level_banner.hide()

        self.analyse_button = QPushButton("Analyse L5-S1")
        self.analyse_button.setToolTip("Find the levels, segment the L5-S1 disc and classify it (Lumbar Disc Nomenclature 2.0)")
        self.analyse_button.clicked.connect(lambda: self.analyse_requested.emit(self._shift()))
        self.lower_button = QPushButton("Lower")
        self.lower_button.setToolTip("The disc below the one found is L5-S1 (labels move up one level)")
        self.lower_button.clicked.connect(lambda: self.shift_requested.emit(self._shift() + 1))
        self.higher_button = QPushButton("Higher")
        self.higher_button.setToolTip("The disc above the one found is L5-S1 (labels move down one level)")
        self.higher_button.clicked.connect(lambda: self.shift_requested.emit(self._shift() - 1))
        self.confirm_button = QPushButton("Confirm")
        self.confirm_button.setToolTip("I have checked the count from the sacrum")
        self.confirm_button.clicked.connect(self.confirm_levels)

        self.plot = DisplacementPlot()
        self.values: dict[str, QLabel] = {}
        form = QFormLayout()
        form.setLabelAlignment(Qt.AlignRight)
        for key, label in self.VALUES:
            value = QLabel("-")
            value.setTextInteractionFlags(Qt.TextSelectableByMouse)
            value.setWordWrap(True)
            self.values[key] = value
            form.addRow(label, value)
        self.warnings = QLabel("")
        self.warnings.setWordWrap(True)
        self.warnings.setStyleSheet("color: #f0b43c;")

        self.tool_buttons: dict[str, QToolButton] = {}
        tools = QHBoxLayout()
        for tool, label in EDIT_TOOLS.items():
            button = QToolButton()
            button.setText(label)
            button.setCheckable(True)
            button.clicked.connect(lambda checked, t=tool: self.context.set_tool(t if checked else "crosshair"))
            tools.addWidget(button)
            self.tool_buttons[tool] = button
        self.radius = QDoubleSpinBox()
        self.radius.setRange(0.5, 15.0)
        self.radius.setSingleStep(0.5)
        self.radius.setSuffix(" mm")
        self.radius.setValue(context.brush_radius_mm)
        self.radius.setToolTip("Brush and eraser radius")
        self.radius.valueChanged.connect(context.set_brush_radius)
        tools.addStretch(1)
        self.smooth_button = QPushButton("Smooth")
        self.smooth_button.setToolTip("Smooth the disc mask (1 mm opening and closing); undoable")
        self.smooth_button.clicked.connect(self.smooth_disc)
        edit_box = QGroupBox("Correct the disc")
        edit_layout = QVBoxLayout(edit_box)
        edit_layout.addLayout(tools)
        second = QHBoxLayout()
        second.addWidget(QLabel("Radius"))
        second.addWidget(self.radius)
        second.addWidget(self.smooth_button)
        second.addStretch(1)
        edit_layout.addLayout(second)
        hint = QLabel("Seed: click inside the disc to segment again from there (with no analysis: click the L5-S1 "
                      "disc to name the levels from it). Brush/eraser: drag in any view.")
        hint.setWordWrap(True)
        hint.setStyleSheet("color: #9aa0a8;")
        edit_layout.addWidget(hint)

        level_row = QHBoxLayout()
        level_row.addWidget(self.higher_button)
        level_row.addWidget(self.lower_button)
        level_row.addWidget(self.confirm_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.title)
        layout.addWidget(self.level_banner)
        layout.addWidget(self.message)
        layout.addWidget(self.analyse_button)
        level_hint = QLabel("Level count wrong? L5-S1 is one disc:")
        level_hint.setStyleSheet("color: #9aa0a8;")
        layout.addWidget(level_hint)
        layout.addLayout(level_row)
        layout.addWidget(self.plot, 1)
        layout.addLayout(form)
        layout.addWidget(self.warnings)
        layout.addWidget(edit_box)
        layout.addStretch(0)

        context.disc_changed.connect(self.refresh)
        context.disc_edited.connect(lambda what: what == "finding" and self.refresh())
        context.tool_changed.connect(self._show_tool)
        context.brush_changed.connect(self.radius.setValue)
        self.refresh()

    def _shift(self) -> int:
        model = self.context.disc
        return model.analysis.level_shift if model is not None else 0

    def confirm_levels(self) -> None:
        if self.context.disc is not None:
            self.context.disc.confirm_levels()

    def smooth_disc(self) -> None:
        if self.context.disc is not None:
            self.context.disc.smooth()

    def _show_tool(self, tool: str) -> None:
        for name, button in self.tool_buttons.items():
            button.setChecked(name == tool)

    def set_message(self, text: str) -> None:
        """A line under the title: analysis running, or why it failed."""
        self.message.setText(text)

    def offer_mark(self, on: bool) -> None:
        """With no analysis (it failed): the Seed tool marks the L5-S1 disc, and the levels are named from it."""
        self.mark_offered = on
        self.refresh()

    def refresh(self) -> None:
        model = self.context.disc
        has = model is not None
        for widget in (self.lower_button, self.higher_button, self.confirm_button, self.smooth_button, self.radius, *self.tool_buttons.values()):
            widget.setEnabled(has)
        if has:
            self.mark_offered = False
        self.tool_buttons["seed"].setEnabled(has or self.mark_offered)
        self.tool_buttons["seed"].setToolTip(
            "Click the L5-S1 disc on the sagittal view: the levels are named from it (confirm them after)"
            if not has and self.mark_offered else "Click inside the disc to segment it again from there"
        )
        if not has:
            self.title.setText("L5-S1: no analysis")
            self.level_banner.hide()
            self.plot.set_profile(None)
            for value in self.values.values():
                value.setText("-")
            self.warnings.setText("")
            return
        f = model.finding
        self.message.setText("")
        levels = model.levels
        if not model.level_settled:
            self.level_banner.setText(
                "<b>Level count not certain.</b> " + escape(" ".join(levels.confidence_reasons))
                + "<br>Check the labels on the sagittal view, then <b>Confirm</b> them or move L5-S1 one disc "
                "<b>Higher</b>/<b>Lower</b>. Suggest plan, Approve and export wait until then."
            )
            self.level_banner.show()
        else:
            self.level_banner.hide()
        if not f.reliable:
            self._show_not_assessable(model)
            return
        wording = describe(f.as_dict())  # the words the CLI and the PDF use
        self.title.setText(wording.title)
        self.plot.set_profile(f.profile_mm)
        v = self.values
        for key in ("classification", "side", "zone", "widths", "migration", "heights", "canal", "roots"):
            v[key].setText(wording.text(key))
        v["classification"].setText(wording.text("classification").capitalize())
        v["max_displacement"].setText(f"{f.max_displacement_mm:.1f} mm")
        v["arc"].setText(f"{f.displaced_arc_deg:.0f}°")
        if v["canal"].text() == "-":
            v["canal"].setText("not measured")
        v["volume"].setText(f"{model.segmentation.volume_ml():.1f} ml")
        axial = model.analysis.axial
        v["measured_on"].setText(f"axial: {axial.description or 'unnamed series'}" if axial is not None else "sagittal, reformatted")
        self._show_levels(model)

    def _show_levels(self, model) -> None:
        shift = model.analysis.level_shift
        how = "marked by hand" if model.analysis.marked_lps is not None else "counted from the sacrum"
        counted = how + (f", shifted by {shift:+d}" if shift else "")
        sure = "confident" if model.levels.confidence == "high" else "not certain"
        confirmed = f" · confirmed by {model.confirmed_by}" if model.levels_confirmed else ""
        self.values["levels"].setText(f"{counted} ({sure}){confirmed}")
        self.confirm_button.setEnabled(not model.levels_confirmed)
        self.warnings.setText("\n".join(f"⚠ {w}" for w in model.warnings))

    def _show_not_assessable(self, model) -> None:
        """A mask that is not disc-like: say so and why; no class, side or displacement."""
        f = model.finding
        self.title.setText("L5-S1: not assessable")
        self.message.setText("The disc measurement is not reliable: " + "; ".join(f.problems) + ".")
        self.plot.set_profile(None)
        for key, value in self.values.items():
            value.setText("-")
        wording = describe(f.as_dict())
        self.values["classification"].setText("not assessable")
        self.values["heights"].setText(wording.text("heights"))
        self.values["volume"].setText(f"{model.segmentation.volume_ml():.1f} ml")
        self._show_levels(model)
