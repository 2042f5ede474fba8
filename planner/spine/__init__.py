"""The lumbar spine as a learned model sees it: vertebral bodies, discs and their levels.

- :mod:`planner.spine.grid` resamples any sagittal MR series onto one
  patient-aligned sagittal grid (rows superior to inferior, columns anterior to
  posterior), the frame the model was trained in.
- :mod:`planner.spine.model` runs the committed U-Net (ONNX, CPU) on that grid.
- :mod:`planner.spine.anatomy` turns its class maps into bodies and discs, names
  them counting up from the sacrum and says how sure the count is.

Nothing here imports Qt or VTK; the weights live in ``planner/spine/weights``
and are never downloaded (``training/`` holds the script that made them).
"""
