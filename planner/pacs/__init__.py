"""DICOM networking (issue 6): :mod:`~planner.pacs.network` (nodes, echo, store, find, get) and
:mod:`~planner.pacs.outbox` (what waits for a PACS, persistently, with its reasons)."""
