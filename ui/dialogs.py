"""Message boxes the windows share: an error in one sentence, an import's report."""

from __future__ import annotations

from PySide6.QtWidgets import QMessageBox

from planner.dicom.importer import ImportReport


def show_error(parent, message: str) -> None:
    """The one place where errors become dialogs."""
    QMessageBox.warning(parent, "Spine Injection Planner", message)


def show_import_report(parent, report: ImportReport) -> None:
    lines = [f"{r.path}\n    {r.reason}" for r in report.rejected[:30]]
    more = f"\n... and {len(report.rejected) - 30} more" if len(report.rejected) > 30 else ""
    box = QMessageBox(parent)
    box.setObjectName("import-report")
    box.setWindowTitle("Import report")
    box.setText(f"{len(report.rejected)} file(s) could not be imported. The other files were imported.")
    box.setDetailedText("\n".join(lines) + more)
    box.setModal(False)
    box.show()
