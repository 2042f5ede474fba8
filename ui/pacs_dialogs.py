"""PACS dialogs: node settings with "Test connection", the outbox (what waits and why), query and retrieve.

Thin Qt over :mod:`planner.pacs`; every network call runs in a worker through
``run_task`` (the main window's progress bar and Cancel button).
"""

from __future__ import annotations

import datetime as _dt

from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
)

from planner.pacs import network
from planner.pacs.network import PacsNode


def _table(headers: list[str]) -> QTableWidget:
    table = QTableWidget(0, len(headers))
    table.setHorizontalHeaderLabels(headers)
    table.setSelectionBehavior(QAbstractItemView.SelectRows)
    table.setEditTriggers(QAbstractItemView.NoEditTriggers)
    table.horizontalHeader().setStretchLastSection(True)
    table.verticalHeader().hide()
    return table


def _fill(table: QTableWidget, rows: list[list[str]]) -> None:
    table.setRowCount(len(rows))
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            table.setItem(r, c, QTableWidgetItem(value))
    table.resizeColumnsToContents()


class PacsSettingsDialog(QDialog):
    """Edit the PACS nodes; the first is the one "Send plan to PACS" uses."""

    def __init__(self, run_task, parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle("PACS settings")
        self.run_task = run_task
        self.nodes = network.load_nodes()
        self.list = _table(["Name", "AE title", "Host", "Port", "Our AE title", "TLS"])
        self.list.itemSelectionChanged.connect(self._show_selected)
        self.name, self.ae, self.host, self.calling = QLineEdit(), QLineEdit(), QLineEdit(), QLineEdit(network.DEFAULT_CALLING_AET)
        self.port = QSpinBox()
        self.port.setRange(1, 65535)
        self.port.setValue(104)
        self.tls = QCheckBox("Use TLS")
        self.ca_file = QLineEdit()
        self.ca_file.setPlaceholderText("CA certificate file (empty: the system's)")
        form = QFormLayout()
        for label, widget in (("Name", self.name), ("Called AE title", self.ae), ("Host", self.host), ("Port", self.port),
                              ("Our (calling) AE title", self.calling), ("", self.tls), ("TLS CA file", self.ca_file)):
            form.addRow(label, widget)
        self.result_text = QLabel("")
        self.result_text.setWordWrap(True)
        buttons = QHBoxLayout()
        for text, slot in (("Add / update", self._add), ("Remove", self._remove), ("Test connection", self.test_connection)):
            button = QPushButton(text)
            button.clicked.connect(slot)
            buttons.addWidget(button)
        close = QDialogButtonBox(QDialogButtonBox.Save | QDialogButtonBox.Cancel)
        close.accepted.connect(self._save)
        close.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.list)
        layout.addLayout(form)
        layout.addLayout(buttons)
        layout.addWidget(self.result_text)
        layout.addWidget(close)
        self._refresh()

    def _refresh(self) -> None:
        _fill(self.list, [[n.name, n.ae_title, n.host, str(n.port), n.calling_ae_title, "yes" if n.tls else ""]
                          for n in self.nodes])

    def _show_selected(self) -> None:
        rows = self.list.selectionModel().selectedRows()
        if not rows:
            return
        node = self.nodes[rows[0].row()]
        self.name.setText(node.name)
        self.ae.setText(node.ae_title)
        self.host.setText(node.host)
        self.port.setValue(node.port)
        self.calling.setText(node.calling_ae_title)
        self.tls.setChecked(node.tls)
        self.ca_file.setText(node.tls_ca_file)

    def node_from_form(self) -> PacsNode | None:
        try:
            return PacsNode(self.ae.text().strip(), self.host.text().strip(), self.port.value(),
                            self.calling.text().strip() or network.DEFAULT_CALLING_AET, self.name.text().strip(),
                            self.tls.isChecked(), self.ca_file.text().strip())
        except ValueError as error:
            self.result_text.setText(f"Not saved: {error}")
            return None

    def _add(self) -> None:
        node = self.node_from_form()
        if node is None:
            return
        self.nodes = [n for n in self.nodes if n.label != node.label and (n.ae_title, n.host, n.port) !=
                      (node.ae_title, node.host, node.port)] + [node]
        self._refresh()
        self.result_text.setText(f"{node.label} added; Save to keep it")

    def _remove(self) -> None:
        rows = sorted({i.row() for i in self.list.selectedIndexes()}, reverse=True)
        for row in rows:
            del self.nodes[row]
        self._refresh()

    def test_connection(self) -> None:
        node = self.node_from_form()
        if node is None:
            return
        self.result_text.setText(f"Testing {node.label}...")

        def echo(progress=None, cancel=None):
            return network.echo(node)

        self.run_task(_task(echo), f"C-ECHO {node.label}...",
                      lambda ms: self.result_text.setText(f"{node.label}: connection OK (echo {ms:.0f} ms)"),
                      lambda message: self.result_text.setText(f"Connection failed: {message}"))

    def _save(self) -> None:
        network.save_nodes(self.nodes)
        self.accept()


def _task(function, *args):
    from ui.worker import Task

    return Task(function, *args)


