"""Which body each label of ``../shared/lumbar-mri`` is: VB1's labels start at S1, not at L5.

``../shared/lumbar-mri/README.md`` says label 1 is L5 in every study. For VB2
(7 labels, T11 to L5, the field of view T11 to the sacrum) and VB3 (5 labels,
L1 to L5, the field of view ending at the top of the sacrum) it is. For VB1 it
is S1, and label 2 is L5:

- the source says so: its exams "vary from the sacrum (S1) to the mid-thoracic
  (T6-T12)", 160 bodies in 17 exams, 9 per exam here: S1 and L5 to T10
  (fastcleverseg, ImageDatasets/VBs/readme.md; SpineWeb dataset 11);
- the anatomy on all five: label 1 lies in line with the sacral segments under
  it, joined to them by thin fused junctions, while the lumbosacral angle and
  the last full, bright disc lie between labels 2 and 1 (screenshots in
  docs/spine-model.md);
- the spine model trained without VB1 puts L5 on label 2 in all five studies.

:func:`corrected` gives every study's labels in one convention: 1 = L5,
2 = L4, ... counted upwards, and :data:`S1` where S1 is labelled (VB1).
"""

from __future__ import annotations

import numpy as np

#: the label value of S1 where a study labels it
S1 = 200
#: the body that label 1 is, by source
FIRST_LABEL = {"vb1": "S1", "vb2": "L5", "vb3": "L5"}


def corrected(study: str, labels: np.ndarray) -> np.ndarray:
    """``labels`` of ``study`` with 1 = L5, 2 = L4, ... and ``S1`` for S1 (uint8, same shape)."""
    source = study.split("-")[0]
    if FIRST_LABEL.get(source, "L5") == "L5":
        return labels
    out = np.where(labels >= 2, labels - 1, 0).astype(np.uint8)
    out[labels == 1] = S1
    return out
