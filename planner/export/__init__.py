"""Export of a procedure plan into the patient's study (issue 6).

Start at :mod:`planner.export.bundle` (what an export is, building it, writing a
DICOMDIR folder); the objects are made in :mod:`~planner.export.sr` (TID 1500 SR
and reading it back), :mod:`~planner.export.key_images` (burned-in reslices),
:mod:`~planner.export.report_pdf` (the readable report) and
:mod:`planner.dicom.seg` (the SEG); codes in :mod:`~planner.export.codes`, UIDs
and study attributes in :mod:`~planner.export.identity`.
"""