class OutboxDialog(QDialog):
    """What is queued for a PACS and why it has not arrived yet; retry now or discard."""

    def __init__(self, outbox, run_task, parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Outbox: objects waiting for a PACS")
        self.outbox, self.run_task = outbox, run_task
        self.table = _table(["PACS", "Object", "State", "Attempts", "Next attempt", "Reason"])
        self.summary = QLabel("")
        retry, discard, close = QPushButton("Send now"), QPushButton("Discard selected..."), QPushButton("Close")
        retry.clicked.connect(self.send_now)
        discard.clicked.connect(self._discard)
        close.clicked.connect(self.accept)
        buttons = QHBoxLayout()
        for button in (retry, discard):
            buttons.addWidget(button)
        buttons.addStretch(1)
        buttons.addWidget(close)
        layout = QVBoxLayout(self)
        layout.addWidget(self.summary)
        layout.addWidget(self.table)
        layout.addLayout(buttons)
        self.resize(900, 360)
        self.refresh()

    def refresh(self) -> None:
        items = self.outbox.items()
        pending = [i for i in items if i.state != "sent"]
        done = [i for i in items if i.state == "sent"][-50:]
        self._ids = [i.id for i in pending + done]
        rows = []
        for item in pending + done:
            when = "" if item.state != "pending" else _dt.datetime.fromtimestamp(item.next_attempt).strftime("%H:%M:%S")
            rows.append([item.node.label, item.description, item.state, str(item.attempts), when,
                         item.last_error or ("confirmed by the PACS" if item.state == "sent" else "not tried yet")])
        _fill(self.table, rows)
        self.summary.setText(f"{len(pending)} waiting, {len(items) - len(pending)} confirmed")

    def send_now(self) -> None:
        self.run_task(_task(self.outbox.process, None, False), "Sending the outbox...", lambda _s: self.refresh(),
                      lambda message: (self.refresh(), self.summary.setText(message)))

    def _discard(self) -> None:
        from PySide6.QtWidgets import QMessageBox

        rows = sorted({i.row() for i in self.table.selectedIndexes()})
        ids = [self._ids[r] for r in rows if r < len(self._ids)]
        if ids and QMessageBox.question(self, "Discard", f"Discard {len(ids)} queued object(s)? They will not be sent.") \
                == QMessageBox.Yes:
            from planner.pacs.outbox import OutboxError

            problems = []
            for item_id in ids:
                try:
                    self.outbox.discard(item_id)
                except OutboxError as error:
                    problems.append(str(error))
            self.refresh()
            if problems:
                self.summary.setText("; ".join(problems))


class QueryDialog(QDialog):
    """C-FIND studies on a PACS and retrieve the chosen one (C-GET) into the study database."""

    def __init__(self, nodes: list[PacsNode], run_task, retrieve, parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Query PACS")
        self.nodes, self.run_task, self.retrieve = nodes, run_task, retrieve
        self.node_box = QComboBox()
        for node in nodes:
            self.node_box.addItem(node.label)
        self.patient_id, self.patient_name, self.study_date = QLineEdit(), QLineEdit(), QLineEdit()
        self.patient_name.setPlaceholderText("e.g. DOE^J*")
        self.study_date.setPlaceholderText("YYYYMMDD or YYYYMMDD-YYYYMMDD")
        form = QFormLayout()
        for label, widget in (("PACS", self.node_box), ("Patient ID", self.patient_id), ("Patient name", self.patient_name),
                              ("Study date", self.study_date)):
            form.addRow(label, widget)
        search, get_button, close = QPushButton("Search"), QPushButton("Retrieve selected study"), QPushButton("Close")
        search.clicked.connect(self.search)
        get_button.clicked.connect(self._retrieve_selected)
        close.clicked.connect(self.accept)
        self.table = _table(["Patient", "Patient ID", "Date", "Description", "Modalities", "Instances", "Study UID"])
        self.status = QLabel("")
        self.studies = []
        buttons = QHBoxLayout()
        buttons.addWidget(search)
        buttons.addWidget(get_button)
        buttons.addStretch(1)
        buttons.addWidget(close)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.table)
        layout.addWidget(self.status)
        layout.addLayout(buttons)
        self.resize(900, 420)

    @property
    def node(self) -> PacsNode:
        return self.nodes[self.node_box.currentIndex()]

    def search(self) -> None:
        keys = {k: w.text().strip() for k, w in (("PatientID", self.patient_id), ("PatientName", self.patient_name),
                                                  ("StudyDate", self.study_date)) if w.text().strip()}
        node = self.node

        def find(progress=None, cancel=None):
            return network.find(node, "STUDY", keys)

        self.run_task(_task(find), f"C-FIND on {node.label}...", self._show, lambda m: self.status.setText(m))

    def _show(self, studies) -> None:
        self.studies = studies
        _fill(self.table, [[str(s.get("PatientName", "")), str(s.get("PatientID", "")), str(s.get("StudyDate", "")),
                            str(s.get("StudyDescription", "")), "\\".join(s.get("ModalitiesInStudy", []) or []),
                            str(s.get("NumberOfStudyRelatedInstances", "")), str(s.StudyInstanceUID)] for s in studies])
        self.status.setText(f"{len(studies)} stud{'y' if len(studies) == 1 else 'ies'} found on {self.node.label}")

    def _retrieve_selected(self) -> None:
        rows = self.table.selectionModel().selectedRows()
        if not rows and len(self.studies) == 1:
            self.table.selectRow(0)
            rows = self.table.selectionModel().selectedRows()
        if rows:
            study = self.studies[rows[0].row()]
            self.status.setText("Retrieving...")
            self.retrieve(self.node, str(study.StudyInstanceUID),
                          lambda n: self.status.setText(f"Retrieved {n} instance(s) into the study browser"))

