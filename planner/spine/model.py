"""Running the committed spine U-Net (ONNX Runtime, CPU) on a sagittal stack.

The model labels every pixel of a sagittal slice as one of :data:`CLASSES`. It
was trained (``training/train_spine_model.py``) on slices resampled to
:data:`PIXEL_MM` and divided by :func:`intensity_scale`; :func:`predict` does
the same to the stack it is given, so any series goes in as it was taken.

    stack = SagittalGrid.covering(volume, PIXEL_MM).resample(volume)
    probabilities = SpineModel.default().predict(stack)   # float32 [class, lateral, row, column]
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from planner.errors import ModelUnavailable
from planner.progress import CancelToken, ProgressCallback, check, report

OUTPUTS = ("L5 body", "vertebral body", "disc")
L5, BODY, DISC = range(len(OUTPUTS))
PIXEL_MM = 1.5
#: the network's five poolings: input rows and columns are padded to a multiple of this
MULTIPLE = 32
WEIGHTS = Path(__file__).with_name("weights")
DEFAULT_WEIGHTS = WEIGHTS / "spine-unet.onnx"
#: slices run through the network at once (memory: about 60 MB per slice of 320 x 320)
BATCH = 4


def intensity_scale(stack: np.ndarray) -> float:
    """What a stack is divided by before the model sees it: the 99.5th percentile of its non-zero voxels
    (the brightest fluid and fat), so that scanners' arbitrary units do not matter."""
    values = stack[stack > 0]
    if values.size > 2_000_000:  # a regular subsample: the percentile does not need every voxel
        values = values[:: values.size // 1_000_000]
    return float(np.percentile(values, 99.5)) if values.size else 1.0


def normalise(stack: np.ndarray, scale: float | None = None) -> np.ndarray:
    """``stack`` divided by its :func:`intensity_scale`, clipped to [0, 2], float32."""
    scale = intensity_scale(stack) if scale is None else scale
    return np.clip(stack / max(scale, 1e-6), 0.0, 2.0).astype(np.float32)


class SpineModel:
    """One ONNX model file, loaded on first use (one session per file, shared across threads)."""

    _sessions: dict[Path, object] = {}
    _lock = threading.Lock()

    def __init__(self, path: Path = DEFAULT_WEIGHTS) -> None:
        self.path = Path(path)

    @classmethod
    def default(cls) -> "SpineModel":
        return cls(DEFAULT_WEIGHTS)

    def _session(self):
        with self._lock:
            session = self._sessions.get(self.path)
            if session is None:
                if not self.path.exists():
                    raise ModelUnavailable(
                        f"{self.path}: the spine model's weights are missing from this installation "
                        "(they are part of the repository; restore the file or reinstall)"
                    )
                try:
                    import onnxruntime
                except ImportError as exc:  # pragma: no cover - a dependency of the package
                    raise ModelUnavailable("the spine model needs onnxruntime: pip install onnxruntime") from exc
                options = onnxruntime.SessionOptions()
                options.intra_op_num_threads = 2
                options.inter_op_num_threads = 1
                options.log_severity_level = 3
                session = onnxruntime.InferenceSession(str(self.path), options, providers=["CPUExecutionProvider"])
                self._sessions[self.path] = session
            return session

    def predict(
        self,
        stack: np.ndarray,
        progress: ProgressCallback | None = None,
        cancel: CancelToken | None = None,
        scale: float | None = None,
    ) -> np.ndarray:
        """The :data:`OUTPUTS` probabilities of every pixel of ``stack`` [lateral, row, column] (raw signal at
        :data:`PIXEL_MM`): float32 [output, lateral, row, column]."""
        session = self._session()
        image = normalise(stack, scale)
        n, rows, columns = image.shape
        padded_rows, padded_columns = (-(-rows // MULTIPLE) * MULTIPLE), (-(-columns // MULTIPLE) * MULTIPLE)
        batch = np.zeros((BATCH, 1, padded_rows, padded_columns), np.float32)
        out = np.empty((len(OUTPUTS), n, rows, columns), np.float32)
        name = session.get_inputs()[0].name
        for start in range(0, n, BATCH):
            check(cancel)
            count = min(BATCH, n - start)
            batch[:] = 0.0
            batch[:count, 0, :rows, :columns] = image[start : start + count]
            logits = session.run(None, {name: batch[:count]})[0][:, :, :rows, :columns]
            probabilities = 1.0 / (1.0 + np.exp(-np.clip(logits, -30.0, 30.0)))
            out[:, start : start + count] = probabilities.transpose(1, 0, 2, 3)
            report(progress, start + count, n, "Finding the vertebrae...")
        return out
