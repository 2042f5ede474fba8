"""Side panel listing the measurements with their values; select, delete, undo."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHBoxLayout, QListWidget, QListWidgetItem, QPushButton, QVBoxLayout, QWidget

from planner.viewing.measurements import evaluate
from ui.context import ViewerContext


class MeasurementPanel(QWidget):
    """Observes the context's measurements; ``regions_for`` gives the ultrasound calibration of a measurement."""

    def __init__(self, context: ViewerContext, regions_for, parent=None) -> None:
        super().__init__(parent)
        self.context = context
        self.regions_for = regions_for
        self.list = QListWidget()
        self.list.currentItemChanged.connect(self._selected)
        delete = QPushButton("Delete")
        delete.clicked.connect(self.delete_selected)
        undo = QPushButton("Undo")
        undo.clicked.connect(context.undo_stack.undo)
        redo = QPushButton("Redo")
        redo.clicked.connect(context.undo_stack.redo)
        buttons = QHBoxLayout()
        for button in (delete, undo, redo):
            buttons.addWidget(button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.list, 1)
        layout.addLayout(buttons)
        context.measurements_changed.connect(self.refresh)
        context.selection_changed.connect(self._show_selection)

    def refresh(self) -> None:
        self.list.blockSignals(True)
        self.list.clear()
        for m in sorted(self.context.measurements, key=lambda m: m.id):
            value = evaluate(m, self.regions_for(m))
            where = f"frame {m.frame + 1}" if m.frame is not None else "MR"
            item = QListWidgetItem(f"#{m.id}  {m.kind}  {value.text}  ({where})")
            item.setData(Qt.UserRole, m.id)
            if value.note:
                item.setToolTip(value.note)
            self.list.addItem(item)
            if m.id == self.context.selected:
                self.list.setCurrentItem(item)
        self.list.blockSignals(False)

    def _selected(self, item, _previous) -> None:
        self.context.select(item.data(Qt.UserRole) if item is not None else None)

    def _show_selection(self, measurement_id) -> None:
        for row in range(self.list.count()):
            item = self.list.item(row)
            if item.data(Qt.UserRole) == measurement_id:
                self.list.blockSignals(True)
                self.list.setCurrentItem(item)
                self.list.blockSignals(False)

    def delete_selected(self) -> None:
        selected = self.context.selected
        if selected is not None and self.context.measurements.get(selected) is not None:
            self.context.measurements.remove(selected)
            self.context.select(None)

    def values(self) -> list[str]:
        return [self.list.item(row).text() for row in range(self.list.count())]
